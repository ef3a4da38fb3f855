/**
 * The store's ACL token, end to end through the CLI against a real kv-server that denies anything
 * without it: lookup order (`--token`, `CONSUL_HTTP_TOKEN`, token file) and the 403 message.
 */

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../test-support.js';

const TOKEN = 'p2t-7f3a9c1e5b2d4f6a8c0e1b3d5f7a9c2e';
const HELLO =
  'id: p2t-hello\nlaunchables:\n  app:\n    launchable_type: hoist\n    location: https://example.com/hello_3c021aff048ca8117593f9c71e03b87cf72fd440.tar.gz\n';
let h: Harness;
let tokenFile: string;
let missingFile: string;

beforeAll(async () => {
  h = await startHarness('token', { aclToken: TOKEN });
  tokenFile = join(h.dir, 'consul.token');
  missingFile = join(h.dir, 'no-such.token');
  await writeFile(tokenFile, `${TOKEN}\n`, { mode: 0o600 });
  await writeFile(join(h.dir, 'hello.yaml'), HELLO);
});
afterAll(async () => {
  await h?.close();
});

describe('the store token', () => {
  it('with none anywhere: exit 5, the 403 explained with where p2 looked and the hint', async () => {
    const r = await h.p2(['schedule', 'hello.yaml', '--node', 'n1', '--force'], {
      env: { P2_TOKEN_FILE: missingFile },
    });
    expect(r.code).toBe(ExitCode.DENIED);
    expect(r.code).toBe(5);
    expect(r.err).toContain('the store refused the request: no token was sent');
    expect(r.err).toContain(
      `no --token, no --token-file, no CONSUL_HTTP_TOKEN(_FILE), and ${missingFile} does not exist`,
    );
    expect(r.err).toContain('(P2_KV_PERMISSION_DENIED)');
    expect(r.err).toContain(
      'hint: run as root so p2 finds /etc/p2/consul.token, or pass --token / CONSUL_HTTP_TOKEN',
    );
    expect((await h.store.get('intent/n1/p2t-hello')).value).toBeUndefined();
  });

  it('--json carries the same error with its code', async () => {
    const r = await h.p2(['kv', 'get', 'intent/n1/p2t-hello', '--json'], {
      env: { P2_TOKEN_FILE: missingFile },
    });
    expect(r.code).toBe(ExitCode.DENIED);
    expect(JSON.parse(r.out).error).toMatchObject({
      code: 'P2_KV_PERMISSION_DENIED',
      hint: expect.stringContaining('/etc/p2/consul.token'),
      details: { status: 403, tokenSource: 'none', tokenFile: missingFile },
    });
  });

  it('reads the token file with no flag (P2_TOKEN_FILE)', async () => {
    const r = await h.p2(['schedule', 'hello.yaml', '--node', 'n1', '--force'], {
      env: { P2_TOKEN_FILE: tokenFile },
    });
    expect(r).toMatchObject({ code: ExitCode.OK, err: '' });
    expect((await h.store.get('intent/n1/p2t-hello')).value).toBeDefined();
  });

  it('CONSUL_HTTP_TOKEN comes before the file, and a wrong one says so', async () => {
    const r = await h.p2(['kv', 'get', 'intent/n1/p2t-hello'], {
      env: { P2_TOKEN_FILE: tokenFile, CONSUL_HTTP_TOKEN: 'p2t-wrong' },
    });
    expect(r.code).toBe(ExitCode.DENIED);
    expect(r.err).toContain('the token in CONSUL_HTTP_TOKEN was refused');
    expect(r.err).toContain('ACL not found');
    expect(r.err).not.toContain('p2t-wrong');
    const ok = await h.p2(['kv', 'get', 'intent/n1/p2t-hello'], {
      env: { P2_TOKEN_FILE: missingFile, CONSUL_HTTP_TOKEN: TOKEN },
    });
    expect(ok.code).toBe(ExitCode.OK);
  });

  it('--token comes before CONSUL_HTTP_TOKEN', async () => {
    const env = { P2_TOKEN_FILE: tokenFile, CONSUL_HTTP_TOKEN: 'p2t-wrong' };
    expect((await h.p2(['kv', 'get', 'intent/n1/p2t-hello', '--token', TOKEN], { env })).code).toBe(
      ExitCode.OK,
    );
    const wrong = await h.p2(['kv', 'get', 'intent/n1/p2t-hello', '--token', 'p2t-bad'], {
      env: { P2_TOKEN_FILE: tokenFile, CONSUL_HTTP_TOKEN: TOKEN },
    });
    expect(wrong.code).toBe(ExitCode.DENIED);
    expect(wrong.err).toContain('the token given with --token was refused');
  });

  it('a token file that is a directory is refused, not silently skipped', async () => {
    const r = await h.p2(['kv', 'get', 'x'], { env: { P2_TOKEN_FILE: h.dir } });
    expect(r.code).toBe(ExitCode.DENIED);
    expect(r.err).toContain(`token file ${h.dir} is not a regular file`);
    expect(r.err).toContain('(P2_KV_TOKEN_FILE_UNSAFE)');
  });
});
