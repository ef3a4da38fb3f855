/** Fault tests with a real server process: kill -9 and restart. */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ServerProcess, spawnServer } from './test-process.js';

let dataDir: string;
let proc: ServerProcess | undefined;

beforeEach(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'p2t-kvs-crash-'));
});
afterEach(async () => {
  await proc?.kill9();
  proc = undefined;
  await rm(dataDir, { recursive: true, force: true });
});

describe('p2-kv-server process under kill -9', () => {
  it.each([
    ['with the log only', []],
    ['while compacting every 16 KiB', ['--compact-bytes', '16384']],
  ])('loses no acknowledged write when killed mid-stream of writes (%s)', async (_name, extra) => {
    proc = await spawnServer(dataDir, 0, extra);
    const { url, port } = proc;
    const acked = new Map<string, string>();
    let stop = false;
    let failures = 0;
    const writer = async (w: number) => {
      for (let n = 0; !stop; n++) {
        const key = `w/${w}/${n}`;
        const value = `value-${w}-${n}-${'x'.repeat(n % 50)}`;
        try {
          const res = await fetch(`${url}/v1/kv/${key}`, { method: 'PUT', body: value });
          if ((await res.text()) === 'true') acked.set(key, value);
        } catch {
          failures++;
          return;
        }
      }
    };
    const writers = Array.from({ length: 8 }, (_, w) => writer(w));
    // Kill once enough writes went in (and, compacting, once a snapshot was taken): by progress,
    // not by a fixed time, so a loaded machine kills no earlier in the stream than an idle one.
    const snapshot = join(dataDir, 'snapshot.json');
    for (let waited = 0; waited < 20_000; waited += 50) {
      if (acked.size > 50 && (extra.length === 0 || existsSync(snapshot))) break;
      await sleep(50);
    }
    await sleep(100); // mid-stream: writes keep going after the snapshot
    await proc.kill9();
    stop = true;
    await Promise.all(writers);
    expect(acked.size).toBeGreaterThan(20);
    // The compacting variant really snapshotted while writes streamed in.
    expect(existsSync(join(dataDir, 'snapshot.json'))).toBe(extra.length > 0);
    expect(failures).toBeGreaterThan(0); // the kill really happened mid-stream

    proc = await spawnServer(dataDir, port, extra);
    const res = await fetch(`${proc.url}/v1/kv/w/?recurse`);
    const stored = new Map(
      ((await res.json()) as { Key: string; Value: string }[]).map((e) => [
        e.Key,
        Buffer.from(e.Value, 'base64').toString(),
      ]),
    );
    const lost = [...acked].filter(([key, value]) => stored.get(key) !== value);
    expect(lost).toEqual([]);
  });

  it("releases a session's locks when it expires, even across a kill -9 and restart", async () => {
    proc = await spawnServer(dataDir, 0, ['--session-ttl-min', '1s']);
    const create = async (behavior: string) =>
      (
        (await (
          await fetch(`${proc?.url}/v1/session/create`, {
            method: 'PUT',
            body: JSON.stringify({
              TTL: '1s',
              Behavior: behavior,
              LockDelay: '1ms',
              Checks: [],
            }),
          })
        ).json()) as { ID: string }
      ).ID;
    const deleting = await create('delete');
    const releasing = await create('release');
    for (const [key, id] of [
      ['lock/a', deleting],
      ['lock/b', releasing],
    ] as const) {
      expect(
        await (
          await fetch(`${proc.url}/v1/kv/${key}?acquire=${id}`, { method: 'PUT', body: 'held' })
        ).text(),
      ).toBe('true');
    }
    const port = proc.port;
    await proc.kill9();
    proc = await spawnServer(dataDir, port, ['--session-ttl-min', '1s']);
    expect((await fetch(`${proc.url}/v1/kv/lock/a`)).status).toBe(200);
    const deadline = Date.now() + 5_000;
    let a = 200;
    let b: { Session?: string; Value: string } | undefined;
    while (Date.now() < deadline) {
      a = (await fetch(`${proc.url}/v1/kv/lock/a`)).status;
      b = (
        (await (await fetch(`${proc.url}/v1/kv/lock/b`)).json()) as {
          Session?: string;
          Value: string;
        }[]
      )[0];
      if (a === 404 && b && !b.Session) break;
      await sleep(50);
    }
    expect(a).toBe(404);
    expect(b?.Session).toBeUndefined();
    expect(Buffer.from(b?.Value ?? '', 'base64').toString()).toBe('held');
    expect(await (await fetch(`${proc.url}/v1/session/list`)).json()).toEqual([]);
  });

  it('the binary refuses bad flags with exit code 2 and says what it expected', async () => {
    for (const [args, message] of [
      [['--port', 'x'], '--port must be 0..65535'],
      [['--session-ttl-min', 'soon'], '--session-ttl-min must be a duration'],
      [['--compact-bytes', '10'], '--compact-bytes must be an integer'],
    ] as const) {
      const error = await spawnServer(dataDir, 0, [...args]).catch((e: unknown) => e as Error);
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message).toContain('exited with 2');
      expect((error as Error).message).toContain(message);
    }
  });

  it('the binary with P2_KV_ACL_TOKEN_SHA256 denies anonymous reads and writes with a hint, and accepts the token', async () => {
    const token = 'p2t-process-token';
    proc = await spawnServer(dataDir, 0, [], {
      P2_KV_ACL_TOKEN_SHA256: createHash('sha256').update(token).digest('hex'),
    });
    const put = await fetch(`${proc.url}/v1/kv/intent/n1/evil`, { method: 'PUT', body: 'x' });
    expect(put.status).toBe(403);
    expect(await put.text()).toMatch(/^Permission denied.*Hint: run as root so p2 finds/);
    expect((await fetch(`${proc.url}/v1/kv/intent/?recurse`)).status).toBe(403);
    const headers = { 'X-Consul-Token': token };
    expect((await fetch(`${proc.url}/v1/kv/intent/?recurse`, { headers })).status).toBe(404);
    expect((await fetch(`${proc.url}/v1/status/leader`)).status).toBe(200);
  });

  it('refuses to start on a port in use, with a hint', async () => {
    proc = await spawnServer(dataDir);
    const other = await mkdtemp(join(tmpdir(), 'p2t-kvs-crash-'));
    try {
      await expect(spawnServer(other, proc.port)).rejects.toThrow(/EADDRINUSE[\s\S]*--port/);
    } finally {
      await rm(other, { recursive: true, force: true });
    }
  });
});
