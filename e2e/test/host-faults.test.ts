/**
 * The host under real faults (issue 22), one preparer process with its pod root on a small tmpfs:
 * - an artifact server that stalls mid-body: each attempt ends after `artifact_idle_timeout`, hoist
 *   retries, the deploy fails with a clear code, the preparer retries it, and once the server
 *   behaves the deploy completes;
 * - the disk fills during extraction: nothing half-installed remains, the status names the full
 *   disk, and a deploy that fits converges after;
 * - the store flaps (the real p2-kv-server frozen by SIGSTOP, or SIGKILLed and restarted, for 3 s
 *   of every 5) for P2T_FLAP_SECONDS (default 30): no write it acknowledged is lost,
 *   no app restarts, and an intent written after converges;
 * - the clock jumping: the preparer is restarted under libfaketime (its wall clock only — the
 *   machine's is shared) and its clock jumps an hour forward, then an hour back: no app restarts,
 *   and an intent written after converges.
 * Throughout, the running version keeps answering: a poller asks it every 100 ms.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { cp, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { type BuiltArtifact, buildArtifact, helloAppDir } from '../src/artifacts.js';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

const run = promisify(execFile);
const FLAP_SECONDS = Number(process.env.P2T_FLAP_SECONDS ?? 30);
/** libfaketime (Debian package `faketime`; scripts/setup.sh installs it), multi-threaded variant. */
const LIBFAKETIME = '/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1';
/** hoist's attempts per download (its default `retries` of 5, plus the first). */
const HOIST_ATTEMPTS = 6;

let h: TestHost | undefined;
let podRoot: string | undefined;
let mounted = false;
let stall: StallServer | undefined;
let failed = false;
let big: BuiltArtifact;

/** Serves files fully, or — while `stalling` — headers and half the body, then silence. */
interface StallServer {
  url: string;
  requests: number;
  stalling: boolean;
  close(): Promise<void>;
}

async function startStallServer(dir: string): Promise<StallServer> {
  const open = new Set<ServerResponse>();
  const state = { requests: 0, stalling: true };
  const server: Server = createServer(async (req, res) => {
    state.requests++;
    const body = await readFile(join(dir, (req.url ?? '/').slice(1))).catch(() => undefined);
    if (!body) {
      res.writeHead(404).end();
      return;
    }
    res.writeHead(200, { 'content-length': body.length, 'content-type': 'application/gzip' });
    if (!state.stalling) {
      res.end(body);
      return;
    }
    res.write(body.subarray(0, Math.floor(body.length / 2))); // … and nothing more
    open.add(res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return Object.assign(state, {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  });
}

/** Asks the app every 100 ms until stopped; returns how many polls did not get `expected`. */
function watchServing(host: TestHost, port: number, expected: string) {
  let polls = 0;
  const misses: string[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      const answer = await host.answer(port);
      polls++;
      if (answer !== expected) misses.push(`${new Date().toISOString()} ${String(answer)}`);
      await sleep(100);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return { polls, misses };
    },
  };
}

beforeAll(async () => {
  // A 16 MiB tmpfs of our own for the pod root: v1 and v2 fit, the big artifact's files do not.
  podRoot = await mkdtemp(join(tmpdir(), 'p2t-hostfaults-root-'));
  await run('mount', ['-t', 'tmpfs', '-o', 'size=16m,mode=755', 'p2t-hostfaults', podRoot]);
  mounted = true;
  h = await startTestHost({ podRoot, extraConfig: ['  artifact_idle_timeout: 1s'] });
  // Compresses to a few KiB (the download fits), extracts to 40 MiB (the extraction does not).
  const src = join(h.work, 'src-big');
  await cp(helloAppDir, src, { recursive: true });
  await mkdir(join(src, 'data'));
  await writeFile(join(src, 'data', 'zeros'), Buffer.alloc(40 * 2 ** 20));
  big = await buildArtifact(src, join(h.work, 'artifacts'), 'hello', `big-${h.id}`);
  stall = await startStallServer(join(h.work, 'artifacts'));
}, 60_000);
afterEach((context) => {
  if (context.task.result?.state === 'fail') failed = true;
});
afterAll(async () => {
  await stall?.close().catch(() => undefined);
  h?.kv.child.kill('SIGCONT');
  await h?.close(failed);
  if (mounted && podRoot) await run('umount', ['-l', podRoot]).catch(() => undefined);
  if (podRoot) await rm(podRoot, { recursive: true, force: true });
}, 120_000);

describe('the host under faults', () => {
  let pod: string;
  let port: number;
  let appRoot: string;

  it('deploys v1 onto the tmpfs pod root', async () => {
    if (!h || !podRoot) throw new Error('no host');
    pod = h.podId('f');
    port = await freePort();
    appRoot = join(podRoot, pod, 'app');
    await h.store.put(`intent/${h.node}/${pod}`, h.manifest(pod, h.v1, port, 'v1').raw);
    await waitFor('v1 to answer', async () => (await h?.answer(port)) === 'v1\n', 60_000);
  });

  it('an artifact server stalling mid-body: bounded attempts, retried, v1 serves, then it deploys', async () => {
    if (!h || !stall) throw new Error('no host');
    const watch = watchServing(h, port, 'v1\n');
    await h.store.put(
      `intent/${h.node}/${pod}`,
      h.manifest(pod, `${stall.url}/${h.v2.fileName}`, port, 'after stall').raw,
    );
    // Every hoist attempt ends at the idle timeout (1 s, not the 60 s default), then the deploy
    // fails with a coded status and the preparer tries again (a further request).
    const failedState = await waitFor(
      'the stalled deploy to fail and be retried by the preparer',
      async () => {
        const state = await h?.podState(pod);
        return stall && stall.requests > HOIST_ATTEMPTS && state?.state === 'failed'
          ? state
          : undefined;
      },
      60_000,
    );
    expect(failedState.code).toBe('P2_PODS_INSTALL_FAILED');
    expect(failedState.error).toMatch(/cannot download .*Timeout awaiting 'socket' for 1000ms/);
    const { polls, misses } = await watch.stop();
    expect(misses).toEqual([]);
    expect(polls).toBeGreaterThan(20);

    stall.stalling = false;
    await waitFor(
      'the deploy to complete',
      async () => (await h?.answer(port)) === 'after stall\n',
      60_000,
    );
    const installs = await readdir(join(appRoot, 'installs'));
    expect(installs.filter((e) => e.startsWith('.'))).toEqual([]);
  }, 120_000);

  it('the disk fills during extraction: nothing half-installed, a clear status, the app serves, then converges', async () => {
    if (!h || !podRoot) throw new Error('no host');
    const watch = watchServing(h, port, 'after stall\n');
    const bigManifest = h.manifest(pod, big, port, 'big');
    await h.store.put(`intent/${h.node}/${pod}`, bigManifest.raw);
    const state = await waitFor(
      'the deploy to fail on the full disk',
      async () => {
        const s = await h?.podState(pod);
        return s?.state === 'failed' && s.sha === bigManifest.sha() ? s : undefined;
      },
      60_000,
    );
    expect(state.code).toMatch(/^P2_/);
    expect(state.error).toMatch(/ENOSPC|no space left|disk is full/i);
    // Nothing of the big version is left: no install, no staging, no download.
    const installs = await readdir(join(appRoot, 'installs'));
    expect(installs.filter((e) => e.includes(big.version) || e.startsWith('.'))).toEqual([]);
    const { misses } = await watch.stop();
    expect(misses).toEqual([]);

    // A version that fits converges, and the space is free again.
    await h.store.put(`intent/${h.node}/${pod}`, h.manifest(pod, h.v1, port, 'fits').raw);
    await waitFor(
      'the small version to answer',
      async () => (await h?.answer(port)) === 'fits\n',
      60_000,
    );
    const { stdout } = await run('df', ['--output=used', '-B1', podRoot]);
    expect(Number(stdout.split('\n')[1])).toBeLessThan(8 * 2 ** 20);
  }, 120_000);

  it(`a store flapping for ${FLAP_SECONDS} s restarts no app; an intent written after converges`, async () => {
    if (!h) throw new Error('no host');
    const pidOf = async () => JSON.parse((await h?.answer(port, '/_status')) ?? '{}').pid;
    const pid = await pidOf();
    expect(pid).toBeGreaterThan(0);
    const watch = watchServing(h, port, 'fits\n');
    const until = performance.now() + FLAP_SECONDS * 1000;
    let flaps = 0;
    const acknowledged: string[] = [];
    try {
      while (performance.now() < until) {
        // Every 5 s: 3 s of a frozen store (SIGSTOP: requests hang), or of a dead one (SIGKILL, then
        // the same binary on the same data: connections refused, then back).
        if (flaps % 2 === 0) {
          h.kv.child.kill('SIGSTOP');
          await sleep(3000);
          h.kv.child.kill('SIGCONT');
        } else {
          await h.kv.kill9();
          await sleep(3000);
          await h.restartKvServer();
        }
        flaps++;
        const key = `p2t-ack/${h.id}/${flaps}`;
        await h.store.put(key, 'acknowledged');
        acknowledged.push(key);
        await sleep(2000);
      }
    } finally {
      h.kv.child.kill('SIGCONT');
    }
    const { misses } = await watch.stop();
    expect(misses).toEqual([]);
    expect(flaps).toBeGreaterThanOrEqual(Math.max(2, Math.floor(FLAP_SECONDS / 5)));
    // Nothing the store acknowledged was lost to a kill.
    for (const key of acknowledged) expect((await h.store.get(key)).value).toBeDefined();
    expect(await pidOf()).toBe(pid);
    expect(h.preparer.child.exitCode).toBeNull();

    const manifest = h.manifest(pod, h.v2, port, 'after flapping');
    await h.store.put(`intent/${h.node}/${pod}`, manifest.raw);
    await waitFor(
      'the new intent to converge',
      async () => (await h?.answer(port)) === 'after flapping\n',
      60_000,
    );
    await waitFor('reality to match intent', async () => {
      const { value } = await (h as TestHost).store.get(`reality/${h?.node}/${pod}`);
      return value && Buffer.compare(Buffer.from(value.value), Buffer.from(manifest.raw)) === 0;
    });
  }, 180_000);
  it('the clock jumping an hour forward and back restarts no app; an intent written after converges', async () => {
    if (!h) throw new Error('no host');
    if (!existsSync(LIBFAKETIME))
      throw new Error(
        `${LIBFAKETIME} is missing: apt-get install faketime (scripts/setup.sh does)`,
      );
    const clockFile = join(h.work, 'faketime');
    await writeFile(clockFile, '+0\n');
    await h.preparer.stop();
    await h.startPreparer('preparer-faketime', {
      LD_PRELOAD: LIBFAKETIME,
      FAKETIME_TIMESTAMP_FILE: clockFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1', // a clock step moves the wall clock only, as on a real host
    });
    const pidOf = async () => JSON.parse((await h?.answer(port, '/_status')) ?? '{}').pid;
    const pid = await pidOf();
    const watch = watchServing(h, port, 'after flapping\n');
    for (const offset of ['+1h', '-1h', '+0']) {
      await writeFile(clockFile, `${offset}\n`);
      await sleep(4000);
    }
    const { misses } = await watch.stop();
    expect(misses).toEqual([]);
    expect(await pidOf()).toBe(pid);
    expect(h.preparer.child.exitCode).toBeNull();
    await writeFile(clockFile, '-1h\n'); // and converges while an hour behind
    const manifest = h.manifest(pod, h.v1, port, 'after the clock');
    await h.store.put(`intent/${h.node}/${pod}`, manifest.raw);
    await waitFor(
      'the new intent to converge',
      async () => (await h?.answer(port)) === 'after the clock\n',
      60_000,
    );
    await waitFor('reality to match intent', async () => {
      const { value } = await (h as TestHost).store.get(`reality/${h?.node}/${pod}`);
      return value && Buffer.compare(Buffer.from(value.value), Buffer.from(manifest.raw)) === 0;
    });
    // The preparer did live the jump: its log's timestamps go back an hour (it logs the deploy).
    const times = (await h.preparer.log())
      .split('\n')
      .flatMap((line) => (line.startsWith('{') ? [JSON.parse(line).time as number] : []));
    expect(times.some((t, i) => i > 0 && (times[i - 1] ?? t) - t > 3_000_000)).toBe(true);
  }, 120_000);
});
