/** Routing: status and ACL checks first, then each endpoint of the Consul API p2 uses. */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import type { ServerContext } from './context.js';
import { allow, HttpFailure, meta, send, TEXT } from './http.js';
import { kvDelete, kvGet, kvPut } from './routes/kv.js';
import { sessionCreate, sessionDestroy, sessionRead, sessionRenew } from './routes/session.js';
import { txn } from './routes/txn.js';

/** What a 403 tells a person to do (p2's tools find the token where p2-bootstrap puts it). */
const DENIED_HINT =
  'Hint: run as root so p2 finds /etc/p2/consul.token, or pass --token / CONSUL_HTTP_TOKEN.';

export function sha256(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

function authorize(aclDigest: Buffer | undefined, req: IncomingMessage, q: URLSearchParams): void {
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
    throw new HttpFailure(403, `ACL not found: the token sent is not this store's. ${DENIED_HINT}`);
  }
}

/**
 * The canonical form of a request path, as Go's `http.ServeMux` (Consul's HTTP server) computes it:
 * empty and `.` segments dropped, `..` resolved, a trailing `/` kept.
 * @example cleanPath('/v1/kv/health/hello//') // '/v1/kv/health/hello/'
 */
function cleanPath(path: string): string {
  const segments: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '' || segment === '.') continue;
    if (segment === '..') segments.pop();
    else segments.push(segment);
  }
  const clean = `/${segments.join('/')}`;
  return path.endsWith('/') && clean !== '/' ? `${clean}/` : clean;
}

async function route(ctx: ServerContext, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const raw = req.url ?? '/';
  const queryAt = raw.indexOf('?');
  const rawPath = queryAt === -1 ? raw : raw.slice(0, queryAt);
  // Consul answers a path that is not canonical (`//`, `/./`, `/../`) with a 301 to the clean one,
  // query kept, before anything else — and P2's client follows it: P2 lists a pod's health on every
  // node as `health/<pod>//` (an empty node joined as `/`). Reads only: a client following a 301
  // for a write repeats it as a GET (Go's does), so a write would seem to succeed and store
  // nothing; writes to such a path keep their 400 below, which names the problem.
  const canonical = cleanPath(rawPath);
  if (canonical !== rawPath && (req.method === 'GET' || req.method === 'HEAD')) {
    const location = queryAt === -1 ? canonical : `${canonical}${raw.slice(queryAt)}`;
    res.setHeader('Location', location);
    const href = location.replace(/[&<>"]/g, (c) => `&#${c.charCodeAt(0)};`);
    return send(res, 301, `<a href="${href}">Moved Permanently</a>.\n`, 'text/html; charset=utf-8');
  }
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
    const self = `${ctx.host}:${ctx.port}`;
    if (path === '/v1/status/leader') return send(res, 200, JSON.stringify(self));
    if (path === '/v1/status/peers') return send(res, 200, JSON.stringify([self]));
  }
  authorize(ctx.aclDigest, req, q);
  if (ctx.engine.diskError !== undefined && req.method !== 'GET') {
    throw new HttpFailure(
      500,
      `p2-kv-server refuses writes after a disk error (${(ctx.engine.diskError as Error).message}); restart it once the disk is fixed`,
    );
  }
  res.setHeader('X-Consul-Default-ACL-Policy', ctx.aclDigest ? 'deny' : 'allow');
  const dc = q.get('dc');
  if (dc !== null && dc !== '' && dc !== ctx.datacenter)
    throw new HttpFailure(500, `No path to datacenter ${JSON.stringify(dc)}`);
  if (path.startsWith('/v1/kv/') || path === '/v1/kv') {
    if (!allow(req, res, ['GET', 'PUT', 'DELETE'])) return;
    const key = path.slice('/v1/kv/'.length);
    if (req.method === 'GET') return kvGet(ctx, res, key, q);
    if (req.method === 'PUT') return kvPut(ctx, req, res, key, q);
    return kvDelete(ctx, res, key, q);
  }
  if (path === '/v1/txn') {
    if (!allow(req, res, ['PUT'])) return;
    return txn(ctx, req, res);
  }
  if (path === '/v1/session/create') {
    if (!allow(req, res, ['PUT'])) return;
    return sessionCreate(ctx, req, res);
  }
  const sessionMatch = /^\/v1\/session\/(destroy|renew|info|node|list)(?:\/(.*))?$/.exec(path);
  if (sessionMatch) {
    const [, action, arg = ''] = sessionMatch as unknown as [string, string, string | undefined];
    if (action === 'destroy')
      return allow(req, res, ['PUT']) ? sessionDestroy(ctx, res, arg) : undefined;
    if (action === 'renew')
      return allow(req, res, ['PUT']) ? sessionRenew(ctx, res, arg) : undefined;
    if (!allow(req, res, ['GET'])) return;
    if (action === 'info')
      return sessionRead(ctx, res, q, () =>
        [ctx.state.sessions.get(arg)].filter((s) => s !== undefined),
      );
    if (action === 'node')
      return sessionRead(ctx, res, q, () =>
        [...ctx.state.sessions.values()].filter((s) => s.node === arg),
      );
    return sessionRead(ctx, res, q, () => [...ctx.state.sessions.values()]);
  }
  if (path === '/v1/catalog/nodes') {
    if (!allow(req, res, ['GET'])) return;
    meta(res, ctx.state.index);
    return send(
      res,
      200,
      JSON.stringify([{ Node: ctx.nodeName, Address: ctx.host, Datacenter: ctx.datacenter }]),
    );
  }
  if (path === '/v1/agent/self') {
    if (!allow(req, res, ['GET'])) return;
    return send(
      res,
      200,
      JSON.stringify({
        Config: { NodeName: ctx.nodeName, Datacenter: ctx.datacenter, Server: true },
      }),
    );
  }
  throw new HttpFailure(404, `Invalid URL path: not a recognized HTTP API endpoint: ${path}`);
}

/**
 * A request URL fit for a log: the value of every `token` query parameter (Consul's `?token=`) is
 * replaced, so the ACL token never reaches a log file.
 * @example redactUrl('/v1/kv/a?token=s3cret&recurse') // '/v1/kv/a?token=[redacted]&recurse'
 */
function redactUrl(url: string | undefined): string {
  const raw = url ?? '/';
  const queryAt = raw.indexOf('?');
  if (queryAt === -1) return raw;
  const query = raw
    .slice(queryAt + 1)
    .split('&')
    .map((part) => {
      const eq = part.indexOf('=');
      const name = eq === -1 ? part : part.slice(0, eq);
      let decoded = name;
      try {
        decoded = decodeURIComponent(name.replace(/\+/g, ' '));
      } catch {
        // keep the raw name
      }
      return decoded.toLowerCase() === 'token' && eq !== -1 ? `${name}=[redacted]` : part;
    });
  return `${raw.slice(0, queryAt)}?${query.join('&')}`;
}

/** The request listener: routes, and turns failures into Consul-like text answers. */
export function requestHandler(
  ctx: ServerContext,
  logger: Logger,
): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = redactUrl(req.url);
    res.once('finish', () => {
      logger.debug(
        { method: req.method, url, status: res.statusCode, remote: req.socket.remoteAddress },
        'request',
      );
    });
    route(ctx, req, res).catch((error: unknown) => {
      if (error instanceof HttpFailure) {
        if (error.status >= 500 || error.status === 429) {
          logger.warn({ status: error.status, method: req.method, url }, error.message);
        }
        return send(res, error.status, error.message, TEXT);
      }
      logger.error({ err: error, method: req.method, url }, 'request failed');
      send(res, 500, `internal error: ${(error as Error)?.message ?? String(error)}`, TEXT);
    });
  };
}
