import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signArtifact } from '@p2/auth';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { newKey } from '../../../../../packages/auth/src/test-support.js';
import { runCli } from '../../program.js';
import { capture } from '../../test-support.js';

let dir = '';
const artifact = () => join(dir, 'p2t-app_1.tar.gz');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-verify-artifact-'));
  const builder = await newKey('p2t-builder');
  await writeFile(join(dir, 'keyring.asc'), builder.armoredPublic);
  const bytes = new TextEncoder().encode('pretend this is a .tar.gz\n');
  await writeFile(artifact(), bytes);
  await writeFile(`${artifact()}.sig`, await signArtifact(bytes, builder.privateKey));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function p2(...args: string[]) {
  const io = capture();
  const code = await runCli(['verify-artifact', ...args], { io, cwd: dir, env: {} });
  return { code, out: io.out, err: io.err };
}

describe('p2 verify-artifact', () => {
  it("reports each of P2's two ways (camelCase, null when it holds): the build signature holds, no build manifest", async () => {
    const r = await p2('p2t-app_1.tar.gz', '--keyring', 'keyring.asc', '--json');
    expect(r.code, r.err).toBe(ExitCode.OK);
    const report = JSON.parse(r.out);
    expect(report).toMatchObject({ signedManifest: false, signedBuild: true });
    expect(report.manifestError).toMatch(/build manifest/);
    expect(report.buildError).toBeNull();
  });

  it('says no for an artifact changed after signing, and exits 4 for a missing one', async () => {
    await writeFile(artifact(), 'changed after signing\n');
    const r = await p2('p2t-app_1.tar.gz', '--keyring', 'keyring.asc');
    expect(r.code, r.err).toBe(ExitCode.OK); // as P2: the report says what holds
    expect(r.out).toMatch(/^build signature +no {2}\(/m);
    expect((await p2('nosuch.tar.gz', '--keyring', 'keyring.asc')).code).toBe(ExitCode.NOT_FOUND);
  });
});
