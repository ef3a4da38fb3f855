/**
 * `p2 unschedule POD --node N` (P2's p2-rm), through `@p2/rc`'s unschedulePod: removes a legacy
 * pod's intent and labels, or a uuid pod; refuses a pod a replication controller placed unless
 * `--force`, or `--deallocate` also lowers the controller's replica count.
 */
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  run,
  style,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { unschedulePod } from '@p2/rc';
import { waitIfAsked, waitRequest, withWaitFlags } from '../../lib/wait-pod.js';

/** What `p2 unschedule` prints (P2's field names). */
interface UnscheduleResult {
  podId: string;
  podUniqueKey: string;
  node: string;
  removed: string[];
  /** Set with `--deallocate`: the controller and its new replica count. */
  rc?: { id: string; replicasDesired: number };
}

export function registerUnscheduleCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    withWaitFlags(
      program
        .command('unschedule')
        .description(
          'Remove a pod from the intent of a node (P2: p2-rm); a UUID removes a uuid pod',
        )
        .argument('<pod>', 'pod id (legacy pod) or pod unique key (uuid pod)')
        .option('--node <node>', 'node of a legacy pod (default: this host)')
        .option(
          '--deallocate',
          'for a pod a replication controller placed: also lower its replica count by one (P2 semantics)',
        )
        .option(
          '--force',
          'remove a pod a replication controller placed without changing the controller (it may put it back)',
        )
        .option('--json', 'print JSON'),
      'wait until the pod is gone from the node (its reality too)',
    ),
  ).action(
    run(ctx, async (pod, options) => {
      const wait = waitRequest(options);
      const done = await withStore(ctx, options, (store) =>
        unschedulePod(store, {
          pod,
          ...(options.node ? { node: options.node } : {}),
          deallocate: Boolean(options.deallocate),
          force: Boolean(options.force),
          user: ctx.env.USER ?? '',
        }),
      );
      if (done.outcome === 'absent')
        throw new CliExit(
          ExitCode.NOT_FOUND,
          done.uniqueKey
            ? `error: no uuid pod ${done.uniqueKey} (pods/${done.uniqueKey} is absent)`
            : `error: pod ${pod} is not scheduled on ${done.node} (intent/${done.node}/${pod} is absent)\nhint: run \`p2 inspect --pod ${pod}\` to see where it runs`,
        );
      if (done.outcome === 'other-node')
        throw new CliExit(
          ExitCode.INVALID_INPUT,
          `error: uuid pod ${done.podId} is scheduled on ${done.node}, not ${options.node}`,
        );
      if (done.outcome === 'owned')
        throw new CliExit(
          ExitCode.INVALID_INPUT,
          `error: pod ${pod} on ${done.node} belongs to replication controller ${done.rc}; it would be scheduled again\nhint: pass --deallocate to also lower its replica count, or --force to remove only this pod`,
        );
      if (done.outcome === 'orphan')
        throw new CliExit(
          ExitCode.INVALID_INPUT,
          `error: pod ${pod} on ${done.node} names replication controller ${done.rc}, which no longer exists\nhint: pass --force to remove the orphaned pod`,
        );
      const result: UnscheduleResult = {
        podId: done.podId,
        podUniqueKey: done.uniqueKey,
        node: done.node,
        removed: done.removed,
        ...(done.rc ? { rc: done.rc } : {}),
      };
      emit(ctx.io, options, result, (r) =>
        [
          `${r.node}: ${style.green(ctx.io, 'successfully removed')} ${r.podId}`,
          ...r.removed.map((k) => `  deleted ${k}`),
          ...(r.rc
            ? [`  replication controller ${r.rc.id} now wants ${r.rc.replicasDesired}`]
            : []),
        ].join('\n'),
      );
      await waitIfAsked(ctx, options, wait, {
        node: result.node,
        pod: result.podUniqueKey || result.podId,
        want: 'gone',
      });
    }),
  );
}
