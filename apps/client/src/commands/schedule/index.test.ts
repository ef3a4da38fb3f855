import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { UuidPodStore } from '@p2/keyspace';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const decode = (b: Uint8Array | undefined) => (b ? new TextDecoder().decode(b) : undefined);
const HELLO =
  '# a comment the store must keep\nid: p2t-hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz\nconfig:\n  port:   8080\n';

beforeAll(async () => {
  h = await startHarness('schedule');
  await writeFile(join(h.dir, 'hello.yaml'), HELLO);
  await writeFile(join(h.dir, 'uuid-id.yaml'), 'id: 0f4e6a2c-9b1d-4c8e-a1f2-3b4c5d6e7f80\n');
  await writeFile(join(h.dir, 'bad.yaml'), 'id: x\nstatus_port: "8000"\n');
});
afterAll(async () => {
  await h?.close();
});

describe('p2 schedule', () => {
  it('writes the manifest bytes verbatim to intent/<node>/<pod> and prints P2 fields', async () => {
    const r = await h.p2(['schedule', 'hello.yaml', '--node', 'n1', '--force', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    const out = JSON.parse(r.out);
    expect(out).toMatchObject({
      podId: 'p2t-hello',
      podUniqueKey: '',
      node: 'n1',
      key: 'intent/n1/p2t-hello',
    });
    expect(out.sha).toMatch(/^[0-9a-f]{64}$/);
    const { value } = await h.store.get('intent/n1/p2t-hello');
    expect(decode(value?.value)).toBe(HELLO);
  });

  it('prints a human summary by default', async () => {
    const r = await h.p2(['schedule', 'hello.yaml', '--node', 'n2', '--force']);
    expect(r.code).toBe(ExitCode.OK);
    expect(r.out).toContain('scheduled p2t-hello on n2');
    expect(r.out).toContain('intent/n2/p2t-hello');
    expect(r.out).not.toContain('\u001b[');
  });

  it('schedules a uuid pod as pods/<uuid> plus an intent index', async () => {
    const r = await h.p2(['schedule', 'hello.yaml', '--node', 'n1', '--force', '--uuid', '--json']);
    expect(r.code).toBe(ExitCode.OK);
    const { podUniqueKey: uuid } = JSON.parse(r.out);
    expect(uuid).toMatch(/^[0-9a-f-]{36}$/);
    const pod = await new UuidPodStore(h.store).readPod(uuid);
    expect(pod?.node).toBe('n1');
    expect(decode(pod?.manifest)).toBe(HELLO);
    expect(JSON.parse(decode((await h.store.get(`intent/n1/${uuid}`)).value?.value) ?? '')).toEqual(
      { pod_key: uuid },
    );
  });

  it('refuses a manifest the lint rejects and writes nothing', async () => {
    const r = await h.p2(['schedule', 'uuid-id.yaml', '--node', 'n3', '--force']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('not a valid pod manifest');
    expect(r.err).toContain('p2 manifest check');
    expect((await h.store.keys('intent/n3/')).value).toEqual([]);
  });

  it('refuses a manifest that does not parse, with the parser message', async () => {
    const r = await h.p2(['schedule', 'bad.yaml', '--node', 'n3', '--force', '--json']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(JSON.parse(r.out).error.code).toMatch(/^P2_MANIFEST_/);
  });

  it('exits 4 for a missing file and 2 without an argument', async () => {
    expect((await h.p2(['schedule', 'nope.yaml', '--node', 'n3', '--force'])).code).toBe(
      ExitCode.NOT_FOUND,
    );
    expect((await h.p2(['schedule'])).code).toBe(ExitCode.USAGE);
  });

  it('exits 1 with the store error when the store is unreachable', async () => {
    const r = await h.p2([
      'schedule',
      'hello.yaml',
      '--node',
      'n1',
      '--store',
      'consul://127.0.0.1:1',
    ]);
    expect(r.code).toBe(ExitCode.FAILURE);
    expect(r.err).toMatch(/P2_KV_/);
  });
});
