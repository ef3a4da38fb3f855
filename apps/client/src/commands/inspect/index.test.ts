import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { HealthStore, PodEventStore, PreparerStatusStore } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const APP = `https://artifacts.example.com/app_${'a'.repeat(40)}.tar.gz`;
const V1 = `id: p2t-web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${APP}\nconfig:\n  v: 1\n`;
const V2 = 'id: p2t-web\nconfig:\n  v: 2\n';
const sha = (text: string) => parseManifest(text).sha();

async function health(pod: string, node: string, status: 'passing' | 'critical') {
  await new HealthStore(h.store).put({
    podId: pod,
    node,
    service: pod,
    status,
    time: new Date().toISOString(),
    expires: '',
  });
}

beforeAll(async () => {
  h = await startHarness('inspect');
  await writeFile(join(h.dir, 'v2.yaml'), V2);
  // n1: converged and healthy; n2: intent v2, reality v1, the preparer failed to deploy v2;
  // n3: reality without intent (being removed).
  await h.store.put('intent/n1/p2t-web', V1);
  await h.store.put('reality/n1/p2t-web', V1);
  await health('p2t-web', 'n1', 'passing');
  await h.store.put(
    'status/preparer/n1/p2t-web',
    JSON.stringify({
      pod: 'p2t-web',
      uniqueKey: '',
      state: 'running',
      sha: sha(V1),
      updated: '2026-01-01T00:00:00Z',
    }),
  );
  await h.store.put('intent/n2/p2t-web', V2);
  await h.store.put('reality/n2/p2t-web', V1);
  await health('p2t-web', 'n2', 'critical');
  await h.store.put(
    'status/preparer/n2/p2t-web',
    JSON.stringify({
      pod: 'p2t-web',
      uniqueKey: '',
      state: 'failed',
      sha: sha(V2),
      error: 'download failed: 404',
      code: 'P2_HOIST_DOWNLOAD_FAILED',
      updated: '2026-01-01T00:00:00Z',
    }),
  );
  await h.store.put('reality/n3/p2t-web', V1);
  await h.store.put('intent/n4/p2t-broken', 'id: [unclosed\n');
});
afterAll(async () => {
  await h?.close();
});

describe('p2 inspect', () => {
  it('joins intent, reality, health and preparer status per node and pod (JSON)', async () => {
    const r = await h.p2(['inspect', '--pod', 'p2t-web', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    const { pods } = JSON.parse(r.out);
    expect(pods.map((p: { node: string; verdict: string }) => [p.node, p.verdict])).toEqual([
      ['n1', 'converged'],
      ['n2', 'failed'],
      ['n3', 'removing'],
    ]);
    expect(pods[0]).toMatchObject({ intentSha: sha(V1), realitySha: sha(V1), health: 'passing' });
    expect(pods[1]).toMatchObject({ intentSha: sha(V2), realitySha: sha(V1), health: 'critical' });
    expect(pods[1].status.code).toBe('P2_HOIST_DOWNLOAD_FAILED');
  });

  it('renders a table with the preparer error, and reports unreadable manifests', async () => {
    const r = await h.p2(['inspect']);
    expect(r.code).toBe(ExitCode.OK);
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(
      /^NODE\s+POD\s+INTENT\s+REALITY\s+HEALTH\s+PREPARER\s+RESTARTS\s+VERDICT$/,
    );
    expect(lines.find((l) => l.startsWith('n2'))).toMatch(
      /p2t-web\s+\w{12}\s+\w{12}\s+critical\s+failed \(P2_HOIST_DOWNLOAD_FAILED\)\s+0\s+failed/,
    );
    expect(r.out).toContain('error n2/p2t-web: download failed: 404');
    expect(r.out).toContain('warning unreadable intent/n4/p2t-broken');
  });

  it('filters by node, and exits 4 when the pod is nowhere', async () => {
    const r = await h.p2(['inspect', '--node', 'n1', '--json']);
    expect(JSON.parse(r.out).pods).toHaveLength(1);
    const missing = await h.p2(['inspect', '--pod', 'p2t-nothing']);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(missing.out).toContain('no pods found');
  });

  it('exits 4 for --node nosuch as for --pod nosuch; a labelled node without pods is known', async () => {
    const r = await h.p2(['inspect', '--node', 'nosuch']);
    expect(r.code).toBe(ExitCode.NOT_FOUND);
    expect(r.out).toContain('no pods found');
    await h.p2(['label', 'set', 'node', 'n-empty', 'role=spare']);
    expect((await h.p2(['inspect', '--node', 'n-empty'])).code).toBe(ExitCode.OK);
  });

  it('--exit-status: 0 only when every selected pod converged, 1 otherwise, 4 when none', async () => {
    expect((await h.p2(['inspect', '--node', 'n1', '--exit-status'])).code).toBe(ExitCode.OK);
    const failed = await h.p2(['inspect', '--node', 'n2', '--exit-status']);
    expect(failed.code).toBe(ExitCode.FAILURE);
    expect(failed.out).toMatch(/failed$/m); // the table still prints
    expect((await h.p2(['inspect', '--pod', 'p2t-web', '--exit-status'])).code).toBe(
      ExitCode.FAILURE,
    );
    expect((await h.p2(['inspect', '--node', 'n-empty', '--exit-status'])).code).toBe(
      ExitCode.NOT_FOUND,
    );
    expect((await h.p2(['inspect', '--node', 'n2'])).code).toBe(ExitCode.OK); // without the flag
  });

  it('shows restarts and the last exit, and calls a pod that keeps exiting crashlooping', async () => {
    await h.store.put('intent/n7/p2t-crash', 'id: p2t-crash\n');
    await h.store.put('reality/n7/p2t-crash', 'id: p2t-crash\n');
    const base = Date.now();
    const at = (s: number) => new Date(base - s * 1000).toISOString();
    // As the preparer writes them: the status record with the service's last exit, and one exit
    // event per exit it noticed since the deploy.
    await new PreparerStatusStore(h.store).publish('n7', {
      pod: 'p2t-crash',
      uniqueKey: '',
      state: 'running',
      processes: [
        {
          service: 'p2t-crash__app__launch',
          launchable: 'app',
          state: 'run',
          pid: 7,
          lastExit: { time: at(1), exitCode: 1, signal: null },
        },
      ],
      updated: at(1),
    });
    const exit = (s: number) => ({
      time: at(s),
      type: 'exit' as const,
      service: 'p2t-crash__app__launch',
      launchable: 'app',
      exitCode: 1,
      signal: null,
    });
    await new PodEventStore(h.store).append('n7', 'p2t-crash', [
      { time: at(60), type: 'deployed' },
      exit(15),
      exit(10),
      exit(5),
      exit(1),
    ]);
    const r = await h.p2(['inspect', '--node', 'n7']);
    expect(r.out).toMatch(
      /p2t-crash\s+\w{12}\s+\w{12}\s+-\s+running\s+4 \(exit 1\)\s+crashlooping$/m,
    );
    expect(r.out).toContain('crashlooping n7/p2t-crash: app exited 4 times in 5 min, last exit 1');
    const json = JSON.parse((await h.p2(['inspect', '--node', 'n7', '--json'])).out);
    expect(json.pods[0].exits).toEqual([
      {
        launchable: 'app',
        restarts: 4,
        recentExits: 4,
        lastExit: { time: at(1), exitCode: 1, signal: null },
      },
    ]);
    expect((await h.p2(['inspect', '--node', 'n7', '--exit-status'])).code).toBe(ExitCode.FAILURE);
  });

  it('shows uuid pods by pod id and uuid, with the status keyed by uuid', async () => {
    const r = await h.p2(['schedule', 'v2.yaml', '--node', 'n6', '--force', '--uuid', '--json']);
    const uuid = JSON.parse(r.out).podUniqueKey as string;
    await h.store.put(
      `status/preparer/n6/${uuid}`,
      JSON.stringify({
        pod: 'p2t-web',
        uniqueKey: uuid,
        state: 'deploying',
        updated: '2026-01-01T00:00:00Z',
      }),
    );
    const { pods } = JSON.parse((await h.p2(['inspect', '--node', 'n6', '--json'])).out);
    expect(pods).toHaveLength(1);
    expect(pods[0]).toMatchObject({
      pod: 'p2t-web',
      uniqueKey: uuid,
      intentSha: sha(V2),
      verdict: 'deploying',
    });
    expect(JSON.parse((await h.p2(['inspect', '--pod', uuid, '--json'])).out).pods).toHaveLength(1);
  });

  it("prints P2's tree and list formats for scripts written against p2-inspect", async () => {
    const tree = JSON.parse((await h.p2(['inspect', '--pod', 'p2t-web', '--format', 'tree'])).out);
    expect(Object.keys(tree)).toEqual(['p2t-web']);
    expect(tree['p2t-web'].n1).toEqual({
      intent_manifest_sha: sha(V1),
      reality_manifest_sha: sha(V1),
      intent_versions: { app: { location: APP, version: { id: 'a'.repeat(40) } } },
      reality_versions: { app: { location: APP, version: { id: 'a'.repeat(40) } } },
      health: 'passing',
      intent_locations: [APP],
      reality_locations: [APP],
    });
    // A side the pod is not on: an empty SHA (health and versions left out), as P2 printed it.
    expect(tree['p2t-web'].n3).toMatchObject({ intent_manifest_sha: '', intent_locations: [] });
    expect(tree['p2t-web'].n3.intent_versions).toBeUndefined();
    const list = JSON.parse((await h.p2(['inspect', '--node', 'n2', '--format', 'list'])).out);
    expect(list).toEqual([
      expect.objectContaining({ node: 'n2', pod: 'p2t-web', health: 'critical' }),
    ]);
    expect((await h.p2(['inspect', '--format', 'yaml'])).code).toBe(ExitCode.USAGE);
  });

  it('uses colour only on a terminal', async () => {
    expect((await h.p2(['inspect', '--node', 'n1'], { isTTY: true })).out).toContain(
      '\u001b[32mconverged',
    );
    expect((await h.p2(['inspect', '--node', 'n1'])).out).not.toContain('\u001b[');
  });
});
