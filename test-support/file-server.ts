/**
 * A static file server on loopback for host tests that install artifacts: serves the regular
 * files of one directory, records every requested path (tests only).
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/** A running {@link serveDirectory}. */
export interface FileServer {
  /** `http://127.0.0.1:<port>`. */
  url: string;
  /** Every request's URL path, in order. */
  requests: string[];
  close(): Promise<void>;
}

/** Serves `dir` over HTTP on loopback (404 for anything that is not a file there). */
export async function serveDirectory(dir: string): Promise<FileServer> {
  const requests: string[] = [];
  const server = createServer((req, res) => {
    requests.push(req.url ?? '');
    const path = join(dir, (req.url ?? '/').slice(1));
    stat(path)
      .then(
        (info) => {
          if (!info.isFile()) throw new Error('not a file');
          res.writeHead(200, { 'content-length': info.size });
          createReadStream(path).pipe(res);
        },
        () => {
          res.writeHead(404);
          res.end();
        },
      )
      .catch(() => {
        res.writeHead(404);
        res.end();
      });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}
