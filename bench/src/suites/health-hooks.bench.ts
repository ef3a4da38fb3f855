/**
 * Proposed bench suite (bench/src/suites/health-hooks.bench.ts): the cost of one health check and
 * of one hook run, against the bare Node operation each wraps, measured in the same run.
 */
import { spawn } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { checkPodHealth } from '@p2/health';
import { runHooks } from '@p2/hooks';
import { parseManifest } from '@p2/manifest';
import { measure, report } from '../harness.js';

export async function run(): Promise<void> {
  const server = http.createServer((_q, res) => res.end('ok'));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const rawGet = () =>
    new Promise<void>((resolve, reject) => {
      http
        .get({ host: '127.0.0.1', port, path: '/_status', agent: false }, (res) => {
          res.resume();
          res.on('end', resolve);
        })
        .on('error', reject);
    });
  const target = {
    podId: 'b',
    host: '127.0.0.1',
    status: { port, path: '/_status', scheme: 'http' as const, localhostOnly: false },
  };
  const base = await measure('http.get + drain (no keep-alive)', rawGet, { runs: 300 });
  const check = await measure(
    'checkPodHealth (http)',
    async () => {
      const r = await checkPodHealth(target);
      if (r.status !== 'passing') throw new Error(r.reason);
    },
    { runs: 300 },
  );
  report('health: one check of a local pod', base, [check]);
  server.closeAllConnections();
  server.close();

  const dir = mkdtempSync(join(tmpdir(), 'p2t-bench-hooks-'));
  mkdirSync(join(dir, 'hooks'));
  writeFileSync(join(dir, 'hooks', 'ok'), '#!/bin/sh\nexit 0\n');
  chmodSync(join(dir, 'hooks', 'ok'), 0o755);
  const manifest = parseManifest('id: bench\n');
  const rawSpawn = () =>
    new Promise<void>((resolve) =>
      spawn(join(dir, 'hooks', 'ok'), [], { stdio: 'ignore' }).on('exit', () => resolve()),
    );
  const spawnBase = await measure('spawn(hook) and wait for exit', rawSpawn, {
    runs: 100,
    warmup: 10,
  });
  const hooks = await measure(
    'runHooks (1 hook: discover, manifest copy, env, spawn, capture, audit)',
    async () => {
      const s = await runHooks({
        event: 'after_install',
        hooksDirectory: join(dir, 'hooks'),
        node: 'n',
        pod: { manifest, home: dir },
      });
      if (!s.records[0]?.success) throw new Error('hook failed');
    },
    { runs: 100, warmup: 10 },
  );
  report('hooks: one hook run', spawnBase, [hooks]);
  rmSync(dir, { recursive: true, force: true });
}
