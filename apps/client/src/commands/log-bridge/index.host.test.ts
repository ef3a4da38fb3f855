/**
 * `p2-log-bridge` as a real runit service's log command (root): run as `nobody` by the `log/run`
 * p2 writes, fed by a hostile service (binary garbage, a line with no end, a flood), it hands every
 * byte to its log command and a lossy copy, within its limits, to a log shipper's unix socket.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmod, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { RunsvDir, readStatus, restart } from '@p2/runit';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { until } from '../../../../../test-support/until.js';

const repoRoot = fileURLToPath(new URL('../../../../../', import.meta.url));
const suffix = randomBytes(3).toString('hex');
let work: string;
let runsvdir: RunsvDir;
let shipper: Server;
const accepted: Socket[] = [];
const shipped: Buffer[] = [];

async function uidOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/\nUid:\t(\d+)\t/.exec(status)?.[1]);
}

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'p2t-logbridge-'));
  await chmod(work, 0o755);
  // A log shipper's socket that nobody (the bridge) may connect to.
  const socketPath = join(work, 'shipper.sock');
  shipper = createServer((socket) => {
    accepted.push(socket);
    socket.on('data', (chunk) => shipped.push(chunk));
  });
  await new Promise<void>((resolve) => shipper.listen(socketPath, resolve));
  await chmod(socketPath, 0o666);
  runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 1 });
  await runsvdir.start();
});

afterAll(async () => {
  await runsvdir?.stop({ stopServices: true }).catch(() => undefined);
  for (const socket of accepted) socket.destroy();
  shipper?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

describe('p2-log-bridge under runit', () => {
  it('runs as nobody, hands a hostile service’s every byte to its log command and a limited lossy copy to a shipper', async () => {
    // The binary, from source (tsx), as a host would have it on its PATH.
    const bridge = join(work, 'p2-log-bridge');
    await writeFile(
      bridge,
      `#!/bin/sh\nexec env TSX_TSCONFIG_PATH=${join(repoRoot, 'tsconfig.json')} node --import ${join(repoRoot, 'node_modules/tsx/dist/esm/index.mjs')} ${join(repoRoot, 'apps/client/src/log-bridge-cli.ts')} "$@"\n`,
      { mode: 0o755 },
    );
    await mkdir(join(work, 'app/bin'), { recursive: true });
    const app = join(work, 'app/bin/launch');
    // Garbage, 2 MiB without a newline, 3000 lines at once, then a marker; then it idles.
    await writeFile(
      app,
      '#!/bin/sh\nhead -c 65536 /dev/urandom\nhead -c 2097152 /dev/zero | tr "\\0" x\necho\ni=0; while [ $i -lt 3000 ]; do echo "flood $i"; i=$((i+1)); done\necho "the end"\nexec sleep 1000\n',
      { mode: 0o755 },
    );
    const name = `p2t-lb-${suffix}__app__launch`;
    const { dir } = await runsvdir.install({
      name,
      entryPoint: app,
      user: 'daemon',
      log: {
        // log_exec, as the preparer gives it to every service (P2's sample: [log-bridge, start]).
        command: [
          bridge,
          '--lossy-to',
          `unix:${join(work, 'shipper.sock')}`,
          '--lines-per-second',
          '200',
          '--buffer-lines',
          '100',
          '--',
          'sh',
          '-c',
          'id -u > ./main/uid; exec cat >> ./main/got',
        ],
        env: { POD_ID: `p2t-lb-${suffix}`, LAUNCHABLE_ID: 'app', P2_SERVICE: name },
      },
    });
    const got = await until('the last line through the bridge', async () => {
      const bytes = await readFile(join(dir, 'log/main/got'));
      return bytes.includes('the end\n') ? bytes : undefined;
    });
    // Every byte: the garbage, the long line, every flood line, in order.
    expect(got.length).toBeGreaterThan(65_536 + 2_097_152);
    const flood = got.toString('latin1').match(/^flood \d+$/gm) ?? [];
    expect(flood).toEqual(Array.from({ length: 3000 }, (_, i) => `flood ${i}`));

    // Nothing of it runs as root: the bridge (runsv's log child) and its log command are nobody's.
    const bridgePid = (await readStatus(dir)).log?.pid as number;
    expect(await uidOf(bridgePid)).toBe(65534);
    expect((await readFile(join(dir, 'log/main/uid'), 'utf8')).trim()).toBe('65534');
    const { stdout } = await promisify(execFile)('pgrep', ['-P', String(bridgePid)]);
    for (const child of stdout.trim().split('\n').map(Number))
      expect(await uidOf(child)).toBe(65534);

    // The shipper got a lossy copy: JSON records naming the pod, no more than the limits allow.
    const records = await until('lossy records', async () => {
      const lines = Buffer.concat(shipped).toString('utf8').split('\n').filter(Boolean);
      return lines.length > 0
        ? lines.map((l) => JSON.parse(l) as Record<string, unknown>)
        : undefined;
    });
    const lines = records.filter((r) => 'line' in r);
    expect(lines[0]).toMatchObject({
      pod_id: `p2t-lb-${suffix}`,
      launchable_id: 'app',
      service: name,
    });
    expect(lines.length).toBeLessThan(3000);
    expect(lines.every((r) => Buffer.byteLength(r.line as string) <= 3 * 4096)).toBe(true);

    // Stopping the log service (as runsv does on restart) ends the bridge cleanly.
    const restarted = await restart(dir, { log: true, timeoutMs: 10_000 });
    expect(restarted.killed).toBe(false);
    expect(restarted.status.pid).not.toBe(bridgePid);
    expect(await uidOf(restarted.status.pid as number)).toBe(65534);
  });
});
