/** The HTTP side of the dashboard against a real kv-server: headers, Host check, read-only, no token. */
import { request } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FleetHub } from './hub.js';
import { isLoopback, parseListen, startUiServer, UiErrorCode, type UiServer } from './index.js';
import {
  type RestartableStore,
  seedFleet,
  startRestartableStore,
  TEST_TOKEN,
} from './test-support.js';

let fleet: RestartableStore;
let ui: UiServer;

beforeAll(async () => {
  fleet = await startRestartableStore();
  await seedFleet(fleet.store);
  ui = await startUiServer({ store: fleet.store, listen: { host: '127.0.0.1', port: 0 } });
});

afterAll(async () => {
  await ui?.close();
  await fleet?.cleanup();
});

/** A GET with a chosen Host header (fetch does not let one set it). */
function get(
  path: string,
  host?: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  const url = new URL(path, ui.url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname + url.search,
        headers: host ? { host } : {},
      },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          body += chunk;
          // The event stream never ends: its first events are enough.
          if (path === '/api/events' && body.includes('event: snapshot')) res.destroy();
        });
        const done = () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body });
        res.on('end', done);
        res.on('close', done);
      },
    );
    req.on('error', reject);
    req.end();
  });
}

async function fleetJson(): Promise<{ pods: Array<{ key: string; verdict: string }> }> {
  for (;;) {
    const res = await get('/api/fleet');
    if (res.status === 200) return JSON.parse(res.body);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('listen address', () => {
  it('parses HOST:PORT, [v6]:PORT and PORT, and refuses the rest', () => {
    expect(parseListen('0.0.0.0:9000')).toEqual({ host: '0.0.0.0', port: 9000 });
    expect(parseListen('[::1]:8501')).toEqual({ host: '::1', port: 8501 });
    expect(parseListen('8600')).toEqual({ host: '127.0.0.1', port: 8600 });
    expect(() => parseListen('host:99999')).toThrow(
      expect.objectContaining({ code: UiErrorCode.BAD_LISTEN }),
    );
    expect(() => parseListen('nope')).toThrow(
      expect.objectContaining({ code: UiErrorCode.BAD_LISTEN }),
    );
    expect([isLoopback('127.0.0.1'), isLoopback('::1'), isLoopback('localhost')]).toEqual([
      true,
      true,
      true,
    ]);
    expect([isLoopback('0.0.0.0'), isLoopback('10.0.0.1'), isLoopback('::')]).toEqual([
      false,
      false,
      false,
    ]);
  });

  it('refuses a non-loopback address without allowRemote (the dashboard has no login)', async () => {
    await expect(
      startUiServer({ store: fleet.store, listen: { host: '0.0.0.0', port: 0 } }),
    ).rejects.toMatchObject({ code: UiErrorCode.REMOTE_NOT_ALLOWED });
    const remote = await startUiServer({
      store: fleet.store,
      listen: { host: '0.0.0.0', port: 0 },
      allowRemote: true,
    });
    try {
      expect((await fetch(`${remote.url}api/selector?q=a`)).status).toBe(200);
    } finally {
      await remote.close();
    }
  });

  it('says so when the port is taken', async () => {
    const port = Number(new URL(ui.url).port);
    await expect(
      startUiServer({ store: fleet.store, listen: { host: '127.0.0.1', port } }),
    ).rejects.toMatchObject({ code: UiErrorCode.LISTEN_FAILED });
  });
});

describe('requests', () => {
  it('refuses a Host header that is not the bound address or localhost (DNS rebinding)', async () => {
    const port = new URL(ui.url).port;
    const evil = await get('/api/fleet', `evil.example:${port}`);
    expect(evil.status).toBe(421);
    expect(evil.body).not.toContain('"pods"');
    expect((await get('/', `evil.example:${port}`)).status).toBe(421);
    expect((await get('/', `127.0.0.1:${Number(port) + 1}`)).status).toBe(421);
    expect((await get('/', `localhost:${port}`)).status).toBe(200);
    expect((await get('/', `127.0.0.1:${port}`)).status).toBe(200);
  });

  it('sends a strict CSP and nosniff with every answer, found or not', async () => {
    for (const path of [
      '/',
      '/app.js',
      '/style.css',
      '/api/fleet',
      '/api/nothing',
      '/api/pod?id=nope',
    ]) {
      const res = await get(path);
      expect(res.headers['content-security-policy'], path).toMatch(/^default-src 'self'/);
      expect(res.headers['content-security-policy'], path).not.toContain('unsafe-inline');
      expect(res.headers['x-content-type-options'], path).toBe('nosniff');
    }
    const page = await get('/');
    // No inline script: the only script is /app.js.
    expect(page.body.match(/<script/g)).toHaveLength(1);
    expect(page.body).toContain('<script src="/app.js" defer></script>');
  });

  it('is read-only: other methods are refused', async () => {
    for (const method of ['POST', 'PUT', 'DELETE']) {
      const res = await fetch(`${ui.url}api/fleet`, { method });
      expect(res.status).toBe(405);
    }
  });

  it('answers the fleet in the CLI shapes, one pod, and selector syntax errors', async () => {
    const fleetBody = await fleetJson();
    expect(fleetBody.pods.map((p) => [p.key, p.verdict])).toEqual([
      ['h1/hello', 'converged'],
      ['h2/web', 'pending'],
      ['h3/api', 'failed'],
    ]);
    const pod = JSON.parse((await get('/api/pod?id=hello')).body);
    expect(pod.nodes[0]).toMatchObject({ node: 'h1', verdict: 'converged', health: null });
    expect(Object.values(pod.manifests)).toEqual([expect.stringContaining('id: hello')]);
    expect((await get('/api/pod?id=missing')).status).toBe(404);
    const bad = await get('/api/selector?q=app%20in%20(');
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('P2_LABELS_SELECTOR_SYNTAX');
    const good = JSON.parse((await get('/api/selector?q=app%3Dweb')).body);
    expect(good.requirements).toEqual([{ key: 'app', operator: '=', values: ['web'] }]);
  });

  it('never shows the store token, in any answer or the event stream', async () => {
    await fleetJson();
    const answers = await Promise.all(
      ['/', '/app.js', '/style.css', '/api/fleet', '/api/pod?id=hello', '/api/events'].map((p) =>
        get(p),
      ),
    );
    expect(answers.find((a) => a.body.includes('event: snapshot'))).toBeDefined();
    for (const a of answers) expect(a.body).not.toContain(TEST_TOKEN);
  });
});

describe('the first paint', () => {
  /** The raw body of `/api/fleet` and its encoding, asked with `accept-encoding`. */
  function rawFleet(acceptEncoding: string): Promise<{ encoding: unknown; body: Buffer }> {
    const url = new URL('/api/fleet', ui.url);
    return new Promise((resolve, reject) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          headers: { 'accept-encoding': acceptEncoding },
        },
        (res) => {
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () =>
            resolve({ encoding: res.headers['content-encoding'], body: Buffer.concat(chunks) }),
          );
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  it('gzips /api/fleet for a client that takes gzip, and only for it', async () => {
    const expected = await fleetJson();
    const plain = await rawFleet('identity');
    expect(plain.encoding).toBeUndefined();
    expect(JSON.parse(plain.body.toString('utf8'))).toEqual(expected);
    for (const accept of ['gzip', 'br, gzip, deflate', 'gzip;q=0.5']) {
      const zipped = await rawFleet(accept);
      expect(zipped.encoding, accept).toBe('gzip');
      expect(JSON.parse(gunzipSync(zipped.body).toString('utf8'))).toEqual(expected);
    }
    expect((await rawFleet('gzip;q=0')).encoding).toBeUndefined();
  });

  it('streams only changes to a page that read the latest snapshot, the snapshot to others', async () => {
    const hub = new FleetHub(fleet.store);
    hub.start();
    try {
      await expect.poll(() => hub.snapshot).toBeDefined();
      const time = hub.snapshot?.time;
      const events = (since?: string) => {
        const sent: string[] = [];
        hub.add({ send: (event) => sent.push(event.slice(0, event.indexOf('\n'))) }, since)();
        return sent;
      };
      expect(events()).toEqual(['event: store', 'event: snapshot']);
      expect(events(time)).toEqual(['event: store']);
      // An older snapshot than the hub's: the page gets the whole snapshot again.
      expect(events('2000-01-01T00:00:00.000Z')).toEqual(['event: store', 'event: snapshot']);
    } finally {
      await hub.close();
    }
  });
});
