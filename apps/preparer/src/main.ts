/**
 * Wires the preparer together from its configuration (@p2/preparer-config): store, runsvdir,
 * cgroups, auth, pod host, hooks, health, and the reconcile engine with its status server
 * (@p2/host-agent). Everything here is composition; the logic lives in packages.
 */

import { createRequire } from 'node:module';
import { createManifestAuthorizer } from '@p2/auth';
import { detectCgroups } from '@p2/cgroups';
import { describeError } from '@p2/errors';
import { readOsRelease } from '@p2/hoist';
import {
  assertRequireFile,
  directoryHooks,
  IdleGc,
  installHookPod,
  PREPARER_STORE_LIMITS,
  Preparer,
  PreparerMetrics,
  type StatusServer,
  startHealthTracking,
} from '@p2/host-agent';
import { StoreDelegationRecords } from '@p2/keyspace';
import { createStore, readTokenFile, type Store } from '@p2/kv';
import { PodHost } from '@p2/pods';
import { artifactPolicy, type PreparerConfig, readOnlyDefault } from '@p2/preparer-config';
import { RunsvDir } from '@p2/runit';
import type { Logger } from 'pino';

/** Set by tsup at build time: the standalone bundle runs away from its package.json. */
declare const __P2_PACKAGE_VERSION__: string | undefined;

const VERSION =
  typeof __P2_PACKAGE_VERSION__ === 'string'
    ? __P2_PACKAGE_VERSION__
    : (createRequire(import.meta.url)('../package.json') as { version: string }).version;

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
    ...PREPARER_STORE_LIMITS,
    ...(token ? { token } : {}),
    ...(config.caFile ? { tlsCaFile: config.caFile } : {}),
    ...(config.certFile ? { tlsCertFile: config.certFile } : {}),
    ...(config.keyFile ? { tlsKeyFile: config.keyFile } : {}),
    ...(config.storeHeaders ? { headers: config.storeHeaders } : {}),
    ...(config.storeWaitMs ? { waitMs: config.storeWaitMs } : {}),
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
    // Delegated signing (auth.delegation): controller-signed manifests need a deployer-signed record.
    delegationRecords: new StoreDelegationRecords(store, config.nodeName),
    logger: log.child({ component: 'auth' }),
  });
  if (authorizer.replayGuard)
    log.info({ stateFile: authorizer.replayGuard.statePath }, 'replay guard on');
  const policy = authorizer.policy;
  // Downloads (TLS files, local_artifact_dirs) and artifact_auth, for pods and the hook pod alike.
  const artifacts = await artifactPolicy(config);
  const artifactVerifier = artifacts.verifier;
  const host = new PodHost({
    podRoot: config.podRoot,
    nodeName: config.nodeName,
    runsvdir,
    cgroups,
    // P2's params.nested_cgroups (flat names by default), include_pod_id_arg; p2's cgroup_parent.
    cgroupNaming: config.cgroupNaming,
    podCgroupLimits: config.podCgroupLimits,
    readOnlyDefault: readOnlyDefault(config),
    ...(artifactVerifier ? { artifactVerifier } : {}),
    digestSignatureVerifier: async (digest, signature) => {
      await policy.checkDigest(digest, signature);
    },
    fetch: artifacts.fetch,
    // version: launchables: the registry (a manifest's artifact_registry wins) and the OS it is told.
    ...(config.artifactRegistryUrl ? { artifactRegistry: config.artifactRegistryUrl } : {}),
    ...(config.osVersionFile ? { osVersionFile: config.osVersionFile } : {}),
    ...(config.requireFile ? { requireFile: config.requireFile } : {}),
    maxLaunchableDiskUsage: config.maxLaunchableDiskUsage,
    runAs: config.runAs,
    // log_exec, log_bridge_blacklist, finish_exec: written into each service at its next launch.
    serviceHelpers: {
      ...(config.logExec ? { logExec: config.logExec } : {}),
      logBridgeBlacklist: config.logBridgeBlacklist,
      ...(config.finishExec ? { finishExec: config.finishExec } : {}),
    },
    // opencontainer launchables: params.runc_path and what opencontainer.allow lets bundles ask.
    containers: { runcPath: config.opencontainer.runcPath, allow: config.opencontainer.allow },
    logger: log.child({ component: 'pods' }),
  });
  if (config.artifactRegistryUrl) {
    // Said now rather than at the first version: deploy (which fails with the same error).
    await readOsRelease(config.osVersionFile).then(
      (os) => log.info({ ...os, registry: config.artifactRegistryUrl }, 'artifact registry set'),
      (error: unknown) =>
        log.warn({ err: describeError(error) }, 'version: launchables cannot be installed'),
    );
  }
  // P2's startup order (spec 02 §1.3): the hook pod before preparer_init and any intent. A failure
  // is fatal, as in P2 — deploying without the configured hooks could skip what they set up — and
  // leaves the previous executors and every running pod as they were.
  const hookPod = await installHookPod(config.hooksManifest, {
    host,
    hooksDirectory: config.hooksDirectory,
    logger: log.child({ component: 'hook-pod' }),
  });
  const metrics = new PreparerMetrics();
  const hooks = directoryHooks({
    hooksDirectory: config.hooksDirectory,
    node: config.nodeName,
    podRoot: config.podRoot,
    required: config.hooksRequired,
    host,
    logger: log,
    ...(hookPod.manifestGroup !== undefined ? { manifestGroup: hookPod.manifestGroup } : {}),
  });
  const health = startHealthTracking({
    store,
    node: config.nodeName,
    ...(config.healthCheckHost ? { checkHost: config.healthCheckHost } : {}),
    intervalMs: config.healthCheckIntervalMs,
    timeoutMs: config.healthCheckTimeoutMs,
    writer: config.healthWriter,
    logger: log,
    onTransition: (pod, from, to) => preparer.recordHealth(pod, from, to),
  });
  // One full collection once a burst of deploys is over (node runs with --expose-gc: bin/launch).
  const idleGc = new IdleGc({ logger: log });
  const preparer: Preparer = new Preparer({
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
    version: VERSION,
    requirePreparerInIntent: config.requirePreparerInIntent,
    removalGraceMs: config.removalGraceMs,
    status: { port: config.statusPort, socketPath: config.statusSocket },
    ...(config.podWhitelistFile ? { podWhitelist: { file: config.podWhitelistFile } } : {}),
    autoRevert: {
      ...config.autoRevert,
      checkHost: config.healthCheckHost ?? config.nodeName,
      intervalMs: config.healthCheckIntervalMs,
      timeoutMs: config.healthCheckTimeoutMs,
    },
    metricGates: {
      checkHost: config.healthCheckHost ?? config.nodeName,
      intervalMs: config.healthCheckIntervalMs,
    },
    ...(config.tracing ? { tracing: config.tracing } : {}),
    onState: () => idleGc.activity(),
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
      idleGc.stop();
      await preparer.stop();
      await health.close();
      await store.close();
      log.info('preparer stopped; pods keep running');
    },
  };
}
