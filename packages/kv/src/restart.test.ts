/** A watch through the Consul backend survives kill -9 + restart of a real p2-kv-server process. */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from '../../kv-server/src/test-process.js';
import { waitFor } from './conformance.js';
import { ConsulStore } from './consul.js';
import { watchPrefix } from './watch.js';

let dataDir: string;
let proc: ServerProcess | undefined;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-kv-restart-'));
});
afterEach(async () => {
  await proc?.kill9();
  await rm(dataDir, { recursive: true, force: true });
});

it('a prefix watch rides out kill -9 + restart and sees every later change', async () => {
  proc = await spawnServer(dataDir);
  const port = proc.port;
  const store = new ConsulStore({ address: `127.0.0.1:${port}` });
  const controller = new AbortController();
  const seen: string[][] = [];
  const errors: unknown[] = [];
  const watching = (async () => {
    for await (const { value } of watchPrefix(store, 'w/', {
      signal: controller.signal,
      waitMs: 10_000,
      backoffMaxMs: 400,
      onError: (e) => errors.push(e),
    })) {
      seen.push(value.map((e) => new TextDecoder().decode(e.value)));
    }
  })();
  try {
    await waitFor(() => seen.length === 1);
    await store.put('w/1', 'one');
    await waitFor(() => seen.at(-1)?.join() === 'one');
    await proc.kill9();
    proc = await spawnServer(dataDir, port);
    for (const [key, value] of [
      ['w/2', 'two'],
      ['w/3', 'three'],
    ] as const) {
      const expected = seen.at(-1)?.concat(value).join();
      await store.put(key, value);
      await waitFor(() => seen.at(-1)?.join() === expected, 10_000);
    }
    await store.delete('w/1');
    await waitFor(() => seen.at(-1)?.join() === 'two,three', 10_000);
    expect(errors.length).toBeGreaterThan(0); // the watch really saw the outage
    expect(seen.map((s) => s.join('+'))).toEqual([
      '',
      'one',
      'one+two',
      'one+two+three',
      'two+three',
    ]);
  } finally {
    controller.abort();
    await watching;
    await store.close();
  }
});
