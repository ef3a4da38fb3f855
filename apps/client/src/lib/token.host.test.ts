/** As root, `p2` trusts a token file only when root owns it (and never through a symlink). */

import { chown, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../test-support.js';

const TOKEN = 'p2t-host-token-0123456789abcdef';
let h: Harness;

beforeAll(async () => {
  h = await startHarness('token-host', { aclToken: TOKEN });
});
afterAll(async () => {
  await h?.close();
});

describe.runIf(process.getuid?.() === 0)('the store token as root', () => {
  it('reads a root-owned token file; refuses one owned by another user, and a symlink', async () => {
    const good = join(h.dir, 'root.token');
    await writeFile(good, `${TOKEN}\n`, { mode: 0o600 });
    expect((await h.p2(['kv', 'ls', 'x'], { env: { P2_TOKEN_FILE: good } })).code).toBe(
      ExitCode.OK,
    );
    const planted = join(h.dir, 'planted.token');
    await writeFile(planted, `${TOKEN}\n`, { mode: 0o600 });
    await chown(planted, 65534, 65534);
    const r = await h.p2(['kv', 'ls', 'x'], { env: { P2_TOKEN_FILE: planted } });
    expect(r.code).toBe(ExitCode.DENIED);
    expect(r.err).toContain(`token file ${planted} is owned by uid 65534, not root`);
    expect(r.err).toContain('(P2_KV_TOKEN_FILE_UNSAFE)');
    const link = join(h.dir, 'link.token');
    await symlink(good, link);
    const viaLink = await h.p2(['kv', 'ls', 'x'], { env: { P2_TOKEN_FILE: link } });
    expect(viaLink.code).toBe(ExitCode.DENIED);
    expect(viaLink.err).toContain('is a symbolic link');
  });
});
