/**
 * `p2 launch MANIFEST` — install and run a pod on this host without a store (P2's p2-launch),
 * through the host agent's `launchPod`. A download progress bar shows on a terminal. With
 * `--keyring`, the manifest must be signed by a key in it (P2's `keyring` policy).
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
  parseWholeNumber,
  progressBar,
  run,
  style,
} from '@p2/cli-kit';
import { DEFAULT_LOCAL_ARTIFACT_DIR } from '@p2/hoist';
import { type LocalLaunch, launchPod } from '@p2/host-agent';
import { NESTED_HELP, PARENT_HELP } from '../pod-control/index.js';

function runAsMinUid(text: string): number {
  const uid = parseWholeNumber(text, 0);
  if (uid !== undefined) return uid;
  throw new CliExit(
    ExitCode.USAGE,
    `error: --run-as-min-uid wants a uid, found ${JSON.stringify(text)}`,
  );
}

export function registerLaunchCommand(program: Command, ctx: CliContext): void {
  program
    .command('launch')
    .description('Install and run a pod on this host, without a store (P2: p2-launch)')
    .argument('<manifest>', 'manifest file or http(s) URL')
    .option('--node-name <node>', 'node name for cgroups and env (default: this host)')
    .option('--pod-root <dir>', 'where pods live', '/data/pods')
    .option('--service-root <dir>', 'the runit service directory runsvdir watches', '/var/service')
    .option('--no-start', 'install and switch the current links only; start no services')
    .option('--keyring <file>', 'require a signature by a key in this keyring')
    .option(
      '--allowed-user <fingerprint>',
      'with --keyring: keys allowed to deploy p2-preparer (repeatable)',
      collect,
      [],
    )
    .option(
      '--allow-local-dir <dir>',
      `also read file: and plain-path artifact locations from this directory (repeatable; always allowed: ${DEFAULT_LOCAL_ARTIFACT_DIR})`,
      collect,
      [],
    )
    .option(
      '--allow-run-as <user>',
      'let this pod run as an account the run_as policy refuses (root, system accounts, another pod’s user; repeatable)',
      collect,
      [],
    )
    .option(
      '--run-as-min-uid <uid>',
      'lowest uid of an existing account pods may run as (pod users p2 created excepted)',
      '1000',
    )
    .option(
      '--artifact-registry-url <url>',
      "artifact registry that resolves version: launchables (the manifest's artifact_registry wins)",
    )
    .option(
      '--os-version-file <file>',
      'release file the registry is told the OS from (default: /etc/redhat-release, else /etc/os-release)',
    )
    .option('--no-cgroups', 'run without cgroup limits even if cgroups are available')
    .option('--nested-cgroups', NESTED_HELP)
    .option('--cgroup-parent <path>', PARENT_HELP)
    .option('--json', 'print JSON')
    .action(
      run(ctx, async (source, options) => {
        const manifest = /^https?:\/\//.test(source)
          ? await fetchManifest(source)
          : await loadManifest(ctx, source, { strict: true });
        if (!options.keyring && options.allowedUser.length > 0)
          throw new CliExit(ExitCode.USAGE, 'error: --allowed-user needs --keyring');
        const minUid = runAsMinUid(options.runAsMinUid);
        const bar = ctx.io.isTTY && !options.json ? progressBar(ctx.io.stderr) : undefined;
        let result: LocalLaunch;
        try {
          result = await launchPod(manifest, {
            nodeName: nodeName(options.nodeName),
            podRoot: resolve(ctx.cwd, options.podRoot),
            serviceRoot: resolve(ctx.cwd, options.serviceRoot),
            start: options.start,
            ...(options.keyring
              ? {
                  auth: {
                    type: 'keyring' as const,
                    keyring: resolve(ctx.cwd, options.keyring),
                    authorizedDeployers: options.allowedUser,
                  },
                }
              : {}),
            runAsMinUid: minUid,
            allowRunAs: options.allowRunAs,
            localArtifactDirs: options.allowLocalDir.map((dir) => resolve(ctx.cwd, dir)),
            cgroups: options.cgroups,
            ...(options.artifactRegistryUrl
              ? { artifactRegistryUrl: options.artifactRegistryUrl }
              : {}),
            ...(options.osVersionFile
              ? { osVersionFile: resolve(ctx.cwd, options.osVersionFile) }
              : {}),
            cgroupNaming: { nested: options.nestedCgroups === true, parent: options.cgroupParent },
            ...(bar ? { onProgress: (id, p) => bar.update(id, p) } : {}),
          });
        } finally {
          bar?.done();
        }
        emit(ctx.io, options, result, (r) =>
          [
            `${style.green(ctx.io, r.started ? 'launched' : 'installed')} ${r.pod} (${r.sha.slice(0, 12)}) in ${r.podHome}`,
            ...r.launchables.map(
              (l) =>
                `  ${l.id}  ${l.installDir}${l.alreadyInstalled ? style.dim(ctx.io, '  (already installed)') : l.location ? style.dim(ctx.io, `  (from ${l.location})`) : ''}`,
            ),
            ...r.services.map((s) => `  service ${s}`),
            ...(r.cgroups
              ? []
              : [style.yellow(ctx.io, 'warning: no cgroups; resource limits are not applied')]),
          ].join('\n'),
        );
      }),
    );
}
