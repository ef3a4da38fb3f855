/**
 * `p2 start|stop|restart POD` — a pod installed on this host launched, halted (forced, after
 * `bin/disable`) or both, from its current manifest and without a store (P2: p2-start, p2-stop,
 * p2-restart), through the host agent's `controlPod`; `p2 shutdown` halts them all (P2:
 * p2-shutdown, `shutdownPods`). One folder: they are one operation on this host's pods.
 */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { type CliContext, collect, emit, nodeName, run, style } from '@p2/cli-kit';
import { controlPod, type PodAction, shutdownPods } from '@p2/host-agent';

const VERBS: Record<PodAction, string> = {
  start: 'Launch an installed pod from its current manifest (P2: p2-start)',
  stop: 'Halt an installed pod: bin/disable, then stop its services; it stays down (P2: p2-stop)',
  restart: 'Halt and launch an installed pod again (P2: p2-restart)',
};
/** The preparer's cgroup settings, which a pod launched here should share. */
export const NESTED_HELP =
  "name the pod's cgroups p2/<node>/<pod>/<launchable>, as the preparer's params.nested_cgroups (default: P2's flat <pod>__<launchable>)";
export const PARENT_HELP =
  "the existing cgroup pod cgroups are under, as the preparer's cgroup_parent (default: each controller's mount)";

const DONE: Record<PodAction, string> = { start: 'started', stop: 'stopped', restart: 'restarted' };

export function registerPodControlCommands(program: Command, ctx: CliContext): void {
  for (const action of ['start', 'stop', 'restart'] as const) {
    program
      .command(action)
      .description(VERBS[action])
      .argument('<pod>', 'pod id')
      .option('--uuid <uuid>', "a uuid pod's unique key")
      .option('--node-name <node>', 'node name for cgroups and env (default: this host)')
      .option('--pod-root <dir>', 'where pods live', '/data/pods')
      .option(
        '--service-root <dir>',
        'the runit service directory runsvdir watches',
        '/var/service',
      )
      .option('--nested-cgroups', NESTED_HELP)
      .option('--cgroup-parent <path>', PARENT_HELP)
      .option('--json', 'print JSON')
      .action(
        run(ctx, async (pod, options) => {
          const result = await controlPod(action, pod, {
            nodeName: nodeName(options.nodeName),
            podRoot: resolve(ctx.cwd, options.podRoot),
            serviceRoot: resolve(ctx.cwd, options.serviceRoot),
            ...(options.uuid ? { uniqueKey: options.uuid } : {}),
            cgroupNaming: { nested: options.nestedCgroups === true, parent: options.cgroupParent },
          });
          emit(ctx.io, options, result, (r) =>
            [
              `${style.green(ctx.io, DONE[action])} ${r.pod} (${r.sha.slice(0, 12)})`,
              ...r.services.map((s) => `  service ${s}`),
            ].join('\n'),
          );
        }),
      );
  }
  program
    .command('shutdown')
    .description('Halt every pod installed on this host, or the selected ones (P2: p2-shutdown)')
    .option('--pod <pod>', 'only this pod id or uuid (repeatable)', collect, [])
    .option(
      '-e, --exclude <pod>',
      'never this pod id or uuid; wins over --pod (repeatable)',
      collect,
      [],
    )
    .option('--dry-run', 'only print which pods would be halted')
    .option('--node-name <node>', 'node name for cgroups and env (default: this host)')
    .option('--pod-root <dir>', 'where pods live', '/data/pods')
    .option('--service-root <dir>', 'the runit service directory runsvdir watches', '/var/service')
    .option('--cgroup-parent <path>', PARENT_HELP)
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (options) => {
        const result = await shutdownPods({
          nodeName: nodeName(options.nodeName),
          podRoot: resolve(ctx.cwd, options.podRoot),
          serviceRoot: resolve(ctx.cwd, options.serviceRoot),
          pods: options.pod,
          exclude: options.exclude,
          cgroupNaming: { parent: options.cgroupParent },
          dryRun: options.dryRun === true,
        });
        emit(ctx.io, options, result, (r) =>
          r.pods.length === 0
            ? style.dim(ctx.io, 'no pod to halt')
            : r.pods
                .map((p) => `${r.dryRun ? 'would halt' : style.green(ctx.io, 'halted')} ${p}`)
                .join('\n'),
        );
      }),
    );
}
