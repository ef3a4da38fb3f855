/** `/v1/session/*`: create (Consul's validation and defaults), destroy, renew, info, node, list. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseGoDurationNs } from '@p2/go';
import type { ServerContext } from '../context.js';
import { HttpFailure, lowerKeys, meta, readBody, send } from '../http.js';
import { MAX_LOCK_DELAY_MS, type Session } from '../state.js';
import { sessionJson, ttlText } from '../wire.js';

const SESSION_TTL_MAX_MS = 24 * 3600_000;

export async function sessionCreate(
  ctx: ServerContext,
  req: IncomingMessage,
  res: ServerResponse,
): Promise<void> {
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
    if (ttlMs !== 0 && (ttlMs < ctx.sessionTtlMinMs || ttlMs > SESSION_TTL_MAX_MS)) {
      throw new HttpFailure(
        500,
        `Invalid Session TTL '${ns}', must be between [${ttlText(ctx.sessionTtlMinMs)}=${ttlText(SESSION_TTL_MAX_MS)}]`,
      );
    }
  }
  const node = raw.node === undefined || raw.node === '' ? ctx.nodeName : String(raw.node);
  if (node !== ctx.nodeName)
    throw new HttpFailure(500, `Missing node registration: ${JSON.stringify(node)}`);
  const checks = (v: unknown): string[] => (Array.isArray(v) ? v.map(String) : []);
  let nodeChecks = raw.checks !== undefined ? checks(raw.checks) : ['serfHealth'];
  if (raw.nodechecks !== undefined) nodeChecks = checks(raw.nodechecks);
  for (const check of nodeChecks) {
    if (check !== 'serfHealth') throw new HttpFailure(500, `Missing check '${check}' registration`);
  }
  const serviceChecks = Array.isArray(raw.servicechecks) ? raw.servicechecks : [];
  for (const check of serviceChecks) {
    const id = (check as { ID?: unknown } | null)?.ID;
    throw new HttpFailure(500, `Missing check '${String(id)}' registration`);
  }
  const effect = ctx.state.createSession({
    name: raw.name === undefined ? '' : String(raw.name),
    node,
    lockDelayNs,
    behavior,
    ttl: ttl === '' || ttlMs === 0 ? '' : ttl,
    ttlMs,
    nodeChecks,
    serviceChecks: [],
  });
  await ctx.engine.commit(effect);
  send(res, 200, JSON.stringify({ ID: effect.sput?.[0]?.id }));
}

export async function sessionDestroy(
  ctx: ServerContext,
  res: ServerResponse,
  id: string,
): Promise<void> {
  if (id === '') throw new HttpFailure(400, 'Missing session');
  const effect = ctx.state.invalidateSession(id);
  if (effect) await ctx.engine.commit(effect);
  send(res, 200, 'true');
}

export function sessionRenew(ctx: ServerContext, res: ServerResponse, id: string): void {
  if (id === '') throw new HttpFailure(400, 'Missing session');
  const session = ctx.state.sessions.get(id);
  if (!session) throw new HttpFailure(404, `Session id '${id}' not found`);
  ctx.engine.armSession(session);
  meta(res, ctx.state.sessionIndex);
  send(res, 200, JSON.stringify([sessionJson(session)]));
}

export async function sessionRead(
  ctx: ServerContext,
  res: ServerResponse,
  q: URLSearchParams,
  select: () => Session[],
): Promise<void> {
  await ctx.engine.blocking(res, q, { prefix: '', exact: false, sessions: true }, () => ({
    changeIndex: ctx.state.sessionIndex,
    respond: () => {
      meta(res, ctx.state.sessionIndex);
      send(res, 200, JSON.stringify(select().map(sessionJson)));
    },
  }));
}
