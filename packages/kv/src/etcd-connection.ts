/**
 * One lazily loaded `etcd3` client with the backend's conventions: the key layout under the root
 * prefix, errors converted at the boundary, cancellation and close, the shared tombstone lease, and
 * reads at one revision.
 */
import type { Etcd3, IKeyValue, IRangeRequest, IRangeResponse } from 'etcd3';
import { KvError, KvErrorCodes } from './errors.js';
import { convertEtcdError } from './etcd-errors.js';
import { faultHandling, type ResolvedEtcdOptions } from './etcd-options.js';
import { useLoopLag } from './loop-lag.js';

/** etcd's `--max-txn-ops` default: the most compares, and the most requests, in one etcd txn. */
export const MAX_ETCD_TXN_OPS = 128;

/** One per `EtcdStore`: its client, key layout and tombstone lease. */
export class EtcdConnection {
  readonly description: string;
  private readonly root: string;
  private clientPromise: Promise<Etcd3> | undefined;
  private tombLease: { id: string; grantedAt: number } | undefined;
  /** Ends this client's use of the event-loop lag measure its attempt deadlines add. */
  private stopLoopLag: (() => void) | undefined;
  /** Blocked reads to end when the store closes. */
  readonly watchers = new Set<() => void>();
  closed = false;

  constructor(private readonly options: ResolvedEtcdOptions) {
    this.description = options.description;
    this.root = options.root;
  }

  client(): Promise<Etcd3> {
    if (this.closed) return Promise.reject(this.closedError('connect'));
    this.stopLoopLag ??= useLoopLag();
    this.clientPromise ??= Promise.all([import('etcd3'), import('cockatiel')]).then(
      ([{ Etcd3, isRecoverableError }, cockatiel]) =>
        new Etcd3({
          ...this.options.clientOptions,
          faultHandling: faultHandling(cockatiel, isRecoverableError),
        }),
    );
    return this.clientPromise;
  }

  closedError(what: string): KvError {
    return new KvError(
      KvErrorCodes.ABORTED,
      `${what}: the store client for ${this.description} was closed`,
    );
  }

  aborted(what: string, signal: AbortSignal): KvError {
    return new KvError(KvErrorCodes.ABORTED, `${what} on ${this.description} was cancelled`, {
      cause: signal.reason,
    });
  }

  /** Runs one etcd call, converting foreign errors at the boundary. */
  async call<T>(
    what: string,
    signal: AbortSignal | undefined,
    fn: (client: Etcd3) => Promise<T>,
  ): Promise<T> {
    if (signal?.aborted) throw this.aborted(what, signal);
    const client = await this.client();
    try {
      return await fn(client);
    } catch (error) {
      if (error instanceof KvError) throw error;
      if (this.closed) throw this.closedError(what);
      throw this.convert(what, error);
    }
  }

  convert(what: string, error: unknown): KvError {
    return convertEtcdError(what, this.description, error);
  }

  /** The etcd key of a store key: `<root>kv/<key>`. */
  kvKey(key: string): Buffer {
    return Buffer.from(`${this.root}kv/${key}`, 'utf8');
  }

  /** The etcd key of the backend's own records: `<root><kind>/<rest>`. */
  metaKey(kind: 'session' | 'lockdelay' | 'tomb', rest: string): Buffer {
    return Buffer.from(`${this.root}${kind}/${rest}`, 'utf8');
  }

  /** The store key of an etcd `kv/` key. */
  keyFromKv(kv: IKeyValue): string {
    return kv.key.toString('utf8').slice(this.root.length + 3);
  }

  /** The prefix of every etcd key that holds a store key. */
  get kvPrefix(): string {
    return `${this.root}kv/`;
  }

  /** A lease that tombstones share; a fresh one when the last is half-way to expiry. */
  async tombstoneLease(client: Etcd3): Promise<string> {
    const now = Date.now();
    const ttlMs = this.options.tombstoneTtlMs;
    if (this.tombLease && now - this.tombLease.grantedAt < ttlMs / 2) {
      return this.tombLease.id;
    }
    const granted = await client.leaseClient.leaseGrant({
      TTL: Math.max(2, Math.ceil(ttlMs / 1000)),
    });
    this.tombLease = { id: granted.ID, grantedAt: now };
    return granted.ID;
  }

  /** The tombstone lease granted last, if any. */
  get currentTombstoneLease(): { id: string; grantedAt: number } | undefined {
    return this.tombLease;
  }

  /** Forgets the tombstone lease (revoked from outside): the next write grants a new one. */
  forgetTombstoneLease(): void {
    this.tombLease = undefined;
  }

  /** Runs range requests at one revision (one etcd txn per 128). */
  async readAt(
    what: string,
    requests: IRangeRequest[],
    signal: AbortSignal | undefined,
  ): Promise<{ revision: number; responses: IRangeResponse[] }> {
    const responses: IRangeResponse[] = [];
    let revision = 0;
    for (let i = 0; i < requests.length || i === 0; i += MAX_ETCD_TXN_OPS) {
      const chunk = requests
        .slice(i, i + MAX_ETCD_TXN_OPS)
        .map((r) => ({ request_range: revision ? { ...r, revision } : r }));
      const res = await this.call(what, signal, (c) =>
        c.kv.txn({ compare: [], success: chunk, failure: [] }),
      );
      if (!revision) revision = Number(res.header.revision);
      for (const r of res.responses) responses.push(r.response_range);
    }
    return { revision, responses };
  }

  /** Ends blocked reads and closes the client. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.stopLoopLag?.();
    for (const stop of [...this.watchers]) stop();
    const client = await this.clientPromise?.catch(() => undefined);
    client?.close();
  }
}
