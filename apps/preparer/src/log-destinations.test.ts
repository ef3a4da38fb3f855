/**
 * `extra_log_destinations`: the preparer's own log entries reach a real unix socket, one JSON
 * object per connection; a socket that is not there never stalls it; a socket where others could
 * put theirs is refused at start. The preparer here stops at its require_file check, after logging.
 */
import { execFile } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url));
let dir = '';
let server: Server | undefined;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-log-dest-'));
});
afterAll(async () => {
  server?.close();
  await rm(dir, { recursive: true, force: true });
});

/** Runs the preparer with a config whose require_file is missing: it logs a warning, then fails. */
async function preparer(socket: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const config = join(dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  await writeFile(
    config,
    [
      'preparer:',
      '  node_name: p2t-logdest',
      '  auth: {type: none}',
      '  replay_guard: {enabled: true}',
      `  require_file: ${join(dir, 'absent-require-file')}`,
      '  extra_log_destinations:',
      `  - {type: socket, path: ${socket}}`,
      '',
    ].join('\n'),
  );
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['--import', 'tsx', cli, '--config', config],
      { cwd: repoRoot, timeout: 60_000 },
      (error, stdout, stderr) =>
        resolve({ code: error ? Number(error.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

describe('extra_log_destinations', () => {
  it("sends each of the preparer's log entries to the socket as one JSON object per connection", async () => {
    const path = join(dir, 'p2-socket.out');
    const received: string[] = [];
    server = createServer((socket) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('end', () => received.push(text));
    });
    await new Promise<void>((resolve) => server?.listen(path, resolve));
    const { code, stdout } = await preparer(path);
    expect(code).toBe(1);
    const lines = stdout.trim().split('\n');
    // Delivered before the preparer exited; the receiver may not have seen each end yet.
    for (let i = 0; i < 100 && received.length < lines.length; i++)
      await new Promise((resolve) => setTimeout(resolve, 20));
    const entries = received.map((text) => {
      expect(text.indexOf('\n')).toBe(text.length - 1);
      return JSON.parse(text) as Record<string, unknown>;
    });
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 40, node: 'p2t-logdest', name: 'p2-preparer' }),
        expect.objectContaining({ level: 60, node: 'p2t-logdest' }),
      ]),
    );
    // The same entries on stdout.
    expect(lines).toHaveLength(entries.length);
  });

  it('is not held up by a socket that is not there', async () => {
    const { code, stdout } = await preparer(join(dir, 'nobody-listens.sock'));
    expect(code).toBe(1);
    const levels = stdout
      .trim()
      .split('\n')
      .map((line) => (JSON.parse(line) as { level: number }).level);
    expect(levels).toContain(40);
    expect(levels).toContain(60);
  });

  it('refuses a socket in a directory other users can write, before anything else', async () => {
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    const { code, stderr } = await preparer(join(open, 'p2.sock'));
    expect(code).toBe(1);
    expect(stderr).toContain(`socket log destination ${join(open, 'p2.sock')}: ${open}`);
    expect(stderr).toContain('hint: put the socket in a directory only root can write');
  });
});
