/**
 * Socket log destinations with a real unix socket receiver and pino: one JSON entry per
 * connection; a missing socket never stalls the logger; a path others could change is refused.
 */
import { chmod, mkdir, mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { openSocketLogDestination, type SocketLogDrop } from './index.js';

let dir: string;
let server: Server | undefined;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-logdest-'));
});

afterEach(async () => {
  server?.close();
  server = undefined;
  await rm(dir, { recursive: true, force: true });
});

describe('SocketLogDestination', () => {
  it("delivers each of a pino logger's entries as one JSON object on its own connection", async () => {
    const path = join(dir, 'p2-socket.out');
    const connections: string[] = [];
    server = createServer((socket) => {
      let text = '';
      socket.on('data', (chunk) => {
        text += chunk;
      });
      socket.on('end', () => connections.push(text));
    });
    await new Promise<void>((resolve) => server?.listen(path, resolve));
    const destination = await openSocketLogDestination(path);
    const stdout: string[] = [];
    const logger = pino(
      { base: { node: 'h1' } },
      pino.multistream([
        { stream: { write: (line: string) => stdout.push(line) } },
        { stream: destination },
      ]),
    );
    logger.info({ pod: 'hello' }, 'pod launched');
    logger.warn('configuration key ignored');
    logger.debug('below the level: not sent');
    await destination.flush();
    // Delivered: the receiver sees each connection end (the order of two connections is free).
    for (let i = 0; i < 200 && connections.length < 2; i++)
      await new Promise((resolve) => setTimeout(resolve, 10));
    expect(connections).toHaveLength(2);
    const entries = connections.map((c) => JSON.parse(c) as Record<string, unknown>);
    expect(entries).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ level: 30, node: 'h1', pod: 'hello', msg: 'pod launched' }),
        expect.objectContaining({ level: 40, msg: 'configuration key ignored' }),
      ]),
    );
    expect(connections.every((c) => c.endsWith('}\n') && c.indexOf('\n') === c.length - 1)).toBe(
      true,
    );
    expect(stdout).toHaveLength(2);
    expect(destination.stats).toEqual({ sent: 2, dropped: 0 });
  });

  it('never stalls the logger when the socket is missing: entries are dropped, counted and reported once', async () => {
    const drops: SocketLogDrop[] = [];
    const destination = await openSocketLogDestination(join(dir, 'absent.sock'), {
      onDrop: (drop) => drops.push(drop),
      maxQueued: 100,
    });
    const stdout: string[] = [];
    const logger = pino(
      {},
      pino.multistream([
        { stream: { write: (line: string) => stdout.push(line) } },
        { stream: destination },
      ]),
    );
    for (let i = 0; i < 1000; i++) logger.info({ i }, 'still logging');
    // Every entry reached stdout at once, while the socket's are still being tried.
    expect(stdout).toHaveLength(1000);
    await destination.flush();
    expect(destination.stats).toEqual({ sent: 0, dropped: 1000 });
    await new Promise((resolve) => setImmediate(resolve));
    expect(drops).toHaveLength(1);
    expect(drops[0]).toMatchObject({ path: join(dir, 'absent.sock'), dropped: 1, total: 1 });
    expect(['ENOENT', 'queue full']).toContain(drops[0]?.reason);
  });

  it('gives up on a receiver that accepts and never reads, after its timeout', async () => {
    const path = join(dir, 'slow.sock');
    server = createServer((socket) => {
      socket.pause();
      setTimeout(() => socket.destroy(), 2000);
    });
    await new Promise<void>((resolve) => server?.listen(path, resolve));
    const destination = await openSocketLogDestination(path, { timeoutMs: 200 });
    destination.write(`${JSON.stringify({ msg: 'x'.repeat(4 * 2 ** 20) })}\n`);
    await destination.flush();
    expect(destination.stats).toEqual({ sent: 0, dropped: 1 });
  });

  it('refuses a socket in a directory other users can write, and a relative path', async () => {
    const open = join(dir, 'open');
    await mkdir(open);
    await chmod(open, 0o777);
    await expect(openSocketLogDestination(join(open, 'p2.sock'))).rejects.toMatchObject({
      code: 'P2_LOGS_UNTRUSTED_SOCKET',
      details: { dir: open },
    });
    await expect(openSocketLogDestination('p2.sock')).rejects.toMatchObject({
      code: 'P2_LOGS_INVALID_OPTIONS',
    });
  });
});
