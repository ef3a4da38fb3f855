import { ExitCode } from '@p2/cli-kit';
import { encodePodCluster, LabelStore, PodClusterStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture, type Harness, startHarness } from '../../test-support.js';

let h: Harness;

beforeAll(async () => {
  h = await startHarness('pc');
});
afterAll(async () => {
  await h?.close();
});

async function raw(key: string): Promise<string | undefined> {
  const e = (await h.store.get(key)).value;
  return e ? new TextDecoder().decode(e.value) : undefined;
}

/** The identity flags of the cluster these tests create. */
const BLUE_AZ1 = ['--pod', 'p2t-web', '--az', 'az1', '--cluster-name', 'blue'];

/** `p2 pc create` for pod p2t-web, cluster blue, in `az`. */
const create = (az: string, ...more: string[]) =>
  h.p2(['pc', 'create', '--pod', 'p2t-web', '--az', az, '--cluster-name', 'blue', ...more]);

describe('p2 pc', () => {
  let id = '';

  it('create writes P2’s record and labels and prints it (camelCase, as every p2 --json)', async () => {
    const r = await create('az1', '--annotations', '{"lb":{"port":80}}', '--json');
    expect(r.code, r.err).toBe(ExitCode.OK);
    const view = JSON.parse(r.out);
    id = view.id;
    expect(view).toEqual({
      id,
      podId: 'p2t-web',
      availabilityZone: 'az1',
      name: 'blue',
      podSelector: 'availability_zone=az1,cluster_name=blue,pod_id=p2t-web',
      annotations: { lb: { port: 80 } },
      allocationStrategy: 'static_strategy',
      minHealthPercentage: 0,
    });
    expect(await raw(`pod_clusters/${id}`)).toBe(
      encodePodCluster(await new PodClusterStore(h.store).get(id)),
    );
    expect(await raw(`labels/pod_clusters/${id}`)).toBe(
      '{"availability_zone":"az1","cluster_name":"blue","pod_id":"p2t-web"}',
    );
  });

  it('create refuses a second cluster for the same pod id, az and name, and bad annotations', async () => {
    const again = await create('az1');
    expect(again.code).toBe(ExitCode.INVALID_INPUT);
    expect(again.err).toContain('already exists');
    expect(again.err).toContain(id);
    const bad = await create('az2', '--annotations', '');
    expect(bad.code).toBe(ExitCode.USAGE);
    expect(bad.err).toContain('--annotations');
    const arr = await create('az2', '--annotations', '[1]');
    expect(arr.code).toBe(ExitCode.USAGE);
    expect(await new PodClusterStore(h.store).find('p2t-web', 'az2', 'blue')).toBeUndefined();
  });

  it('get by id or by --pod --az --cluster-name; list', async () => {
    const byId = await h.p2(['pc', 'get', id, '--json']);
    expect(byId.code, byId.err).toBe(ExitCode.OK);
    expect(JSON.parse(byId.out).name).toBe('blue');
    const byTriple = await h.p2(['pc', 'get', ...BLUE_AZ1]);
    expect(byTriple.code, byTriple.err).toBe(ExitCode.OK);
    expect(byTriple.out).toContain(id);
    expect(byTriple.out).toContain(
      'selector     availability_zone=az1,cluster_name=blue,pod_id=p2t-web',
    );
    const none = await h.p2([
      'pc',
      'get',
      '--pod',
      'p2t-web',
      '--az',
      'az9',
      '--cluster-name',
      'blue',
    ]);
    expect(none.code).toBe(ExitCode.NOT_FOUND);
    const partial = await h.p2(['pc', 'get', '--pod', 'p2t-web']);
    expect(partial.code).toBe(ExitCode.USAGE);
    const missing = await h.p2(['pc', 'get', '0f8fad5b-d9cb-469f-a165-000000000000']);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    const list = await h.p2(['pc', 'list', '--json']);
    expect(list.code, list.err).toBe(ExitCode.OK);
    expect(JSON.parse(list.out).map((p: { id: string }) => p.id)).toEqual([id]);
    const human = await h.p2(['pc', 'list']);
    expect(human.out).toMatch(new RegExp(`${id}\\s+p2t-web\\s+az1\\s+blue`));
  });

  it('update changes selector, annotations and strategy; refuses no change', async () => {
    const r = await h.p2([
      'pc',
      'update',
      id,
      '--selector',
      'pod_id=p2t-web',
      '--annotations',
      '{"weight":2}',
      '--allocation-strategy',
      'dynamic_strategy',
      '--json',
    ]);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out)).toMatchObject({
      podSelector: 'pod_id=p2t-web',
      annotations: { weight: 2 },
      allocationStrategy: 'dynamic_strategy',
      name: 'blue',
    });
    const stored = await new PodClusterStore(h.store).get(id);
    expect(stored.podSelector.toString()).toBe('pod_id=p2t-web');
    const none = await h.p2(['pc', 'update', id]);
    expect(none.code).toBe(ExitCode.USAGE);
    expect(none.err).toContain('No changes were made');
    const badSel = await h.p2(['pc', 'update', id, '--selector', 'a in']);
    expect(badSel.code).toBe(ExitCode.INVALID_INPUT);
  });

  it('watch prints the member set as a JSON line and ends when the cluster is deleted', async () => {
    await new LabelStore(h.store).setLabels('pod', 'p2t-h1/p2t-web', { pod_id: 'p2t-web' });
    const io = capture();
    const print = io.stdout;
    let deleting: Promise<unknown> | undefined;
    // The cluster goes once the watch has printed its first line; then the watch ends by itself.
    io.stdout = (text) => {
      print(text);
      deleting ??= h.p2(['pc', 'delete', ...BLUE_AZ1]);
    };
    const code = await runCli(['pc', 'watch', id], { io, cwd: h.dir, env: { P2_STORE: h.url } });
    expect(code, io.err).toBe(ExitCode.OK);
    expect(await deleting).toMatchObject({ code: ExitCode.OK });
    const lines = io.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      id,
      cluster: { id, podSelector: 'pod_id=p2t-web' },
      members: [{ id: 'p2t-h1/p2t-web', labels: { pod_id: 'p2t-web' } }],
    });
    expect(lines[1]).toEqual({ id, cluster: null, members: [] });
    const missing = await h.p2(['pc', 'watch', id]);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
  });

  it('delete removed record and labels; a second delete is not found', async () => {
    expect(await raw(`pod_clusters/${id}`)).toBeUndefined();
    expect(await raw(`labels/pod_clusters/${id}`)).toBeUndefined();
    const again = await h.p2(['pc', 'delete', id, '--json']);
    expect(again.code).toBe(ExitCode.NOT_FOUND);
  });
});
