/**
 * `p2-schedule [flags] MANIFEST` (spec 03 §6.1): writes the manifest into one node's intent, or
 * with `--uuid-pod` as a uuid pod, and prints P2's one JSON line `{"pod_id":…,"pod_unique_key":…}`
 * (the key is empty for a legacy pod). The manifest is refused with lint errors, as `p2 schedule`
 * refuses it.
 */
import { type CliContext, loadManifest, nodeName, run } from '@p2/cli-kit';
import { goJson } from '@p2/go';
import { PodTree, UuidPodStore } from '@p2/keyspace';
import { fail } from '../../run.js';
import { storeProgram, withP2Store } from '../../store-flags.js';

export function buildSchedule(ctx: CliContext) {
  const program = storeProgram(
    'p2-schedule',
    "Write a pod manifest into a node's intent (P2's p2-schedule)",
    ctx,
  )
    .argument('<manifest>', 'manifest file (plain or clearsigned YAML)')
    .option('--node <node>', 'node to schedule on (default: this host)')
    .option('--hook', 'refused: P2 wrote hooks/<pod>, which no preparer reads')
    .option('--uuid-pod', 'schedule a uuid pod: pods/<uuid> plus an intent index');
  program.action(
    run(ctx, async (file, options) => {
      if (options.hook)
        throw fail(
          '--hook is not supported: P2 wrote the manifest to hooks/<pod-id>, which neither P2’s preparer nor p2’s reads',
          'install hooks on each host in the preparer’s hooks_directory',
        );
      const manifest = await loadManifest(ctx, file, { strict: true });
      const node = nodeName(options.node);
      const uniqueKey = await withP2Store(ctx, options, 'none', async (store) => {
        if (options.uuidPod) return new UuidPodStore(store).schedule(node, manifest);
        await new PodTree(store, 'intent').setPod(node, manifest);
        return '';
      });
      ctx.io.stdout(`${goJson({ pod_id: manifest.id, pod_unique_key: uniqueKey })}\n`);
    }),
  );
  return program;
}
