/**
 * The store: `@p2/kv`'s Consul backend against `@p2/kv-server` on loopback (in this process).
 *
 * - puts/s and CAS/s on 1 connection (one request in flight) and on 16 (16 in flight). Every
 *   acknowledged write is fsynced (group commit), so this measures durability too.
 *   Baseline: a bare `node:http` server answering `true` to the same PUTs over the same kind of
 *   keep-alive agent — the cost of HTTP on loopback and nothing else.
 * - watch fan-out: 1,000 blocking watchers on distinct keys, one write each; latency from starting
 *   the write to the watcher's answer (p50/p99). Baseline: a bare long-poll server holding 1,000
 *   requests, released one by one by a trigger request.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConsulStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { measure, report, summarize } from '../harness.js';
import { parallel, watchFanOut } from '../kv-workload.js';

function httpPut(agent: Agent, port: number, path: string, body: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path, method: 'PUT', agent }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => {
        text += chunk;
      });
      res.on('end', () => resolve(text));
    });
    req.on('error', reject);
    req.end(body);
  });
}

async function startEchoServer() {
  const held = new Map<string, ServerResponse>();
  const server = createServer((req, res) => {
    const url = req.url ?? '';
    req.resume();
    req.on('end', () => {
      if (url.startsWith('/hold/')) {
        held.set(url.slice(6), res);
        return;
      }
      if (url.startsWith('/release/')) {
        const key = url.slice(9);
        held.get(key)?.end('[]');
        held.delete(key);
      }
      res.end('true');
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, port: (server.address() as AddressInfo).port };
}

export async function run(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-kv-bench-'));
  const kv = await startKvServer({
    dataDir,
    port: 0,
    maxBlockingPerClient: 2000, // every watcher comes from this one client (127.0.0.1)
  });
  const echo = await startEchoServer();
  const store = new ConsulStore({ address: `127.0.0.1:${kv.port}` });
  const agent = new Agent({ keepAlive: true, maxSockets: Number.POSITIVE_INFINITY });
  const runs = { runs: 300, warmup: 30 };
  try {
    let n = 0;
    const value = 'x'.repeat(200);
    const baseline1 = await measure(
      'node:http echo PUT, 1 connection',
      () => httpPut(agent, echo.port, '/v1/kv/k', value),
      runs,
    );
    const baseline16 = await measure(
      'node:http echo PUT, 16 connections',
      () => parallel(16, (i) => httpPut(agent, echo.port, `/v1/kv/k${i}`, value)),
      { ...runs, opsPerRun: 16 },
    );
    const put1 = await measure(
      'kv put, 1 connection',
      () => store.put(`bench/put/${n++ % 1000}`, `${value}${n}`),
      runs,
    );
    const put16 = await measure(
      'kv put, 16 connections',
      () => parallel(16, (i) => store.put(`bench/put/${i}`, `${value}${n++}`)),
      { ...runs, opsPerRun: 16 },
    );
    const cas1 = await measure(
      'kv cas (create-only), 1 connection',
      () => store.cas(`bench/cas/${n++}`, value, 0),
      runs,
    );
    const cas16 = await measure(
      'kv cas (create-only), 16 connections',
      () => parallel(16, () => store.cas(`bench/cas/${n++}`, value, 0)),
      { ...runs, opsPerRun: 16 },
    );
    report('kv writes, 1 connection (fsync per acknowledged write, group commit)', baseline1, [
      put1,
      cas1,
    ]);
    report('kv writes, 16 connections', baseline16, [put16, cas16]);

    // ---- watch fan-out ----------------------------------------------------------------------
    const watchers = 1000;
    const kvWake = await watchFanOut(store, 'kv watch fan-out', watchers, 120_000);

    const baseStarted: number[] = [];
    const baseWoke: number[] = [];
    const holds = Array.from(
      { length: watchers },
      (_, i) =>
        new Promise<void>((resolve, reject) => {
          const req = request(
            { host: '127.0.0.1', port: echo.port, path: `/hold/${i}`, agent },
            (res) => {
              res.resume();
              res.on('end', () => {
                baseWoke[i] = performance.now();
                resolve();
              });
            },
          );
          req.on('error', reject);
          req.end();
        }),
    );
    await sleep(1000);
    for (let i = 0; i < watchers; i++) {
      baseStarted[i] = performance.now();
      await httpPut(agent, echo.port, `/release/${i}`, '');
    }
    await Promise.all(holds);
    const baseWake = summarize(
      `node:http long-poll fan-out: ${watchers} held requests, trigger→answer`,
      baseWoke.map((t, i) => t - (baseStarted[i] as number)),
    );
    report('watch fan-out (target: kv p99 < 100 ms on 2 cores)', baseWake, [kvWake]);
  } finally {
    agent.destroy();
    await store.close();
    await kv.close();
    echo.server.closeAllConnections();
    echo.server.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
