/**
 * The preparer's HTTP status server (spec 02 §1.4): `/_status` answers 200 `p2-preparer OK` (P2's body)
 * and, with `Accept: application/json`, a JSON summary of the pods; `/metrics` serves Prometheus text.
 * Listens on a TCP port (loopback by default — P2 bound all interfaces) or a unix socket.
 */
import { chmodSync, existsSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** Where {@link startStatusServer} listens and what it serves. */
export interface StatusServerOptions {
  port?: number;
  host?: string;
  socketPath?: string;
  /** The Prometheus exposition (prom-client's `registry.metrics()`). */
  metrics: () => string | Promise<string>;
  /** @default 'text/plain; version=0.0.4; charset=utf-8' */
  metricsContentType?: string;
  summary: () => unknown;
}

/** A listening status server. */
export interface StatusServer {
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Starts the status server.
 * @example
 * ```ts
 * const server = await startStatusServer({ port: 0, metrics: () => metrics.render(), summary: () => ({}) });
 * await fetch(`${server.url}/_status`); // 200 p2-preparer OK
 * ```
 */
export async function startStatusServer(options: StatusServerOptions): Promise<StatusServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/_status') {
      if ((req.headers.accept ?? '').includes('application/json')) {
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(`${JSON.stringify({ status: 'ok', ...(options.summary() as object) })}\n`);
      } else {
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('p2-preparer OK');
      }
      return;
    }
    if (path === '/metrics') {
      Promise.resolve()
        .then(() => options.metrics())
        .then(
          (text) => {
            res.writeHead(200, {
              'content-type':
                options.metricsContentType ?? 'text/plain; version=0.0.4; charset=utf-8',
            });
            res.end(text);
          },
          (error: unknown) => {
            res.writeHead(500, { 'content-type': 'text/plain' });
            res.end(`metrics failed: ${(error as Error)?.message ?? String(error)}\n`);
          },
        );
      return;
    }
    res.writeHead(404, { 'content-type': 'text/plain' });
    res.end('not found: try /_status or /metrics\n');
  });
  let url: string;
  if (options.socketPath && !options.port) {
    if (existsSync(options.socketPath)) rmSync(options.socketPath);
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.socketPath, resolve);
    });
    chmodSync(options.socketPath, 0o777);
    url = `unix:${options.socketPath}`;
  } else {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', resolve);
    });
    const address = server.address() as AddressInfo;
    url = `http://${address.address}:${address.port}`;
  }
  return {
    url,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
