/**
 * The preparer, end to end, as real processes (p2-kv-server, p2-preparer, runit, users, cgroups):
 *
 * - 20 pods scheduled at once (one store transaction per pod, written back to back), artifacts on a
 *   loopback HTTP server: time from intent written to the process running (runit reports a pid) and
 *   to the first passing health record, p50/p99; when each app first accepts connections and from
 *   then to its first passing record; the preparer's CPU per pod (its own and its reaped
 *   children's); artifact download time from the preparer's deploy records. Baseline, measured
 *   in the same run: starting the same app by hand (`node server.cjs`) until it answers — the
 *   app's own start-up, which no deployer can beat.
 * - The preparer idle with 100 running pods (a `sleep` app): its RSS (anonymous and file pages)
 *   and CPU over 10 s.
 * - Issue 20's goals beside this run's figures.
 * - Container pods (opencontainer, run by runc) beside hoist pods of the same app: intent →
 *   process running and → answering, p50/p99, the hoist pod as the baseline (../containers.ts).
 *
 * Needs root. Uses the e2e harness (`e2e/src/test-host.ts`) and removes everything it made.
 */
import { spawn } from 'node:child_process';
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { intentKey, nodePodsPrefix, Prefix } from '@p2/keyspace';
import { ManifestBuilder } from '@p2/manifest';
import { buildArtifact, helloAppDir } from '../../../e2e/src/artifacts.js';
import { freePort } from '../../../e2e/src/processes.js';
import { startTestHost, type TestHost } from '../../../e2e/src/test-host.js';
import { containersVsHoist } from '../containers.js';
import { report, type Sample, summarize } from '../harness.js';

const PODS = 20;

/** Issue 20's goals, printed beside this run's figures at the end. */
const goals: Array<{ figure: string; goal: string; measured: string; met: boolean }> = [];
function goal(
  figure: string,
  goalText: string,
  measured: number,
  limit: number,
  unit = 'ms',
): void {
  goals.push({
    figure,
    goal: `${goalText} ${limit} ${unit}`,
    measured: `${measured.toFixed(unit === 'ms' ? 0 : 1)} ${unit}`,
    met: measured < limit || (goalText === '<=' && measured === limit),
  });
}

const IDLE_PODS = 100;
const CONTAINER_PODS = 10;
/** Whether something accepts connections on a loopback port. */
function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect({ port, host: '127.0.0.1' });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

async function appStartBaseline(runs: number): Promise<Sample> {
  const times: number[] = [];
  const dir = join(helloAppDir);
  for (let i = 0; i < runs; i++) {
    const port = await freePort();
    const config = `/tmp/p2t-bench-hello-${port}.yaml`;
    await writeFile(config, `port: ${port}\ngreeting: baseline\n`);
    const start = performance.now();
    const child = spawn(process.execPath, [join(dir, 'server.cjs')], {
      env: { CONFIG_PATH: config },
      stdio: 'ignore',
    });
    for (;;) {
      const ok = await fetch(`http://127.0.0.1:${port}/_status`).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await sleep(5);
    }
    times.push(performance.now() - start);
    child.kill();
    await rm(config, { force: true });
  }
  return summarize('baseline: node server.cjs until it answers', times);
}

interface Burst {
  label: string;
  pods: Array<{ pod: string; port: number }>;
}

/**
 * Writes one manifest per pod, back to back, and times each pod to "process running" (a new pid in
 * runit's supervise/pid) and to a passing health record written after the intent.
 */
async function deployBurst(h: TestHost, burst: Burst, artifact: TestHost['v1']): Promise<void> {
  const pidFile = (pod: string) =>
    join(h.work, 'service', `${pod}__app__launch`, 'supervise', 'pid');
  const oldPid = new Map<string, string>();
  for (const { pod } of burst.pods)
    oldPid.set(pod, (await readFile(pidFile(pod), 'utf8').catch(() => '')).trim());
  const logBefore = (await h.preparer.log()).length;
  const { index: startIndex } = await h.store.get('p2t-bench-marker');
  const written = new Map<string, number>();
  for (const { pod, port } of burst.pods) {
    const m = h.manifest(pod, artifact, port, `bench ${burst.label} ${pod}`);
    written.set(pod, performance.now());
    void h.store.put(intentKey(h.node, pod), m.raw);
  }
  const running = new Map<string, number>();
  const answered = new Map<string, number>();
  const healthy = new Map<string, number>();
  const preparerPid = h.preparer.child.pid ?? 0;
  const cpuBefore = await procStat(preparerPid);
  const deadline = performance.now() + 120_000;
  while ((running.size < PODS || healthy.size < PODS) && performance.now() < deadline) {
    for (const { pod } of burst.pods) {
      if (running.has(pod)) continue;
      const pid = (await readFile(pidFile(pod), 'utf8').catch(() => '')).trim();
      if (pid !== '' && pid !== oldPid.get(pod)) running.set(pod, performance.now());
    }
    // The app's own first answer (of the new version: its process is the new one), seen as its
    // port accepting a connection: an HTTP request per pod every 10 ms would itself take a core
    // of this 2-core machine from the deploys it measures.
    await Promise.all(
      burst.pods
        .filter(({ pod }) => running.has(pod) && !answered.has(pod))
        .map(async ({ pod, port }) => {
          if (await accepts(port)) answered.set(pod, performance.now());
        }),
    );
    const { value: entries } = await h.store.list(Prefix.health);
    for (const entry of entries) {
      const record = JSON.parse(Buffer.from(entry.value).toString('utf8'));
      if (
        record.Status === 'passing' &&
        entry.modifyIndex > startIndex &&
        written.has(record.Id) &&
        !healthy.has(record.Id)
      )
        healthy.set(record.Id, performance.now());
    }
    await sleep(10);
  }
  const cpuAfter = await procStat(preparerPid);
  const cpuMsPerPod =
    ((cpuAfter.cpuTicks + cpuAfter.childTicks - cpuBefore.cpuTicks - cpuBefore.childTicks) * 10) /
    PODS;
  const since = (m: Map<string, number>) => [...m].map(([pod, t]) => t - (written.get(pod) ?? t));
  const answerToHealth = [...healthy]
    .filter(([pod]) => answered.has(pod))
    .map(([pod, t]) => Math.max(0, t - (answered.get(pod) ?? t)));
  const deployed = (await h.preparer.log())
    .slice(logBefore)
    .split('\n')
    .filter((line) => line.includes('"pod deployed"'))
    .map(
      (line) =>
        JSON.parse(line) as {
          timings?: Record<string, number>;
          launchTimings?: Record<string, number>;
          totalMs?: number;
        },
    );
  const step = (name: string) =>
    deployed.map((d) => d.timings?.[name]).filter((ms): ms is number => typeof ms === 'number');
  const launchPart = (name: string) =>
    deployed
      .map((d) => d.launchTimings?.[name])
      .filter((ms): ms is number => typeof ms === 'number');
  const baseline = await appStartBaseline(10);
  report(
    `${burst.label}: ${PODS} pods at once (${running.size} running, ${healthy.size} healthy)`,
    baseline,
    [
      summarize('intent written -> process running', since(running)),
      summarize('intent written -> app accepts connections', since(answered)),
      summarize('intent written -> first passing health', since(healthy)),
      summarize('app accepts -> first passing health', answerToHealth),
      summarize('install step (user, download, verify, extract)', step('install')),
      summarize('halt previous (bin/disable, stop)', step('halt_previous')),
      summarize('launch step (links, runit services, enable)', step('launch')),
      summarize('  launch: activate (links, cgroups, specs)', launchPart('activate')),
      summarize('  launch: runit (write + supervise + start)', launchPart('runit')),
      summarize('  launch: bin/enable', launchPart('enable')),
      summarize('  launch: commit marker + prune', launchPart('commit')),
      summarize('write reality', step('write_reality')),
      summarize(
        'whole deploy inside the preparer',
        deployed.map((d) => d.totalMs ?? 0),
      ),
    ],
  );
  // On 2 shared cores a burst is CPU-bound: this is what one deploy costs the preparer (its own
  // CPU and its reaped children's: useradd, tar, sv, …), whatever the machine's load.
  console.log(`preparer CPU per pod (self + children): ${cpuMsPerPod.toFixed(0)} ms`);
  const p99 = (m: number[]) => summarize('', m).p99Ms;
  const runningGoal = burst.label === 'new pods' ? 500 : 250;
  goal(
    `${burst.label}: intent -> running, p99 (baseline ${baseline.medianMs.toFixed(0)} ms)`,
    '<',
    p99(since(running)),
    runningGoal,
  );
  goal(`${burst.label}: app accepts -> passing, p99`, '<', p99(answerToHealth), 200);
}

async function deployBursts(h: TestHost): Promise<void> {
  const ports = await Promise.all(Array.from({ length: PODS }, () => freePort()));
  const pods = ports.map((port, i) => ({ pod: h.podId(`b${i}`), port }));
  // First deploy ever of these pods on this host (their users are created), then an update of
  // all of them to a new artifact version (the steady state of a fleet).
  await deployBurst(h, { label: 'new pods', pods }, h.v1);
  await deployBurst(h, { label: 'update to v2', pods }, h.v2);
  for (const { pod } of pods) await h.store.delete(intentKey(h.node, pod));
  const clearDeadline = performance.now() + 120_000;
  while (
    (await h.store.keys(nodePodsPrefix('reality', h.node))).value.length > 0 &&
    performance.now() < clearDeadline
  )
    await sleep(200);
}

function procStat(pid: number): Promise<{
  rssKb: number;
  anonKb: number;
  cpuTicks: number;
  childTicks: number;
}> {
  return Promise.all([
    readFile(`/proc/${pid}/status`, 'utf8'),
    readFile(`/proc/${pid}/stat`, 'utf8'),
  ]).then(([status, stat]) => {
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return {
      rssKb: Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0),
      anonKb: Number(status.match(/^RssAnon:\s+(\d+)/m)?.[1] ?? 0),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
      childTicks: Number(fields[13]) + Number(fields[14]),
    };
  });
}

async function idle(h: TestHost): Promise<void> {
  const src = join(h.work, 'sleep-app');
  await mkdir(join(src, 'bin'), { recursive: true });
  await writeFile(join(src, 'bin', 'launch'), '#!/bin/sh\nexec sleep 100000\n', { mode: 0o755 });
  const artifact = await buildArtifact(src, join(h.work, 'artifacts'), 'sleeper', h.id);
  const pods = Array.from({ length: IDLE_PODS }, (_, i) => h.podId(`i${i}`));
  for (const pod of pods) {
    const m = new ManifestBuilder()
      .setId(pod)
      .setLaunchable('app', {
        launchableType: 'hoist',
        location: `${h.artifacts.url}/${artifact.fileName}`,
      })
      .build();
    await h.store.put(intentKey(h.node, pod), m.raw);
  }
  const deadline = performance.now() + 300_000;
  while (
    (await h.store.keys(nodePodsPrefix('reality', h.node))).value.length < IDLE_PODS &&
    performance.now() < deadline
  )
    await sleep(500);
  await sleep(3000);
  const pid = h.preparer.child.pid ?? 0;
  const before = await procStat(pid);
  const started = performance.now();
  await sleep(10_000);
  const after = await procStat(pid);
  const seconds = (performance.now() - started) / 1000;
  const cpuPercent = ((after.cpuTicks - before.cpuTicks) / 100 / seconds) * 100;
  console.log(
    `\n## preparer idle with ${(await h.store.keys(nodePodsPrefix('reality', h.node))).value.length} running pods`,
  );
  console.table([
    {
      'RSS MiB': (after.rssKb / 1024).toFixed(1),
      // anonymous: the V8 heap, code and malloc; the rest is mapped files (node's own binary, shared)
      'anon MiB': (after.anonKb / 1024).toFixed(1),
      'files MiB': ((after.rssKb - after.anonKb) / 1024).toFixed(1),
      'CPU %': cpuPercent.toFixed(2),
      'sampled s': seconds.toFixed(1),
    },
  ]);
  goal(
    `idle RSS with ${IDLE_PODS} pods (64 MiB + 0.2 MiB a pod)`,
    '<=',
    after.rssKb / 1024,
    64 + 0.2 * IDLE_PODS,
    'MiB',
  );
  for (const pod of pods) await h.store.delete(intentKey(h.node, pod));
  const clearDeadline = performance.now() + 300_000;
  while (
    (await h.store.keys(nodePodsPrefix('reality', h.node))).value.length > 0 &&
    performance.now() < clearDeadline
  )
    await sleep(500);
}

export async function run(): Promise<void> {
  if (process.getuid?.() !== 0) {
    console.log('preparer benchmark skipped: needs root (users, cgroups, runit)');
    return;
  }
  const h = await startTestHost();
  try {
    await deployBursts(h);
    await containersVsHoist(h, CONTAINER_PODS);
    await idle(h);
    console.log("\n## issue 20's goals, this run");
    console.table(goals);
  } finally {
    await h.close();
  }
}
