/**
 * Wires the preparer together from its configuration: store, runsvdir, cgroups, auth, pod host,
 * reconcile engine, status server. Everything here is composition; the logic lives in packages.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createArtifactVerifier, createManifestAuthorizer, withCompanionFiles } from '@p2/auth';
import { detectCgroups } from '@p2/cgroups';
import { describeError } from '@p2/errors';
import { HealthChecker, healthTarget, StoreHealthPublisher } from '@p2/health';
import { fetchBytes } from '@p2/hoist';
import { runHooks } from '@p2/hooks';
import { createStore, readTokenFile, type Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import { PodHost, PodLayout } from '@p2/pods';
import { RunsvDir } from '@p2/runit';
import type { Logger } from 'pino';
import type { PreparerConfig } from './config.js';
import { PreparerError, PreparerErrorCode } from './errors.js';
import { PreparerMetrics } from './metrics.js';
import { type LifecycleHooks, type PodState, Preparer } from './preparer.js';
import { type StatusServer, startStatusServer } from './status-server.js';

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
  hooks?: LifecycleHooks;
  /** See {@link PreparerOptions.requirePreparerInIntent}. */
  requirePreparerInIntent?: boolean;
  backoff?: { initialMs?: number; maxMs?: number };
  onState?: (state: PodState) => void;
}

/** Starts a preparer for `config`. */
export async function startPreparer(
  config: PreparerConfig,
  options: StartOptions,
): Promise<RunningPreparer> {
  const log = options.logger;
  for (const key of config.unknownKeys)
    log.warn({ key: `preparer.${key}` }, 'unknown configuration key ignored');
  for (const warning of config.warnings) log.warn(warning);
  if (config.requireFile && !existsSync(config.requireFile)) {
    throw new PreparerError(
      PreparerErrorCode.REQUIRE_FILE_MISSING,
      `require_file ${config.requireFile} does not exist; refusing to start`,
      {
        hint: `create ${config.requireFile} when this host may run pods`,
      },
    );
  }
  // Root trusting a file: only a root-owned file nobody else may read or write (P2_KV_TOKEN_FILE_UNSAFE).
  const token = config.consulTokenPath
    ? await readTokenFile(config.consulTokenPath, { rootOwned: true, private: true })
    : process.env.CONSUL_HTTP_TOKEN;
  const store = createStore(config.store, {
    ...(token ? { token } : {}),
    ...(config.caFile ? { tlsCaFile: config.caFile } : {}),
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
  const ca = config.caFile ? readFileSync(config.caFile) : undefined;
  // Local artifact, digest and signature locations only from these directories (see @p2/hoist).
  const fetchOptions = { ...(ca ? { ca } : {}), localRoots: config.localArtifactDirs };
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
    readOnlyDefault: (podId) =>
      config.readOnlyBlacklist.includes(podId)
        ? false
        : config.readOnlyWhitelist.includes(podId)
          ? true
          : config.readOnlyDeploys,
    ...(artifactVerifier ? { artifactVerifier } : {}),
    digestSignatureVerifier: async (digest, signature) => {
      await policy.checkDigest(digest, signature);
    },
    fetch: fetchOptions,
    ...(config.requireFile ? { requireFile: config.requireFile } : {}),
    maxLaunchableDiskUsage: config.maxLaunchableDiskUsage,
    runAs: config.runAs,
    logger: log.child({ component: 'pods' }),
  });
  const metrics = new PreparerMetrics();
  const hooks: LifecycleHooks = options.hooks ?? {
    async run(event, pod) {
      await runHooks({
        event,
        hooksDirectory: config.hooksDirectory,
        node: config.nodeName,
        podRoot: config.podRoot,
        pod: {
          manifest: pod.manifest,
          home: pod.layout.home,
          id: pod.layout.podId,
          ...(pod.layout.uniqueKey ? { uniqueKey: pod.layout.uniqueKey } : {}),
          readOnly: host.readOnly(pod.manifest),
        },
        required: config.hooksRequired,
        logger: log.child({ component: 'hooks' }),
        audit: (record) => log.info({ audit: { ...record, output: undefined } }, 'hook ran'),
      });
    },
  };
  const health = startHealth(config, store, log);
  const preparer = new Preparer({
    config,
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
    requirePreparerInIntent: options.requirePreparerInIntent ?? config.requirePreparerInIntent,
    ...(options.backoff ? { backoff: options.backoff } : {}),
    ...(options.onState ? { onState: options.onState } : {}),
  });
  let status: StatusServer | undefined;
  if (config.statusPort || config.statusSocket) {
    status = await startStatusServer({
      ...(config.statusPort ? { port: config.statusPort } : {}),
      ...(config.statusSocket ? { socketPath: config.statusSocket } : {}),
      metrics: () => metrics.render(),
      metricsContentType: metrics.contentType,
      summary: () => ({ node: config.nodeName, pods: preparer.podStates() }),
    });
    log.info({ url: status.url }, 'status server listening');
  } else {
    log.warn('neither status_port nor status_socket is set: no status server');
  }
  const preparerHome = new PodLayout(config.podRoot, 'p2-preparer');
  const ownManifest = await host.currentManifest(preparerHome).catch(() => undefined);
  if (ownManifest)
    await hooks.run('preparer_init', { manifest: ownManifest, layout: preparerHome });
  await preparer.start();
  return {
    preparer,
    store,
    host,
    runsvdir,
    metrics,
    ...(status ? { status } : {}),
    async stop() {
      await preparer.stop();
      await health.close();
      await status?.close();
      await store.close();
      log.info('preparer stopped; pods keep running');
    },
  };
}

/**
 * Health checks of running pods, published under `health/<pod>/<node>` with a session (keys vanish
 * when this host dies). The publisher's session is created in the background and retried while the
 * store is unreachable, so a dead store never stops the preparer from starting.
 */
function startHealth(config: PreparerConfig, store: Store, log: Logger) {
  let checker: HealthChecker | undefined;
  let closed = false;
  const pending = new Map<string, Manifest>();
  const target = (manifest: Manifest) =>
    healthTarget(manifest, config.healthCheckHost ?? config.nodeName);
  const connect = async (delayMs: number): Promise<void> => {
    while (!closed) {
      try {
        const publisher = await StoreHealthPublisher.start({
          store,
          node: config.nodeName,
          logger: log.child({ component: 'health' }),
        });
        if (closed) {
          await publisher.close?.();
          return;
        }
        checker = new HealthChecker({
          publisher,
          intervalMs: config.healthCheckIntervalMs,
          check: { timeoutMs: config.healthCheckTimeoutMs },
          logger: log.child({ component: 'health' }),
        });
        for (const manifest of pending.values()) checker.setPod(target(manifest));
        pending.clear();
        return;
      } catch (error) {
        log.warn(
          { err: describeError(error), retryInMs: delayMs },
          'health publisher could not start; retrying',
        );
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        delayMs = Math.min(delayMs * 2, 60_000);
      }
    }
  };
  const connecting = connect(1000);
  return {
    tracker: {
      track(manifest: Manifest) {
        if (checker) checker.setPod(target(manifest));
        else pending.set(manifest.id, manifest);
      },
      async untrack(podId: string) {
        pending.delete(podId);
        await checker?.removePod(podId).catch((error: unknown) => {
          log.warn({ pod: podId, err: describeError(error) }, 'could not remove the health record');
        });
      },
    },
    async close() {
      closed = true;
      await connecting;
      await checker?.close();
    },
  };
}
