/**
 * The log bridge with real log commands (sh, cat) and a real unix socket receiver: the durable
 * copy loses nothing and holds back when its command does not read; the lossy copy drops (and
 * counts) beyond its limits without ever slowing the durable one.
 */
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { until } from '../../../test-support/until.js';
import { runLogBridge } from './index.js';

let dir: string;
const servers: Server[] = [];
const accepted: Socket[] = [];

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-bridge-'));
});

afterEach(async () => {
  for (const socket of accepted.splice(0)) socket.destroy();
  for (const server of servers.splice(0)) server.close();
  await rm(dir, { recursive: true, force: true });
});

/** A unix socket receiver, as a log shipper would listen: `read: false` accepts and never reads. */
async function receiver(options: { read?: boolean } = {}) {
  const path = join(dir, `shipper-${randomBytes(3).toString('hex')}.sock`);
  const chunks: Buffer[] = [];
  const sockets: Socket[] = [];
  const server = createServer((socket) => {
    sockets.push(socket);
    accepted.push(socket);
    if (options.read === false) socket.pause();
    else socket.on('data', (chunk) => chunks.push(chunk));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(path, resolve));
  return {
    path,
    records: () =>
      Buffer.concat(chunks)
        .toString('utf8')
        .split('\n')
        .filter((l) => l !== '')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    sockets,
  };
}

const numbered = (from: number, to: number) => {
  let text = '';
  for (let i = from; i < to; i++) text += `line ${i} of a service that talks\n`;
  return Buffer.from(text);
};

describe('runLogBridge', () => {
  it('copies every byte, in order, to a log command that does not keep up, holding back meanwhile', async () => {
    const out = join(dir, 'out');
    const pidFile = join(dir, 'pid');
    const input = new PassThrough({ highWaterMark: 16 * 1024 });
    const bridge = runLogBridge({
      exec: ['sh', '-c', `echo $$ > ${pidFile}; exec cat > ${out}`],
      input,
    });
    // The whole line, never a half-written file (kill(0) would stop this very test).
    const pid = await until('log command', async () => {
      const text = await readFile(pidFile, 'utf8');
      return /^[1-9]\d*\n$/.test(text) ? Number(text) : undefined;
    });
    // The log command stops reading (stopped); the service keeps writing 4 MiB.
    process.kill(pid, 'SIGSTOP');
    const sent = numbered(0, 120_000);
    try {
      expect(sent.length).toBeGreaterThan(4 * 2 ** 20);
      // As a pipe delivers it: 16 KiB at a time.
      for (let at = 0; at < sent.length; at += 16_384) input.write(sent.subarray(at, at + 16_384));
      await sleep(300);
      // The bridge took at most a pipe's worth plus a chunk: the rest waits in the service's pipe.
      expect(input.readableLength + input.writableLength).toBeGreaterThan(sent.length - 512 * 1024);
    } finally {
      process.kill(pid, 'SIGCONT');
    }
    input.end();
    const report = await bridge;
    expect(report).toMatchObject({ bytes: sent.length, restarts: 0, exitCode: 0 });
    expect((await readFile(out)).equals(sent)).toBe(true);
  });

  it('through a slow log command (a shell loop reading byte by byte) every line arrives', async () => {
    const out = join(dir, 'out');
    const input = new PassThrough();
    const bridge = runLogBridge({
      exec: [
        'sh',
        '-c',
        `i=0; while IFS= read -r l; do printf '%s\\n' "$l"; i=$((i+1)); [ $((i % 1000)) -eq 0 ] && sleep 0.05; done > ${out}`,
      ],
      input,
      lossy: { type: 'none' },
    });
    const sent = numbered(0, 5000);
    input.end(sent);
    expect((await bridge).bytes).toBe(sent.length);
    expect((await readFile(out)).equals(sent)).toBe(true);
  });

  it('sends a lossy copy within its limits, drops the rest and counts it, and the durable copy gets everything', async () => {
    const shipper = await receiver();
    const out = join(dir, 'out');
    const input = new PassThrough();
    const started = performance.now();
    const bridge = runLogBridge({
      exec: ['sh', '-c', `exec cat > ${out}`],
      input,
      lossy: { type: 'unix', path: shipper.path },
      limits: { linesPerSecond: 100, bytesPerSecond: 100_000, bufferLines: 50 },
      env: {
        POD_ID: 'hello',
        LAUNCHABLE_ID: 'app',
        P2_SERVICE: 'hello__app__launch',
        PATH: '/usr/bin:/bin',
      },
    });
    // Give the bridge its socket before the burst.
    await until('the shipper connection', async () => shipper.sockets[0]);
    const sent = numbered(0, 5000);
    input.end(sent);
    const report = await bridge;
    const seconds = (performance.now() - started) / 1000;
    expect((await readFile(out)).equals(sent)).toBe(true);
    const { sent: shipped, dropped } = report.lossy;
    expect(shipped + dropped).toBe(5000);
    expect(dropped).toBeGreaterThan(0);
    // One second of burst, then the rate; the queue is not a way around the limit.
    expect(shipped).toBeLessThanOrEqual(100 + Math.ceil(100 * seconds) + 1);
    const records = await until('records at the shipper', async () => {
      const all = shipper.records();
      return all.filter((r) => 'line' in r).length === shipped ? all : undefined;
    });
    const lines = records.filter((r) => 'line' in r);
    expect(lines[0]).toMatchObject({
      pod_id: 'hello',
      launchable_id: 'app',
      service: 'hello__app__launch',
      line: 'line 0 of a service that talks',
    });
    expect(Number.isNaN(Date.parse(lines[0]?.time as string))).toBe(false);
    // In order, each line at most once; gaps are announced with their size.
    const numbers = lines.map((r) => Number(/line (\d+) /.exec(r.line as string)?.[1]));
    expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
    expect(new Set(numbers).size).toBe(numbers.length);
    for (const gap of records.filter((r) => 'dropped' in r))
      expect(gap).toMatchObject({ pod_id: 'hello', dropped: expect.any(Number) });
  });

  it('never waits for a lossy destination that is absent or does not read', async () => {
    const stuck = await receiver({ read: false });
    for (const lossy of [
      { type: 'unix' as const, path: join(dir, 'nobody-listens.sock') },
      { type: 'unix' as const, path: stuck.path },
    ]) {
      const out = join(dir, `out-${randomBytes(3).toString('hex')}`);
      const input = new PassThrough();
      const bridge = runLogBridge({
        exec: ['sh', '-c', `exec cat > ${out}`],
        input,
        lossy,
        format: 'raw',
        // Generous rates: only the destination holds lines back.
        limits: { linesPerSecond: 1_000_000, bytesPerSecond: 100_000_000, bufferLines: 100 },
      });
      const sent = Buffer.concat([
        numbered(0, 20_000),
        Buffer.alloc(2 ** 20, 'y'),
        Buffer.from('\n'),
      ]);
      input.end(sent);
      const report = await bridge;
      expect((await readFile(out)).equals(sent)).toBe(true);
      expect(report.lossy.sent + report.lossy.dropped).toBe(20_001);
      expect(report.lossy.dropped).toBeGreaterThan(0);
    }
  });

  it('starts a log command that exits again, and the lines after it arrive', async () => {
    const out = join(dir, 'out');
    const input = new PassThrough();
    const warnings: object[] = [];
    const bridge = runLogBridge({
      // Takes one line, then exits.
      exec: ['sh', '-c', `IFS= read -r l; printf '%s\\n' "$l" >> ${out}; exit 3`],
      input,
      restartDelayMs: 10,
      logger: { warn: (obj) => warnings.push(obj) },
    });
    for (let i = 0; i < 5; i++) {
      input.write(`message ${i}\n`);
      await until(`message ${i}`, async () =>
        (await readFile(out, 'utf8')).includes(`message ${i}\n`) ? true : undefined,
      );
    }
    input.end();
    const report = await bridge;
    expect(await readFile(out, 'utf8')).toBe(
      'message 0\nmessage 1\nmessage 2\nmessage 3\nmessage 4\n',
    );
    expect(report.restarts).toBeGreaterThanOrEqual(4);
    expect(warnings).toContainEqual({ exitCode: 3, signal: null });
  });

  it('passes hostile output through unchanged, and cuts endless lines in the lossy copy only', async () => {
    const shipper = await receiver();
    const out = join(dir, 'out');
    const input = new PassThrough();
    const bridge = runLogBridge({
      exec: ['sh', '-c', `exec cat > ${out}`],
      input,
      lossy: { type: 'unix', path: shipper.path },
      limits: { maxLineBytes: 1024, bytesPerSecond: 1_000_000 },
    });
    await until('the shipper connection', async () => shipper.sockets[0]);
    const sent = Buffer.concat([
      randomBytes(65_536),
      Buffer.alloc(8 * 2 ** 20, 'x'),
      Buffer.from('\n\u0000\u001b[31m"quoted"\\\n'),
    ]);
    input.end(sent);
    const report = await bridge;
    expect((await readFile(out)).equals(sent)).toBe(true);
    expect(report.lossy.truncated).toBeGreaterThanOrEqual(1);
    const records = await until('records', async () => {
      const all = shipper.records().filter((r) => 'line' in r);
      return all.length === report.lossy.sent ? all : undefined;
    });
    for (const record of records)
      expect(Buffer.byteLength(record.line as string)).toBeLessThanOrEqual(3 * 1024);
    expect(records.at(-1)).toMatchObject({ line: '\u0000\u001b[31m"quoted"\\' });
  });

  it('when stopped, writes what it read, closes its input, and ends the log command', async () => {
    const out = join(dir, 'out');
    const input = new PassThrough();
    const stop = new AbortController();
    const bridge = runLogBridge({
      exec: ['sh', '-c', `exec cat > ${out}`],
      input,
      signal: stop.signal,
    });
    input.write('before the stop\n');
    await until('the first line', async () =>
      (await readFile(out, 'utf8')).includes('before') ? true : undefined,
    );
    stop.abort();
    const report = await bridge;
    expect(report).toMatchObject({ bytes: 16, exitCode: 0 });
    expect(input.destroyed).toBe(true);
    expect(await readFile(out, 'utf8')).toBe('before the stop\n');
  });

  it('refuses an empty command and limits that cannot work', async () => {
    await expect(runLogBridge({ exec: [] })).rejects.toMatchObject({
      code: 'P2_LOGS_INVALID_OPTIONS',
    });
    await expect(
      runLogBridge({ exec: ['cat'], limits: { linesPerSecond: 0 } }),
    ).rejects.toMatchObject({
      code: 'P2_LOGS_INVALID_OPTIONS',
      details: { option: 'linesPerSecond' },
    });
  });
});
