/** Serving {@link ControllerMetrics} on `/metrics` over HTTP (loopback by default). */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ControllerMetrics } from './metrics.js';

/** A listening metrics server. */
export interface MetricsServer {
  /** `http://host:port`. */
  readonly url: string;
  close(): Promise<void>;
}

/**
 * Serves the Prometheus exposition on `GET /metrics` (404 elsewhere). Binds `127.0.0.1` unless
 * told otherwise: the metrics name controllers and pods.
 *
 * @example
 * ```ts
 * const server = await startMetricsServer(new ControllerMetrics(), { port: 9101 });
 * await fetch(`${server.url}/metrics`); // 200, text/plain; version=0.0.4
 * ```
 */
export async function startMetricsServer(
  metrics: ControllerMetrics,
  options: { port: number; host?: string },
): Promise<MetricsServer> {
  const server = createServer((req, res) => {
    if ((req.url ?? '/').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end('not found: try /metrics\n');
      return;
    }
    metrics.render().then(
      (text) => {
        res.writeHead(200, { 'content-type': metrics.contentType });
        res.end(text);
      },
      (error: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end(`metrics failed: ${(error as Error)?.message ?? String(error)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host ?? '127.0.0.1', resolve);
  });
  const address = server.address() as AddressInfo;
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${host}:${address.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
