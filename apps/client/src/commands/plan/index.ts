/**
 * `p2 plan MANIFEST --node N` — what the host will download, restart and change if this manifest
 * is scheduled, against reality in the store (and the installs on disk when the pod root is here).
 * The plan is the host agent's own (`planDeploy`, from the deploy's step decisions).
 */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  emit,
  type Io,
  loadManifest,
  nodeName,
  run,
  style,
  table,
  withStore,
  withStoreFlags,
} from '@p2/cli-kit';
import { type PodPlan, planDeploy } from '@p2/host-agent';
import { PodTree } from '@p2/keyspace';
import type { Manifest } from '@p2/manifest';

const show = (v: unknown) => (v === undefined ? '∅' : JSON.stringify(v));

function render(io: Io, plan: PodPlan): string {
  const head =
    plan.action === 'none'
      ? `${style.green(io, 'no changes')}: ${plan.pod} on ${plan.node} already runs ${plan.sha.slice(0, 12)}`
      : plan.action === 'install'
        ? `${style.yellow(io, 'install')} ${plan.pod} on ${plan.node} (not running there)`
        : `${style.yellow(io, 'update')} ${plan.pod} on ${plan.node}: ${plan.realitySha?.slice(0, 12)} → ${plan.sha.slice(0, 12)}`;
  const lines = [head];
  if (plan.intentSha && plan.intentSha !== plan.sha) {
    lines.push(
      style.dim(
        io,
        `note: intent holds another manifest (${plan.intentSha.slice(0, 12)}); scheduling this one replaces it`,
      ),
    );
  }
  if (plan.launchables.length > 0) {
    lines.push(
      '',
      table(
        ['LAUNCHABLE', 'TYPE', 'VERSION', 'CHANGE', 'DOWNLOAD', 'SERVICE'],
        plan.launchables.map((l) => [
          l.id,
          l.type,
          l.version || style.dim(io, '-'),
          l.change,
          l.download ? style.yellow(io, 'yes') : l.installed ? 'no (installed)' : 'no',
          l.service,
        ]),
      ),
    );
  }
  const resolved = plan.launchables.filter((l) => l.resolved !== undefined);
  if (resolved.length > 0) {
    lines.push('', 'artifact registry:');
    for (const l of resolved) {
      const r = l.resolved ?? {};
      lines.push(
        r.location !== undefined
          ? `  ${l.id} ${l.version}: ${r.location}${r.registry ? style.dim(io, ` (from ${r.registry})`) : ''}`
          : `  ${l.id} ${l.version}: ${style.red(io, 'cannot resolve')}: ${r.error?.message ?? ''}${r.error?.hint ? `\n    hint: ${r.error.hint}` : ''}`,
      );
    }
  }
  if (plan.changes.length > 0) {
    lines.push(
      '',
      'changes:',
      ...plan.changes.map((c) => `  ${c.path}: ${show(c.from)} → ${show(c.to)}`),
    );
  }
  return lines.join('\n');
}

export function registerPlanCommand(program: Command, ctx: CliContext): void {
  withStoreFlags(
    program
      .command('plan')
      .description('Show what a host will download, restart and change for this manifest (dry run)')
      .argument('<manifest>', 'manifest file')
      .option('--node <node>', 'node (default: this host)')
      .option(
        '--pod-root <dir>',
        'pod root to look for installed versions, when it is on this machine',
        '/data/pods',
      )
      .option(
        '--artifact-registry-url <url>',
        "artifact registry the host resolves version: launchables through (the manifest's artifact_registry wins)",
      )
      .option(
        '--os-version-file <file>',
        "release file giving the host's OS for the registry (default: this machine's /etc/redhat-release, else /etc/os-release)",
      )
      .option('--json', 'print JSON'),
  ).action(
    run(ctx, async (file, options) => {
      const manifest = await loadManifest(ctx, file, { strict: true });
      const node = nodeName(options.node);
      const read = async (tree: PodTree): Promise<Manifest | undefined> =>
        (await tree.getPod(node, manifest.id)).value?.manifest();
      const { reality, intent } = await withStore(ctx, options, async (store) => ({
        reality: await read(new PodTree(store, 'reality')),
        intent: await read(new PodTree(store, 'intent')),
      }));
      const plan = await planDeploy({
        manifest,
        node,
        reality,
        intent,
        podRoot: options.podRoot,
        // version: launchables are looked up as the host would (registry, OS release file).
        registry: {
          ...(options.artifactRegistryUrl ? { artifactRegistry: options.artifactRegistryUrl } : {}),
          ...(options.osVersionFile
            ? { osVersionFile: resolve(ctx.cwd, options.osVersionFile) }
            : {}),
        },
      });
      emit(ctx.io, options, plan, (p) => render(ctx.io, p));
    }),
  );
}
