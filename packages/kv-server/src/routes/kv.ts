/** `/v1/kv/<key>`: GET (one key, `?recurse`, `?keys`, `?raw`, blocking), PUT (`?cas`, `?acquire`, `?release`), DELETE. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from '../context.js';
import {
  HttpFailure,
  meta,
  parseIndexParam,
  readBody,
  send,
  TEXT,
  UINT64,
  UINT64_MAX,
} from '../http.js';
import type { KvOp, TxnOutcome } from '../state.js';
import { entryJson } from '../wire.js';

/** Consul's key checks: no leading `/`, no `..` segment, no surrounding spaces. */
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

/** Evaluates operations and commits what they change. */
export async function runOps(ctx: ServerContext, ops: KvOp[]): Promise<TxnOutcome> {
  const outcome = ctx.state.evaluate(ops);
  if (outcome.effect) await ctx.engine.commit(outcome.effect);
  return outcome;
}

export async function kvGet(
  ctx: ServerContext,
  res: ServerResponse,
  key: string,
  q: URLSearchParams,
): Promise<void> {
  const { state, engine } = ctx;
  const keysMode = q.has('keys');
  const recurse = q.has('recurse') || keysMode;
  validateKey(key, recurse);
  if (!recurse) {
    await engine.blocking(res, q, { prefix: key, exact: true, sessions: false }, () => {
      const entry = state.entries.get(key);
      return {
        changeIndex: entry ? entry.modifyIndex : state.tombstoneIndex(key, true),
        respond: () => {
          const current = state.entries.get(key);
          meta(res, current ? current.modifyIndex : state.kvTableIndex());
          if (!current) return send(res, 404, '', TEXT);
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
  await engine.blocking(res, q, { prefix: key, exact: false, sessions: false }, () => {
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
          if (keys.length === 0 && key !== '') return send(res, 404, '', TEXT);
          return send(res, 200, JSON.stringify(keys));
        }
        if (entries.length === 0) return send(res, 404, '', TEXT);
        send(res, 200, `[${entries.map((e) => entryJson(e, true)).join(',')}]`);
      },
    };
  });
}

export async function kvPut(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
  key: string,
  q: URLSearchParams,
): Promise<void> {
  const { maxValueSize } = ctx;
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
    if (!ctx.state.sessions.has(session))
      throw new HttpFailure(500, `invalid session ${JSON.stringify(session)}`);
    op.verb = 'lock';
    op.session = session;
  } else if (q.has('release')) {
    op.verb = 'unlock';
    op.session = q.get('release') ?? '';
    if (op.session === '') throw new HttpFailure(500, 'missing session');
  }
  const outcome = await runOps(ctx, [op]);
  send(res, 200, outcome.errors.length === 0 ? 'true' : 'false');
}

export async function kvDelete(
  ctx: ServerContext,
  res: ServerResponse,
  key: string,
  q: URLSearchParams,
): Promise<void> {
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
  const outcome = await runOps(ctx, [op]);
  send(res, 200, outcome.errors.length === 0 ? 'true' : 'false');
}
