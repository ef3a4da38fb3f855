/** HTTP plumbing shared by the routes: answers, Consul's headers, bodies and query parameters. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { parseGoDurationNs } from '@p2/go';

const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_WAIT_MS = 10 * 60_000;
/** A decimal uint64 as Consul's query parameters and flags take it. */
export const UINT64 = /^\d{1,20}$/;
export const UINT64_MAX = 18446744073709551615n;
export const TEXT = 'text/plain; charset=utf-8';

/** An HTTP answer that ends request handling early. */
export class HttpFailure extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** Consul's response headers: the index (never 0) and a leader that is always this node. */
export function meta(res: ServerResponse, index: number | undefined): void {
  if (index !== undefined) res.setHeader('X-Consul-Index', String(Math.max(1, index)));
  res.setHeader('X-Consul-KnownLeader', 'true');
  res.setHeader('X-Consul-LastContact', '0');
  res.setHeader('X-Consul-Effective-Consistency', 'leader');
}

/** Answers, unless the client already went away. */
export function send(
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

/** Whether the method is allowed; otherwise answers 405 (or 200 to `OPTIONS`) with `Allow`. */
export function allow(req: IncomingMessage, res: ServerResponse, methods: string[]): boolean {
  if (methods.includes(req.method ?? '')) return true;
  res.setHeader('Allow', methods.join(','));
  if (req.method === 'OPTIONS') send(res, 200, '', TEXT);
  else send(res, 405, `method ${req.method} not allowed`, TEXT);
  return false;
}

/** Reads the whole body, refusing (413, `tooLarge`) one over `limit` bytes. */
export async function readBody(
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

/** A uint64 query parameter (`index`, `cas`); 400 `message` when it is not one. */
export function parseIndexParam(
  q: URLSearchParams,
  name: string,
  message: string,
): number | undefined {
  const text = q.get(name);
  if (text === null) return undefined;
  if (!UINT64.test(text) || BigInt(text) > UINT64_MAX) throw new HttpFailure(400, message);
  return Number(text);
}

/** A blocking query's `?index=` and `?wait=` (clamped, with Consul's jitter of wait/16). */
export function parseBlocking(q: URLSearchParams): { index: number; waitMs: number } {
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

/** A JSON object with its field names lower-cased (Go's decoder matches them case-insensitively). */
export function lowerKeys(value: unknown, where: string): Record<string, unknown> {
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new HttpFailure(400, `Failed to parse body: ${where} must be a JSON object`);
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k.toLowerCase()] = v;
  return out;
}
