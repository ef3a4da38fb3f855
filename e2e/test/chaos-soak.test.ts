/**
 * A bounded chaos soak on a real host (issue 22): for CHAOS_SECONDS (default 60) a seeded random
 * schedule deploys, updates and unschedules four pods while SIGKILLing the preparer, SIGKILLing the
 * store and crashing apps; a checker samples the host every 400 ms throughout. Invariants:
 * - no version half-installed: every install directory (not a hidden staging one) holds
 *   `bin/launch`, and `current` always resolves to such a directory;
 * - reality never claims what does not run: a reality entry names the manifest installed on disk
 *   (a deploy's own window of up to 5 s between launching and recording is allowed);
 * - no acknowledged store write lost: each pod's intent at the end is the last acknowledged write
 *   (a write whose answer was lost to a store kill may have landed or not);
 * - every pod converges after the chaos stops: intent = reality = what answers, unscheduled pods
 *   gone.
 * It prints the seed, the counts of each fault injected and every invariant it caught. Needs root.
 */
import { execFile } from 'node:child_process';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { intentKey, realityKey } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, waitFor } from '../src/processes.js';
import { startTestHost, type TestHost } from '../src/test-host.js';

const run = promisify(execFile);
const SECONDS = Number(process.env.CHAOS_SECONDS ?? 60);
const SEED = Number(process.env.CHAOS_SEED ?? Date.now() % 1_000_000);
const GRACE_MS = 5_000;

let h: TestHost;
let failed = false;
const pods: { id: string; port: number }[] = [];

/** mulberry32: a small seeded PRNG, so a failing schedule can be replayed with CHAOS_SEED. */
function prng(seed: number) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Written = { op: 'put'; sha: string; greeting: string } | { op: 'delete' };
interface PodBook {
  /** The last write the store acknowledged. */
  acked?: Written;
  /** Writes sent after it whose answer was lost (store killed): they may or may not have landed. */
  uncertain: Written[];
}

beforeAll(async () => {
  h = await startTestHost();
  for (const letter of ['c0', 'c1', 'c2', 'c3'])
    pods.push({ id: h.podId(letter), port: await freePort() });
});

afterAll(async () => {
  await h?.close(failed);
});

/** Problems with the installs of one pod home, or [] (missing homes are fine). */
async function installProblems(pod: string): Promise<string[]> {
  const home = join(h.work, 'pods', pod);
  const out: string[] = [];
  const launchable = join(home, 'app');
  const installs = await readdir(join(launchable, 'installs')).catch(() => [] as string[]);
  for (const dir of installs) {
    if (dir.startsWith('.')) continue; // staging: not visible as a version
    const ok = await stat(join(launchable, 'installs', dir, 'bin', 'launch')).catch(() => null);
    if (!ok) out.push(`${pod}: installs/${dir} has no bin/launch (half-installed)`);
  }
  const current = await realpath(join(launchable, 'current')).catch(() => undefined);
  if (current !== undefined && !(await stat(join(current, 'bin', 'launch')).catch(() => null)))
    out.push(`${pod}: current → ${current}, which has no bin/launch`);
  return out;
}

async function installedSha(pod: string): Promise<string | undefined> {
  const text = await readFile(join(h.work, 'pods', pod, 'current_manifest.yaml')).catch(
    () => undefined,
  );
  return text ? parseManifest(text).sha() : undefined;
}

describe('chaos soak', () => {
  it(
    `${SECONDS} s of random deploys, unschedules, preparer and store kills and app crashes keep every invariant`,
    async () => {
      const random = prng(SEED);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      const books = new Map(pods.map((p) => [p.id, { uncertain: [] } as PodBook]));
      const counts = {
        deploys: 0,
        unschedules: 0,
        preparerKills: 0,
        storeKills: 0,
        appCrashes: 0,
        lostAnswers: 0,
      };
      const violations: string[] = [];
      const mismatchSince = new Map<string, number>();
      let serial = 0;
      let storeDown = false;
      let chaos = true;

      const write = async (pod: string, w: Written, value?: string) => {
        const book = books.get(pod)!;
        try {
          if (w.op === 'put') await h.store.put(intentKey(h.node, pod), value!);
          else await h.store.delete(intentKey(h.node, pod));
          book.acked = w;
          book.uncertain = [];
        } catch {
          counts.lostAnswers++;
          book.uncertain.push(w);
        }
      };

      const checker = (async () => {
        while (chaos) {
          for (const { id } of pods) {
            for (const p of await installProblems(id)) violations.push(p);
            if (storeDown) continue;
            const reality = await h.store
              .get(realityKey(h.node, id))
              .then((r) => r.value)
              .catch(() => null);
            if (reality === null) continue; // store unreachable right now
            const claimed = reality ? parseManifest(reality.value).sha() : undefined;
            const installed = await installedSha(id);
            if (claimed !== undefined && claimed !== installed) {
              const since = mismatchSince.get(id) ?? Date.now();
              mismatchSince.set(id, since);
              if (Date.now() - since > GRACE_MS)
                violations.push(
                  `${id}: reality claims ${claimed.slice(0, 12)} but ${installed?.slice(0, 12) ?? 'nothing'} is installed for ${Date.now() - since} ms`,
                );
            } else mismatchSince.delete(id);
          }
          await new Promise((r) => setTimeout(r, 400));
        }
      })();

      const end = Date.now() + SECONDS * 1000;
      while (Date.now() < end) {
        const action = random();
        const pod = pick(pods);
        if (action < 0.45) {
          serial++;
          const greeting = `chaos ${serial}`;
          const m = h.manifest(pod.id, random() < 0.5 ? h.v1 : h.v2, pod.port, greeting);
          await write(pod.id, { op: 'put', sha: m.sha(), greeting }, m.text());
          counts.deploys++;
        } else if (action < 0.6) {
          await write(pod.id, { op: 'delete' });
          counts.unschedules++;
        } else if (action < 0.72) {
          await h.preparer.kill9();
          counts.preparerKills++;
          await new Promise((r) => setTimeout(r, 200 + random() * 1500));
          await h.startPreparer();
        } else if (action < 0.82) {
          // Writes in flight while the store dies: an acknowledged one must survive the kill.
          const inFlight = pods.slice(0, 1 + Math.floor(random() * 3)).map((p) => {
            serial++;
            const m = h.manifest(p.id, h.v1, p.port, `chaos ${serial}`);
            counts.deploys++;
            return write(p.id, { op: 'put', sha: m.sha(), greeting: `chaos ${serial}` }, m.text());
          });
          await new Promise((r) => setTimeout(r, random() * 20));
          storeDown = true;
          await h.kv.kill9();
          counts.storeKills++;
          await new Promise((r) => setTimeout(r, 200 + random() * 1500));
          await h.restartKvServer();
          storeDown = false;
          await Promise.all(inFlight);
        } else {
          // The pod's user runs only the pod: kill all of it; runit starts it again.
          const killed = await run('pkill', ['-9', '-u', pod.id]).then(
            () => true,
            () => false,
          );
          if (killed) counts.appCrashes++;
        }
        await new Promise((r) => setTimeout(r, 300 + random() * 1200));
      }
      chaos = false;
      await checker;

      // After the chaos: nothing acknowledged was lost.
      for (const { id } of pods) {
        const book = books.get(id)!;
        const entry = (await h.store.get(intentKey(h.node, id))).value;
        const now: Written | undefined = entry
          ? { op: 'put', sha: parseManifest(entry.value).sha(), greeting: '' }
          : { op: 'delete' };
        const allowed = [book.acked ?? { op: 'delete' as const }, ...book.uncertain];
        const matches = allowed.some((w) =>
          w.op === 'delete' ? now.op === 'delete' : now.op === 'put' && now.sha === w.sha,
        );
        if (!matches)
          violations.push(
            `${id}: the store lost an acknowledged write (last acked: ${book.acked?.op})`,
          );
      }

      // Every pod converges to what the store now says.
      for (const { id, port } of pods) {
        const entry = (await h.store.get(intentKey(h.node, id))).value;
        const want = entry ? parseManifest(entry.value) : undefined;
        const greeting = want
          ? String((want.config as { greeting?: unknown }).greeting)
          : undefined;
        await waitFor(
          `${id} to converge (${want ? `serving "${greeting}"` : 'removed'})`,
          async () => {
            const reality = (await h.store.get(realityKey(h.node, id))).value;
            if (!want) return !reality && (await h.answer(port)) === undefined;
            const state = await h.podState(id);
            return (
              reality !== undefined &&
              parseManifest(reality.value).sha() === want.sha() &&
              state?.state === 'running' &&
              (await h.answer(port)) === `${greeting}\n`
            );
          },
          90_000,
          250,
        );
        for (const p of await installProblems(id)) violations.push(`after: ${p}`);
        const staging = await readdir(join(h.work, 'pods', id, 'app', 'installs')).catch(
          () => [] as string[],
        );
        const leftovers = staging.filter((d) => d.startsWith('.staging-'));
        if (leftovers.length > 0) violations.push(`after: ${id} keeps ${leftovers.join(', ')}`);
      }

      console.log(
        `chaos soak: seed ${SEED}, ${SECONDS} s — ${counts.deploys} deploys/updates, ${counts.unschedules} unschedules, ${counts.preparerKills} preparer SIGKILLs, ${counts.storeKills} store SIGKILLs, ${counts.appCrashes} app crashes, ${counts.lostAnswers} writes whose answer was lost; invariant violations: ${violations.length}`,
      );
      if (violations.length > 0) failed = true;
      expect(violations).toEqual([]);
    },
    (SECONDS + 240) * 1000,
  );
});
