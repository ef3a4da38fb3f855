import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const A = 'a'.repeat(40);
const B = 'b'.repeat(40);
const C = 'c'.repeat(40);
const hoist = (name: string, v: string) =>
  `    launchable_type: hoist\n    location: https://artifacts.example.com/${name}_${v}.tar.gz\n`;
const RUNNING = `id: p2t-plan\nlaunchables:\n  app:\n${hoist('app', A)}  worker:\n${hoist('worker', A)}config:\n  port: 8080\n  mode: old\n`;
const NEXT = `id: p2t-plan\nlaunchables:\n  app:\n${hoist('app', B)}  sidecar:\n${hoist('sidecar', C)}config:\n  port: 8080\n  mode: new\n`;

beforeAll(async () => {
  h = await startHarness('plan');
  await writeFile(join(h.dir, 'next.yaml'), NEXT);
  await writeFile(join(h.dir, 'running.yaml'), RUNNING);
  await h.store.put('reality/n1/p2t-plan', RUNNING);
  await h.store.put('intent/n1/p2t-plan', RUNNING);
  // The new app version is already installed on this (pretend) host; the sidecar is not.
  await mkdir(join(h.dir, 'pods', 'p2t-plan', 'app', 'installs', `app_${B}`), { recursive: true });
});
afterAll(async () => {
  await h?.close();
});

describe('p2 plan', () => {
  it('lists downloads, restarts, stops and config changes against reality', async () => {
    const r = await h.p2([
      'plan',
      'next.yaml',
      '--node',
      'n1',
      '--pod-root',
      join(h.dir, 'pods'),
      '--json',
    ]);
    expect(r.code).toBe(ExitCode.OK);
    const plan = JSON.parse(r.out);
    expect(plan).toMatchObject({ pod: 'p2t-plan', node: 'n1', action: 'update' });
    const byId = Object.fromEntries(plan.launchables.map((l: { id: string }) => [l.id, l]));
    expect(byId.app).toMatchObject({
      version: B,
      change: 'changed',
      installed: true,
      download: false,
      service: 'restart',
    });
    expect(byId.sidecar).toMatchObject({
      version: C,
      change: 'new',
      installed: false,
      download: true,
      service: 'start',
    });
    expect(byId.worker).toMatchObject({ change: 'removed', download: false, service: 'stop' });
    expect(plan.changes).toContainEqual({ path: 'config.mode', from: 'old', to: 'new' });
    expect(plan.changes.some((c: { path: string }) => c.path === 'config.port')).toBe(false);
    expect(
      plan.changes.some((c: { path: string }) => c.path.startsWith('launchables.worker')),
    ).toBe(true);
  });

  it('renders the same plan for people, and changes nothing in the store', async () => {
    const before = (await h.store.list('')).value.map((e) => [e.key, e.modifyIndex]);
    const r = await h.p2(['plan', 'next.yaml', '--node', 'n1', '--pod-root', join(h.dir, 'pods')]);
    expect(r.out).toMatch(/^update p2t-plan on n1: \w{12} → \w{12}/);
    expect(r.out).toMatch(/sidecar\s+c{40}\s+new\s+yes\s+start/);
    expect(r.out).toContain('config.mode: "old" → "new"');
    expect((await h.store.list('')).value.map((e) => [e.key, e.modifyIndex])).toEqual(before);
  });

  it('says install on a node that does not run the pod, and nothing to do when it does', async () => {
    const fresh = JSON.parse(
      (await h.p2(['plan', 'next.yaml', '--node', 'n2', '--pod-root', '/nonexistent', '--json']))
        .out,
    );
    expect(fresh.action).toBe('install');
    expect(
      fresh.launchables.every(
        (l: { download: boolean; installed: null }) => l.download && l.installed === null,
      ),
    ).toBe(true);
    const same = await h.p2(['plan', 'running.yaml', '--node', 'n1']);
    expect(same.out).toMatch(/^no changes: p2t-plan on n1 already runs/);
  });

  it('refuses an invalid manifest', async () => {
    await writeFile(join(h.dir, 'bad.yaml'), 'id: 0f4e6a2c-9b1d-4c8e-a1f2-3b4c5d6e7f80\n');
    expect((await h.p2(['plan', 'bad.yaml', '--node', 'n1'])).code).toBe(ExitCode.INVALID_INPUT);
  });
});
