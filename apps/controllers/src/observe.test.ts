/**
 * The binary's observability flags, end to end: `--metrics-port` serves the farms' metrics and
 * `--alert-webhook` with `--alert-routing-key-file` delivers a real alert (the RC farm's
 * `no_rcs_found` on an empty store) to a receiver on loopback; the key never reaches the output.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type KvServer, startKvServer } from '@p2/kv-server';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventually } from '../../../packages/controller-kit/src/test-support.js';
import { startObservability } from './observe.js';

const KEY = 'p2t0123456789abcdef0123456789abc';
const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));
let dir: string;
let kv: KvServer;
let hook: Server;
let events: Array<Record<string, unknown>>;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-controllers-obs-'));
  kv = await startKvServer({ dataDir: join(dir, 'kv'), port: 0 });
  events = [];
  hook = createServer((req, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => {
      body += chunk.toString();
    });
    req.on('end', () => {
      events.push(JSON.parse(body));
      res.writeHead(202).end('{"status":"success"}');
    });
  });
  await new Promise<void>((resolve) => hook.listen(0, '127.0.0.1', resolve));
});
afterEach(async () => {
  await new Promise((resolve) => hook.close(resolve));
  await kv.close();
  await rm(dir, { recursive: true, force: true });
});

describe('p2-controllers --metrics-port --alert-webhook', () => {
  it('serves metrics on loopback and pages the webhook with the key from the file', async () => {
    const keyFile = join(dir, 'routing.key');
    await writeFile(keyFile, `${KEY}\n`, { mode: 0o600 });
    const webhook = `http://127.0.0.1:${(hook.address() as AddressInfo).port}/v2/enqueue`;
    const child = spawn(
      process.execPath,
      [
        ...['--import', 'tsx', cli, '--store', `consul://127.0.0.1:${kv.port}`, '--farms', 'rc'],
        ...['--metrics-port', '0', '--alert-webhook', webhook],
        ...['--alert-routing-key-file', keyFile, '--log-level', 'debug'],
      ],
      { cwd: repoRoot, env: { PATH: process.env.PATH }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let out = '';
    child.stdout.on('data', (chunk) => {
      out += chunk;
    });
    child.stderr.on('data', (chunk) => {
      out += chunk;
    });
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      await eventually(async () => events.length > 0, 20_000);
      expect(events[0]).toMatchObject({
        routing_key: KEY,
        event_action: 'trigger',
        dedup_key: 'no_rcs_found',
        payload: { severity: 'critical', source: expect.stringMatching(/^p2-controllers@/) },
      });
      const url = /"url":"(http:\/\/127\.0\.0\.1:\d+)\/metrics"/.exec(out)?.[1];
      expect(url, out).toBeDefined();
      let text = '';
      await eventually(async () => {
        text = await (await fetch(`${url}/metrics`)).text();
        return text.includes('p2_controllers_alert_deliveries_total{result="sent"} 1');
      });
      expect(text).toContain('p2_controllers_alerts_total{urgency="high"}');
      expect(text).toContain('p2_controllers_locks_held{farm="rc"} 0');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
    expect(out).toContain('"alert":"no_rcs_found"');
    expect(out).not.toContain(KEY);
  });
});

describe('startObservability', () => {
  const log = pino({ level: 'silent' });
  it('refuses a bad port, a non-http URL, an unreadable or empty key file, a key without a webhook', async () => {
    const bad = (flags: Parameters<typeof startObservability>[0]) =>
      expect(startObservability(flags, log)).rejects.toMatchObject({
        code: 'P2_CONTROLLERS_INVALID_ARGUMENT',
      });
    await bad({ metricsPort: '70000' });
    await bad({ metricsPort: 'nine' });
    await bad({ alertWebhook: 'file:///etc/passwd' });
    await bad({ alertWebhook: 'not a url' });
    await bad({ alertWebhook: 'http://127.0.0.1:1/', alertRoutingKeyFile: join(dir, 'absent') });
    const empty = join(dir, 'empty.key');
    await writeFile(empty, '\n', { mode: 0o600 });
    await bad({ alertWebhook: 'http://127.0.0.1:1/', alertRoutingKeyFile: empty });
    await bad({ alertRoutingKeyFile: empty });
    // A key others may read is refused: it is a secret.
    const shared = join(dir, 'shared.key');
    await writeFile(shared, `${KEY}\n`, { mode: 0o644 });
    await bad({ alertWebhook: 'http://127.0.0.1:1/', alertRoutingKeyFile: shared });
    // Neither flag: metrics are still collected (nothing served), no alert sink.
    const none = await startObservability({}, log);
    expect(none.onAlert).toBeUndefined();
    expect(none.metricsUrl).toBeUndefined();
    await none.close();
  });

  it('never puts the key file content in an error', async () => {
    const twoWords = join(dir, 'two.key');
    await writeFile(twoWords, `${KEY} extra\n`, { mode: 0o600 });
    const error = await startObservability(
      { alertWebhook: 'http://127.0.0.1:1/', alertRoutingKeyFile: twoWords },
      log,
    ).catch((e: unknown) => e as Error);
    expect(String((error as Error).message)).not.toContain(KEY);
    expect(JSON.stringify(error)).not.toContain(KEY);
  });
});
