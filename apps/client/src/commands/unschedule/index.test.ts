import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { LabelStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const HELLO =
  '# a comment the store must keep\nid: p2t-hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz\nconfig:\n  port:   8080\n';

beforeAll(async () => {
  h = await startHarness('unschedule');
  await writeFile(join(h.dir, 'hello.yaml'), HELLO);
});
afterAll(async () => {
  await h?.close();
});

describe('p2 unschedule', () => {
  it('removes a legacy pod and its pod labels', async () => {
    await h.p2(['schedule', 'hello.yaml', '--node', 'n4', '--force']);
    await new LabelStore(h.store).setLabels('pod', 'n4/p2t-hello', { team: 'a' });
    const r = await h.p2(['unschedule', 'p2t-hello', '--node', 'n4', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    expect(JSON.parse(r.out).removed).toEqual(['intent/n4/p2t-hello', 'labels/pod/n4/p2t-hello']);
    expect((await h.store.get('intent/n4/p2t-hello')).value).toBeUndefined();
    expect((await h.store.get('labels/pod/n4/p2t-hello')).value).toBeUndefined();
  });

  it('prints failures as JSON on stdout with --json, as well as on stderr', async () => {
    const r = await h.p2(['unschedule', 'p2t-hello', '--node', 'n9', '--json']);
    expect(r.code).toBe(ExitCode.NOT_FOUND);
    expect(JSON.parse(r.out).error).toMatchObject({
      code: 'P2_CLI_NOT_FOUND',
      message: 'pod p2t-hello is not scheduled on n9 (intent/n9/p2t-hello is absent)',
      hint: 'run `p2 inspect --pod p2t-hello` to see where it runs',
    });
    expect(r.err).toContain('is absent');
  });

  it('exits 4 for a pod that is not scheduled there', async () => {
    const r = await h.p2(['unschedule', 'p2t-hello', '--node', 'n9']);
    expect(r.code).toBe(ExitCode.NOT_FOUND);
    expect(r.err).toContain('intent/n9/p2t-hello is absent');
  });

  it('refuses a pod placed by a replication controller unless --force', async () => {
    await h.p2(['schedule', 'hello.yaml', '--node', 'n5', '--force']);
    await new LabelStore(h.store).setLabels('pod', 'n5/p2t-hello', {
      replication_controller_id: 'rc1',
    });
    const refused = await h.p2(['unschedule', 'p2t-hello', '--node', 'n5']);
    expect(refused.code).toBe(ExitCode.INVALID_INPUT);
    expect(refused.err).toContain('replication controller rc1');
    expect((await h.store.get('intent/n5/p2t-hello')).value).toBeDefined();
    expect((await h.p2(['unschedule', 'p2t-hello', '--node', 'n5', '--force'])).code).toBe(
      ExitCode.OK,
    );
    expect((await h.store.get('intent/n5/p2t-hello')).value).toBeUndefined();
  });

  it('--deallocate removes an RC pod and lowers the RC by one, under its mutation lock', async () => {
    await writeFile(join(h.dir, 'rcpod.yaml'), 'id: p2t-rcpod\n');
    const rc = JSON.parse(
      (await h.p2(['rc', 'create', '-m', 'rcpod.yaml', '-n', 'role=web', '-r', '2', '--json'])).out,
    );
    await h.p2(['schedule', 'rcpod.yaml', '--node', 'n7', '--force']);
    await new LabelStore(h.store).setLabels('pod', 'n7/p2t-rcpod', {
      replication_controller_id: rc.id,
    });
    const r = await h.p2(['unschedule', 'p2t-rcpod', '--node', 'n7', '--deallocate', '--json']);
    expect(r.code, r.err).toBe(ExitCode.OK);
    expect(JSON.parse(r.out).rc).toEqual({ id: rc.id, replicasDesired: 1 });
    expect((await h.store.get('intent/n7/p2t-rcpod')).value).toBeUndefined();
    expect((await h.store.get('labels/pod/n7/p2t-rcpod')).value).toBeUndefined();
    const after = JSON.parse((await h.p2(['rc', 'get', rc.id, '--json'])).out);
    expect(after).toMatchObject({ replicasDesired: 1, disabled: false });
    expect(
      (await h.store.get(`lock/replication_controllers/${rc.id}/update`)).value,
    ).toBeUndefined();
  });

  it('--deallocate fails cleanly while a rolling update holds the RC', async () => {
    const rc = JSON.parse(
      (await h.p2(['rc', 'create', '-m', 'rcpod.yaml', '-n', 'role=web', '-r', '1', '--json'])).out,
    );
    await h.p2(['schedule', 'rcpod.yaml', '--node', 'n8', '--force']);
    await new LabelStore(h.store).setLabels('pod', 'n8/p2t-rcpod', {
      replication_controller_id: rc.id,
    });
    const session = await h.store.createSession({
      name: 'p2t-roll',
      ttlMs: 15_000,
      lockDelayMs: 1,
    });
    expect(
      await h.store.acquire(`lock/replication_controllers/${rc.id}/update`, 'roll', session),
    ).toBe(true);
    const r = await h.p2(['unschedule', 'p2t-rcpod', '--node', 'n8', '--deallocate']);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toContain('P2_KV_LOCK_HELD');
    expect((await h.store.get('intent/n8/p2t-rcpod')).value).toBeDefined();
    await h.store.destroySession(session);
  });

  it('removes a uuid pod by its uuid, from any node', async () => {
    const { out } = await h.p2([
      'schedule',
      'hello.yaml',
      '--node',
      'n6',
      '--force',
      '--uuid',
      '--json',
    ]);
    const uuid = JSON.parse(out).podUniqueKey as string;
    const r = await h.p2(['unschedule', uuid]);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.out).toContain('n6: successfully removed');
    expect((await h.store.get(`pods/${uuid}`)).value).toBeUndefined();
    expect((await h.store.get(`intent/n6/${uuid}`)).value).toBeUndefined();
    expect((await h.p2(['unschedule', uuid])).code).toBe(ExitCode.NOT_FOUND);
  });
});
