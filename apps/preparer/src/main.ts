/**
 * Wires the preparer together from its configuration (@p2/preparer-config): store, runsvdir,
 * cgroups, auth, pod host, hooks, health, and the reconcile engine with its status server
 * (@p2/host-agent). Everything here is composition; the logic lives in packages.
 */
import { createArtifactVerifier, createManifestAuthorizer, withCompanionFiles } from '@p2/auth';
import { detectCgroups } from '@p2/cgroups';
import { describeError } from '@p2/errors';
import { fetchBytes } from '@p2/hoist';
import {
  assertRequireFile,
  directoryHooks,
  Preparer,
  PreparerMetrics,
  type StatusServer,
  startHealthTracking,
} from '@p2/host-agent';
import { createStore, readTokenFile, type Store } from '@p2/kv';
import { PodHost } from '@p2/pods';
import { type PreparerConfig, readClientTlsFiles, readOnlyDefault } from '@p2/preparer-config';
import { RunsvDir } from '@p2/runit';
import type { Logger } from 'pino';

export interface RunningPreparer {
  preparer: Preparer;
  store: Store;
  host: PodHost;
  runsvdir: RunsvDir;
  metrics: PreparerMetrics;
  status?: StatusServer;
  /** Stops the preparer; apps and their runsvdir keep running. */
  stop(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
}

/** Starts a preparer for `config`. */
export async function startPreparer(
  config: PreparerConfig,
  options: StartOptions,
): Promise<RunningPreparer> {
  const log = options.logger;
  for (const { key, reason } of config.ignoredKeys)
    log.warn({ key: `preparer.${key}`, reason }, 'configuration key ignored');
  for (const warning of config.warnings) log.warn(warning);
  if (config.requireFile) assertRequireFile(config.requireFile);
  // Root trusting a file: only a root-owned file nobody else may read or write (P2_KV_TOKEN_FILE_UNSAFE).
  const token = config.consulTokenPath
    ? await readTokenFile(config.consulTokenPath, { rootOwned: true, private: true })
    : process.env.CONSUL_HTTP_TOKEN;
  const store = createStore(config.store, {
    ...(token ? { token } : {}),
    ...(config.caFile ? { tlsCaFile: config.caFile } : {}),
    ...(config.certFile ? { tlsCertFile: config.certFile } : {}),
    ...(config.keyFile ? { tlsKeyFile: config.keyFile } : {}),
  });
  // Warm slots plus a direct runsv when they run out: a burst of deploys never waits for
  // runsvdir's 5-second scan (see @p2/runit).
  const runsvdir = new RunsvDir({
    root: config.serviceRoot,
    slots: 16,
    whenNoSlot: 'runsv',
    logger: log.child({ component: 'runit' }),
  });
  await runsvdir.start();
  const cgroups = await detectCgroups().catch((error: unknown) => {
    log.warn({ err: describeError(error) }, 'no usable cgroups: pods run without resource limits');
    return false as const;
  });
  // Deployer policy (signatures, M-of-N) and replay guard, as one authorizer (see @p2/auth).
  const authorizer = await createManifestAuthorizer(config.auth, {
    replayGuard: config.replayGuard,
    logger: log.child({ component: 'auth' }),
  });
  if (authorizer.replayGuard)
    log.info({ stateFile: authorizer.replayGuard.statePath }, 'replay guard on');
  const policy = authorizer.policy;
  // ca_file, cert_file and key_file for artifact downloads (the key must be root's, mode 600).
  const clientTls = await readClientTlsFiles(config);
  // Local artifact, digest and signature locations only from these directories (see @p2/hoist).
  const fetchOptions = { ...clientTls, localRoots: config.localArtifactDirs };
  const artifactVerifier =
    config.artifactAuth.type === 'none'
      ? undefined
      : withCompanionFiles(
          await createArtifactVerifier(
            config.artifactAuth.type,
            config.artifactAuth.keyring ? { keyring: config.artifactAuth.keyring } : {},
          ),
          (url) => fetchBytes(url, fetchOptions).then((b) => new Uint8Array(b)),
        );
  const host = new PodHost({
    podRoot: config.podRoot,
    nodeName: config.nodeName,
    runsvdir,
    cgroups,
    readOnlyDefault: readOnlyDefault(config),
    ...(artifactVerifier ? { artifactVerifier } : {}),
    digestSignatureVerifier: async (digest, signature) => {
      await policy.checkDigest(digest, signature);
    },
    fetch: fetchOptions,
    ...(config.requireFile ? { requireFile: config.requireFile } : {}),
    maxLaunchableDiskUsage: config.maxLaunchableDiskUsage,
    runAs: config.runAs,
    // log_exec, log_bridge_blacklist, finish_exec: written into each service at its next launch.
    serviceHelpers: {
      ...(config.logExec ? { logExec: config.logExec } : {}),
      logBridgeBlacklist: config.logBridgeBlacklist,
      ...(config.finishExec ? { finishExec: config.finishExec } : {}),
    },
    logger: log.child({ component: 'pods' }),
  });
  const metrics = new PreparerMetrics();
  const hooks = directoryHooks({
    hooksDirectory: config.hooksDirectory,
    node: config.nodeName,
    podRoot: config.podRoot,
    required: config.hooksRequired,
    host,
    logger: log,
  });
  const health = startHealthTracking({
    store,
    node: config.nodeName,
    ...(config.healthCheckHost ? { checkHost: config.healthCheckHost } : {}),
    intervalMs: config.healthCheckIntervalMs,
    timeoutMs: config.healthCheckTimeoutMs,
    logger: log,
  });
  const preparer = new Preparer({
    node: config.nodeName,
    store,
    host,
    authorize: async (manifest) => {
      await authorizer.authorize(manifest);
    },
    launched: (manifest) => authorizer.launched(manifest),
    hooks,
    health: health.tracker,
    logger: log,
    metrics,
    requirePreparerInIntent: config.requirePreparerInIntent,
    status: { port: config.statusPort, socketPath: config.statusSocket },
    ...(config.podWhitelistFile ? { podWhitelist: { file: config.podWhitelistFile } } : {}),
  });
  await preparer.start();
  return {
    preparer,
    store,
    host,
    runsvdir,
    metrics,
    ...(preparer.status ? { status: preparer.status } : {}),
    async stop() {
      await preparer.stop();
      await health.close();
      await store.close();
      log.info('preparer stopped; pods keep running');
    },
  };
}
