/**
 * The preparer runs as root and trusts `consul_token_path`: it refuses to start on a token file
 * anyone but root could have written or that others could read.
 */
import { chmod, chown, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isP2Error } from '@p2/errors';
import { parsePreparerConfig } from '@p2/preparer-config';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startPreparer } from './main.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-preparer-token-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe.runIf(process.getuid?.() === 0)('consul_token_path', () => {
  it.each([
    ['group-readable', 0o640, 0],
    ['world-readable', 0o644, 0],
    ['owned by nobody', 0o600, 65534],
  ])('refuses a token file that is %s, with a code and a hint', async (name, mode, uid) => {
    const path = join(dir, `${name.replaceAll(' ', '-')}.token`);
    await writeFile(path, 'p2t-token\n');
    await chmod(path, mode);
    await chown(path, uid, 0);
    const config = parsePreparerConfig(
      `preparer:\n  node_name: p2t-n1\n  auth: {type: none}\n  consul_token_path: ${path}\n  pod_root: ${join(dir, 'pods')}\n  service_root: ${join(dir, 'service')}\n`,
    );
    const error = await startPreparer(config, { logger: pino({ level: 'silent' }) }).catch(
      (e: unknown) => e,
    );
    expect(isP2Error(error, 'P2_KV_TOKEN_FILE_UNSAFE')).toBe(true);
    expect((error as Error).message).toContain(path);
    expect((error as { hint?: string }).hint).toContain(
      `chown root:root ${path} && chmod 600 ${path}`,
    );
  });
});
