import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deploySteps } from './deploy.js';
import { diffJson, planDeploy } from './plan.js';

const pod = (version: string) =>
  parseManifest(
    `id: web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/app_${version.repeat(40)}.tar.gz\n`,
  );

describe('diffJson', () => {
  it('reports leaf changes, additions and removals by dotted path', () => {
    expect(diffJson({ a: { b: 1, c: [1] }, d: 1 }, { a: { b: 2, c: [1] }, e: 'x' })).toEqual([
      { path: 'a.b', from: 1, to: 2 },
      { path: 'd', from: 1 },
      { path: 'e', to: 'x' },
    ]);
    expect(diffJson({ a: [1, 2] }, { a: [1, 2] })).toEqual([]);
  });
});

describe('deploySteps', () => {
  it('is the preparer order, leaving out what the agent lacks or the caller turns off', () => {
    const hooks = { run: async () => undefined };
    const reality = { write: async () => undefined, converge: async () => undefined };
    const launched = async () => undefined;
    expect(deploySteps({ hooks, reality, launched }, pod('b'), undefined, pod('a'))).toEqual({
      action: 'update',
      steps: [
        'authorize',
        'before_install',
        'install',
        'after_install',
        'halt_previous',
        'before_launch',
        'launch',
        'record_launch',
        'write_reality',
        'after_launch',
      ],
    });
    expect(deploySteps({}, pod('b'), undefined, undefined).steps).toEqual([
      'authorize',
      'install',
      'launch',
    ]);
    expect(deploySteps({}, pod('b'), pod('a'), pod('a'), { haltPrevious: false }).steps).toEqual([
      'authorize',
      'install',
      'launch',
    ]);
  });

  it('leaves a running manifest alone unless asked to redeploy it', () => {
    expect(deploySteps({}, pod('a'), pod('a'), pod('a'))).toEqual({ action: 'none', steps: [] });
    expect(deploySteps({}, pod('a'), pod('a'), pod('a'), { whenRunning: 'redeploy' })).toEqual({
      action: 'update',
      steps: ['authorize', 'install', 'launch'],
    });
  });
});

describe('planDeploy', () => {
  it('takes its action from the deploy decision', async () => {
    const input = { node: 'h1', intent: undefined, podRoot: undefined };
    expect((await planDeploy({ ...input, manifest: pod('a'), reality: undefined })).action).toBe(
      'install',
    );
    expect((await planDeploy({ ...input, manifest: pod('a'), reality: pod('a') })).action).toBe(
      'none',
    );
    const update = await planDeploy({ ...input, manifest: pod('b'), reality: pod('a') });
    expect(update).toMatchObject({
      action: 'update',
      launchables: [
        { id: 'app', change: 'changed', service: 'restart', installed: null, download: true },
      ],
    });
  });
});

describe('planDeploy with version: launchables', () => {
  let registry: Server;
  let url = '';
  let work = '';
  const asked: string[] = [];
  const versioned = (extra = '') =>
    parseManifest(
      `id: some-app\n${extra}launchables:\n  some-app:\n    launchable_type: hoist\n    version:\n      id: asdf\n      tags:\n        directory: deployable\n  plain:\n    launchable_type: hoist\n    location: https://example.com/plain_${'a'.repeat(40)}.tar.gz\n`,
    );
  const input = { node: 'h1', intent: undefined, podRoot: undefined, reality: undefined };

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'p2t-plan-registry-'));
    await copyFile(
      fileURLToPath(new URL('../../../fixtures/p2/os/redhat-release', import.meta.url)),
      join(work, 'redhat-release'),
    );
    registry = createServer((req, res) => {
      asked.push(req.url ?? '');
      const known = req.url?.includes('version=asdf') && req.url.includes('os=CentOS');
      res.writeHead(known ? 200 : 404, { 'content-type': 'application/json' });
      res.end(known ? '{"location":"https://u:secret@blobs.local/some-app.tar.gz"}' : '{}');
    });
    await new Promise<void>((r) => registry.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(registry.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await new Promise((r) => registry.close(r));
    await rm(work, { recursive: true, force: true });
  });

  it('shows where the registry says the artifact is (credentials redacted); asks only for version: launchables', async () => {
    asked.length = 0;
    const plan = await planDeploy({
      ...input,
      manifest: versioned(),
      registry: { artifactRegistry: url, osVersionFile: join(work, 'redhat-release') },
    });
    const [app, plain] = plan.launchables;
    expect(app).toMatchObject({
      id: 'some-app',
      version: 'asdf',
      installDir: expect.stringMatching(/some-app_asdf$/),
    });
    expect(app?.resolved).toEqual({
      registry: url,
      location: 'https://***@blobs.local/some-app.tar.gz',
    });
    expect(plain?.resolved).toBeUndefined();
    expect(asked).toEqual([
      '/discover/some-app?directory=deployable&artifact_name=some-app&os=CentOS&os_version=7.4.1708&version=asdf',
    ]);
  });

  it('says why it cannot resolve: no registry, no OS release file, an unknown version', async () => {
    const none = await planDeploy({ ...input, manifest: versioned(), registry: {} });
    expect(none.launchables[0]?.resolved?.error).toMatchObject({
      code: 'P2_HOIST_REGISTRY_MISSING',
      hint: expect.stringContaining('artifact_registry_url'),
    });
    const noOs = await planDeploy({
      ...input,
      manifest: versioned(),
      registry: { artifactRegistry: url, osVersionFile: join(work, 'missing') },
    });
    expect(noOs.launchables[0]?.resolved).toMatchObject({
      registry: url,
      error: { code: 'P2_HOIST_OS_RELEASE_INVALID' },
    });
    // The manifest's artifact_registry, with this machine's OS (not CentOS: the registry has no build).
    const unknown = await planDeploy({
      ...input,
      manifest: versioned(`artifact_registry: ${url}\n`),
      registry: { osVersionFile: '/etc/os-release' },
    });
    expect(unknown.launchables[0]?.resolved).toMatchObject({
      registry: `${url}/`,
      error: { code: 'P2_HOIST_REGISTRY_NOT_FOUND', message: expect.stringContaining('"asdf"') },
    });
    // Without registry settings the plan asks nobody.
    asked.length = 0;
    expect(
      (await planDeploy({ ...input, manifest: versioned() })).launchables[0]?.resolved,
    ).toBeUndefined();
    expect(asked).toEqual([]);
  });
});
