/**
 * `p2 rollback POD [--node N] [--to REV]` — write a kept revision of a legacy pod (`p2 history`)
 * back to intent, on one node or on every node the pod is on: by default the newest revision that
 * differs from what intent holds now. The manifest is written exactly as it was deployed: a signed
 * one stays signed and nothing is re-signed, so a host with the replay guard refuses it when its
 * `deploy_serial` is older than what it deployed since (the output says so).
 */
import type { Command } from '@commander-js/extra-typings';
import { readDeployMetadata } from '@p2/auth';
import {
  type CliContext,
  CliExit,
  ExitCode,
  emit,
  run,
  style,
  wholeNumber,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { podHistory } from '@p2/inspect';
import { PodHistoryStore } from '@p2/keyspace';
import type { Manifest } from '@p2/manifest';

interface RolledBack {
  node: string;
  rev: number;
  sha: string;
  signed: boolean;
  deploySerial?: number;
  note?: string;
}

/** What replaying this manifest means for the host's signature and replay checks. */
function replayNote(manifest: Manifest): Pick<RolledBack, 'signed' | 'deploySerial' | 'note'> {
  if (!manifest.clearsigned) return { signed: false };
  let serial: number | undefined;
  try {
    serial = readDeployMetadata(manifest).serial;
  } catch {
    serial = undefined;
  }
  return {
    signed: true,
    ...(serial !== undefined ? { deploySerial: serial } : {}),
    note:
      serial === undefined
        ? 'replayed as signed (nothing re-signed)'
        : `replayed as signed with deploy_serial ${serial} (nothing re-signed): a host with the replay guard refuses it if it deployed a higher serial since; there, sign it again with a higher serial (p2 sign) and schedule that`,
  };
}

export function registerRollbackCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('rollback')
      .description('Put a previously deployed manifest of a pod back into intent (see p2 history)')
      .argument('<pod>', 'pod id (legacy pods)')
      .option('--node <node>', 'only this node (default: every node the pod is on)')
      .option(
        '--to <rev>',
        'the revision to go back to (default: the one before what intent holds)',
      )
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (pod, options) => {
      const to = options.to === undefined ? undefined : wholeNumber(options.to, '--to');
      const done = await withStore(ctx, options, async (store) => {
        const nodes = options.node
          ? [options.node]
          : (await podHistory(store, pod)).map((n) => n.node);
        if (nodes.length === 0)
          throw new CliExit(ExitCode.NOT_FOUND, `error: pod ${pod} is on no node`);
        const history = new PodHistoryStore(store);
        const out: RolledBack[] = [];
        for (const node of nodes) {
          const { revision, manifest } = await history.rollback(
            node,
            pod,
            to === undefined ? {} : { to },
          );
          out.push({ node, rev: revision.rev, sha: revision.sha, ...replayNote(manifest) });
        }
        return out;
      });
      emit(ctx.io, options, { pod, rolledBack: done }, (r) =>
        r.rolledBack
          .map(
            (n) =>
              `${style.green(ctx.io, 'rolled back')} ${pod} on ${n.node} to revision ${n.rev} (${n.sha})${n.note ? `\n  ${style.yellow(ctx.io, 'note')}: ${n.note}` : ''}`,
          )
          .join('\n'),
      );
    }),
  );
}
