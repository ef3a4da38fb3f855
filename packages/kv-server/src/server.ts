import { createHash, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { parseGoDurationNs } from '@p2/go';
import pino, { type Logger } from 'pino';
import { KvServerError, KvServerErrorCodes } from './errors.js';
import { DurableLog } from './log.js';
import {
  type Effect,
  type KvOp,
  MAX_LOCK_DELAY_MS,
  type Session,
  State,
  type TxnVerb,
} from './state.js';
import { entryJson, sessionJson, ttlText } from './wire.js';

/** Options of {@link startKvServer}. */
export interface KvServerOptions {
  /** Directory holding the log and snapshots; created if missing. One server per directory. */
  dataDir: string;
  /** TCP port; 0 picks a free one. @default 8500 */
  port?: number;
  /** Address to listen on. @default '127.0.0.1' (loopback only) */
  host?: string;
  /**
   * When set, every request except `/v1/status/*` must carry this token (`X-Consul-Token`,
   * `Authorization: Bearer`, `?token=`), else 403 with a hint.
   */
  aclToken?: string;
  /**
   * The same as `aclToken`, given only as the token's SHA-256 (64 hex digits), so that whoever
   * configures the server (a pod manifest, its env) never holds the token itself. Ignored when
   * `aclToken` is set.
   */
  aclTokenSha256?: string;
  /** pino logger. @default silent */
  logger?: Logger;
  /** The node name sessions are registered on. @default os.hostname() */
  nodeName?: string;
  /** Datacenter name; a request with another `?dc=` fails like Consul ("No path to datacenter"). @default 'dc1' */
  datacenter?: string;
  /** Consul's `session_ttl_min`. Lower it in tests to see TTL expiry quickly. @default 10_000 */
  sessionTtlMinMs?: number;
  /** How long tombstones live before they are reaped. @default 900_000 (15 min) */
  tombstoneTtlMs?: number;
  /** Log size that triggers a snapshot + truncation. @default 64 MiB */
  compactBytes?: number;
  /** Consul's `kv_max_value_size`. @default 524288 */
  maxValueSize?: number;
  /** Maximum operations in one `/v1/txn` (Consul ≥ 1.14: 128). @default 128 */
  txnMaxOps?: number;
  /**
   * Serve HTTPS with this certificate and key (PEM). Clients that pin the certificate (or its CA)
   * can tell this server from any process that took its port while it was down — which on a
   * shared host otherwise receives their ACL token. @default plain HTTP
   */
  tls?: { cert: string | Buffer; key: string | Buffer };
}

/** A running server. */
export interface KvServer {
  /** `http://host:port` */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Reaps tombstones older than `olderThanMs` now (they are reaped periodically anyway). */
  reapTombstones(olderThanMs?: number): Promise<void>;
  /** Stops listening, ends blocked queries, writes a snapshot and releases the data directory. */
  close(): Promise<void>;
}

const SESSION_TTL_MAX_MS = 24 * 3600_000;
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;
const MAX_TXN_BODY = 512 * 1024;
const UINT64 = /^\d{1,20}$/;
const UINT64_MAX = 18446744073709551615n;
const VERBS = new Set<TxnVerb>([
  'set',
  'cas',
  'lock',
  'unlock',
  'get',
  'get-or-empty',
  'get-tree',
  'check-index',
  'check-session',
  'check-not-exists',
  'delete',
  'delete-tree',
  'delete-cas',
]);
const WRITE_VERBS = new Set<TxnVerb>([
  'set',
  'cas',
  'lock',
  'unlock',
  'delete',
  'delete-tree',
  'delete-cas',
]);

/** What a 403 tells a person to do (p2's tools find the token where p2-bootstrap puts it). */
const DENIED_HINT =
  'Hint: run as root so p2 finds /etc/p2/consul.token, or pass --token / CONSUL_HTTP_TOKEN.';

function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** An HTTP answer that ends request handling early. */
class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

interface Waiter {
  prefix: string;
  exact: boolean;
  sessions: boolean;
  wake: () => void;
}

/**
 * Starts a single-node server speaking the part of Consul's HTTP API that p2 uses, durable on disk.
 * It is **not** Consul: see the README for what is modelled.
 *
 * @throws KvServerError `P2_KV_SERVER_DATA_DIR` (directory unusable or in use by another server),
 *   `P2_KV_SERVER_DATA_CORRUPT` (unreadable log/snapshot), `P2_KV_SERVER_LISTEN` (port in use),
 *   `P2_KV_SERVER_BAD_OPTIONS`.
 * @example
 * ```ts
 * const server = await startKvServer({ dataDir: '/var/lib/p2-kv', port: 0 });
 * await fetch(`${server.url}/v1/kv/hello`, { method: 'PUT', body: 'world' }); // → true
 * await server.close();
 * ```
 */
export async function startKvServer(options: KvServerOptions): Promise<KvServer> {
  const logger = options.logger ?? pino({ level: 'silent' });
  const host = options.host ?? '127.0.0.1';
  const nodeName = options.nodeName ?? hostname();
  const datacenter = options.datacenter ?? 'dc1';
  const sessionTtlMinMs = options.sessionTtlMinMs ?? 10_000;
  const tombstoneTtlMs = options.tombstoneTtlMs ?? 15 * 60_000;
  const maxValueSize = options.maxValueSize ?? 512 * 1024;
  const txnMaxOps = options.txnMaxOps ?? 128;
  if (!options.dataDir) {
    throw new KvServerError(KvServerErrorCodes.BAD_OPTIONS, 'dataDir is required', {
      hint: 'pass --data-dir /var/lib/p2-kv (any directory this user may write)',
    });
  }
  if (
    options.aclToken === undefined &&
    options.aclTokenSha256 !== undefined &&
    !/^[0-9a-f]{64}$/i.test(options.aclTokenSha256)
  ) {
    throw new KvServerError(
      KvServerErrorCodes.BAD_OPTIONS,
      `aclTokenSha256 must be 64 hex digits (a SHA-256), got ${options.aclTokenSha256.length} characters`,
      { hint: 'compute it with: printf %s "$(cat TOKEN_FILE)" | sha256sum' },
    );
  }
  if (options.aclToken === '') {
    throw new KvServerError(KvServerErrorCodes.BAD_OPTIONS, 'aclToken is empty', {
      hint: 'pass a non-empty token, or none to run without ACLs',
    });
  }
  // Only the token's digest is kept: requests are checked by hashing what they send, which also
  // makes the comparison constant-length.
  const aclDigest =
    options.aclToken !== undefined
      ? sha256(options.aclToken)
      : options.aclTokenSha256 !== undefined
        ? Buffer.from(options.aclTokenSha256, 'hex')
        : undefined;

  const state = new State();
  const log = new DurableLog(options.dataDir, state, options.compactBytes ?? 64 * 1024 * 1024);
  const lockFile = join(options.dataDir, 'LOCK');
  await mkdir(options.dataDir, { recursive: true, mode: 0o700 }).catch((cause: unknown) => {
    throw new KvServerError(
      KvServerErrorCodes.DATA_DIR,
      `cannot create data directory ${options.dataDir}`,
      {
        cause,
        hint: 'check the path and its permissions, or pass another --data-dir',
      },
    );
  });
  claimDataDir(lockFile);
  const { replayed } = await log.open().catch((error: unknown) => {
    releaseDataDir(lockFile);
    throw error;
  });

  const waiters = new Set<Waiter>();
  const sessionTimers = new Map<string, NodeJS.Timeout>();
  const tombstoneTimes = new Map<string, number>();
  let closing = false;
  let diskError: unknown;

  // ---- commits ------------------------------------------------------------------------------

  /** Applies an effect, waits until it is durable, then wakes the blocked queries it concerns. */
  async function commit(effect: Effect): Promise<void> {
    state.apply(effect);
    const now = Date.now();
    for (const key of effect.del ?? []) tombstoneTimes.set(key, now);
    for (const session of effect.sput ?? []) armSession(session);
    for (const id of effect.sdel ?? []) disarmSession(id);
    try {
      await log.append(effect);
    } catch (error) {
      // Memory now holds a change the disk may not: stop taking writes rather than diverge.
      diskError ??= error;
      logger.error({ err: error }, 'log write failed; refusing further writes until restart');
      throw new HttpFailure(
        500,
        `write not persisted: ${(error as Error).message}; restart p2-kv-server`,
      );
    }
    const keys = [...(effect.put ?? []).map((r) => r[0]), ...(effect.del ?? [])];
    const sessions = (effect.sput?.length ?? 0) + (effect.sdel?.length ?? 0) > 0;
    for (const waiter of waiters) {
      if (sessions && waiter.sessions) waiter.wake();
      else if (
        !waiter.sessions &&
        keys.some((k) => (waiter.exact ? k === waiter.prefix : k.startsWith(waiter.prefix)))
      ) {
        waiter.wake();
      }
    }
  }

  function armSession(session: Session): void {
    disarmSession(session.id);
    if (session.ttlMs <= 0 || closing) return;
    // Consul arms TTL × 2 so a session is never invalidated before its TTL.
    const timer = setTimeout(() => {
      sessionTimers.delete(session.id);
      const effect = state.invalidateSession(session.id);
      if (!effect) return;
      logger.info({ session: session.id, name: session.name }, 'session TTL expired');
      commit(effect).catch((error: unknown) =>
        logger.error({ err: error }, 'session expiry not persisted'),
      );
    }, session.ttlMs * 2);
    timer.unref();
    sessionTimers.set(session.id, timer);
  }

  function disarmSession(id: string): void {
    const timer = sessionTimers.get(id);
    if (timer) clearTimeout(timer);
    sessionTimers.delete(id);
  }

  for (const session of state.sessions.values()) armSession(session);

  async function reapTombstones(olderThanMs = tombstoneTtlMs): Promise<void> {
    const cutoff = Date.now() - olderThanMs;
    let reap = 0;
    for (const [key, index] of state.tombstones) {
      const at = tombstoneTimes.get(key) ?? 0; // replayed tombstones count as old
      if (at <= cutoff && index > reap) reap = index;
    }
    for (const [key, index] of state.tombstones) {
      if (index <= reap) tombstoneTimes.delete(key);
    }
    if (reap > 0) await commit({ i: state.index, reap });
  }
  const reaper = setInterval(
    () => {
      reapTombstones().catch((error: unknown) =>
        logger.error({ err: error }, 'tombstone reap failed'),
      );
    },
    Math.max(1000, tombstoneTtlMs / 2),
  );
  reaper.unref();

  // ---- HTTP helpers ------------------------------------------------------------------------

  function meta(res: ServerResponse, index: number | undefined): void {
    if (index !== undefined) res.setHeader('X-Consul-Index', String(Math.max(1, index)));
    res.setHeader('X-Consul-KnownLeader', 'true');
    res.setHeader('X-Consul-LastContact', '0');
    res.setHeader('X-Consul-Effective-Consistency', 'leader');
  }

  function send(
    res: ServerResponse,
    status: number,
    body: string,
    type = 'application/json',
  ): void {
    if (res.writableEnded || res.destroyed) return;
    res.statusCode = status;
    res.setHeader('Content-Type', type);
    res.end(body);
  }

  async function readBody(
    req: IncomingMessage,
    limit: number,
    tooLarge: (n: number) => string,
  ): Promise<Buffer> {
    const declared = Number(req.headers['content-length'] ?? Number.NaN);
    if (Number.isFinite(declared) && declared > limit) {
      req.resume();
      throw new HttpFailure(413, tooLarge(declared));
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of req) {
      size += (chunk as Buffer).length;
      if (size > limit) {
        req.resume();
        throw new HttpFailure(413, tooLarge(size));
      }
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks);
  }

  function parseIndexParam(q: URLSearchParams, name: string, message: string): number | undefined {
    const text = q.get(name);
    if (text === null) return undefined;
    if (!UINT64.test(text) || BigInt(text) > UINT64_MAX) throw new HttpFailure(400, message);
    return Number(text);
  }

  function parseBlocking(q: URLSearchParams): { index: number; waitMs: number } {
    const index = parseIndexParam(q, 'index', 'Invalid index') ?? 0;
    let waitMs = DEFAULT_WAIT_MS;
    const wait = q.get('wait');
    if (wait !== null) {
      const ns = parseGoDurationNs(wait.trim());
      if (ns === undefined || ns < 0) throw new HttpFailure(400, 'Invalid wait time');
      waitMs = ns / 1e6;
    }
    if (waitMs <= 0 || waitMs > MAX_WAIT_MS) waitMs = waitMs <= 0 ? DEFAULT_WAIT_MS : MAX_WAIT_MS;
    if (q.has('stale') && q.has('consistent')) {
      throw new HttpFailure(400, 'Cannot specify ?stale with ?consistent, conflicting semantics.');
    }
    if (q.has('cached') && q.has('consistent')) {
      throw new HttpFailure(400, 'Cannot specify ?cached with ?consistent, conflicting semantics.');
    }
    return { index, waitMs: waitMs + Math.random() * (waitMs / 16) };
  }

  /**
   * Runs a blocking read: `compute` returns the index that decides wake-ups and a function that
   * writes the answer. Answers at once when `index` is 0 or already passed; otherwise when a commit
   * touching `scope` moves the change index past `index`, or when the wait expires.
   */
  async function blocking(
    res: ServerResponse,
    q: URLSearchParams,
    scope: Omit<Waiter, 'wake'>,
    compute: () => { changeIndex: number; respond: () => void },
  ): Promise<void> {
    const { index, waitMs } = parseBlocking(q);
    await log.settled();
    let current = compute();
    if (index === 0 || current.changeIndex > index) return current.respond();
    await new Promise<void>((resolve) => {
      const waiter: Waiter = {
        ...scope,
        wake: () => {
          current = compute();
          if (current.changeIndex > index) finish();
        },
      };
      const timer = setTimeout(() => finish(), waitMs);
      const finish = () => {
        clearTimeout(timer);
        waiters.delete(waiter);
        res.off('close', finish);
        resolve();
      };
      waiters.add(waiter);
      res.on('close', finish);
    });
    if (!res.destroyed) compute().respond();
  }

  // ---- KV ------------------------------------------------------------------------------------

  function validateKey(key: string, allowEmpty: boolean): void {
    if (key === '' && !allowEmpty) throw new HttpFailure(400, 'Missing key name');
    if (key.startsWith('/'))
      throw new HttpFailure(
        400,
        `Invalid key name ${JSON.stringify(key)}: must not begin with a '/'`,
      );
    if (/(^|\/)\.\.(\/|$)/.test(key)) {
      throw new HttpFailure(
        400,
        `Invalid key name ${JSON.stringify(key)}: path traversal ("..") is not allowed`,
      );
    }
    if (key !== key.trim()) {
      throw new HttpFailure(
        400,
        `Invalid key name ${JSON.stringify(key)}: leading or trailing spaces`,
      );
    }
  }

  async function kvGet(res: ServerResponse, key: string, q: URLSearchParams): Promise<void> {
    const keysMode = q.has('keys');
    const recurse = q.has('recurse') || keysMode;
    validateKey(key, recurse);
    if (!recurse) {
      await blocking(res, q, { prefix: key, exact: true, sessions: false }, () => {
        const entry = state.entries.get(key);
        return {
          changeIndex: entry ? entry.modifyIndex : state.tombstoneIndex(key, true),
          respond: () => {
            const current = state.entries.get(key);
            meta(res, current ? current.modifyIndex : state.kvTableIndex());
            if (!current) return send(res, 404, '', 'text/plain; charset=utf-8');
            if (q.has('raw')) {
              res.setHeader('X-Content-Type-Options', 'nosniff');
              res.setHeader('Content-Security-Policy', 'sandbox');
              res.statusCode = 200;
              res.setHeader('Content-Type', 'text/plain');
              res.end(current.value ?? Buffer.alloc(0));
              return;
            }
            send(res, 200, `[${entryJson(current, true)}]`);
          },
        };
      });
      return;
    }
    const separator = q.get('separator') ?? q.get('seperator') ?? '';
    await blocking(res, q, { prefix: key, exact: false, sessions: false }, () => {
      const entries = state.list(key);
      let changeIndex = state.tombstoneIndex(key);
      for (const e of entries) if (e.modifyIndex > changeIndex) changeIndex = e.modifyIndex;
      return {
        changeIndex,
        respond: () => {
          meta(res, key === '' || changeIndex === 0 ? state.kvTableIndex() : changeIndex);
          if (keysMode) {
            const keys: string[] = [];
            for (const e of entries) {
              let k = e.key;
              if (separator !== '') {
                const at = k.indexOf(separator, key.length);
                if (at !== -1) k = k.slice(0, at + separator.length);
              }
              if (keys[keys.length - 1] !== k) keys.push(k);
            }
            if (keys.length === 0 && key !== '')
              return send(res, 404, '', 'text/plain; charset=utf-8');
            return send(res, 200, JSON.stringify(keys));
          }
          if (entries.length === 0) return send(res, 404, '', 'text/plain; charset=utf-8');
          send(res, 200, `[${entries.map((e) => entryJson(e, true)).join(',')}]`);
        },
      };
    });
  }

  async function runOps(ops: KvOp[]) {
    const outcome = state.evaluate(ops);
    if (outcome.effect) await commit(outcome.effect);
    return outcome;
  }

  async function kvPut(
    req: IncomingMessage,
    res: ServerResponse,
    key: string,
    q: URLSearchParams,
  ): Promise<void> {
    validateKey(key, false);
    const modes = ['cas', 'acquire', 'release'].filter((m) => q.has(m));
    if (modes.length > 1) {
      throw new HttpFailure(400, `Conflicting flags: ${modes.join(', ')} are mutually exclusive`);
    }
    const flagsText = q.get('flags') ?? '0';
    if (!UINT64.test(flagsText) || BigInt(flagsText) > UINT64_MAX) {
      throw new HttpFailure(
        400,
        `Invalid flags: ${JSON.stringify(flagsText)} is not an unsigned 64-bit integer`,
      );
    }
    const cas = parseIndexParam(q, 'cas', `Invalid cas index: ${JSON.stringify(q.get('cas'))}`);
    const value = await readBody(
      req,
      maxValueSize,
      (n) =>
        `Request body(${n} bytes) too large, max size: ${maxValueSize} bytes. See https://developer.hashicorp.com/consul/docs/agent/config/config-files#kv_max_value_size.`,
    );
    const op: KvOp = {
      verb: 'set',
      key,
      value,
      flags: BigInt(flagsText).toString(),
      index: 0,
      session: '',
    };
    if (cas !== undefined) {
      op.verb = 'cas';
      op.index = cas;
    } else if (q.has('acquire')) {
      const session = q.get('acquire') ?? '';
      if (session === '') throw new HttpFailure(500, 'missing session');
      if (!state.sessions.has(session))
        throw new HttpFailure(500, `invalid session ${JSON.stringify(session)}`);
      op.verb = 'lock';
      op.session = session;
    } else if (q.has('release')) {
      op.verb = 'unlock';
      op.session = q.get('release') ?? '';
      if (op.session === '') throw new HttpFailure(500, 'missing session');
    }
    const outcome = await runOps([op]);
    send(res, 200, outcome.errors.length === 0 ? 'true' : 'false');
  }

  async function kvDelete(res: ServerResponse, key: string, q: URLSearchParams): Promise<void> {
    const recurse = q.has('recurse');
    if (recurse && q.has('cas'))
      throw new HttpFailure(400, 'Conflicting flags: recurse and cas are mutually exclusive');
    validateKey(key, recurse);
    const cas = parseIndexParam(q, 'cas', `Invalid cas index: ${JSON.stringify(q.get('cas'))}`);
    const op: KvOp = { verb: 'delete', key, value: null, flags: '0', index: 0, session: '' };
    if (recurse) op.verb = 'delete-tree';
    else if (cas !== undefined) {
      op.verb = 'delete-cas';
      op.index = cas;
    }
    const outcome = await runOps([op]);
    send(res, 200, outcome.errors.length === 0 ? 'true' : 'false');
  }

  // ---- transactions --------------------------------------------------------------------------

  function decodeTxn(body: Buffer): KvOp[] {
    let parsed: unknown;
    try {
      parsed = JSON.parse(body.toString('utf8'));
    } catch (error) {
      throw new HttpFailure(400, `Failed to parse body: ${(error as Error).message}`);
    }
    if (!Array.isArray(parsed)) {
      throw new HttpFailure(400, 'Failed to parse body: expected a JSON array of operations');
    }
    if (parsed.length > txnMaxOps) {
      throw new HttpFailure(
        413,
        `Transaction contains too many operations (${parsed.length} > ${txnMaxOps})`,
      );
    }
    return parsed.map((raw, i) => {
      const op = lowerKeys(raw, `operation ${i}`);
      const kvRaw = op.kv;
      if (kvRaw === undefined) {
        const kind = Object.keys(op)[0] ?? 'nothing';
        throw new HttpFailure(
          400,
          `Failed to parse body: operation ${i} is ${kind}; p2-kv-server supports only KV operations`,
        );
      }
      const kv = lowerKeys(kvRaw, `operation ${i}.KV`);
      const verb = String(kv.verb ?? '') as TxnVerb;
      const key = kv.key === undefined || kv.key === null ? '' : String(kv.key);
      let value: Buffer | null = null;
      if (typeof kv.value === 'string') {
        if (!/^[A-Za-z0-9+/]*={0,2}$/.test(kv.value) || kv.value.length % 4 !== 0) {
          throw new HttpFailure(
            400,
            `Failed to parse body: operation ${i}: Value of key ${JSON.stringify(key)} is not valid base64`,
          );
        }
        value = Buffer.from(kv.value, 'base64');
        if (value.length > maxValueSize) {
          throw new HttpFailure(
            413,
            `Value for key ${JSON.stringify(key)} is too large (${value.length} > ${maxValueSize} bytes)`,
          );
        }
      } else if (kv.value !== undefined && kv.value !== null) {
        throw new HttpFailure(
          400,
          `Failed to parse body: operation ${i}: Value must be a base64 string or null`,
        );
      }
      const number = (name: string): number => {
        const v = kv[name];
        if (v === undefined || v === null) return 0;
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) {
          throw new HttpFailure(
            400,
            `Failed to parse body: operation ${i}: ${name} must be an unsigned integer`,
          );
        }
        return v;
      };
      return {
        verb,
        key,
        value,
        flags: String(number('flags')),
        index: number('index'),
        session: kv.session === undefined || kv.session === null ? '' : String(kv.session),
      };
    });
  }

  async function txn(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(
      req,
      Math.max(MAX_TXN_BODY, maxValueSize),
      (n) =>
        `Request body too large, max size: ${Math.max(MAX_TXN_BODY, maxValueSize)} bytes (got ${n})`,
    );
    const ops = decodeTxn(body);
    const preErrors: { opIndex: number; what: string }[] = [];
    ops.forEach((op, opIndex) => {
      if (!VERBS.has(op.verb))
        preErrors.push({ opIndex, what: `unknown KV verb ${JSON.stringify(op.verb)}` });
      else if (op.key === '' && op.verb !== 'delete-tree' && op.verb !== 'get-tree') {
        preErrors.push({ opIndex, what: 'Missing key name' });
      }
    });
    const readOnly = ops.every((op) => !WRITE_VERBS.has(op.verb));
    const outcome =
      preErrors.length > 0
        ? { results: [], errors: preErrors }
        : readOnly
          ? await log.settled().then(() => state.evaluate(ops))
          : await runOps(ops);
    meta(res, undefined);
    if (outcome.errors.length > 0) {
      const errors = outcome.errors.map((e) => ({ OpIndex: e.opIndex, What: e.what }));
      return send(res, 409, JSON.stringify({ Results: null, Errors: errors }));
    }
    // Results of writes carry the committed entry (value-less), as Consul does.
    const results = outcome.results.map(({ entry, withValue }) => {
      const committed = withValue ? entry : (state.entries.get(entry.key) ?? entry);
      return `{"KV":${entryJson(committed, withValue)}}`;
    });
    send(res, 200, `{"Results":[${results.join(',')}],"Errors":null}`);
  }

  // ---- sessions ------------------------------------------------------------------------------

  async function sessionCreate(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBody(req, 64 * 1024, (n) => `Request body too large (${n} bytes)`);
    let raw: Record<string, unknown> = {};
    if (body.length > 0) {
      try {
        raw = lowerKeys(JSON.parse(body.toString('utf8')), 'session');
      } catch (error) {
        if (error instanceof HttpFailure) throw error;
        throw new HttpFailure(400, `Request decode failed: ${(error as Error).message}`);
      }
    }
    let lockDelayNs = 15e9;
    if (typeof raw.lockdelay === 'number') {
      lockDelayNs = raw.lockdelay < 1000 ? raw.lockdelay * 1e9 : raw.lockdelay;
    } else if (typeof raw.lockdelay === 'string') {
      const ns = parseGoDurationNs(raw.lockdelay.trim());
      if (ns === undefined) {
        throw new HttpFailure(
          400,
          `Request decode failed: time: invalid duration ${JSON.stringify(raw.lockdelay)}`,
        );
      }
      lockDelayNs = ns;
    }
    lockDelayNs = Math.min(lockDelayNs, MAX_LOCK_DELAY_MS * 1e6);
    const behavior = raw.behavior === undefined || raw.behavior === '' ? 'release' : raw.behavior;
    if (behavior !== 'release' && behavior !== 'delete') {
      throw new HttpFailure(500, `Invalid Behavior setting '${String(behavior)}'`);
    }
    const ttl = raw.ttl === undefined || raw.ttl === null ? '' : String(raw.ttl);
    let ttlMs = 0;
    if (ttl !== '') {
      const ns = parseGoDurationNs(ttl.trim());
      if (ns === undefined)
        throw new HttpFailure(
          400,
          `Request decode failed: time: invalid duration ${JSON.stringify(ttl)}`,
        );
      ttlMs = ns / 1e6;
      if (ttlMs !== 0 && (ttlMs < sessionTtlMinMs || ttlMs > SESSION_TTL_MAX_MS)) {
        throw new HttpFailure(
          500,
          `Invalid Session TTL '${ns}', must be between [${ttlText(sessionTtlMinMs)}=${ttlText(SESSION_TTL_MAX_MS)}]`,
        );
      }
    }
    const node = raw.node === undefined || raw.node === '' ? nodeName : String(raw.node);
    if (node !== nodeName)
      throw new HttpFailure(500, `Missing node registration: ${JSON.stringify(node)}`);
    const checks = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
    let nodeChecks = raw.checks !== undefined ? checks(raw.checks) : ['serfHealth'];
    if (raw.nodechecks !== undefined) nodeChecks = checks(raw.nodechecks);
    for (const check of nodeChecks) {
      if (check !== 'serfHealth')
        throw new HttpFailure(500, `Missing check '${check}' registration`);
    }
    const serviceChecks = Array.isArray(raw.servicechecks) ? raw.servicechecks : [];
    for (const check of serviceChecks) {
      const id = (check as { ID?: unknown } | null)?.ID;
      throw new HttpFailure(500, `Missing check '${String(id)}' registration`);
    }
    const effect = state.createSession({
      name: raw.name === undefined ? '' : String(raw.name),
      node,
      lockDelayNs,
      behavior,
      ttl: ttl === '' || ttlMs === 0 ? '' : ttl,
      ttlMs,
      nodeChecks,
      serviceChecks: [],
    });
    await commit(effect);
    send(res, 200, JSON.stringify({ ID: effect.sput?.[0]?.id }));
  }

  async function sessionDestroy(res: ServerResponse, id: string): Promise<void> {
    if (id === '') throw new HttpFailure(400, 'Missing session');
    const effect = state.invalidateSession(id);
    if (effect) await commit(effect);
    send(res, 200, 'true');
  }

  function sessionRenew(res: ServerResponse, id: string): void {
    if (id === '') throw new HttpFailure(400, 'Missing session');
    const session = state.sessions.get(id);
    if (!session) throw new HttpFailure(404, `Session id '${id}' not found`);
    armSession(session);
    meta(res, state.sessionIndex);
    send(res, 200, JSON.stringify([sessionJson(session)]));
  }

  async function sessionRead(
    res: ServerResponse,
    q: URLSearchParams,
    select: () => Session[],
  ): Promise<void> {
    await blocking(res, q, { prefix: '', exact: false, sessions: true }, () => ({
      changeIndex: state.sessionIndex,
      respond: () => {
        meta(res, state.sessionIndex);
        send(res, 200, JSON.stringify(select().map(sessionJson)));
      },
    }));
  }

  // ---- routing -------------------------------------------------------------------------------

  function authorize(req: IncomingMessage, q: URLSearchParams): void {
    if (!aclDigest) return;
    const bearer = /^Bearer\s+(.+)$/i.exec(req.headers.authorization ?? '')?.[1];
    const given = q.get('token') ?? (req.headers['x-consul-token'] as string | undefined) ?? bearer;
    if (given === undefined || given === '') {
      throw new HttpFailure(
        403,
        `Permission denied: anonymous token lacks permission; this store needs an ACL token on every request (X-Consul-Token). ${DENIED_HINT}`,
      );
    }
    if (!timingSafeEqual(sha256(given), aclDigest)) {
      throw new HttpFailure(
        403,
        `ACL not found: the token sent is not this store's. ${DENIED_HINT}`,
      );
    }
  }

  function allow(req: IncomingMessage, res: ServerResponse, methods: string[]): boolean {
    if (methods.includes(req.method ?? '')) return true;
    res.setHeader('Allow', methods.join(','));
    if (req.method === 'OPTIONS') send(res, 200, '', 'text/plain; charset=utf-8');
    else send(res, 405, `method ${req.method} not allowed`, 'text/plain; charset=utf-8');
    return false;
  }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const queryAt = raw.indexOf('?');
    const rawPath = queryAt === -1 ? raw : raw.slice(0, queryAt);
    const q = new URLSearchParams(queryAt === -1 ? '' : raw.slice(queryAt + 1));
    let path: string;
    try {
      path = decodeURIComponent(rawPath);
    } catch {
      throw new HttpFailure(
        400,
        `Invalid URL path: ${JSON.stringify(rawPath)} is not valid percent-encoding`,
      );
    }
    if (path.startsWith('/v1/status/')) {
      if (!allow(req, res, ['GET'])) return;
      const self = `${host}:${port}`;
      if (path === '/v1/status/leader') return send(res, 200, JSON.stringify(self));
      if (path === '/v1/status/peers') return send(res, 200, JSON.stringify([self]));
    }
    authorize(req, q);
    if (diskError !== undefined && req.method !== 'GET') {
      throw new HttpFailure(
        500,
        `p2-kv-server refuses writes after a disk error (${(diskError as Error).message}); restart it once the disk is fixed`,
      );
    }
    res.setHeader('X-Consul-Default-ACL-Policy', aclDigest ? 'deny' : 'allow');
    const dc = q.get('dc');
    if (dc !== null && dc !== '' && dc !== datacenter)
      throw new HttpFailure(500, `No path to datacenter ${JSON.stringify(dc)}`);
    if (path.startsWith('/v1/kv/') || path === '/v1/kv') {
      if (!allow(req, res, ['GET', 'PUT', 'DELETE'])) return;
      const key = path.slice('/v1/kv/'.length);
      if (req.method === 'GET') return kvGet(res, key, q);
      if (req.method === 'PUT') return kvPut(req, res, key, q);
      return kvDelete(res, key, q);
    }
    if (path === '/v1/txn') {
      if (!allow(req, res, ['PUT'])) return;
      return txn(req, res);
    }
    if (path === '/v1/session/create') {
      if (!allow(req, res, ['PUT'])) return;
      return sessionCreate(req, res);
    }
    const sessionMatch = /^\/v1\/session\/(destroy|renew|info|node|list)(?:\/(.*))?$/.exec(path);
    if (sessionMatch) {
      const [, action, arg = ''] = sessionMatch as unknown as [string, string, string | undefined];
      if (action === 'destroy')
        return allow(req, res, ['PUT']) ? sessionDestroy(res, arg) : undefined;
      if (action === 'renew') return allow(req, res, ['PUT']) ? sessionRenew(res, arg) : undefined;
      if (!allow(req, res, ['GET'])) return;
      if (action === 'info')
        return sessionRead(res, q, () => [state.sessions.get(arg)].filter((s) => s !== undefined));
      if (action === 'node')
        return sessionRead(res, q, () =>
          [...state.sessions.values()].filter((s) => s.node === arg),
        );
      return sessionRead(res, q, () => [...state.sessions.values()]);
    }
    if (path === '/v1/catalog/nodes') {
      if (!allow(req, res, ['GET'])) return;
      meta(res, state.index);
      return send(
        res,
        200,
        JSON.stringify([{ Node: nodeName, Address: host, Datacenter: datacenter }]),
      );
    }
    if (path === '/v1/agent/self') {
      if (!allow(req, res, ['GET'])) return;
      return send(
        res,
        200,
        JSON.stringify({ Config: { NodeName: nodeName, Datacenter: datacenter, Server: true } }),
      );
    }
    throw new HttpFailure(404, `Invalid URL path: not a recognized HTTP API endpoint: ${path}`);
  }

  const handler = (req: IncomingMessage, res: ServerResponse) => {
    route(req, res).catch((error: unknown) => {
      if (error instanceof HttpFailure) {
        if (error.status >= 500) logger.warn({ status: error.status, url: req.url }, error.message);
        return send(res, error.status, error.message, 'text/plain; charset=utf-8');
      }
      logger.error({ err: error, method: req.method, url: req.url }, 'request failed');
      send(
        res,
        500,
        `internal error: ${(error as Error)?.message ?? String(error)}`,
        'text/plain; charset=utf-8',
      );
    });
  };
  const server: Server = options.tls
    ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }, handler)
    : createServer(handler);
  server.on('clientError', (_error, socket) => {
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
  });
  server.keepAliveTimeout = 65_000;
  server.headersTimeout = 70_000;
  server.requestTimeout = 0;

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', (cause: NodeJS.ErrnoException) => {
      reject(
        new KvServerError(
          KvServerErrorCodes.LISTEN,
          `cannot listen on ${host}:${options.port ?? 8500}: ${cause.code}`,
          {
            cause,
            hint:
              cause.code === 'EADDRINUSE'
                ? 'another process uses this port; pick another with --port'
                : undefined,
          },
        ),
      );
    });
    server.listen(options.port ?? 8500, host, () =>
      resolve((server.address() as AddressInfo).port),
    );
  }).catch(async (error: unknown) => {
    clearInterval(reaper);
    await log.close();
    releaseDataDir(lockFile);
    throw error;
  });
  const urlHost = host.includes(':') ? `[${host}]` : host;
  logger.info(
    { host, port, dataDir: options.dataDir, replayed, index: state.index },
    'p2-kv-server listening',
  );

  return {
    url: `${options.tls ? 'https' : 'http'}://${urlHost}:${port}`,
    host,
    port,
    reapTombstones,
    async close() {
      if (closing) return;
      closing = true;
      clearInterval(reaper);
      for (const id of [...sessionTimers.keys()]) disarmSession(id);
      server.close();
      server.closeAllConnections();
      for (const waiter of [...waiters]) waiter.wake();
      try {
        if (diskError === undefined) await log.checkpoint();
      } catch (error) {
        logger.warn(
          { err: error },
          'snapshot on close failed; the log still holds every acknowledged write',
        );
      } finally {
        await log.close().catch(() => undefined);
        releaseDataDir(lockFile);
      }
    },
  };
}

function lowerKeys(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpFailure(400, `Failed to parse body: ${where} must be a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k.toLowerCase()] = v;
  return out;
}

function claimDataDir(lockFile: string): void {
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new KvServerError(
        KvServerErrorCodes.DATA_DIR,
        `data directory is in use by process ${pid} (${lockFile})`,
        {
          hint: 'stop that p2-kv-server first, or pass another --data-dir',
        },
      );
    }
  }
  writeFileSync(lockFile, `${process.pid}\n`, { mode: 0o600 });
}

function releaseDataDir(lockFile: string): void {
  try {
    if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) unlinkSync(lockFile);
  } catch {
    // already gone
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
