/**
 * `p2 logs POD [--launchable L] [--follow] [--since DUR]` — a pod's output on this host: the svlogd logs
 * of its runit services (`<service root>/<service>/log/main/`), oldest first, stamped with svlogd's
 * UTC times; `-f` then follows them (as `tail -F`) until interrupted. Service logs are root's to
 * read: run it as root on the pod's host (`--node` says which host that must be).
 */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  durationMs,
  ExitCode,
  emit,
  emitRecord,
  nodeName,
  run,
  timeOrDuration,
} from '@p2/cli-kit';
import { podServiceDirs } from '@p2/pods';
import { followServiceLog, type LogLine, readServiceLog } from '@p2/runit';
import { following } from '../../lib/follow.js';

interface Line extends LogLine {
  service: string;
  launchable: string;
}

/** `--since`: an RFC 3339 time, or a duration back from now. */
function sinceTime(value: string): Date {
  if (/^\d{4}-/.test(value)) return timeOrDuration(value, '--since');
  return new Date(Date.now() - durationMs(value, '--since'));
}

export function registerLogsCommand(program: Command, ctx: CliContext): void {
  program
    .command('logs')
    .description("Print (and follow) a pod's output on this host: its services' runit logs")
    .argument('<pod>', 'pod id')
    .option('--uuid <uuid>', "a uuid pod's unique key")
    .option('--launchable <id>', 'only this launchable')
    .option('--follow', 'keep printing new lines until interrupted')
    .option('--since <duration|time>', 'only lines from this long ago (90s, 2h) or since this time')
    .option('--node <node>', 'the node the pod is on; must be this host (logs are read locally)')
    .option('--pod-root <dir>', 'where pods live', '/data/pods')
    .option('--service-root <dir>', 'the runit service directory runsvdir watches', '/var/service')
    .option('--json', 'print JSON (with -f: one JSON object per line)')
    .action(
      run(ctx, async (pod, options) => {
        if (process.getuid?.() !== 0)
          throw new CliExit(
            ExitCode.FAILURE,
            'error: service logs are readable by root only (svlogd writes them 0700): run p2 logs as root, e.g. with sudo',
          );
        const here = nodeName(undefined);
        if (options.node !== undefined && options.node !== here)
          throw new CliExit(
            ExitCode.USAGE,
            `error: logs are read on the pod's host: run p2 logs on ${options.node} (this is ${here})`,
          );
        const from = options.since === undefined ? undefined : sinceTime(options.since);
        const services = await podServiceDirs({
          podRoot: resolve(ctx.cwd, options.podRoot),
          serviceRoot: resolve(ctx.cwd, options.serviceRoot),
          podId: pod,
          ...(options.uuid ? { uniqueKey: options.uuid } : {}),
          ...(options.launchable ? { launchableId: options.launchable } : {}),
        });
        const lines: Line[] = [];
        for (const s of services)
          for (const line of await readServiceLog(s.dir, from ? { since: from } : {}))
            lines.push({ ...line, service: s.service, launchable: s.launchable });
        lines.sort((a, b) => (a.time ?? '').localeCompare(b.time ?? ''));
        const text = (line: Line) =>
          `${line.time ?? '-'} [${services.length > 1 ? line.service : line.launchable}] ${line.text}\n`;
        const print = (line: Line) => {
          if (!emitRecord(ctx.io, options, line)) ctx.io.stdout(text(line));
        };
        if (!options.follow) {
          emit(ctx.io, options, { pod, lines }, (r) => r.lines.map(text).join(''));
          return;
        }
        for (const line of lines) print(line);
        await following(ctx, async ({ signal }) => {
          await Promise.all(
            services.map(async (s) => {
              for await (const line of followServiceLog(s.dir, { signal }))
                print({ ...line, service: s.service, launchable: s.launchable });
            }),
          );
        });
      }),
    );
}
