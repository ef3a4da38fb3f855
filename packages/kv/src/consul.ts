/**
 * The Consul backend: the {@link Store} contract over Consul's HTTP API, built on the `consul` npm
 * package (node-consul 2.x). What that package lacks is wrapped here:
 * - index headers: every call passes a papi `ctx` with `includeResponse`, so we read `X-Consul-Index`;
 * - cancellation: the same `ctx` is cancelled from an `AbortSignal`;
 * - binary values: reads use `buffer: true`; writes send `Buffer`s;
 * - transactions: `transaction.create` throws on 409, so the rollback body is decoded from the error;
 * - errors: papi errors become `KvError`s with the HTTP status and Consul's message.
 */
import { EventEmitter } from 'node:events';
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describeError } from '@p2/errors';
import Consul from 'consul';
import type { Logger } from 'pino';
import { KvError, KvErrorCodes } from './errors.js';
import { checkExtraHeaders } from './headers.js';
import { assertValueSize, assertWritableKey, MAX_TXN_OPS, toBytes } from './keys.js';
import { CLIENT_CERT_HINT, clientCertificateRefused, clientTls } from './tls-files.js';
import { TOKEN_HINT } from './token.js';
import type {
  Indexed,
  KvEntry,
  ReadOptions,
  SessionInfo,
  SessionOptions,
  Store,
  TxnOp,
  TxnResult,
  WriteOptions,
} from './types.js';

/** Options of the Consul backend. */
export interface ConsulStoreOptions {
  /** `host:port` of the agent. @default '127.0.0.1:8500' */
  address?: string;
  /** Use HTTPS. @default false */
  https?: boolean;
  /** ACL token, sent as `X-Consul-Token`. */
  token?: string;
  /** PEM file with the CA that signed the agent's certificate (implies https). */
  tlsCaFile?: string;
  /** PEM client certificate presented to the agent (mTLS; implies https). Goes with `tlsKeyFile`. */
  tlsCertFile?: string;
  /** PEM private key of `tlsCertFile`; refused if group or others may read it. */
  tlsKeyFile?: string;
  /**
   * Extra headers on every request (P2's `additional_consul_headers`). A header carrying the ACL
   * token (`X-Consul-Token`, `Authorization`) is refused: the token comes from `token` only.
   * Values are never shown in messages.
   */
  headers?: Readonly<Record<string, string>>;
  /** Datacenter (`?dc=`); default: the agent's. */
  datacenter?: string;
  /** Default blocking-query wait. @default 30_000 */
  waitMs?: number;
  /**
   * Most connections open at once for requests that are not blocking reads (writes, plain reads,
   * sessions, transactions); further requests wait in this client until one is free. Blocking
   * reads (watches) hold their own connections, one each, and never count against this cap, so a
   * write never waits behind a watch. @default {@link DEFAULT_MAX_CONNECTIONS}
   */
  maxConnections?: number;
  /**
   * Idle keep-alive connections kept open for those requests once a burst is over (the rest are
   * closed as they finish). @default {@link DEFAULT_MAX_IDLE_CONNECTIONS}
   */
  maxIdleConnections?: number;
  /**
   * An idle connection of those requests is closed after this long without one. A preparer asks
   * the store something every few seconds (heartbeat, session renewal): holding a socket across
   * those gaps costs the store one open file per host, reconnecting costs one round trip.
   * @default {@link DEFAULT_IDLE_TIMEOUT_MS}
   */
  idleTimeoutMs?: number;
  logger?: Logger;
}

/**
 * Default {@link ConsulStoreOptions.maxConnections}: 64, a bound rather than a budget. A
 * controller's workers run many short requests at once (lock claims, session renewals, reads), and
 * a cap of 8 made them queue long enough to lose ownership races (the RC farm's tests failed 2 runs
 * in 5). A preparer, whose steady load is sequential, asks for 2 (`PREPARER_STORE_LIMITS` in
 * `@p2/host-agent`).
 */
export const DEFAULT_MAX_CONNECTIONS = 64;

/**
 * Default {@link ConsulStoreOptions.maxIdleConnections}: as many as the cap. With one, a
 * controller's bursts reconnected on every request and its RC farm lost ownership races under load
 * (its tests failed 2 runs in 4). A preparer, whose steady load is sequential, keeps one
 * (`PREPARER_STORE_LIMITS` in `@p2/host-agent`): each idle socket more costs the store an open file
 * per host.
 */
export const DEFAULT_MAX_IDLE_CONNECTIONS = 64;

/** Default {@link ConsulStoreOptions.idleTimeoutMs}: 1 s, long enough to carry a burst. */
export const DEFAULT_IDLE_TIMEOUT_MS = 1_000;

interface RawEntry {
  Key: string;
  Value: Buffer | null;
  Flags: number;
  Session?: string;
  LockIndex: number;
  CreateIndex: number;
  ModifyIndex: number;
}

interface RawSession {
  ID: string;
  Name: string;
  Node: string;
  Behavior: 'release' | 'delete';
  TTL: string;
  LockDelay: number;
  CreateIndex: number;
}

interface PapiResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body?: unknown;
}

type ConsulCall = (options: Record<string, unknown>) => Promise<unknown>;

interface ConsulClient {
  kv: Record<'get' | 'keys' | 'set' | 'del', ConsulCall>;
  session: Record<'create' | 'destroy' | 'info' | 'renew', ConsulCall>;
  transaction: {
    create(operations: unknown[], options: Record<string, unknown>): Promise<unknown>;
  };
  destroy(): void;
}

const CONSUL_CTOR = Consul as unknown as new (options: Record<string, unknown>) => ConsulClient;

/** Parses a Go duration such as `15s` / `1m0s` / `100ms` into milliseconds (0 for ''). */
function goDurationMs(text: string): number {
  if (!text) return 0;
  let total = 0;
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1e3,
    m: 60e3,
    h: 3600e3,
  };
  for (const match of text.matchAll(/(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g)) {
    total += Number(match[1]) * (units[match[2] as string] ?? 0);
  }
  return total;
}

function indexOf(res: PapiResponse | undefined): number {
  const header = res?.headers['x-consul-index'];
  const text = Array.isArray(header) ? header[0] : header;
  const index = Number(text);
  // L2: an index of 0 (or a missing header) would make a watch spin; treat it as 1.
  return Number.isFinite(index) && index > 0 ? index : 1;
}

function toEntry(raw: RawEntry): KvEntry {
  return {
    key: raw.Key,
    value: raw.Value ? new Uint8Array(raw.Value) : new Uint8Array(0),
    flags: raw.Flags ?? 0,
    session: raw.Session ? raw.Session : undefined,
    lockIndex: raw.LockIndex ?? 0,
    createIndex: raw.CreateIndex,
    modifyIndex: raw.ModifyIndex,
  };
}

function toSession(raw: RawSession): SessionInfo {
  return {
    id: raw.ID,
    name: raw.Name ?? '',
    node: raw.Node ?? '',
    behavior: raw.Behavior,
    ttlMs: goDurationMs(raw.TTL ?? ''),
    lockDelayMs: (raw.LockDelay ?? 0) / 1e6,
    createIndex: raw.CreateIndex,
  };
}

/**
 * A {@link Store} on Consul's HTTP API (or `@p2/kv-server`).
 *
 * @example
 * ```ts
 * const store = new ConsulStore({ address: '127.0.0.1:8500' });
 * await store.put('intent/node1/hello', manifest.raw);
 * const { value: entry, index } = await store.get('intent/node1/hello');
 * ```
 */
export class ConsulStore implements Store {
  readonly description: string;
  /** For every request but blocking reads, on the capped {@link ConsulStore.agent}. */
  private readonly client: ConsulClient;
  /** For blocking reads only: one connection per watch in flight, on {@link ConsulStore.watchAgent}. */
  private readonly watchClient: ConsulClient;
  private readonly waitMs: number;
  private readonly agent: HttpAgent;
  private readonly watchAgent: HttpAgent;
  private readonly inFlight = new Set<() => void>();
  private closed = false;

  constructor(options: ConsulStoreOptions = {}) {
    const address = options.address ?? '127.0.0.1:8500';
    const match = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(address);
    if (!match) {
      throw new KvError(
        KvErrorCodes.BAD_OPTIONS,
        `Consul address must be host:port, got ${JSON.stringify(address)}`,
      );
    }
    const secure =
      options.https === true ||
      options.tlsCaFile !== undefined ||
      options.tlsCertFile !== undefined ||
      options.tlsKeyFile !== undefined;
    const tls = clientTls(options.tlsCaFile, options.tlsCertFile, options.tlsKeyFile);
    const headers = checkExtraHeaders(options.headers ?? {});
    const maxSockets = positiveCount(
      'maxConnections',
      options.maxConnections ?? DEFAULT_MAX_CONNECTIONS,
    );
    const maxFreeSockets = positiveCount(
      'maxIdleConnections',
      options.maxIdleConnections ?? DEFAULT_MAX_IDLE_CONNECTIONS,
    );
    const idleMs = positiveCount('idleTimeoutMs', options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS);
    const makeAgent = (limits: { maxSockets: number; maxFreeSockets?: number }) =>
      secure
        ? new HttpsAgent({ keepAlive: true, scheduling: 'lifo', ...tls, ...limits })
        : new HttpAgent({ keepAlive: true, scheduling: 'lifo', ...limits });
    this.agent = closeIdleAfter(makeAgent({ maxSockets, maxFreeSockets }), idleMs);
    // A blocking read holds its connection until the wait ends (HTTP/1.1 has no multiplexing), so
    // watches get a pool of their own without a cap: capping it would make a further watch (or,
    // in a shared pool, a write) queue for minutes. A watch re-polls on the connection it freed;
    // the connection of a watch that ended closes like an idle one.
    this.watchAgent = closeIdleAfter(makeAgent({ maxSockets: Number.POSITIVE_INFINITY }), idleMs);
    const host = (match[1] as string).replace(/^\[|\]$/g, '');
    const port = Number(match[2] ?? 8500);
    this.description = `consul${secure ? '+https' : ''}://${address}`;
    this.waitMs = options.waitMs ?? 30_000;
    const defaults: Record<string, unknown> = {};
    if (options.token) defaults.token = options.token;
    if (options.datacenter) defaults.dc = options.datacenter;
    const baseUrl = `${secure ? 'https' : 'http'}://${host.includes(':') ? `[${host}]` : host}:${port}/v1`;
    this.client = new CONSUL_CTOR({ baseUrl, agent: this.agent, headers, defaults });
    this.watchClient = new CONSUL_CTOR({ baseUrl, agent: this.watchAgent, headers, defaults });
  }

  /** The client for a read: blocking reads (with an index) go to the watch pool. */
  private readClient(options: ReadOptions | undefined): ConsulClient {
    return options?.index !== undefined && options.index > 0 ? this.watchClient : this.client;
  }

  /**
   * Calls a node-consul method with a cancellable, response-including papi context and converts
   * errors. Resolves with the raw response and body; `notFound` statuses resolve instead of throwing.
   */
  private async call(
    what: string,
    fn: ConsulCall,
    options: Record<string, unknown>,
    signal: AbortSignal | undefined,
    notFound = false,
  ): Promise<{ res: PapiResponse | undefined; body: unknown }> {
    if (signal?.aborted) throw this.aborted(what, signal);
    if (this.closed) throw this.closedError(what);
    const ctx = Object.assign(new EventEmitter(), { includeResponse: true, canceled: false });
    const cancel = () => {
      ctx.canceled = true;
      ctx.emit('cancel');
    };
    signal?.addEventListener('abort', cancel, { once: true });
    this.inFlight.add(cancel);
    try {
      const result = (await fn({ timeout: 30_000, ...options, ctx })) as
        | [PapiResponse, unknown?]
        | undefined;
      return { res: result?.[0], body: result?.[1] };
    } catch (error) {
      if (signal?.aborted) throw this.aborted(what, signal);
      if (this.closed) throw this.closedError(what);
      const response = (error as { response?: PapiResponse }).response;
      if (response && notFound && response.statusCode === 404)
        return { res: response, body: undefined };
      throw this.convert(what, error, response);
    } finally {
      signal?.removeEventListener('abort', cancel);
      this.inFlight.delete(cancel);
    }
  }

  private closedError(what: string): KvError {
    return new KvError(
      KvErrorCodes.ABORTED,
      `${what}: the store client for ${this.description} was closed`,
    );
  }

  private aborted(what: string, signal: AbortSignal): KvError {
    return new KvError(KvErrorCodes.ABORTED, `${what} on ${this.description} was cancelled`, {
      cause: signal.reason,
    });
  }

  /** @internal Converts a papi/consul error into a KvError. */
  private convert(what: string, error: unknown, response: PapiResponse | undefined): KvError {
    if (response) {
      const body = response.body;
      const text = (
        Buffer.isBuffer(body) ? body.toString('utf8') : typeof body === 'string' ? body : ''
      ).trim();
      const status = response.statusCode;
      const message = `${what} on ${this.description} failed: HTTP ${status}${text ? ` ${text}` : ''}`;
      if (status === 403) {
        return new KvError(KvErrorCodes.PERMISSION_DENIED, message, {
          cause: error,
          details: { status },
          hint: TOKEN_HINT,
        });
      }
      if (status === 413) {
        return new KvError(KvErrorCodes.VALUE_TOO_LARGE, message, {
          cause: error,
          details: { status },
        });
      }
      if (status === 500 && /session/i.test(text)) {
        return new KvError(KvErrorCodes.SESSION_INVALID, message, {
          cause: error,
          details: { status },
        });
      }
      return new KvError(KvErrorCodes.REQUEST_FAILED, message, {
        cause: error,
        details: { status, body: text },
      });
    }
    const text = describeError(error);
    // The server's TLS alert when it wants a client certificate (mTLS) and got none it trusts.
    const clientCert = clientCertificateRefused(text);
    return new KvError(
      KvErrorCodes.UNAVAILABLE,
      `${what}: cannot reach ${this.description}: ${text}`,
      {
        cause: error,
        hint: clientCert
          ? CLIENT_CERT_HINT
          : 'is the store running and reachable? check the store URL (p2: --store or P2_STORE; the P2-compatible binaries: --consul)',
      },
    );
  }

  private readOptions(options: ReadOptions | undefined): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (options?.consistent) out.consistent = true;
    if (options?.index !== undefined && options.index > 0) {
      const waitMs = options.waitMs ?? this.waitMs;
      out.index = String(options.index);
      out.wait = `${Math.max(1, Math.round(waitMs))}ms`;
      // Consul adds up to wait/16 of jitter; leave room before the client gives up.
      out.timeout = waitMs + waitMs / 16 + 5_000;
    } else {
      out.timeout = 30_000;
    }
    return out;
  }

  async get(key: string, options?: ReadOptions): Promise<Indexed<KvEntry | undefined>> {
    const { res, body } = await this.call(
      `GET ${key}`,
      (o) => this.readClient(options).kv.get(o),
      { key, buffer: true, ...this.readOptions(options) },
      options?.signal,
      true,
    );
    return { value: body ? toEntry(body as RawEntry) : undefined, index: indexOf(res) };
  }

  async list(prefix: string, options?: ReadOptions): Promise<Indexed<KvEntry[]>> {
    const { res, body } = await this.call(
      `GET ${prefix}?recurse`,
      (o) => this.readClient(options).kv.get(o),
      { key: prefix, recurse: true, buffer: true, ...this.readOptions(options) },
      options?.signal,
      true,
    );
    return {
      value: Array.isArray(body) ? (body as RawEntry[]).map(toEntry) : [],
      index: indexOf(res),
    };
  }

  async keys(
    prefix: string,
    options?: ReadOptions & { separator?: string },
  ): Promise<Indexed<string[]>> {
    const extra: Record<string, unknown> = {};
    if (options?.separator) extra.separator = options.separator;
    const { res, body } = await this.call(
      `GET ${prefix}?keys`,
      (o) => this.readClient(options).kv.keys(o),
      { key: prefix, ...extra, ...this.readOptions(options) },
      options?.signal,
      true,
    );
    return { value: Array.isArray(body) ? (body as string[]) : [], index: indexOf(res) };
  }

  private async set(
    what: string,
    key: string,
    value: Uint8Array | string,
    query: Record<string, unknown>,
    options: WriteOptions | undefined,
  ): Promise<boolean> {
    assertWritableKey(key);
    const bytes = toBytes(value);
    assertValueSize(key, bytes);
    const { body } = await this.call(
      `${what} ${key}`,
      (o) => this.client.kv.set(o),
      { key, value: Buffer.from(bytes), ...query },
      options?.signal,
    );
    return body === true;
  }

  async put(
    key: string,
    value: Uint8Array | string,
    options?: WriteOptions & { flags?: number },
  ): Promise<void> {
    await this.set('PUT', key, value, options?.flags ? { flags: options.flags } : {}, options);
  }

  cas(
    key: string,
    value: Uint8Array | string,
    index: number,
    options?: WriteOptions & { flags?: number },
  ): Promise<boolean> {
    return this.set(
      'CAS',
      key,
      value,
      { cas: index, ...(options?.flags ? { flags: options.flags } : {}) },
      options,
    );
  }

  acquire(
    key: string,
    value: Uint8Array | string,
    session: string,
    options?: WriteOptions,
  ): Promise<boolean> {
    return this.set('ACQUIRE', key, value, { acquire: session }, options);
  }

  release(
    key: string,
    value: Uint8Array | string,
    session: string,
    options?: WriteOptions,
  ): Promise<boolean> {
    return this.set('RELEASE', key, value, { release: session }, options);
  }

  async delete(key: string, options?: WriteOptions): Promise<void> {
    assertWritableKey(key);
    await this.call(`DELETE ${key}`, (o) => this.client.kv.del(o), { key }, options?.signal);
  }

  async deleteCas(key: string, index: number, options?: WriteOptions): Promise<boolean> {
    assertWritableKey(key);
    const { body } = await this.call(
      `DELETE ${key}?cas`,
      (o) => this.client.kv.del(o),
      { key, cas: index },
      options?.signal,
    );
    return body === true;
  }

  async deleteTree(prefix: string, options?: WriteOptions): Promise<void> {
    if (prefix.startsWith('/')) assertWritableKey(prefix);
    await this.call(
      `DELETE ${prefix}?recurse`,
      (o) => this.client.kv.del(o),
      { key: prefix, recurse: true },
      options?.signal,
    );
  }

  async txn(ops: readonly TxnOp[], options?: WriteOptions): Promise<TxnResult> {
    if (ops.length === 0) return { committed: true, results: [] };
    if (ops.length > MAX_TXN_OPS) {
      throw new KvError(
        KvErrorCodes.TXN_TOO_LARGE,
        `a transaction holds at most ${MAX_TXN_OPS} operations, got ${ops.length}`,
        { hint: 'split the work into several transactions', details: { operations: ops.length } },
      );
    }
    // P2 always sends all six fields.
    const operations = ops.map((op) => {
      if (op.verb !== 'delete-tree' && op.verb !== 'get-tree') assertWritableKey(op.key);
      const value = 'value' in op ? toBytes(op.value) : undefined;
      if (value) assertValueSize(op.key, value);
      return {
        KV: {
          Verb: op.verb,
          Key: op.key,
          Value: value ? Buffer.from(value).toString('base64') : null,
          Flags: 'flags' in op && op.flags ? op.flags : 0,
          Index: 'index' in op ? op.index : 0,
          Session: 'session' in op ? op.session : '',
        },
      };
    });
    try {
      const { body } = await this.call(
        'PUT /v1/txn',
        (o) => this.client.transaction.create(operations, o),
        {},
        options?.signal,
      );
      const results = ((body as { Results?: { KV?: RawEntry }[] } | undefined)?.Results ?? [])
        .map((r) => r.KV)
        .filter((kv): kv is RawEntry => kv !== undefined)
        .map((kv) =>
          toEntry({
            ...kv,
            Value: kv.Value === null ? null : Buffer.from(kv.Value as unknown as string, 'base64'),
          }),
        );
      return { committed: true, results };
    } catch (error) {
      if (error instanceof KvError && error.details.status === 409) {
        const cause = error.cause as { response?: PapiResponse };
        const decoded = decodeJson(cause.response?.body) as {
          Errors?: { OpIndex: number; What: string }[];
        };
        return {
          committed: false,
          errors: (decoded?.Errors ?? []).map((e) => ({ opIndex: e.OpIndex, what: e.What })),
        };
      }
      throw error;
    }
  }

  async createSession(options: SessionOptions = {}): Promise<string> {
    const body: Record<string, unknown> = {
      lockdelay: `${Math.round(options.lockDelayMs ?? 15_000)}ms`,
      behavior: options.behavior ?? 'release',
    };
    if (options.name) body.name = options.name;
    if (options.ttlMs) body.ttl = `${Math.round(options.ttlMs)}ms`;
    if (!options.nodeChecks) body.checks = [];
    const { body: created } = await this.call(
      'PUT /v1/session/create',
      (o) => this.client.session.create(o),
      body,
      options.signal,
    );
    const id = (created as { ID?: string } | undefined)?.ID;
    if (!id) {
      throw new KvError(
        KvErrorCodes.REQUEST_FAILED,
        `session create on ${this.description} returned no ID`,
      );
    }
    return id;
  }

  async renewSession(id: string, options?: WriteOptions): Promise<SessionInfo | undefined> {
    const { body } = await this.call(
      `PUT /v1/session/renew/${id}`,
      (o) => this.client.session.renew(o),
      { id },
      options?.signal,
      true,
    );
    const first = Array.isArray(body) ? (body[0] as RawSession | undefined) : undefined;
    return first ? toSession(first) : undefined;
  }

  async destroySession(id: string, options?: WriteOptions): Promise<void> {
    await this.call(
      `PUT /v1/session/destroy/${id}`,
      (o) => this.client.session.destroy(o),
      { id },
      options?.signal,
    );
  }

  async sessionInfo(id: string, options?: ReadOptions): Promise<SessionInfo | undefined> {
    const { body } = await this.call(
      `GET /v1/session/info/${id}`,
      (o) => this.readClient(options).session.info(o),
      { id, ...this.readOptions(options) },
      options?.signal,
      true,
    );
    const first = Array.isArray(body)
      ? (body[0] as RawSession | undefined)
      : (body as RawSession | undefined);
    return first?.ID ? toSession(first) : undefined;
  }

  /** Cancels requests in flight (watches end with `P2_KV_ABORTED`) and frees connections. */
  async close(): Promise<void> {
    this.closed = true;
    for (const cancel of [...this.inFlight]) cancel();
    this.agent.destroy();
    this.watchAgent.destroy();
  }
}

/**
 * Closes a pooled socket once it has been idle `ms`. Not the agent's `timeout` option: that one
 * also runs while a new socket connects, before the request's own timeout replaces it, and fails
 * the request when a connect is slow (a store under load, a whole fleet reconnecting).
 */
function closeIdleAfter<A extends HttpAgent>(agent: A, ms: number): A {
  const keep = agent.keepSocketAlive.bind(agent) as (socket: Duplex) => boolean | undefined;
  agent.keepSocketAlive = (socket: Duplex) => {
    const kept = keep(socket);
    // The agent destroys a free socket when it times out; a request that reuses it sets its own.
    if (kept !== false) (socket as Socket).setTimeout(ms);
    return kept;
  };
  return agent;
}

function positiveCount(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new KvError(
      KvErrorCodes.BAD_OPTIONS,
      `${name} must be a whole number, at least 1; got ${String(value)}`,
    );
  }
  return value;
}

function decodeJson(body: unknown): unknown {
  if (body && typeof body === 'object' && !Buffer.isBuffer(body)) return body;
  try {
    return JSON.parse(Buffer.isBuffer(body) ? body.toString('utf8') : String(body));
  } catch {
    return undefined;
  }
}
