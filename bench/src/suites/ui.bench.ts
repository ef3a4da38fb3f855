/**
 * The dashboard (`p2 ui`, `@p2/ui`) at fleet scale, in a real browser (Debian's chromium through
 * playwright-core) against a real kv-server; the dashboard runs as `p2 ui` in its own process.
 *
 * - Time to first full render of 1,000 nodes × 10 pods: from navigation to the frame that shows the
 *   table holding all 10,000 rows (the table is virtualised: every row is in its model and its
 *   `aria-rowcount`, the rows in view are in the DOM), p50/p99 over several loads; and, from the
 *   page's marks, when the snapshot arrived. Baseline, in the same run: fetching and parsing
 *   the same data as JSON (`/api/fleet`) in Node — the cost of the data alone.
 * - The dashboard's RSS while 20 pages watch a store taking 100 writes/s for 15 s, against its RSS
 *   with the same fleet and no page (the baseline), plus how many writes reached a page.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { intentKey, realityKey } from '@p2/keyspace';
import { createStore, type Store, type TxnOp } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { chromium } from 'playwright-core';
import { measure, report, summarize } from '../harness.js';

const NODES = 1_000;
const PODS = 10;
const LOADS = 9;
const PAGES = 20;
const WRITES_PER_SECOND = 100;
const LOAD_SECONDS = 15;
const CLI = fileURLToPath(new URL('../../../apps/client/src/cli.ts', import.meta.url));
const TSCONFIG = fileURLToPath(new URL('../../../tsconfig.json', import.meta.url));

const manifest = (pod: string, v: number) =>
  `id: ${pod}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/${pod}_${v}.tar.gz\n`;
const node = (i: number) => `node${String(i).padStart(4, '0')}`;

async function seed(store: Store): Promise<void> {
  let ops: TxnOp[] = [];
  for (let n = 0; n < NODES; n++) {
    for (let p = 0; p < PODS; p++) {
      const pod = `pod${p}`;
      ops.push({ verb: 'set', key: intentKey(node(n), pod), value: manifest(pod, 2) });
      ops.push({ verb: 'set', key: realityKey(node(n), pod), value: manifest(pod, n % 7 ? 2 : 1) });
      if (ops.length >= 64) {
        await store.txn(ops);
        ops = [];
      }
    }
  }
  if (ops.length > 0) await store.txn(ops);
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function rssMiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(status.match(/^VmRSS:\s+(\d+)/m)?.[1] ?? 0) / 1024;
}

/** `p2 ui` in its own process (from source, through tsx), once it answers. */
async function startDashboard(storeUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const port = await freePort();
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', CLI, 'ui', '--listen', `127.0.0.1:${port}`, '--store', storeUrl],
    {
      env: { ...process.env, TSX_TSCONFIG_PATH: TSCONFIG },
      stdio: ['ignore', 'ignore', 'inherit'],
    },
  );
  const url = `http://127.0.0.1:${port}/`;
  for (let i = 0; i < 600; i++) {
    const ok = await fetch(`${url}api/fleet`).then(
      (r) => r.ok,
      () => false,
    );
    if (ok) return { url, child };
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill();
  throw new Error('p2 ui did not serve the fleet within 60 s');
}

/** In the page (a function, not a string: the page's CSP forbids eval; this package has no DOM types). */
type PageGlobal = {
  document: {
    querySelector(selector: string): { getAttribute(name: string): string | null } | null;
    querySelectorAll(selector: string): { length: number };
  };
};
type PagePerformance = {
  performance: { getEntriesByName(name: string): Array<{ startTime: number }> };
};
/** The page marks `p2-painted` after the frame that shows the first full table (static/app.js). */
const painted = () =>
  (globalThis as unknown as PagePerformance).performance.getEntriesByName('p2-painted').length > 0;
/** The page's marks: the snapshot arrived, the table was painted (ms since navigation). */
const marks = () =>
  ['p2-snapshot', 'p2-painted'].map(
    (name) =>
      (globalThis as unknown as PagePerformance).performance.getEntriesByName(name)[0]?.startTime ??
      Number.NaN,
  );
/** The table holds every row (its `aria-rowcount` counts the header row too) and shows some. */
const full = (rows: number) => {
  const { document } = globalThis as unknown as PageGlobal;
  return (
    document.querySelector('#fleet')?.getAttribute('aria-rowcount') === String(rows + 1) &&
    document.querySelectorAll('#fleet tbody tr').length > 0
  );
};

export async function run(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-bench-ui-'));
  const kv = await startKvServer({ dataDir, port: 0, nodeName: 'p2t-bench-ui' });
  const store = createStore(`consul://127.0.0.1:${kv.port}`);
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox'],
  });
  let dashboard: { url: string; child: ChildProcess } | undefined;
  try {
    await seed(store);
    dashboard = await startDashboard(kv.url);
    const { url, child } = dashboard;

    const fetchJson = await measure(
      'fetch + parse /api/fleet in Node',
      async () => {
        const body = await (await fetch(`${url}api/fleet`)).json();
        if ((body as { pods: unknown[] }).pods.length !== NODES * PODS)
          throw new Error('short fleet');
      },
      { runs: LOADS, warmup: 1 },
    );
    const renders: number[] = [];
    const inPage: number[] = [];
    const arrived: number[] = [];
    for (let i = 0; i <= LOADS; i++) {
      // A fresh page per load: the time is a first render, not the old page's teardown.
      const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
      const start = performance.now();
      await page.goto(url, { waitUntil: 'commit' });
      await page.waitForFunction(painted, undefined, { polling: 'raf', timeout: 60_000 });
      const wall = performance.now() - start;
      const [snapshotAt = Number.NaN, paintedAt = Number.NaN] = await page.evaluate(marks);
      if (!(await page.evaluate(full, NODES * PODS))) throw new Error('the table is not full');
      // The first load warms caches.
      if (i > 0) {
        renders.push(wall);
        arrived.push(snapshotAt);
        inPage.push(paintedAt);
      }
      await page.close();
    }
    report(
      `first full render of ${NODES.toLocaleString('en-US')} nodes × ${PODS} pods (${(NODES * PODS).toLocaleString('en-US')} rows) in chromium`,
      fetchJson,
      [
        summarize('navigation → snapshot received (page clock)', arrived),
        summarize('navigation → every row painted (page clock)', inPage),
        summarize('goto → every row painted (with the browser round trips)', renders),
      ],
    );

    const idle = await rssMiB(child.pid ?? 0);
    const pages = await Promise.all(Array.from({ length: PAGES }, () => browser.newPage()));
    await Promise.all(
      pages.map(async (p) => {
        await p.goto(url);
        await p.waitForFunction(full, NODES * PODS, { timeout: 120_000 });
      }),
    );
    let written = 0;
    let peak = 0;
    const samples: number[] = [];
    const writer = setInterval(() => {
      const n = written++;
      // Flip one pod's reality between versions: each write changes one row's verdict.
      void store.put(
        realityKey(node(n % NODES), `pod${n % PODS}`),
        manifest(`pod${n % PODS}`, n % 2 ? 1 : 2),
      );
    }, 1000 / WRITES_PER_SECOND);
    const until = Date.now() + LOAD_SECONDS * 1000;
    while (Date.now() < until) {
      await new Promise((r) => setTimeout(r, 500));
      const rss = await rssMiB(child.pid ?? 0);
      samples.push(rss);
      peak = Math.max(peak, rss);
    }
    clearInterval(writer);
    const sorted = [...samples].sort((a, b) => a - b);
    const median = sorted[Math.floor(sorted.length / 2)] ?? 0;
    console.log(
      `\n## p2 ui RSS: ${PAGES} pages watching, ${WRITES_PER_SECOND} writes/s for ${LOAD_SECONDS} s`,
    );
    console.table([
      {
        name: 'idle, fleet loaded, no page (baseline)',
        'RSS MiB': idle.toFixed(1),
        'x baseline': '1.00',
      },
      {
        name: `${PAGES} pages, ${written} writes: median`,
        'RSS MiB': median.toFixed(1),
        'x baseline': (median / idle).toFixed(2),
      },
      {
        name: `${PAGES} pages, ${written} writes: peak`,
        'RSS MiB': peak.toFixed(1),
        'x baseline': (peak / idle).toFixed(2),
      },
    ]);
    await Promise.all(pages.map((p) => p.close()));
  } finally {
    dashboard?.child.kill('SIGTERM');
    await browser.close();
    await store.close();
    await kv.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}
