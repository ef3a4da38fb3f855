/**
 * What p2's command-line binaries share: stable exit codes, one error path (people or `--json`),
 * output that is the same data in both views, colour and progress only on a TTY, tables, argument
 * parsers, the store flags and reading input files.
 */
export {
  collect,
  durationMs,
  parseAssignments,
  parseWholeNumber,
  timeOrDuration,
  wholeNumber,
} from './args.js';
export {
  COMPLETION_SHELLS,
  type CompletionShell,
  completionScript,
} from './completion.js';
export {
  type ContextChange,
  type ContextConfig,
  checkContextName,
  contextFilePath,
  readContexts,
  type StoreContext,
  updateContexts,
} from './contexts.js';
export {
  CliExit,
  ExitCode,
  type ExitCodeTable,
  exitCodeFor,
  P2_EXIT_CODES,
  STORE_ACCESS_EXIT_CODES,
} from './exit-code.js';
export { fetchManifest, loadManifest, readInputFile } from './files.js';
export { withOutputFormats } from './formats.js';
export {
  confirm,
  emit,
  emitRecord,
  errorJson,
  type FormatErrorOptions,
  formatError,
  formatRecord,
  type Io,
  machineView,
  OUTPUT_FORMATS,
  type OutputFormat,
  type OutputOptions,
  processIo,
  reportError,
  style,
  type View,
} from './output.js';
export { type DownloadProgress, liveLine, progressBar, progressLine } from './progress.js';
export { type CliContext, run, runHook, runProgram } from './run.js';
export {
  nodeName,
  type StoreConnection,
  type StoreFlags,
  storeFlagOptions,
  withStore,
  withStoreFlags,
} from './store.js';
export { table } from './table.js';
