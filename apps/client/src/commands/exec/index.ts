/**
 * `p2 exec POD [--launchable L] -- CMD…` — run a command inside a pod installed on this host as its
 * services run: its user, env dirs (loaded after the privilege drop), cgroup, install directory and
 * limits (P2: p2-exec), through the host agent's `execInPod`. The command's stdin, stdout and
 * stderr are this process's, and its exit status is p2's (128 + n when signal n ended it); errors
 * before it runs are p2's coded errors (`--json` applies to them only).
 */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import { type CliContext, collect, nodeName, run, wholeNumber } from '@p2/cli-kit';
import { execInPod } from '@p2/host-agent';
import { NESTED_HELP, PARENT_HELP } from '../pod-control/index.js';

export function registerExecCommand(program: Command, ctx: CliContext): void {
  program
    .command('exec')
    .description(
      'Run a command in an installed pod as its services run: its user, env, cgroup and directory (P2: p2-exec)',
    )
    .argument('<pod>', 'pod id')
    .argument('<command...>', 'the command and its arguments, after -- (options go before it)')
    .option('--uuid <uuid>', "a uuid pod's unique key")
    .option(
      '--launchable <id>',
      'the launchable whose env and cgroup to use (default: the only one)',
    )
    .option('--node-name <node>', 'node name for cgroups (default: this host)')
    .option('--pod-root <dir>', 'where pods live', '/data/pods')
    .option('--service-root <dir>', 'the runit service directory runsvdir watches', '/var/service')
    .option('--nested-cgroups', NESTED_HELP)
    .option('--cgroup-parent <path>', PARENT_HELP)
    .option(
      '--allow-run-as <user>',
      'let this pod run as an account the run_as policy refuses (root, system accounts; repeatable)',
      collect,
      [],
    )
    .option('--run-as-min-uid <uid>', 'lowest uid of an existing account pods may run as', '1000')
    .option('--json', 'print errors before the command runs as JSON')
    .action(
      run(ctx, async (pod, command, options) => {
        const outcome = await execInPod(pod, {
          nodeName: nodeName(options.nodeName),
          podRoot: resolve(ctx.cwd, options.podRoot),
          serviceRoot: resolve(ctx.cwd, options.serviceRoot),
          command,
          // Where the launchable's cgroup is looked for first (its cgroup of either naming is used).
          cgroupNaming: { nested: options.nestedCgroups === true, parent: options.cgroupParent },
          allowRunAs: options.allowRunAs,
          runAsMinUid: wholeNumber(options.runAsMinUid, '--run-as-min-uid'),
          ...(options.uuid ? { uniqueKey: options.uuid } : {}),
          ...(options.launchable ? { launchableId: options.launchable } : {}),
          ...(ctx.env.TERM ? { term: ctx.env.TERM } : {}),
        });
        return outcome.status;
      }),
    );
}
