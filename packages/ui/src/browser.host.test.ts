/**
 * The dashboard in a real browser (Debian's chromium, driven by playwright-core) against a real
 * kv-server: verdicts, live updates without reload, filters, the pod view, keyboard navigation,
 * untrusted text, malformed records, and outages of the store and of the dashboard server.
 * Screenshots go to `.reports/screenshots/`.
 */
import { mkdirSync } from 'node:fs';
import { intentKey, PodEventStore } from '@p2/keyspace';
import type { TxnOp } from '@p2/kv';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startUiServer, type UiServer } from './index.js';
import {
  manifestText,
  type RestartableStore,
  seedFleet,
  startRestartableStore,
  TEST_TOKEN,
} from './test-support.js';

const SHOTS = new URL('../.reports/screenshots/', import.meta.url).pathname;
/** In-page expressions are strings: this package's types have no DOM. */
const FOCUSED_ROW = 'document.activeElement?.dataset.key';
const XSS = '<img src=x onerror="window.__xss=1">';

let fleet: RestartableStore;
let ui: UiServer;
let port: number;
let browser: Browser;
let page: Page;

beforeAll(async () => {
  mkdirSync(SHOTS, { recursive: true });
  fleet = await startRestartableStore();
  await seedFleet(fleet.store);
  ui = await startUiServer({ store: fleet.store, listen: { host: '127.0.0.1', port: 0 } });
  port = Number(new URL(ui.url).port);
  browser = await chromium.launch({ executablePath: '/usr/bin/chromium', args: ['--no-sandbox'] });
  page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(ui.url);
});

afterAll(async () => {
  await browser?.close();
  await ui?.close();
  await fleet?.cleanup();
});

const shot = (name: string) => page.screenshot({ path: `${SHOTS}${name}.png`, fullPage: true });
const row = (key: string) => page.locator(`#fleet tbody tr[data-key="${key}"]`);
const visibleKeys = () =>
  page.$$eval('#fleet tbody tr:not([hidden])', (rows) =>
    rows.map((r) => r.getAttribute('data-key')),
  );

describe('the fleet view', () => {
  it('lists every pod with the verdict p2 inspect gives', async () => {
    await expect.poll(visibleKeys).toEqual(['h1/hello', 'h2/web', 'h3/api']);
    expect(await row('h1/hello').locator('td').last().textContent()).toBe('converged');
    expect(await row('h2/web').locator('td').last().textContent()).toBe('pending');
    expect(await row('h3/api').locator('td').last().textContent()).toBe('failed');
    expect(await row('h3/api').locator('td').nth(6).textContent()).toBe('failed (P2_HOIST_FETCH)');
    expect(await page.locator('#banner').isHidden()).toBe(true);
    await shot('fleet');
  });

  it('shows a change written to the store without a reload', async () => {
    await page.evaluate('window.__noReload = true');
    await fleet.store.put('reality/h2/web', manifestText('web', '2'));
    await expect.poll(() => row('h2/web').locator('td').last().textContent()).toBe('converged');
    await fleet.store.put('intent/h4/new', manifestText('new', '1'));
    await expect.poll(visibleKeys).toContain('h4/new');
    expect(await page.evaluate('window.__noReload')).toBe(true);
    await shot('live-update');
  });

  it('narrows the list by node, pod and label selector, and says when a selector is wrong', async () => {
    await page.fill('#filter-pod', 'web');
    await expect.poll(visibleKeys).toEqual(['h2/web']);
    await page.fill('#filter-pod', '');
    await page.fill('#filter-node', 'h1');
    await expect.poll(visibleKeys).toEqual(['h1/hello']);
    await page.fill('#filter-node', '');
    await page.fill('#filter-selector', 'app in (hello,api)');
    await expect.poll(visibleKeys).toEqual(['h1/hello', 'h3/api']);
    // The node's labels count too (h2 is in zone b).
    await page.fill('#filter-selector', 'zone=b');
    await expect.poll(visibleKeys).toEqual(['h2/web']);
    await shot('filter');
    await page.fill('#filter-selector', 'app in (');
    await expect
      .poll(() => page.textContent('#filter-error'))
      .toContain('cannot parse label selector');
    await page.fill('#filter-selector', '');
    await expect.poll(visibleKeys).toHaveLength(4);
    expect(await page.textContent('#filter-error')).toBe('');
  });

  it('is driven from the keyboard: / filters, j/k move, Enter opens a pod, Esc goes back', async () => {
    await page.evaluate('document.activeElement?.blur()');
    await page.keyboard.press('j');
    expect(await page.evaluate(FOCUSED_ROW)).toBe('h1/hello');
    await page.keyboard.press('j');
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('k');
    expect(await page.evaluate(FOCUSED_ROW)).toBe('h2/web');
    await page.keyboard.press('Enter');
    await expect.poll(() => page.evaluate('location.hash')).toBe('#/pod/web');
    // The hash changes first; the view shows once the route has rendered.
    await expect.poll(() => page.locator('#view-pod').isVisible()).toBe(true);
    await page.keyboard.press('Escape');
    await expect.poll(() => page.locator('#view-fleet').isVisible()).toBe(true);
    await page.keyboard.press('c');
    await expect.poll(() => page.locator('#view-controllers').isVisible()).toBe(true);
    await page.keyboard.press('f');
    await expect.poll(() => page.locator('#view-fleet').isVisible()).toBe(true);
    await page.keyboard.press('/');
    expect(await page.evaluate('document.activeElement?.id')).toBe('filter-pod');
    await page.keyboard.type('api');
    await expect.poll(visibleKeys).toEqual(['h3/api']);
    await page.keyboard.press('Escape');
    await page.fill('#filter-pod', '');
  });
});

describe('the pod view', () => {
  it('shows the manifest, the versions on each node, the deploy steps with their times and exits', async () => {
    await page.goto(`${ui.url}#/pod/hello`);
    await expect
      .poll(() => page.textContent('#pod-manifests'))
      .toContain('location: https://artifacts.invalid/hello_1.tar.gz');
    const nodes = await page.textContent('#pod-nodes tbody');
    expect(nodes).toContain('h1');
    expect(nodes).toContain('converged');
    const deploy = await page.textContent('#pod-deploys tbody');
    for (const step of [
      'fetch 812 ms',
      'verify 47 ms',
      'install 233 ms',
      'launch 91 ms',
      '1183 ms',
    ])
      expect(deploy).toContain(step);
    const events = await page.textContent('#pod-events tbody');
    expect(events).toContain('unknown → passing');
    expect(events).toContain('app exit 3');
    await shot('pod');
  });

  it('follows the store: a new exit shows without a reload', async () => {
    await new PodEventStore(fleet.store).append('h1', 'hello', [
      {
        time: new Date().toISOString(),
        type: 'exit',
        launchable: 'app',
        exitCode: null,
        signal: 9,
      },
    ]);
    await expect.poll(() => page.textContent('#pod-events tbody')).toContain('app signal 9');
  });
});

describe('untrusted and broken records', () => {
  it('shows markup from the store as text and runs nothing', async () => {
    await fleet.store.put('labels/pod/h1/hello', JSON.stringify({ app: 'hello', note: XSS }));
    const evil = manifestText('evil', '1', `config:\n  note: '${XSS}'\n`);
    await fleet.store.put('intent/h5/evil', evil);
    await page.goto(ui.url);
    await expect.poll(() => row('h1/hello').locator('td').nth(2).textContent()).toContain(XSS);
    await page.goto(`${ui.url}#/pod/evil`);
    await expect.poll(() => page.textContent('#pod-manifests')).toContain(XSS);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.evaluate('window.__xss')).toBeUndefined();
    await shot('untrusted-text');
  });

  it('shows a malformed record as such and keeps the rest of the page working', async () => {
    await fleet.store.put('intent/h6/broken', 'id: [unclosed\n');
    await page.goto(ui.url);
    await expect.poll(() => row('h6/broken').textContent()).toContain('malformed record');
    expect(await page.textContent('#problem-list')).toContain('intent/h6/broken');
    expect(await row('h1/hello').locator('td').last().textContent()).toBe('converged');
    await fleet.store.put('reality/h3/api', manifestText('api', '1'));
    await fleet.store.delete('status/preparer/h3/api');
    await expect.poll(() => row('h3/api').locator('td').last().textContent()).toBe('converged');
    await shot('malformed');
  });

  it('never puts the store token in the page', async () => {
    expect(await page.content()).not.toContain(TEST_TOKEN);
  });
});

describe('a large fleet', () => {
  it('renders only the rows in view, and scrolling, j/k and the filters reach every row', async () => {
    const big = await startRestartableStore();
    const bigUi = await startUiServer({ store: big.store, listen: { host: '127.0.0.1', port: 0 } });
    const p = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    try {
      // 200 nodes × 3 pods: n000/a … n199/c, in table order.
      const keys: string[] = [];
      let ops: TxnOp[] = [];
      for (let n = 0; n < 200; n++) {
        for (const pod of ['a', 'b', 'c']) {
          const node = `n${String(n).padStart(3, '0')}`;
          keys.push(`${node}/${pod}`);
          ops.push({ verb: 'set', key: intentKey(node, pod), value: manifestText(pod, '1') });
          if (ops.length === 64) {
            await big.store.txn(ops);
            ops = [];
          }
        }
      }
      await big.store.txn(ops);
      const inDom = () =>
        p.$$eval('#fleet tbody tr', (rows) => rows.map((r) => r.getAttribute('data-key')));
      await p.goto(bigUi.url);
      await expect.poll(() => p.getAttribute('#fleet', 'aria-rowcount')).toBe('601');
      const first = await inDom();
      expect(first[0]).toBe('n000/a');
      expect(first.length).toBeLessThan(200);
      expect(await p.textContent('#summary')).toContain('600 of 600 pods on 200 nodes');

      // j moves row by row past the rendered rows; the focused row is in view.
      for (let i = 0; i < 100; i++) await p.keyboard.press('j');
      expect(await p.evaluate(FOCUSED_ROW)).toBe(keys[99]);
      await p.keyboard.press('k');
      expect(await p.evaluate(FOCUSED_ROW)).toBe(keys[98]);
      const box = await p.locator(`#fleet tbody tr[data-key="${keys[98]}"]`).boundingBox();
      expect(box && box.y >= 0 && box.y + box.height <= 900).toBe(true);
      expect(await inDom()).not.toContain('n000/a');

      // Scrolled to the end, the last rows are rendered.
      await p.evaluate('window.scrollTo(0, document.documentElement.scrollHeight)');
      await expect.poll(async () => (await inDom()).at(-1)).toBe('n199/c');

      // A filter narrows all 600 rows, not only the rendered ones.
      await p.fill('#filter-node', 'n150');
      await expect.poll(inDom).toEqual(['n150/a', 'n150/b', 'n150/c']);
      expect(await p.getAttribute('#fleet', 'aria-rowcount')).toBe('4');
      await p.fill('#filter-node', '');
      await expect.poll(() => p.getAttribute('#fleet', 'aria-rowcount')).toBe('601');
    } finally {
      await p.close();
      await bigUi.close();
      await big.cleanup();
    }
  });
});

describe('outages', () => {
  it('says the store is down and recovers when it is back', async () => {
    await fleet.down();
    await expect
      .poll(() => page.locator('#banner').textContent(), { timeout: 15_000 })
      .toContain('Store unreachable');
    await shot('store-down');
    await fleet.up();
    await expect.poll(() => page.locator('#banner').isHidden(), { timeout: 15_000 }).toBe(true);
    await fleet.store.put('intent/h7/after', manifestText('after', '1'));
    await expect.poll(visibleKeys, { timeout: 15_000 }).toContain('h7/after');
  });

  it('says the dashboard server is gone and recovers when it restarts', async () => {
    await ui.close();
    await expect
      .poll(() => page.locator('#banner').textContent(), { timeout: 15_000 })
      .toContain('Lost the connection');
    ui = await startUiServer({ store: fleet.store, listen: { host: '127.0.0.1', port } });
    await expect.poll(() => page.locator('#banner').isHidden(), { timeout: 15_000 }).toBe(true);
    await fleet.store.put('intent/h8/later', manifestText('later', '1'));
    await expect.poll(visibleKeys, { timeout: 15_000 }).toContain('h8/later');
  });
});
