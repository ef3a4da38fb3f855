/**
 * The Consul backend's connection pools against a real p2-kv-server process (issue 20): a capped
 * pool for writes and plain reads, a pool of its own for blocking reads. Connections are counted
 * from the kernel's table of this process's TCP sockets to the server's port.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from '../../kv-server/src/test-process.js';
import { waitFor } from './conformance.js';
import { ConsulStore } from './consul.js';
import { KvErrorCodes } from './errors.js';

let dataDir: string;
let proc: ServerProcess | undefined;
let store: ConsulStore | undefined;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-kv-conns-'));
  proc = await spawnServer(dataDir);
});
afterEach(async () => {
  await store?.close();
  await proc?.kill9();
  await rm(dataDir, { recursive: true, force: true });
});

/** Established TCP connections from a client (any process here) to 127.0.0.1:`port`. */
function clientConnections(port: number): number {
  const remote = `0100007F:${port.toString(16).toUpperCase().padStart(4, '0')}`;
  return readFileSync('/proc/net/tcp', 'utf8')
    .split('\n')
    .slice(1)
    .map((line) => line.trim().split(/\s+/))
    .filter((f) => f[2] === remote && f[3] === '01').length;
}

/** Starts blocking reads of `keys` at the store's current index; `settled` lists those that ended. */
async function blockOn(s: ConsulStore, keys: string[], signal: AbortSignal) {
  const { index } = await s.get('p2t-conns/none');
  const settled: string[] = [];
  const reads = keys.map((key) =>
    s.get(key, { index, waitMs: 120_000, signal }).then(
      (read) => {
        settled.push(key);
        return read;
      },
      (error: unknown) => {
        settled.push(key);
        if (!isP2Error(error, KvErrorCodes.ABORTED)) throw error;
        return undefined;
      },
    ),
  );
  return { settled, reads };
}

it('writes never wait behind blocking watches, even with more watches than the cap', async () => {
  const port = (proc as ServerProcess).port;
  store = new ConsulStore({ address: `127.0.0.1:${port}`, maxConnections: 2 });
  const stop = new AbortController();
  const keys = Array.from({ length: 6 }, (_, i) => `p2t-conns/w${i}`);
  const { settled, reads } = await blockOn(store, keys, stop.signal);
  // Every watch holds a connection on the server (3× the cap of the write pool).
  await waitFor(() => clientConnections(port) >= keys.length);
  // Sequential and parallel writes and plain reads all finish while every watch still waits.
  for (let i = 0; i < 5; i++) await store.put(`p2t-conns/other${i}`, `v${i}`);
  await Promise.all(
    Array.from({ length: 10 }, (_, i) => store?.put(`p2t-conns/burst${i}`, String(i))),
  );
  expect((await store.get('p2t-conns/burst9')).value?.value).toEqual(new TextEncoder().encode('9'));
  expect(settled).toEqual([]);
  // A write to one watched key wakes that watch, and that watch only.
  await store.put('p2t-conns/w3', 'changed');
  const woken = await reads[3];
  expect(new TextDecoder().decode(woken?.value?.value)).toBe('changed');
  expect(settled).toEqual(['p2t-conns/w3']);
  stop.abort();
  await Promise.all(reads);
});

it('keeps one idle connection after a burst, besides one per watch in flight', async () => {
  const port = (proc as ServerProcess).port;
  store = new ConsulStore({
    address: `127.0.0.1:${port}`,
    idleTimeoutMs: 600_000,
    maxIdleConnections: 1,
  });
  const stop = new AbortController();
  const { settled, reads } = await blockOn(store, ['p2t-conns/a', 'p2t-conns/b'], stop.signal);
  await waitFor(() => clientConnections(port) >= 2);
  // A burst wider than the cap (8): all but one of the connections it opened close after it.
  await Promise.all(
    Array.from({ length: 40 }, (_, i) => store?.put(`p2t-conns/burst${i}`, String(i))),
  );
  await waitFor(() => clientConnections(port) === 2 + 1);
  expect(settled).toEqual([]);
  // A write after the burst reuses the idle connection: still 3.
  await store.put('p2t-conns/after', 'x');
  expect(clientConnections(port)).toBe(3);
  stop.abort();
  await Promise.all(reads);
});

it('closes an idle connection after idleTimeoutMs, never a request in flight', async () => {
  const port = (proc as ServerProcess).port;
  store = new ConsulStore({ address: `127.0.0.1:${port}`, idleTimeoutMs: 1 });
  const stop = new AbortController();
  const { settled, reads } = await blockOn(store, ['p2t-conns/a'], stop.signal);
  // 8 MiB to list: the request takes far longer than the 1 ms idle timeout, and completes.
  const big = 'x'.repeat(256 * 1024);
  for (let i = 0; i < 32; i++) await store.put(`p2t-conns/big/${i}`, big);
  const { value: listed } = await store.list('p2t-conns/big/');
  expect(listed.map((e) => e.value.length)).toEqual(Array(32).fill(big.length));
  // Then only the watch's connection is left; the watch, idle for far longer than 1 ms, still waits.
  await waitFor(() => clientConnections(port) === 1);
  expect(settled).toEqual([]);
  await store.put('p2t-conns/a', 'woken');
  expect(new TextDecoder().decode((await reads[0])?.value?.value)).toBe('woken');
  // The watch ended (nobody re-polls): its connection closes like any idle one.
  await waitFor(() => clientConnections(port) === 0);
  stop.abort();
});

it('refuses a cap below one connection', () => {
  expect(() => new ConsulStore({ maxConnections: 0 })).toThrow(/maxConnections/);
  expect(() => new ConsulStore({ maxIdleConnections: 1.5 })).toThrow(/maxIdleConnections/);
  expect(() => new ConsulStore({ idleTimeoutMs: -1 })).toThrow(/idleTimeoutMs/);
});
