/** `p2 wipe-reality` against a real kv-server: what it deletes, and when it asks first. */
import { ExitCode } from '@p2/cli-kit';
import { PodTree, UuidPodStore } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

const manifest = (id: string) =>
  parseManifest(
    `id: ${id}\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz\n`,
  );
let h: Harness;
let uuid = '';

const realityIds = (node: string) => new PodTree(h.store, 'reality').nodeIds(node);

async function seed(): Promise<void> {
  const reality = new PodTree(h.store, 'reality');
  await reality.setPod('p2t-n1', manifest('p2t-a'));
  await reality.setPod('p2t-n1', manifest('p2t-b'));
  await h.store.txn([new UuidPodStore(h.store).realityIndexOp('p2t-n1', uuid)]);
  await reality.setPod('p2t-n10', manifest('p2t-a'));
  await new PodTree(h.store, 'intent').setPod('p2t-n1', manifest('p2t-a'));
}

beforeAll(async () => {
  h = await startHarness('wipe');
  uuid = await new UuidPodStore(h.store).schedule('p2t-n1', manifest('p2t-u'));
  await seed();
});
afterAll(async () => {
  await h?.close();
});

describe('p2 wipe-reality', () => {
  it('in a script, refuses without --yes and deletes nothing', async () => {
    const r = await h.p2(['wipe-reality', '--node', 'p2t-n1']);
    expect(r.code).toBe(ExitCode.USAGE);
    expect(r.err).toContain('hint: pass --yes to confirm it in a script');
    expect(await realityIds('p2t-n1')).toHaveLength(3);
  });

  it('on a terminal, asks first: anything but yes deletes nothing', async () => {
    const questions: string[] = [];
    const no = await h.p2(['wipe-reality', '--node', 'p2t-n1'], {
      isTTY: true,
      ask: (q) => {
        questions.push(q);
        return 'n';
      },
    });
    expect(no.code).toBe(ExitCode.FAILURE);
    expect(questions[0]).toContain('delete the reality of 3 pod(s) on node p2t-n1?');
    expect(questions[0]).toMatch(/\[y\/N\] $/);
    expect(await realityIds('p2t-n1')).toHaveLength(3);
  });

  it("deletes every pod's reality on that node only (intent and other nodes untouched)", async () => {
    const yes = await h.p2(['wipe-reality', '--node', 'p2t-n1'], { isTTY: true, ask: () => 'y' });
    expect(yes.code, yes.err).toBe(ExitCode.OK);
    expect(yes.out).toContain('the reality of 3 pod(s) on p2t-n1');
    expect(await realityIds('p2t-n1')).toEqual([]);
    expect(await realityIds('p2t-n10')).toEqual(['p2t-a']);
    expect((await new PodTree(h.store, 'intent').nodeIds('p2t-n1')).sort()).toEqual(
      ['p2t-a', uuid].sort(),
    );

    await seed();
    const json = await h.p2(['wipe-reality', '--node', 'p2t-n1', '--yes', '--json']);
    expect(json.code, json.err).toBe(ExitCode.OK);
    expect(JSON.parse(json.out)).toEqual({
      node: 'p2t-n1',
      deleted: ['p2t-a', 'p2t-b', uuid].sort(),
    });
    const again = await h.p2(['wipe-reality', '--node', 'p2t-n1', '--json']);
    expect(again.code, again.err).toBe(ExitCode.OK); // nothing to delete: nothing to confirm
    expect(JSON.parse(again.out)).toEqual({ node: 'p2t-n1', deleted: [] });
  });
});
