import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { createStore } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture, type Harness, startHarness } from '../../test-support.js';

let h: Harness;
const APP = `https://artifacts.example.com/app_${'a'.repeat(40)}.tar.gz`;
const V1 = `id: p2t-web\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: ${APP}\nconfig:\n  v: 1\n`;
const V2 = 'id: p2t-web\nconfig:\n  v: 2\n';
const sha = (text: string) => parseManifest(text).sha();

beforeAll(async () => {
  h = await startHarness('watch');
  await writeFile(join(h.dir, 'v2.yaml'), V2);
  await h.store.put('intent/n1/p2t-web', V1);
  await h.store.put('reality/n1/p2t-web', V1);
});
afterAll(async () => {
  await h?.close();
});

describe('p2 watch', () => {
  it('prints one JSON line per change when piped', async () => {
    const io = capture(false);
    const watching = runCli(['watch', '--node', 'n5', '--count', '2'], {
      io,
      env: { P2_STORE: h.url },
    });
    // Wait for the first snapshot, then change the store.
    for (let i = 0; i < 100 && io.out === ''; i++) await new Promise((r) => setTimeout(r, 20));
    expect(JSON.parse(io.out.trim()).pods).toEqual([]);
    await h.p2(['schedule', 'v2.yaml', '--node', 'n5', '--force']);
    expect(await watching).toBe(ExitCode.OK);
    const lines = io.out
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[1].pods[0]).toMatchObject({
      node: 'n5',
      pod: 'p2t-web',
      verdict: 'pending',
      intentSha: sha(V2),
    });
  });

  it('redraws the table on a terminal', async () => {
    const io = capture(true);
    expect(
      await runCli(['watch', '--node', 'n1', '--count', '1'], { io, env: { P2_STORE: h.url } }),
    ).toBe(ExitCode.OK);
    expect(io.out).toContain('\u001b[2J');
    expect(io.out).toContain('p2t-web');
  });

  it('warns while the store is down and carries on when it is back', async () => {
    const dataDir = join(h.dir, 'kv-restart');
    let server = await startKvServer({ dataDir, port: 0 });
    const port = server.port;
    const io = capture(false);
    const watching = runCli(['watch', '--node', 'r1', '--count', '2'], {
      io,
      env: { P2_STORE: `consul://127.0.0.1:${port}` },
    });
    try {
      for (let i = 0; i < 100 && io.out === ''; i++) await new Promise((r) => setTimeout(r, 20));
      await server.close();
      for (let i = 0; i < 150 && !io.err.includes('warning'); i++)
        await new Promise((r) => setTimeout(r, 20));
      expect(io.err).toMatch(/warning: .* \(retrying\)/);
      server = await startKvServer({ dataDir, port });
      const store = createStore(`consul://127.0.0.1:${port}`);
      await store.put('intent/r1/p2t-web', V1);
      await store.close();
      expect(await watching).toBe(ExitCode.OK);
      const lines = io.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l));
      expect(lines[1].pods[0]).toMatchObject({ node: 'r1', pod: 'p2t-web' });
      expect(io.err.match(/warning/g)?.length ?? 0).toBeLessThanOrEqual(3); // once per distinct error, not once per retry
    } finally {
      await server.close().catch(() => undefined);
    }
  }, 30_000);

  it('rejects a bad --count', async () => {
    expect((await h.p2(['watch', '--count', 'x'])).code).toBe(ExitCode.USAGE);
  });
});
