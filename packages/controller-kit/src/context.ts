/** What every controller is given, and how its defaults are filled in. */
import { LabelStore } from '@p2/keyspace';
import type { Store } from '@p2/kv';
import type { Manifest } from '@p2/manifest';
import { LabelScheduler, type Scheduler } from '@p2/scheduler';
import type { Logger } from 'pino';
import type { HealthSource } from './health.js';
import { silentLogger } from './util.js';

/** An alert a controller raises for an operator (P2 sent these to PagerDuty). */
export interface Alert {
  readonly urgency: 'high' | 'low';
  readonly incidentKey: string;
  readonly description: string;
  readonly details?: Record<string, unknown>;
}

/** The record a controller writes a manifest for (delegated signing names it). */
export interface IntentRecordRef {
  readonly kind: 'replication_controllers' | 'daemon_sets';
  readonly id: string;
}

/**
 * Signs the manifests the controllers write into intent, on behalf of the record that asked for
 * them (delegated signing). @p2/auth's `DelegatedSigner` is one.
 */
export interface IntentSigner {
  /** Fingerprint of the signing key, for logs. */
  readonly fingerprint: string;
  /** The bytes to store: `text` clear-signed, naming `ref`. */
  sign(text: string, sha: string, ref: IntentRecordRef): Promise<Uint8Array>;
}

/** What the controllers need; shared by RC workers, farms, rolling updates and daemon sets. */
export interface ControllerContext {
  readonly store: Store;
  /** @default a LabelStore on `store` */
  readonly labels?: LabelStore;
  /** @default a LabelScheduler on `store` */
  readonly scheduler?: Scheduler;
  /** Where health comes from (node transfers and rolling updates). */
  readonly health?: HealthSource;
  /** Receives alerts. @default log them */
  readonly alert?: (alert: Alert) => void;
  /** pino logger. @default silent */
  readonly logger?: Logger;
  /**
   * Delegated signing: sign every unsigned manifest written into intent with the controllers' key.
   * A manifest that is already clear-signed (by a deployer) is written as it is.
   * @default none: manifests are written as stored in the record
   */
  readonly intentSigner?: IntentSigner;
}

/** A {@link ControllerContext} with every default filled in. */
export interface ResolvedContext {
  store: Store;
  labels: LabelStore;
  scheduler: Scheduler;
  health: HealthSource | undefined;
  alert: (alert: Alert) => void;
  log: Logger;
  /** The bytes to write at `intent/<node>/<pod>` for a record's manifest (signed when configured). */
  intentBytes(manifest: Manifest, ref: IntentRecordRef): Promise<Uint8Array>;
}

/**
 * Fills in a context's defaults: a non-validating `LabelStore`, a `LabelScheduler` sharing it, a
 * silent logger, alerts logged as warnings.
 *
 * @example resolveContext({ store }).labels // a LabelStore on store
 */
export function resolveContext(ctx: ControllerContext): ResolvedContext {
  // Controllers copy labels from stored records: accept what is stored, as P2 did (stores that
  // take new input from people validate it, e.g. RcStore.create).
  const labels = ctx.labels ?? new LabelStore(ctx.store, { validate: false });
  const log = ctx.logger ?? silentLogger;
  return {
    store: ctx.store,
    labels,
    scheduler: ctx.scheduler ?? new LabelScheduler(ctx.store, { labels }),
    health: ctx.health,
    alert: ctx.alert ?? ((a) => log.warn({ alert: a }, a.description)),
    log,
    intentBytes: async (manifest, ref) => {
      const signer = ctx.intentSigner;
      if (!signer || manifest.clearsigned) return manifest.raw;
      return signer.sign(manifest.text(), manifest.sha(), ref);
    },
  };
}
