/**
 * Host-local auto-revert (issue 21) through the built `p2` and a real p2-preparer process on real
 * runit, users and cgroups: v2 never gets healthy; with the store stopped, the preparer goes back
 * to v1 by itself (v1 answers again); once the store is back, the pod's status says `reverted`,
 * `p2 inspect` calls it so and `--exit-status` fails. The deadline comes from the pod's
 * `p2.io/revert-after` label, set by an operator with `p2 label`. Needs root.
 */
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { realityKey } from '@p2/keyspace';
import { parseManifest } from '@p2/manifest';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildArtifact, helloAppDir } from '../src/artifacts.js';
import { freePort, waitFor } from '../src/processes.js';
import { type TestHost, withTestHost } from '../src/test-host.js';

let h: TestHost;
const { p2, host } = withTestHost();
beforeAll(() => {
  h = host();
});

describe('host-local auto-revert with a real preparer', () => {
  it('reverts a version that never gets healthy by itself with the store stopped', async () => {
    const pod = h.podId('r');
    const port = await freePort();
    // v2: the hello app whose /_status always answers 500.
    const src = join(h.work, 'src-bad');
    await cp(helloAppDir, src, { recursive: true });
    const server = join(src, 'server.cjs');
    await writeFile(
      server,
      (await readFile(server, 'utf8')).replace(
        "if (req.url === '/_status') {",
        "if (req.url === '/_status') { res.writeHead(500); res.end('down'); return;",
      ),
    );
    const bad = await buildArtifact(src, join(h.work, 'artifacts'), 'hello', `bad-${h.id}`);
    const v1 = h.manifest(pod, h.v1, port, 'one');
    const v2 = h.manifest(pod, bad, port, 'two');
    const file = join(h.work, `${pod}.yaml`);

    const label = await p2(['label', 'set', 'pod', `${h.node}/${pod}`, 'p2.io/revert-after=4s']);
    expect(label.code, label.err).toBe(0);
    await writeFile(file, v1.raw);
    const first = await p2(['schedule', file, '--node', h.node, '--force', '--wait'], 150_000);
    expect(first.code, first.err).toBe(0);
    expect(await h.answer(port)).toContain('one');

    await writeFile(file, v2.raw);
    expect((await p2(['schedule', file, '--node', h.node, '--force'])).code).toBe(0);
    await waitFor(
      'v2 in reality',
      async () => {
        const { value } = await h.store.get(realityKey(h.node, pod));
        return value && parseManifest(Buffer.from(value.value)).sha() === v2.sha();
      },
      160_000,
    );
    // The store goes away before the deadline ends: the revert must not need it.
    await h.kv.stop();
    await waitFor('v2 answering', async () => (await h.answer(port))?.includes('two'));
    await waitFor(
      'v1 answering again',
      async () => (await h.answer(port))?.includes('one'),
      60_000,
    );

    await h.restartKvServer();
    const state = await waitFor(
      'the reverted status',
      async () => {
        const s = await h.podState(pod);
        return s?.state === 'reverted' ? s : undefined;
      },
      60_000,
    );
    expect(state).toMatchObject({ sha: v2.sha(), code: 'P2_PREPARER_REVERTED' });
    expect(state.error).toMatch(/^not healthy within 4s \(last check: HTTP 500\)$/);
    await waitFor('reality naming v1 again', async () => {
      const { value } = await h.store.get(realityKey(h.node, pod));
      return value && parseManifest(Buffer.from(value.value)).sha() === v1.sha();
    });
    const inspect = await p2(['inspect', '--pod', pod, '--exit-status']);
    expect(inspect.code).toBe(1);
    expect(inspect.out).toMatch(/reverted/);
    expect(await h.answer(port)).toContain('one'); // and v2 is not tried again
  });
});
