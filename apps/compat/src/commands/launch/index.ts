/**
 * `p2-launch MANIFEST-URL` (spec 02 §9.2, 03 §6.3): authorize the manifest with P2's deployer
 * policy (`-a none|keyring|user`), install it and start it on this host without a store, through
 * the host agent's `launchPod`; `--no-start` installs and switches the `current` links only. The
 * host's run_as policy applies as for every p2 deploy (`--allow-run-as` opens it for one pod).
 */
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Option } from '@commander-js/extra-typings';
import { type CliContext, collect, fetchManifest, loadManifest, nodeName, run } from '@p2/cli-kit';
import { type LaunchPodOptions, launchPod } from '@p2/host-agent';
import { readTrustedFile } from '@p2/secure-fs';
import { compatProgram, fail, warn } from '../../run.js';

const NO_DOCKER = 'p2 runs no docker pods (a docker launchable is refused)';

export function buildLaunch(ctx: CliContext) {
  const program = compatProgram(
    'p2-launch',
    "Install and start a pod on this host without a store (P2's p2-launch)",
    ctx,
  )
    .argument('<manifest-url>', 'the manifest: a path, a file:// URL or an http(s):// URL')
    .option(
      '--node-name <node>',
      'node name for cgroups and the pod’s environment (default: this host)',
    )
    .option('-p, --pod-root <dir>', 'where pods live', '/data/pods')
    .addOption(
      new Option('-a, --auth-type <type>', 'deployer policy')
        .choices(['none', 'keyring', 'user'] as const)
        .default('none' as const),
    )
    .option('-k, --keyring <file>', 'keyring the manifest’s signer must be in (keyring, user)')
    .option(
      '-u, --allowed-user <fingerprint>',
      'keyring: a key allowed to deploy p2-preparer (repeatable; required)',
      collect,
      [] as string[],
    )
    .option('-d, --deploy-policy <file>', 'user: the deploy policy file')
    .option('--tls-ca-file <file>', 'CA trusted for artifact downloads')
    .option(
      '-r, --artifact-registry-url <url>',
      'artifact registry for version: launchables (a manifest artifact_registry wins)',
    )
    .option('--require-file <file>', 'the pod’s services refuse to start unless this file exists')
    .option('--container-registry-json-key <file>', `ignored: ${NO_DOCKER}`)
    .option(
      '--docker-image-directory-whitelist <dir>',
      `ignored: ${NO_DOCKER} (repeatable)`,
      collect,
      [] as string[],
    )
    .option('--no-start', 'install and switch the current links only; start nothing')
    .option(
      '--service-root <dir>',
      'p2: the runit service directory runsvdir watches',
      '/var/service',
    )
    .option(
      '--allow-run-as <user>',
      'p2: let this pod run as an account the run_as policy refuses, such as root (repeatable)',
      collect,
      [] as string[],
    );
  program.action(
    run(ctx, async (source, options) => {
      const auth = deployerPolicy(ctx, options);
      if (
        options.containerRegistryJsonKey !== undefined ||
        options.dockerImageDirectoryWhitelist.length > 0
      )
        warn(
          ctx,
          `--container-registry-json-key and --docker-image-directory-whitelist are ignored: ${NO_DOCKER}`,
        );
      const manifest = /^https?:\/\//i.test(source)
        ? await fetchManifest(source)
        : await loadManifest(ctx, source.startsWith('file://') ? fileURLToPath(source) : source, {
            strict: true,
          });
      const ca = options.tlsCaFile
        ? await readTrustedFile(resolve(ctx.cwd, options.tlsCaFile), { maxBytes: 1024 * 1024 })
        : undefined;
      if (options.tlsCaFile && ca === undefined)
        throw fail(`--tls-ca-file ${options.tlsCaFile} does not exist`);
      const launched = await launchPod(manifest, {
        nodeName: nodeName(options.nodeName),
        podRoot: resolve(ctx.cwd, options.podRoot),
        serviceRoot: resolve(ctx.cwd, options.serviceRoot),
        start: options.start,
        auth,
        ...(options.requireFile ? { requireFile: resolve(ctx.cwd, options.requireFile) } : {}),
        ...(ca ? { tls: { ca } } : {}),
        ...(options.artifactRegistryUrl
          ? { artifactRegistryUrl: options.artifactRegistryUrl }
          : {}),
        allowRunAs: options.allowRunAs,
      });
      ctx.io.stdout(
        `${launched.started ? 'launched' : 'installed'} ${launched.pod} (${launched.sha}) in ${launched.podHome}\n`,
      );
      if (!launched.cgroups) warn(ctx, 'no cgroups: resource limits are not applied');
    }),
  );
  return program;
}

/** `-a` with its files as P2 checked them: each policy takes exactly the flags it uses. */
function deployerPolicy(
  ctx: CliContext,
  options: {
    authType: 'none' | 'keyring' | 'user';
    keyring?: string;
    allowedUser: string[];
    deployPolicy?: string;
  },
): NonNullable<LaunchPodOptions['auth']> {
  const { authType, keyring, allowedUser, deployPolicy } = options;
  if (authType === 'none') {
    if (keyring !== undefined || deployPolicy !== undefined || allowedUser.length > 0)
      throw fail(
        '-a none takes no --keyring, --deploy-policy or --allowed-user',
        'choose -a keyring or -a user',
      );
    return { type: 'none' };
  }
  if (keyring === undefined) throw fail(`-a ${authType} needs --keyring`);
  if (authType === 'keyring') {
    if (deployPolicy !== undefined) throw fail('--deploy-policy goes with -a user, not -a keyring');
    if (allowedUser.length === 0)
      throw fail(
        '-a keyring needs at least one --allowed-user (a key fingerprint allowed to deploy p2-preparer), as P2’s p2-launch did',
      );
    return {
      type: 'keyring',
      keyring: resolve(ctx.cwd, keyring),
      authorizedDeployers: allowedUser,
    };
  }
  if (deployPolicy === undefined) throw fail('-a user needs --deploy-policy');
  if (allowedUser.length > 0)
    throw fail(
      '--allowed-user goes with -a keyring: under -a user the deploy policy says who may deploy',
    );
  return {
    type: 'user',
    keyring: resolve(ctx.cwd, keyring),
    deployPolicy: resolve(ctx.cwd, deployPolicy),
  };
}
