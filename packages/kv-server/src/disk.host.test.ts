/**
 * A full disk, for real: the data directory on a 256 KiB tmpfs (needs root: mount/umount). The
 * write that cannot be persisted is not acknowledged, later writes are refused, reads keep working.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type KvServer, startKvServer } from './index.js';

let mountPoint: string;
let server: KvServer | undefined;

beforeAll(() => {
  mountPoint = mkdtempSync(join(tmpdir(), 'p2t-kvs-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=256k', 'tmpfs', mountPoint]);
});
afterAll(async () => {
  await server?.close().catch(() => undefined);
  try {
    execFileSync('umount', [mountPoint], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' }); // still busy: detach lazily
  }
  rmSync(mountPoint, { recursive: true, force: true });
});

it('stops acknowledging writes when the log cannot be written, and says why', async () => {
  server = await startKvServer({ dataDir: join(mountPoint, 'data'), port: 0 });
  const put = (key: string, body: string) =>
    fetch(`${server?.url}/v1/kv/${key}`, { method: 'PUT', body });
  expect(await (await put('first', 'kept')).text()).toBe('true');
  let failed: Response | undefined;
  for (let i = 0; i < 100 && !failed; i++) {
    const res = await put(`fill/${i}`, 'x'.repeat(60_000));
    if (res.status !== 200) failed = res;
  }
  expect(failed?.status).toBe(500);
  expect(await failed?.text()).toMatch(/^write not persisted: .*ENOSPC/);
  const refused = await put('after', 'y');
  expect(refused.status).toBe(500);
  expect(await refused.text()).toContain('refuses writes after a disk error');
  const read = await fetch(`${server.url}/v1/kv/first?raw`);
  expect(await read.text()).toBe('kept');
  await server.close(); // must release the files even though the snapshot cannot be written
  server = undefined;
});
