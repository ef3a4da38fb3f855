/**
 * Real Hoist artifacts and a real artifact server for end-to-end scenarios: artifacts are packed
 * with `@p2/hoist`'s `packArtifact` (as a build would) and served over HTTP on loopback.
 */
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdtemp, stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { packArtifact } from '@p2/hoist';

const run = promisify(execFile);

/** Repository root. */
export const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
/** The demo app's source tree. */
export const helloAppDir = join(repoRoot, 'examples/hello-app');

export interface BuiltArtifact {
  path: string;
  fileName: string;
  sha256: string;
  /** The 40-hex version embedded in the file name (P2's naming convention). */
  version: string;
}

/** Packs `sourceDir` (like `tar -C sourceDir .`) into `<outDir>/<name>_<40 hex>.tar.gz` (the version is derived from the content). */
export async function buildArtifact(
  sourceDir: string,
  outDir: string,
  name: string,
  salt = '',
): Promise<BuiltArtifact> {
  const { stdout } = await run('sh', [
    '-c',
    `cd "${sourceDir}" && find . -type f | sort | xargs sha1sum`,
  ]);
  const version = createHash('sha1').update(stdout).update(salt).digest('hex');
  const fileName = `${name}_${version}.tar.gz`;
  const path = join(outDir, fileName);
  const sha256 = createHash('sha256')
    .update(await packArtifact(sourceDir, { output: path }))
    .digest('hex');
  return { path, fileName, sha256, version };
}

export interface FileServer {
  url: string;
  requests: string[];
  close(): Promise<void>;
}

/** Serves the files of `dir` over HTTP on 127.0.0.1 (GET and HEAD; 404 otherwise). */
export async function serveDirectory(dir: string): Promise<FileServer> {
  const requests: string[] = [];
  const server = createServer(async (req, res) => {
    requests.push(`${req.method} ${req.url}`);
    const path = join(dir, normalize(decodeURIComponent((req.url ?? '/').split('?')[0] ?? '/')));
    try {
      const info = await stat(path);
      if (!info.isFile()) throw new Error('not a file');
      res.writeHead(200, {
        'content-length': info.size,
        'content-type': 'application/octet-stream',
      });
      if (req.method === 'HEAD') res.end();
      else createReadStream(path).pipe(res);
    } catch {
      res.writeHead(404);
      res.end('not found');
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A fresh temporary directory named for p2 tests. */
export function tempDir(label: string): Promise<string> {
  return mkdtemp(join(tmpdir(), `p2t-${label}-`));
}
