/**
 * runit for p2: service directories (`run`, `finish`, `log/run`) written atomically and named as
 * P2 did, `sv`-style control and status read straight from `supervise/`, and a `runsvdir` the
 * preparer owns that supervises new services in milliseconds (warm slots).
 *
 * @example
 * ```ts
 * import { RunsvDir, serviceName, readStatus } from '@p2/runit';
 * const runsvdir = new RunsvDir({ root: '/var/service' });
 * await runsvdir.start();
 * const name = serviceName({ podUniqueName: 'hello', launchableId: 'app', entryPoint: 'bin/launch' });
 * const { dir } = await runsvdir.install({ name, entryPoint: '/data/pods/hello/app/current/bin/launch', user: 'hello' });
 * (await readStatus(dir)).state; // 'run'
 * ```
 */
export {
  type ControlOptions,
  type ControlResult,
  down,
  exit,
  once,
  restart,
  type ServiceSignal,
  signal,
  up,
  waitSupervised,
} from './control.js';
export { RunitError, type RunitErrorCode, RunitErrorCodes } from './errors.js';
export {
  followServiceLog,
  type LogLine,
  parseLogLine,
  readServiceLog,
  serviceLogDir,
} from './log-reader.js';
export { type ServiceNameParts, serviceName } from './names.js';
export { type RunAsSpec, renderRunAs, shellQuote } from './run-as.js';
export {
  type InstalledService,
  type RunitLogger,
  RunsvDir,
  type RunsvDirOptions,
  type SupervisionPath,
} from './runsvdir.js';
export { EXIT_LOG_FILE, LAST_EXIT_FILE, renderRunScript, SPEC_FILE } from './scripts.js';
export {
  type RecordedServiceSpec,
  readServiceSpec,
  removeService,
  type WrittenService,
  writeService,
} from './service.js';
export type { FinishSpec, LogSpec, RestartPolicy, ServiceIdentity, ServiceSpec } from './spec.js';
export {
  type ExitRecord,
  isSupervised,
  type ProcessStatus,
  parseStatus,
  readExitLog,
  readLastExit,
  readStatus,
  type ServiceStatus,
} from './status.js';
