import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CliExit, ExitCode } from './exit-code.js';
import { fetchManifest, readInputFile } from './files.js';
import type { CliContext } from './run.js';

const HELLO =
  'id: hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz\n';
const server = createServer((req, res) => {
  if (req.url === '/hello.yaml') res.end(HELLO);
  else if (req.url === '/broken') res.writeHead(500).end();
  else res.writeHead(404).end();
});
let base: string;
beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
});

const exitOf = (promise: Promise<unknown>) =>
  promise.then(
    () => undefined,
    (error: unknown) => (error instanceof CliExit ? [error.exitCode, error.message] : error),
  );

describe('input files', () => {
  it('readInputFile: a missing file and a directory are clear exits', async () => {
    const ctx = { cwd: tmpdir() } as CliContext;
    expect(await exitOf(readInputFile(ctx, 'p2t-no-such.yaml'))).toEqual([
      ExitCode.NOT_FOUND,
      'error: no such file: p2t-no-such.yaml',
    ]);
    expect(await exitOf(readInputFile(ctx, '.', 'manifest'))).toEqual([
      ExitCode.INVALID_INPUT,
      'error: . is a directory, not a manifest',
    ]);
  });

  it('fetchManifest: a manifest over http, 404 as not found, other statuses as failures', async () => {
    expect((await fetchManifest(`${base}/hello.yaml`)).id).toBe('hello');
    expect(await exitOf(fetchManifest(`${base}/gone.yaml`))).toEqual([
      ExitCode.NOT_FOUND,
      `error: ${base}/gone.yaml answered 404`,
    ]);
    expect(await exitOf(fetchManifest(`${base}/broken`))).toEqual([
      ExitCode.FAILURE,
      `error: ${base}/broken answered 500`,
    ]);
  });
});
