/**
 * `p2 pc watch` as an external syncer runs it: a real child process (the CLI from source through
 * tsx) against a real kv-server, fed by pod label changes, stopped with SIGTERM.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { LabelStore, PodClusterStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));

let h: Harness;
let child: ChildProcess | undefined;

beforeAll(async () => {
  h = await startHarness('pc-syncer');
});
afterAll(async () => {
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await h?.close();
});

describe('p2 pc watch as a syncer process', () => {
  it('prints the member set on every pod label change, in order, and exits 0 on SIGTERM', async () => {
    const labels = new LabelStore(h.store);
    const pc = await new PodClusterStore(h.store).create({
      podId: 'p2t-api',
      availabilityZone: 'az1',
      name: 'blue',
    });
    const member = { pod_id: 'p2t-api', availability_zone: 'az1', cluster_name: 'blue' };
    await labels.setLabels('pod', 'p2t-h1/p2t-api', member);

    const proc = spawn(
      process.execPath,
      [
        '--import',
        join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs'),
        join(repoRoot, 'apps/client/src/cli.ts'),
        'pc',
        'watch',
        pc.id,
      ],
      {
        env: {
          ...process.env,
          P2_STORE: h.url,
          TSX_TSCONFIG_PATH: join(repoRoot, 'tsconfig.json'),
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    child = proc;
    let stderr = '';
    proc.stderr?.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
      proc.once('exit', (code, signal) => resolve({ code, signal })),
    );

    // Each change happens after the syncer printed the previous member set.
    const changes: (() => Promise<unknown>)[] = [
      () => labels.setLabels('pod', 'p2t-h2/p2t-api', member),
      // Not a member (another cluster name), then one member leaves: one line, for the leave.
      async () => {
        await labels.setLabels('pod', 'p2t-h3/p2t-api', { ...member, cluster_name: 'green' });
        await labels.removeAll('pod', 'p2t-h1/p2t-api');
      },
      () => labels.setLabel('pod', 'p2t-h3/p2t-api', 'cluster_name', 'blue'),
    ];
    const memberSets: string[][] = [];
    for await (const line of createInterface({ input: proc.stdout! })) {
      const parsed = JSON.parse(line) as { id: string; members: { id: string }[] };
      expect(parsed.id).toBe(pc.id);
      memberSets.push(parsed.members.map((m) => m.id));
      const next = changes.shift();
      if (next) await next();
      else break;
    }
    expect(memberSets, stderr).toEqual([
      ['p2t-h1/p2t-api'],
      ['p2t-h1/p2t-api', 'p2t-h2/p2t-api'],
      ['p2t-h2/p2t-api'],
      ['p2t-h2/p2t-api', 'p2t-h3/p2t-api'],
    ]);

    proc.kill('SIGTERM');
    expect(await exited, stderr).toEqual({ code: 0, signal: null });
    expect(stderr).toBe('');
  }, 60_000);
});
