import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from '../../program.js';
import { capture, type Harness, startHarness } from '../../test-support.js';

const TOKEN = 'p2t-ui-cli-token-5d1e';
let h: Harness;

beforeAll(async () => {
  h = await startHarness('ui');
  await h.store.put('intent/n1/p2t-web', 'id: p2t-web\n');
});
afterAll(async () => {
  await h?.close();
});

describe('p2 ui', () => {
  it('refuses a non-loopback --listen without --allow-remote, and a malformed one', async () => {
    for (const listen of ['0.0.0.0:0', 'not an address']) {
      const io = capture(false);
      expect(await runCli(['ui', '--listen', listen], { io, env: { P2_STORE: h.url } })).toBe(
        ExitCode.USAGE,
      );
      expect(io.err).toMatch(/loopback|HOST:PORT/);
    }
  });

  it('warns when serving to other hosts', async () => {
    const io = capture(false);
    const serving = runCli(['ui', '--listen', '0.0.0.0:0', '--allow-remote'], {
      io,
      env: { P2_STORE: h.url },
    });
    for (let i = 0; i < 200 && !io.out.includes('serving'); i++)
      await new Promise((r) => setTimeout(r, 20));
    expect(io.err).toContain('has no login');
    process.emit('SIGTERM');
    expect(await serving).toBe(ExitCode.OK);
  });

  it('serves the fleet from the store until SIGINT, without the token', async () => {
    const io = capture(false);
    const serving = runCli(['ui', '--listen', '127.0.0.1:0', '--token', TOKEN], {
      io,
      env: { P2_STORE: h.url },
    });
    for (let i = 0; i < 200 && !io.out.includes('serving'); i++)
      await new Promise((r) => setTimeout(r, 20));
    const url = /serving (\S+)/.exec(io.out)?.[1] ?? '';
    expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/);
    let fleet = await fetch(`${url}api/fleet`);
    for (let i = 0; i < 100 && fleet.status !== 200; i++) {
      await new Promise((r) => setTimeout(r, 50));
      fleet = await fetch(`${url}api/fleet`);
    }
    const body = await fleet.text();
    expect(JSON.parse(body).pods[0]).toMatchObject({ node: 'n1', pod: 'p2t-web' });
    expect(body + (await (await fetch(url)).text())).not.toContain(TOKEN);
    process.emit('SIGINT');
    expect(await serving).toBe(ExitCode.OK);
    await expect(fetch(url)).rejects.toThrow();
  });
});
