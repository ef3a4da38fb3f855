/**
 * `p2 hooks run EVENT --pod POD` and `p2 hooks install MANIFEST` — the hooks of this host, without
 * a store (P2: p2-run-hooks, p2-install-hook), through the host agent's `runPodHooks` and
 * `installHookPodLocally` (the preparer's own `installHookPod`). `install` verifies the artifact by
 * this host's `artifact_auth` (the preparer's config) unless `--no-verify`.
 */
import { resolve } from 'node:path';
import type { Command } from '@commander-js/extra-typings';
import {
  type CliContext,
  CliExit,
  collect,
  ExitCode,
  emit,
  fetchManifest,
  loadManifest,
  nodeName,
  run,
  style,
} from '@p2/cli-kit';
import { type HookRunSummary, parseHookEvent } from '@p2/hooks';
import {
  type HookPodReport,
  installedPreparerConfigText,
  installHookPodLocally,
  runPodHooks,
} from '@p2/host-agent';
import type { Manifest } from '@p2/manifest';
import {
  artifactPolicy,
  loadPreparerConfig,
  type PreparerConfig,
  parsePreparerConfig,
} from '@p2/preparer-config';

const DEFAULT_HOOKS_DIR = '/usr/local/p2hooks.d';
const DEFAULT_POD_ROOT = '/data/pods';

export function registerHooksCommand(program: Command, ctx: CliContext): void {
  const hooks = program
    .command('hooks')
    .description("This host's hooks: run them for a pod, install the hook pod");

  hooks
    .command('run')
    .description('Run every hook for one event of a pod installed here (P2: p2-run-hooks)')
    .argument('<event>', 'before_install, after_install, before_launch, after_launch, …')
    .option('--pod <pod>', 'the pod (default: the id of --manifest)')
    .option('--uuid <uuid>', "a uuid pod's unique key")
    .option('--manifest <file>', 'the manifest hooks see (default: the pod’s current manifest)')
    .option('--hooks-dir <dir>', 'the hooks directory', DEFAULT_HOOKS_DIR)
    .option('--pod-root <dir>', 'where pods live', DEFAULT_POD_ROOT)
    .option('--node-name <node>', 'node name hooks are told (default: this host)')
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (eventName, options) => {
        const event = parseHookEvent(eventName);
        const manifest = options.manifest ? await loadManifest(ctx, options.manifest) : undefined;
        const podId = options.pod ?? manifest?.id;
        if (!podId)
          throw new CliExit(
            ExitCode.USAGE,
            'error: which pod? give --pod POD (or --manifest FILE)',
          );
        const summary = await runPodHooks(event, {
          podId,
          ...(options.uuid ? { uniqueKey: options.uuid } : {}),
          ...(manifest ? { manifest } : {}),
          podRoot: resolve(ctx.cwd, options.podRoot),
          hooksDirectory: resolve(ctx.cwd, options.hooksDir),
          nodeName: nodeName(options.nodeName),
        });
        emit(ctx.io, options, summary, (s) => renderRun(ctx, s));
        return summary.records.some((r) => !r.success) ? ExitCode.FAILURE : undefined;
      }),
    );

  hooks
    .command('install')
    .description(
      'Install the hook pod and write its executors into the hooks directory, as the preparer does at start (P2: p2-install-hook)',
    )
    .argument('<manifest>', 'hook pod manifest file or http(s) URL')
    .option(
      '--preparer-manifest',
      "MANIFEST is a preparer's manifest: install its config.preparer.hooks_manifest (no_hooks: remove the hook pods)",
    )
    .option(
      '--config <file>',
      "the preparer config whose artifact_auth, run_as policy and downloads apply (default: the installed p2-preparer's)",
    )
    .option('--no-verify', 'install without verifying the artifact (as P2 did)')
    .option(
      '--allow-run-as <user>',
      'let the hook pod run as an account the run_as policy refuses, such as root (repeatable)',
      collect,
      [],
    )
    .option(
      '--hooks-dir <dir>',
      `the hooks directory (default: the config's, else ${DEFAULT_HOOKS_DIR})`,
    )
    .option('--pod-root <dir>', `where pods live (default: the config's, else ${DEFAULT_POD_ROOT})`)
    .option('--node-name <node>', "node name for cgroups (default: the config's, else this host)")
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (source, options) => {
        const given = /^https?:\/\//.test(source)
          ? await fetchManifest(source)
          : await loadManifest(ctx, source);
        const explicit = options.config
          ? loadPreparerConfig(resolve(ctx.cwd, options.config))
          : undefined;
        const podRoot = resolve(ctx.cwd, options.podRoot ?? explicit?.podRoot ?? DEFAULT_POD_ROOT);
        const config = explicit ?? (await installedConfig(podRoot));
        if (!config && options.verify)
          throw new CliExit(
            ExitCode.USAGE,
            `error: no host policy to verify the artifact with: no --config, and no p2-preparer installed in ${podRoot}\nhint: give the preparer's config (--config FILE), or --no-verify to install the artifact unverified`,
          );
        const manifest = options.preparerManifest ? hooksManifestOf(given) : given;
        const policy = config
          ? await artifactPolicy(config)
          : { fetch: undefined, verifier: undefined };
        const runAs = config?.runAs ?? { minUid: 1000, allow: {} };
        const report = await installHookPodLocally(manifest, {
          nodeName: nodeName(options.nodeName ?? config?.nodeName),
          podRoot,
          hooksDirectory: resolve(
            ctx.cwd,
            options.hooksDir ?? config?.hooksDirectory ?? DEFAULT_HOOKS_DIR,
          ),
          ...(policy.fetch ? { fetch: policy.fetch } : {}),
          ...(options.verify && policy.verifier ? { artifactVerifier: policy.verifier } : {}),
          runAs: manifest
            ? {
                minUid: runAs.minUid,
                allow: {
                  ...runAs.allow,
                  [`hooks/${manifest.id}`]: [
                    ...(runAs.allow[`hooks/${manifest.id}`] ?? []),
                    ...options.allowRunAs,
                  ],
                },
              }
            : runAs,
        });
        const verified = options.verify && policy.verifier !== undefined;
        emit(ctx.io, options, { ...report, verified }, (r) => renderInstall(ctx, r));
      }),
    );
}

/** The config of the p2-preparer pod installed under `podRoot`, if there is one. */
async function installedConfig(podRoot: string): Promise<PreparerConfig | undefined> {
  const text = await installedPreparerConfigText(podRoot);
  return text === undefined
    ? undefined
    : parsePreparerConfig(text, `${podRoot}/p2-preparer/current_manifest.yaml`);
}

/** `config.preparer.hooks_manifest` of a preparer's manifest (undefined: `no_hooks`). */
function hooksManifestOf(preparer: Manifest): Manifest | undefined {
  const where = `${preparer.source ?? preparer.id}: config`;
  return parsePreparerConfig(preparer.configFiles().config, where).hooksManifest;
}

function renderRun(ctx: CliContext, summary: HookRunSummary): string {
  if (summary.records.length === 0)
    return style.dim(ctx.io, `no hooks ran for ${summary.event} of ${summary.podId}`);
  return summary.records
    .flatMap((r) => [
      `${r.success ? style.green(ctx.io, 'ok  ') : style.red(ctx.io, 'FAIL')} ${r.hook}  ${style.dim(ctx.io, `${Math.round(r.durationMs)} ms`)}${r.error ? `  ${r.error}` : ''}`,
      ...r.output
        .split('\n')
        .filter((line) => line !== '')
        .map((line) => `     ${line}`),
    ])
    .join('\n');
}

function renderInstall(ctx: CliContext, r: HookPodReport & { verified: boolean }): string {
  const lines = r.pod
    ? [
        `${style.green(ctx.io, r.installed ? 'installed' : 'already current')} hook pod ${r.pod} (${r.sha?.slice(0, 12)}) in ${r.home}, as ${r.runAs}${r.verified ? '' : style.yellow(ctx.io, '  (artifact not verified)')}`,
        ...r.executors.map(
          (e) =>
            `  executor ${e}${r.written.includes(e) ? '' : style.dim(ctx.io, '  (unchanged)')}`,
        ),
      ]
    : [style.dim(ctx.io, 'no hook pod (no_hooks)')];
  return [
    ...lines,
    ...r.removedExecutors.map((e) => `  removed executor ${e}`),
    ...r.prunedInstalls.map((p) => `  pruned ${p}`),
    ...r.removedPods.map((p) => `  removed hook pod ${p}`),
    ...r.warnings.map((w) => style.yellow(ctx.io, `warning: ${w}`)),
  ].join('\n');
}
