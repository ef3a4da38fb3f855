/**
 * The dashboard's HTTP server: the static page, JSON endpoints and one server-sent-event stream,
 * on loopback unless told otherwise. Read-only: no endpoint writes to the store.
 */
import { readFileSync } from 'node:fs';
import {
  createServer,
  type IncomingMessage,
  type OutgoingHttpHeaders,
  type ServerResponse,
} from 'node:http';
import type { AddressInfo } from 'node:net';
import { hostname, networkInterfaces } from 'node:os';
import { constants, gzipSync } from 'node:zlib';
import type { Store } from '@p2/kv';
import { LabelsError, Selector } from '@p2/labels';
import type { Logger } from 'pino';
import { UiError, UiErrorCode } from './errors.js';
import { FleetHub, type StoreState } from './hub.js';
import { DEFAULT_LISTEN, hostPort, isLoopback, type ListenAddress } from './listen.js';
import { readPod } from './pod.js';
import type { FleetSnapshot } from './snapshot.js';

/** Options of {@link startUiServer}. */
export interface UiServerOptions {
  /** The store to show (opened by the caller, with its URL and token; the token never leaves it). */
  store: Store;
  /** Where to listen. @default { host: '127.0.0.1', port: 8501 } */
  listen?: ListenAddress;
  /**
   * Allow a non-loopback `listen` address. The dashboard has no login: anyone who reaches the port
   * sees the fleet. @default false
   */
  allowRemote?: boolean;
  logger?: Logger;
  /** Shortest time between two reads of the fleet (and two updates sent to pages). @default 250 */
  intervalMs?: number;
}

/** A running dashboard. */
export interface UiServer {
  /** The page's address, e.g. `http://127.0.0.1:8501/`. */
  url: string;
  /** Pages connected to the live stream now. */
  readonly clients: number;
  /** Stops the watch, ends every stream and closes the server. */
  close(): Promise<void>;
}

const STATIC_DIR = new URL('../static/', import.meta.url);
const STATIC_FILES: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Sent with every response: no inline script, no framing, no sniffing, no referrer. */
const SECURITY_HEADERS: OutgoingHttpHeaders = {
  'content-security-policy':
    "default-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cross-origin-resource-policy': 'same-origin',
};

function send(
  res: ServerResponse,
  status: number,
  body: string | Buffer,
  type = 'application/json; charset=utf-8',
  extra: OutgoingHttpHeaders = {},
): void {
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    ...extra,
    'content-type': type,
    'cache-control': 'no-store',
    vary: 'accept-encoding',
    'content-length': Buffer.byteLength(body),
  });
  res.end(body);
}

/** Whether the client takes a gzip-encoded answer (`Accept-Encoding: gzip`, not with `q=0`). */
function acceptsGzip(req: IncomingMessage): boolean {
  return String(req.headers['accept-encoding'] ?? '')
    .split(',')
    .some((part) => {
      const [coding, ...params] = part.split(';').map((p) => p.trim().toLowerCase());
      return coding === 'gzip' && !params.some((p) => /^q=0(\.0*)?$/.test(p));
    });
}

/**
 * A JSON answer serialized once and gzipped once (when first asked for), for every client until
 * `source` changes: 10,000 fleet rows are 3 MB of JSON and a tenth of that gzipped.
 */
class CachedJson<T> {
  #source: T | undefined;
  #json: Buffer | undefined;
  #gzip: Buffer | undefined;

  constructor(private readonly serialize: (source: T) => string) {}

  send(req: IncomingMessage, res: ServerResponse, source: T): void {
    if (source !== this.#source) {
      this.#source = source;
      this.#json = Buffer.from(this.serialize(source));
      this.#gzip = undefined;
    }
    const json = this.#json as Buffer;
    if (json.length < 1024 || !acceptsGzip(req)) {
      send(res, 200, json);
      return;
    }
    // Level 1: a tenth of the size already, and quick enough to do on the request.
    this.#gzip ??= gzipSync(json, { level: constants.Z_BEST_SPEED });
    send(res, 200, this.#gzip, 'application/json; charset=utf-8', { 'content-encoding': 'gzip' });
  }
}

function sendError(res: ServerResponse, status: number, code: string, message: string): void {
  send(res, status, JSON.stringify({ error: { code, message } }));
}

/** What `/api/fleet` answers: the store's state and the latest snapshot. */
interface FleetAnswer {
  store: StoreState;
  snapshot: FleetSnapshot;
}

/** The Host header values this server answers to (DNS rebinding: any other name is refused). */
function allowedHosts(host: string, port: number, remote: boolean): Set<string> {
  const names = new Set([
    hostPort(host, port),
    `localhost:${port}`,
    `127.0.0.1:${port}`,
    `[::1]:${port}`,
  ]);
  if (remote && !isLoopback(host)) {
    // A wildcard address is reached by the machine's name or any of its addresses.
    names.add(`${hostname()}:${port}`);
    for (const list of Object.values(networkInterfaces())) {
      for (const a of list ?? []) names.add(hostPort(a.address, port));
    }
  }
  return names;
}

/**
 * Starts the dashboard: one shared store watch, the page at `/`, `/api/fleet`, `/api/pod?id=`,
 * `/api/selector?q=` and the live stream `/api/events`.
 *
 * @throws UiError `P2_UI_REMOTE_NOT_ALLOWED` for a non-loopback address without `allowRemote`;
 *   `P2_UI_LISTEN_FAILED` when the address cannot be bound
 * @example
 * ```ts
 * const ui = await startUiServer({ store, listen: { host: '127.0.0.1', port: 0 } });
 * console.log(ui.url); // http://127.0.0.1:40123/
 * await ui.close();
 * ```
 */
export async function startUiServer(options: UiServerOptions): Promise<UiServer> {
  const listen = options.listen ?? DEFAULT_LISTEN;
  if (!isLoopback(listen.host) && !options.allowRemote) {
    throw new UiError(
      UiErrorCode.REMOTE_NOT_ALLOWED,
      `refusing to serve the dashboard on ${hostPort(listen.host, listen.port)}: not a loopback address`,
      { hint: 'the dashboard has no login; pass --allow-remote to serve it to other hosts anyway' },
    );
  }
  const files = new Map(
    Object.entries(STATIC_FILES).map(([path, { file, type }]) => [
      path,
      { body: readFileSync(new URL(file, STATIC_DIR)), type },
    ]),
  );
  const hub = new FleetHub(options.store, {
    ...(options.logger ? { logger: options.logger } : {}),
    ...(options.intervalMs === undefined ? {} : { intervalMs: options.intervalMs }),
  });
  const streams = new Set<ServerResponse>();
  const fleetAnswer = new CachedJson<FleetAnswer>((a) =>
    JSON.stringify({ store: a.store, ...a.snapshot }),
  );
  let answer: FleetAnswer | undefined;
  let hosts = new Set<string>();

  const server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      options.logger?.warn({ err: error, url: req.url }, 'dashboard request failed');
      if (!res.headersSent) sendError(res, 503, 'P2_UI_STORE', (error as Error).message);
      else res.end();
    });
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (!hosts.has(req.headers.host ?? '')) {
      sendError(res, 421, 'P2_UI_BAD_HOST', 'unknown Host header: use the address p2 ui printed');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('allow', 'GET, HEAD');
      sendError(res, 405, 'P2_UI_READ_ONLY', 'the dashboard is read-only');
      return;
    }
    const url = new URL(req.url ?? '/', 'http://dashboard.invalid');
    const file = files.get(url.pathname === '/index.html' ? '/' : url.pathname);
    if (file) return send(res, 200, file.body, file.type);
    switch (url.pathname) {
      case '/api/events':
        return stream(req, res, url.searchParams.get('since') ?? undefined);
      case '/api/fleet': {
        const snapshot = hub.snapshot;
        if (!snapshot) return sendError(res, 503, 'P2_UI_STORE', hub.state.error ?? 'starting');
        // One answer object per (snapshot, store state): the cache serializes it once.
        if (answer?.snapshot !== snapshot || answer.store !== hub.state)
          answer = { store: hub.state, snapshot };
        return fleetAnswer.send(req, res, answer);
      }
      case '/api/pod': {
        const id = url.searchParams.get('id') ?? '';
        const pod = await readPod(options.store, id);
        if (pod.nodes.length === 0) return sendError(res, 404, 'P2_UI_NOT_FOUND', 'no such pod');
        return send(res, 200, JSON.stringify(pod));
      }
      case '/api/selector':
        return selector(url.searchParams.get('q') ?? '', res);
      default:
        return sendError(res, 404, 'P2_UI_NOT_FOUND', 'not found');
    }
  }

  function selector(text: string, res: ServerResponse): void {
    try {
      const parsed = Selector.parse(text);
      send(
        res,
        200,
        JSON.stringify({ selector: parsed.toString(), requirements: parsed.requirements }),
      );
    } catch (error) {
      if (!(error instanceof LabelsError)) throw error;
      send(
        res,
        400,
        JSON.stringify({
          error: { code: error.code, message: error.message, hint: error.hint ?? null },
        }),
      );
    }
  }

  function stream(req: IncomingMessage, res: ServerResponse, since: string | undefined): void {
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-store',
      connection: 'keep-alive',
    });
    // Reconnect after a second when the server goes away (the page shows it meanwhile).
    res.write('retry: 1000\n\n');
    streams.add(res);
    const remove = hub.add({ send: (event) => res.write(event) }, since);
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    req.on('close', () => {
      clearInterval(keepAlive);
      remove();
      streams.delete(res);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new UiError(
          UiErrorCode.LISTEN_FAILED,
          `cannot listen on ${hostPort(listen.host, listen.port)}: ${error.message}`,
          { cause: error, hint: 'pick another port with --listen HOST:PORT' },
        ),
      ),
    );
    server.listen(listen.port, listen.host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  hosts = allowedHosts(listen.host, port, options.allowRemote === true);
  hub.start();
  const shown = listen.host === '0.0.0.0' || listen.host === '::' ? '127.0.0.1' : listen.host;
  return {
    url: `http://${hostPort(shown, port)}/`,
    get clients() {
      return hub.clients;
    },
    close: async () => {
      for (const res of streams) res.end();
      server.closeAllConnections();
      await Promise.all([hub.close(), new Promise((resolve) => server.close(resolve))]);
    },
  };
}
