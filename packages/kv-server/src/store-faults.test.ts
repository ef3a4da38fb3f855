/**
 * Faults with the real `p2-kv-server` binary: SIGKILL while a snapshot is being written, a log cut
 * in the middle of its last record, a snapshot with flipped bytes. Nothing acknowledged is lost;
 * what cannot be trusted refuses to start with an actionable error.
 */
import { existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from './test-process.js';

let dataDir: string;
let proc: ServerProcess | undefined;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-kvs-faults-'));
});
afterEach(async () => {
  await proc?.kill9();
  proc = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

async function readAll(url: string, prefix: string): Promise<Map<string, string>> {
  const res = await fetch(`${url}/v1/kv/${prefix}?recurse`);
  if (res.status === 404) return new Map();
  return new Map(
    ((await res.json()) as { Key: string; Value: string }[]).map((e) => [
      e.Key,
      Buffer.from(e.Value, 'base64').toString(),
    ]),
  );
}

it('SIGKILL while a snapshot is being written loses no acknowledged write', async () => {
  // A store of ~4 MB makes each snapshot take a while; compacting every 64 KiB of log makes them
  // frequent. The kill comes while `snapshot.json.tmp` exists, i.e. between its open and rename.
  const flags = ['--compact-bytes', '65536'];
  proc = await spawnServer(dataDir, 0, flags);
  const { url, port } = proc;
  const acked = new Map<string, string>();
  for (let t = 0; t < 48; t++) {
    const ops = Array.from({ length: 64 }, (_, n) => ({
      KV: {
        Verb: 'set',
        Key: `big/${t}/${n}`,
        Value: Buffer.alloc(1024, 97 + (n % 26)).toString('base64'),
      },
    }));
    const res = await fetch(`${url}/v1/txn`, { method: 'PUT', body: JSON.stringify(ops) });
    expect(res.status).toBe(200);
    for (let n = 0; n < 64; n++)
      acked.set(`big/${t}/${n}`, String.fromCharCode(97 + (n % 26)).repeat(1024));
  }
  let stop = false;
  const writer = async (w: number) => {
    for (let n = 0; !stop; n++) {
      const key = `w/${w}/${n}`;
      const value = `value-${w}-${n}-${'x'.repeat(200)}`;
      try {
        const res = await fetch(`${url}/v1/kv/${key}`, { method: 'PUT', body: value });
        if ((await res.text()) === 'true') acked.set(key, value);
      } catch {
        return;
      }
    }
  };
  const writers = Array.from({ length: 8 }, (_, w) => writer(w));
  const tmp = join(dataDir, 'snapshot.json.tmp');
  const deadline = Date.now() + 60_000;
  while (!existsSync(tmp) && Date.now() < deadline) await sleep(1);
  await proc.kill9();
  stop = true;
  await Promise.all(writers);
  // The kill landed mid-snapshot: the temporary file was never renamed.
  expect(existsSync(tmp)).toBe(true);

  proc = await spawnServer(dataDir, port, flags);
  const stored = await readAll(proc.url, '');
  const lost = [...acked].filter(([key, value]) => stored.get(key) !== value);
  expect(lost.map(([key]) => key)).toEqual([]);
  expect(acked.size).toBeGreaterThan(48 * 64);
});

it('a log cut in the middle of its last record: the intact records are served and the start says what it dropped', async () => {
  proc = await spawnServer(dataDir);
  const { port } = proc;
  for (let i = 0; i < 20; i++) {
    const res = await fetch(`${proc.url}/v1/kv/k/${i}`, { method: 'PUT', body: `value-${i}` });
    expect(await res.text()).toBe('true');
  }
  await proc.kill9();
  // What a crash in the middle of appending the last record leaves: its fsync never returned, so
  // that write was never acknowledged; everything before it was.
  const logPath = join(dataDir, 'kv.log');
  const log = readFileSync(logPath);
  const lastStart = log.lastIndexOf(0x0a, log.length - 2) + 1;
  const cut = lastStart + Math.floor((log.length - lastStart) / 2);
  truncateSync(logPath, cut);

  proc = await spawnServer(dataDir, port, ['--log-level', 'info']);
  expect(proc.startup.recovered).toMatchObject({
    replayed: 19,
    logBytes: lastStart,
    tornBytes: cut - lastStart,
  });
  // Said on stderr, a pipe of its own: it may arrive after the start-up line on stdout.
  const said = `dropped a torn tail of ${cut - lastStart} bytes at offset ${lastStart}`;
  for (let i = 0; i < 100 && !proc.stderr().includes(said); i++) await sleep(50);
  expect(proc.stderr()).toContain(said);
  expect(statSync(logPath).size).toBe(lastStart); // cut back to whole records
  const stored = await readAll(proc.url, 'k/');
  for (let i = 0; i < 19; i++) expect(stored.get(`k/${i}`)).toBe(`value-${i}`);
  expect(stored.has('k/19')).toBe(false);
  // The log goes on cleanly after the cut.
  expect(
    await (await fetch(`${proc.url}/v1/kv/k/19`, { method: 'PUT', body: 'again' })).text(),
  ).toBe('true');
  await proc.kill9();
  proc = await spawnServer(dataDir, port);
  expect((await readAll(proc.url, 'k/')).get('k/19')).toBe('again');
  expect(proc.startup.recovered).toMatchObject({ replayed: 20, tornBytes: 0 });
});

it('a snapshot with flipped bytes refuses to start with an actionable error, and starts once it is restored', async () => {
  proc = await spawnServer(dataDir);
  const { port } = proc;
  for (let i = 0; i < 20; i++) {
    await fetch(`${proc.url}/v1/kv/k/${i}`, { method: 'PUT', body: `value-${i}` });
  }
  await proc.stop(); // clean stop: a snapshot, the log truncated — the snapshot is the only copy
  const snapshotPath = join(dataDir, 'snapshot.json');
  expect(statSync(join(dataDir, 'kv.log')).size).toBe(0);
  const good = readFileSync(snapshotPath);
  const value = Buffer.from(Buffer.from('value-7').toString('base64'));
  const at = good.indexOf(value);
  expect(at).toBeGreaterThan(0);

  // A flip that keeps the JSON valid: only the checksum can tell.
  const flipped = Buffer.from(good);
  flipped[at] = flipped[at] === 0x64 ? 0x65 : 0x64;
  writeFileSync(snapshotPath, flipped);
  const error = await spawnServer(dataDir, port).catch((e: unknown) => e as Error);
  expect((error as Error).message).toContain('exited with 1');
  expect((error as Error).message).toMatch(
    /snapshot .*snapshot\.json is corrupt: its SHA-256 does not match[\s\S]*hint: .*restore the data directory from a backup/,
  );
  // A snapshot cut short (a disk that lost its tail).
  writeFileSync(snapshotPath, good.subarray(0, Math.floor(good.length / 2)));
  const cut = await spawnServer(dataDir, port).catch((e: unknown) => e as Error);
  expect((cut as Error).message).toMatch(
    /snapshot .* is corrupt: \d+ bytes of body where the header says \d+/,
  );
  // Nothing was changed by the refusals: the restored snapshot serves every write.
  writeFileSync(snapshotPath, good);
  proc = await spawnServer(dataDir, port);
  const stored = await readAll(proc.url, 'k/');
  for (let i = 0; i < 20; i++) expect(stored.get(`k/${i}`)).toBe(`value-${i}`);
});
