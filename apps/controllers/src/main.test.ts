import { spawnSync } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DsStore } from '@p2/daemon-set';
import { LabelStore } from '@p2/keyspace';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { RcStore } from '@p2/rc';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseFarms, parseMs } from './args.js';
import { ControllersError } from './errors.js';
import { startControllers } from './main.js';

let dir: string;
let server: KvServer;
let store: Store;
let url: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-controllers-'));
  server = await startKvServer({ dataDir: dir, port: 0, sessionTtlMinMs: 1_000 });
  url = `consul://127.0.0.1:${server.port}`;
  store = createStore(url);
});

afterEach(async () => {
  await store.close();
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

const manifest = (id: string) =>
  parseManifest(
    `id: ${id}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://artifacts.invalid/${id}_1.tar.gz\n`,
  );

async function until(probe: () => Promise<boolean>, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe('startControllers', () => {
  it('runs the RC and DS farms: intent appears on labelled nodes; stop releases the locks', async () => {
    const labels = new LabelStore(store);
    await labels.setLabels('node', 'p2t-n1', { role: 'web' });
    await labels.setLabels('node', 'p2t-n2', { role: 'db' });
    const running = startControllers({ store: url, resyncMs: 500, lockDelayMs: 1_000 });
    try {
      const rc = await new RcStore(store).create({
        manifest: manifest('p2t-web'),
        nodeSelector: 'role=web',
        replicasDesired: 1,
      });
      await new DsStore(store).create({
        manifest: manifest('p2t-agent'),
        everywhere: true,
        minHealth: 0,
        clusterName: 'p2t',
        timeoutMs: 10_000,
      });
      await until(async () => (await store.get('intent/p2t-n1/p2t-web')).value !== undefined);
      await until(
        async () =>
          (await store.get('intent/p2t-n1/p2t-agent')).value !== undefined &&
          (await store.get('intent/p2t-n2/p2t-agent')).value !== undefined,
      );
      expect((await store.get('intent/p2t-n2/p2t-web')).value).toBeUndefined();
      expect((await store.keys('lock/replication_controllers/')).value).toEqual([
        `lock/replication_controllers/${rc.id}`,
      ]);
      expect((await store.keys('lock/daemon_sets/')).value).toHaveLength(1);
    } finally {
      await running.stop();
    }
    expect((await store.keys('lock/replication_controllers/')).value).toEqual([]);
    expect((await store.keys('lock/daemon_sets/')).value).toEqual([]);
  });

  it('runs only the farms asked for', async () => {
    await new LabelStore(store).setLabels('node', 'p2t-n1', { role: 'web' });
    await new RcStore(store).create({
      manifest: manifest('p2t-web'),
      nodeSelector: 'role=web',
      replicasDesired: 1,
    });
    const running = startControllers({ store: url, farms: ['ds', 'roll'], resyncMs: 500 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 1_000));
      expect((await store.get('intent/p2t-n1/p2t-web')).value).toBeUndefined();
    } finally {
      await running.stop();
    }
  });

  it('refuses an empty store location with a hint', () => {
    expect(() => startControllers({ store: ' ' })).toThrow(
      expect.objectContaining({
        code: 'P2_CONTROLLERS_INVALID_ARGUMENT',
        hint: expect.stringMatching(/P2_STORE/),
      }),
    );
  });
});

describe('argument parsing', () => {
  it('parses milliseconds and refuses non-positive or fractional values', () => {
    expect(parseMs('--resync-ms', undefined, 30_000)).toBe(30_000);
    expect(parseMs('--resync-ms', '2500', 30_000)).toBe(2_500);
    for (const bad of ['0', '-1', '1.5', 'soon', ''])
      expect(() => parseMs('--resync-ms', bad, 30_000)).toThrow(ControllersError);
    expect(() => parseMs('--resync-ms', 'soon', 30_000)).toThrow(
      /--resync-ms must be .* got "soon"/,
    );
  });

  it('parses --ds-max-in-flight as a count of nodes; the binary refuses 0 with exit 2', () => {
    expect(parseMs('--ds-max-in-flight', '1000', 50, 'nodes')).toBe(1_000);
    expect(() => parseMs('--ds-max-in-flight', '0', 50, 'nodes')).toThrow(
      /--ds-max-in-flight must be a positive whole number of nodes, got "0"/,
    );
    const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
    const run = spawnSync(
      process.execPath,
      ['--import', 'tsx', cli, '--store', url, '--ds-max-in-flight', '0'],
      { cwd: fileURLToPath(new URL('../../..', import.meta.url)), encoding: 'utf8' },
    );
    expect(run.status).toBe(2);
    expect(run.stderr).toContain('--ds-max-in-flight must be a positive whole number of nodes');
    const help = spawnSync(process.execPath, ['--import', 'tsx', cli, '--help'], {
      cwd: fileURLToPath(new URL('../../..', import.meta.url)),
      encoding: 'utf8',
    });
    expect(help.stdout).toContain('--ds-max-in-flight N');
  }, 30_000);

  it('parses farm lists', () => {
    expect(parseFarms(undefined)).toEqual(['rc', 'roll', 'ds']);
    expect(parseFarms('rc, ds')).toEqual(['rc', 'ds']);
    expect(() => parseFarms('rc,scheduler')).toThrow(/got "rc,scheduler"/);
    expect(() => parseFarms(',')).toThrow(ControllersError);
  });
});
