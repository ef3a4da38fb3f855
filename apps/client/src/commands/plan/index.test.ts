import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
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
    expect(r.out).toMatch(/sidecar\s+hoist\s+c{40}\s+new\s+yes\s+start/);
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

  it('shows where the artifact registry says a version: launchable is, or why it cannot say', async () => {
    const registry = createServer((req, res) => {
      const known = req.url?.includes('version=v7') && req.url.includes('os=CentOS');
      res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
      res.end(known ? '{"location":"https://blobs.local/app_v7.tar.gz"}' : '{}');
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    try {
      const url = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
      await copyFile(
        new URL('../../../../../fixtures/p2/os/redhat-release', import.meta.url),
        join(h.dir, 'redhat-release'),
      );
      await writeFile(
        join(h.dir, 'versioned.yaml'),
        'id: p2t-plan-v\nlaunchables:\n  app:\n    launchable_type: hoist\n    version:\n      id: v7\n',
      );
      const plan = (...extra: string[]) =>
        h.p2(['plan', 'versioned.yaml', '--node', 'n1', '--pod-root', '/nonexistent', ...extra]);
      const osFile = ['--os-version-file', join(h.dir, 'redhat-release')];
      const found = await plan('--artifact-registry-url', url, ...osFile);
      expect(found.code, found.err).toBe(ExitCode.OK);
      expect(found.out).toContain(
        `artifact registry:\n  app v7: https://blobs.local/app_v7.tar.gz (from ${url})`,
      );
      const json = JSON.parse(
        (await plan('--artifact-registry-url', url, ...osFile, '--json')).out,
      );
      expect(json.launchables[0].resolved).toEqual({
        registry: url,
        location: 'https://blobs.local/app_v7.tar.gz',
      });
      const none = await plan(...osFile);
      expect(none.code).toBe(ExitCode.OK);
      expect(none.out).toContain(
        'app v7: cannot resolve: launchable app names version "v7" but no artifact registry',
      );
      expect(none.out).toContain('hint: set the preparer');
    } finally {
      await new Promise((r) => registry.close(r));
    }
  });

  it('refuses an invalid manifest', async () => {
    await writeFile(join(h.dir, 'bad.yaml'), 'id: 0f4e6a2c-9b1d-4c8e-a1f2-3b4c5d6e7f80\n');
    expect((await h.p2(['plan', 'bad.yaml', '--node', 'n1'])).code).toBe(ExitCode.INVALID_INPUT);
  });
});
