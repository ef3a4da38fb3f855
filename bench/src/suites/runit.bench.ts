/**
 * @p2/runit benchmarks: how fast a new service runs, and how fast one stops.
 *
 * 1. Start latency, from "about to write the service directory" to "runsv reports the process
 *    running" (and to "the app itself was exec'd", i.e. the run → chpst → setpriv chain is done),
 *    for 50 services written one every 100 ms (so plain runsvdir pickup is sampled over its whole
 *    ~5 s scan cycle). Baseline: plain runsvdir pickup (what P2 relied on). Compared: warm slots
 *    (the default fast path) with a pool sized for the burst, a directly started runsv, and the
 *    default pool of 8 overrun by the burst (the overflow waits for runsvdir's scan).
 *    Target: p99 < 500 ms for the fast path.
 * 2. Stop latency: `down()` through the control FIFO vs spawning `sv -w 7 down` as P2 did.
 *
 * Everything lives under /tmp and is removed afterwards; services run as `nobody`.
 */
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { down, RunsvDir, type RunsvDir as RunsvDirType, readStatus } from '@p2/runit';
import { report, summarize } from '../harness.js';

const SERVICES = 50;
const SPACING_MS = 100;
async function waitRunning(dir: string, appExec: boolean): Promise<void> {
  for (;;) {
    const status = await readStatus(dir).catch(() => undefined);
    if (status?.state === 'run' && status.pid !== undefined) {
      if (!appExec) return;
      const cmdline = await readFile(`/proc/${status.pid}/cmdline`, 'utf8').catch(() => '');
      if (cmdline.startsWith('sleep\0')) return;
    }
    await sleep(2);
  }
}

interface StartResult {
  running: number[];
  exec: number[];
  dirs: string[];
}

async function startMany(
  runsvdir: RunsvDirType,
  label: string,
  entryPoint: string,
): Promise<StartResult> {
  const result: StartResult = { running: [], exec: [], dirs: [] };
  const pending: Promise<void>[] = [];
  for (let i = 0; i < SERVICES; i++) {
    const started = performance.now();
    pending.push(
      (async () => {
        const { dir } = await runsvdir.install({
          name: `p2t-bench-${label}-${i}`,
          entryPoint,
          user: 'nobody',
          log: { maxFileBytes: 65536 },
        });
        await waitRunning(dir, false);
        result.running.push(performance.now() - started);
        await waitRunning(dir, true);
        result.exec.push(performance.now() - started);
        result.dirs.push(dir);
      })(),
    );
    await sleep(SPACING_MS);
  }
  await Promise.all(pending);
  return result;
}

export async function run(): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'p2t-bench-runit-'));
  await chmod(base, 0o755);
  const entryPoint = join(base, 'app', 'bin', 'launch');
  await mkdir(join(base, 'app', 'bin'), { recursive: true });
  await writeFile(entryPoint, '#!/bin/sh\nexec sleep 100000\n', { mode: 0o755 });

  const plain = new RunsvDir({ root: join(base, 'plain'), slots: 0, whenNoSlot: 'wait' });
  const slots = new RunsvDir({ root: join(base, 'slots'), slots: SERVICES });
  const direct = new RunsvDir({ root: join(base, 'direct'), slots: 0, whenNoSlot: 'runsv' });
  const small = new RunsvDir({ root: join(base, 'small') });
  const all = [plain, slots, direct, small];
  try {
    for (const r of all) await r.start();
    await small.waitForSlots(undefined, 30_000);
    await slots.waitForSlots(SERVICES, 30_000);

    const baseline = await startMany(plain, 'plain', entryPoint);
    const fast = await startMany(slots, 'slot', entryPoint);
    const runsv = await startMany(direct, 'runsv', entryPoint);
    const overflow = await startMany(small, 'small', entryPoint);

    const baselineRunning = summarize('plain runsvdir pickup → running', baseline.running);
    report(
      `runit: service written → process running (${SERVICES} services, one every ${SPACING_MS} ms)`,
      baselineRunning,
      [
        summarize('warm slot (default fast path) → running', fast.running),
        summarize("warm slot → app exec'd (run chain done)", fast.exec),
        summarize('direct runsv → running', runsv.running),
        summarize('default pool (8 slots), burst of 50 → running', overflow.running),
        summarize("plain runsvdir pickup → app exec'd", baseline.exec),
      ],
    );

    // Stop latency: our control-FIFO down() vs spawning sv as P2 did, on running services.
    const half = Math.floor(fast.dirs.length / 2);
    const fifo: number[] = [];
    for (const dir of fast.dirs.slice(0, half)) {
      const t = performance.now();
      await down(dir, { timeoutMs: 7000 });
      fifo.push(performance.now() - t);
    }
    const sv: number[] = [];
    for (const dir of fast.dirs.slice(half)) {
      const t = performance.now();
      execFileSync('sv', ['-w', '7', 'down', dir], { stdio: 'ignore' });
      sv.push(performance.now() - t);
    }
    report('runit: stop one running service', summarize('sv -w 7 down (spawned, as P2)', sv), [
      summarize('down() via supervise/control', fifo),
    ]);
    const p99 = summarize('x', fast.running).p99Ms;
    console.log(
      `fast path p99 ${p99.toFixed(1)} ms — target < 500 ms: ${p99 < 500 ? 'met' : 'NOT met'}`,
    );
  } finally {
    for (const r of all)
      await r.stop({ stopServices: true, timeoutMs: 20_000 }).catch(() => undefined);
    await rm(base, { recursive: true, force: true });
  }
}
