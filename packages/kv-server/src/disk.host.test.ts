/**
 * A full disk, for real: the data directory on a tiny tmpfs (needs root: mount/umount). A write that
 * cannot be persisted — also one that only partly fits — is not acknowledged and leaves nothing
 * behind, later writes are refused, reads serve what is on disk, and once space is freed the server
 * starts again with every acknowledged write and says what it recovered.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type KvServer, startKvServer } from './index.js';

let mountPoint: string;
let server: KvServer | undefined;

function mountTmpfs(size: string): void {
  mountPoint = mkdtempSync(join(tmpdir(), 'p2t-kvs-full-'));
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', mountPoint]);
}

afterEach(async () => {
  await server?.close().catch(() => undefined);
  server = undefined;
  try {
    execFileSync('umount', [mountPoint], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' }); // still busy: detach lazily
  }
  rmSync(mountPoint, { recursive: true, force: true });
});

/** A pino logger whose JSON lines land in `lines`. */
function capture(lines: Record<string, unknown>[]) {
  const stream = new Writable({
    write(chunk, _encoding, done) {
      for (const line of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(line));
      done();
    },
  });
  return pino({ level: 'info' }, stream);
}

const put = (key: string, body: string) =>
  fetch(`${server?.url}/v1/kv/${key}`, { method: 'PUT', body });
const read = async (key: string) => {
  const res = await fetch(`${server?.url}/v1/kv/${key}?raw`);
  return res.status === 200 ? await res.text() : res.status;
};

beforeEach(() => {
  mountPoint = '';
});

it('stops acknowledging writes when the log cannot be written, and starts again with all of them once space is freed', async () => {
  mountTmpfs('256k');
  const dataDir = join(mountPoint, 'data');
  server = await startKvServer({ dataDir, port: 0 });
  expect(await (await put('first', 'kept')).text()).toBe('true');
  const acked = new Map<string, string>([['first', 'kept']]);
  let failed: Response | undefined;
  for (let i = 0; i < 100 && !failed; i++) {
    const value = `${i}`.repeat(60_000 / `${i}`.length);
    const res = await put(`fill/${i}`, value);
    if (res.status === 200) acked.set(`fill/${i}`, value);
    else failed = res;
  }
  expect(failed?.status).toBe(500);
  expect(await failed?.text()).toMatch(/^write not persisted: .*ENOSPC/);
  const refused = await put('after', 'y');
  expect(refused.status).toBe(500);
  expect(await refused.text()).toContain('refuses writes after a disk error');
  expect(await read('first')).toBe('kept');
  expect(await read(`fill/${acked.size - 1}`)).toBe(404); // the failed write is not served
  await server.close(); // must release the files even though the snapshot cannot be written
  server = undefined;

  execFileSync('mount', ['-o', 'remount,size=4m', mountPoint]); // space freed
  const lines: Record<string, unknown>[] = [];
  server = await startKvServer({ dataDir, port: 0, logger: capture(lines) });
  for (const [key, value] of acked) expect(await read(key)).toBe(value);
  expect(server.recovery.replayed).toBe(acked.size);
  const summary = lines.find((l) => String(l.msg).startsWith('recovered'));
  expect(summary).toMatchObject({ replayed: acked.size, tornBytes: 0 });
  expect(await (await put('after', 'y')).text()).toBe('true');
});

it('a transaction that only partly fits on the disk is not acknowledged and leaves nothing partial, in memory or after a restart', async () => {
  mountTmpfs('1m');
  const dataDir = join(mountPoint, 'data');
  server = await startKvServer({ dataDir, port: 0 });
  for (let i = 0; i < 10; i++) expect(await (await put(`kept/${i}`, `v${i}`)).text()).toBe('true');
  const logSize = statSync(join(dataDir, 'kv.log')).size;
  // Leave ~64 KiB free: the txn's record (4 × 40 KiB values) starts to fit, then the disk is full.
  const { bavail, bsize } = statfsSync(mountPoint);
  writeFileSync(join(mountPoint, 'filler'), Buffer.alloc(bavail * bsize - 64 * 1024));
  const ops = Array.from({ length: 4 }, (_, n) => ({
    KV: {
      Verb: 'set',
      Key: `txn/${n}`,
      Value: Buffer.alloc(40 * 1024, 65 + n).toString('base64'),
    },
  }));
  const res = await fetch(`${server.url}/v1/txn`, { method: 'PUT', body: JSON.stringify(ops) });
  expect(res.status).toBe(500);
  expect(await res.text()).toMatch(/^write not persisted: .*ENOSPC/);
  // The part of the record that reached the file was cut off again; memory was reloaded from disk.
  expect(statSync(join(dataDir, 'kv.log')).size).toBe(logSize);
  for (let n = 0; n < 4; n++) expect(await read(`txn/${n}`)).toBe(404);
  for (let i = 0; i < 10; i++) expect(await read(`kept/${i}`)).toBe(`v${i}`);
  await server.close();
  server = undefined;

  rmSync(join(mountPoint, 'filler')); // space freed
  const lines: Record<string, unknown>[] = [];
  server = await startKvServer({ dataDir, port: 0, logger: capture(lines) });
  for (let n = 0; n < 4; n++) expect(await read(`txn/${n}`)).toBe(404);
  for (let i = 0; i < 10; i++) expect(await read(`kept/${i}`)).toBe(`v${i}`);
  expect(lines.find((l) => String(l.msg).startsWith('recovered'))).toMatchObject({
    replayed: 10,
    tornBytes: 0,
  });
  const again = await fetch(`${server.url}/v1/txn`, { method: 'PUT', body: JSON.stringify(ops) });
  expect(again.status).toBe(200);
  expect(await read('txn/3')).toBe('D'.repeat(40 * 1024));
});
