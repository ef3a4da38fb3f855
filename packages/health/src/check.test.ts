import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseManifest } from '@p2/manifest';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPodHealth, type HealthTarget, healthCheckUrl, healthTarget } from './check.js';

const servers: Array<http.Server | net.Server> = [];
const sockets = new Set<net.Socket>();

async function listen<T extends http.Server | net.Server>(
  server: T,
  host = '127.0.0.1',
): Promise<number> {
  servers.push(server);
  server.on('connection', (s: net.Socket) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

afterAll(async () => {
  for (const s of sockets) s.destroy();
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
});

function target(
  port: number,
  extra: Partial<NonNullable<HealthTarget['status']>> = {},
): HealthTarget {
  return {
    podId: 'p2t-web',
    host: '127.0.0.1',
    status: { port, path: '/_status', scheme: 'http', localhostOnly: false, ...extra },
  };
}

describe('checkPodHealth over http', () => {
  const seen: Array<{ method: string | undefined; url: string | undefined }> = [];
  let port = 0;
  beforeAll(async () => {
    port = await listen(
      http.createServer((req, res) => {
        seen.push({ method: req.method, url: req.url });
        const u = req.url ?? '';
        if (u === '/_status') return res.end('ok');
        if (u === '/fail') {
          res.statusCode = 500;
          return res.end('boom');
        }
        if (u === '/slow') return void setTimeout(() => res.end('late but fine'), 300);
        if (u === '/hang') return; // never answers
        if (u === '/hang-body') {
          res.writeHead(200, { 'content-length': '100' });
          return void res.write('partial');
        }
        if (u === '/big') {
          res.writeHead(200);
          return res.end(Buffer.alloc(2 * 1024 * 1024, 97));
        }
        if (u === '/moved') {
          res.writeHead(302, { location: '/_status' });
          return res.end();
        }
        if (u === '/away') {
          res.writeHead(301, { location: 'http://127.0.0.2:1/_status' });
          return res.end();
        }
        if (u === '/loop') {
          res.writeHead(307, { location: '/loop' });
          return res.end();
        }
        if (u === '/nocontent') {
          res.statusCode = 204;
          return res.end();
        }
        res.statusCode = 404;
        res.end();
      }),
    );
  });

  it('sends GET to the status path and reports 2xx as passing', async () => {
    const before = seen.length;
    const r = await checkPodHealth(target(port));
    expect(r).toMatchObject({ status: 'passing', reason: 'HTTP 200', httpStatus: 200 });
    expect(r.url).toBe(`http://127.0.0.1:${port}/_status`);
    expect(seen.slice(before)).toEqual([{ method: 'GET', url: '/_status' }]);
    expect((await checkPodHealth(target(port, { path: '/nocontent' }))).status).toBe('passing');
  });

  it('reports 500 and 404 as critical with the status code', async () => {
    expect(await checkPodHealth(target(port, { path: '/fail' }))).toMatchObject({
      status: 'critical',
      reason: 'HTTP 500',
      httpStatus: 500,
    });
    expect((await checkPodHealth(target(port, { path: '/missing' }))).reason).toBe('HTTP 404');
  });

  it('waits for a slow answer within the timeout', async () => {
    const r = await checkPodHealth(target(port, { path: '/slow' }), { timeoutMs: 3000 });
    expect(r.status).toBe('passing');
    expect(r.durationMs).toBeGreaterThanOrEqual(250);
  });

  it('gives up on a server that never answers, saying where it hung', async () => {
    const r = await checkPodHealth(target(port, { path: '/hang' }), { timeoutMs: 200 });
    expect(r).toMatchObject({
      status: 'critical',
      errorCode: 'ETIMEDOUT',
      reason: 'timed out after 200 ms waiting for the response headers',
    });
  });

  it('gives up on a body that never ends', async () => {
    const r = await checkPodHealth(target(port, { path: '/hang-body' }), { timeoutMs: 200 });
    expect(r.status).toBe('critical');
    expect(r.reason).toBe('timed out after 200 ms reading the response body');
    expect(r.httpStatus).toBe(200);
  });

  it('stops reading a large body once the status is known', async () => {
    const r = await checkPodHealth(target(port, { path: '/big' }), { maxBodyBytes: 1024 });
    expect(r).toMatchObject({ status: 'passing', httpStatus: 200 });
  });

  it('follows same-origin redirects only, and not forever', async () => {
    expect(await checkPodHealth(target(port, { path: '/moved' }))).toMatchObject({
      status: 'passing',
      url: `http://127.0.0.1:${port}/_status`,
    });
    const away = await checkPodHealth(target(port, { path: '/away' }));
    expect(away.status).toBe('critical');
    expect(away.reason).toContain(
      'redirect to another origin (http://127.0.0.2:1/_status) is not followed',
    );
    const loop = await checkPodHealth(target(port, { path: '/loop' }), { maxRedirects: 3 });
    expect(loop).toMatchObject({ status: 'critical', reason: 'HTTP 307: more than 3 redirects' });
    const none = await checkPodHealth(target(port, { path: '/moved' }), { maxRedirects: 0 });
    expect(none).toMatchObject({ status: 'critical', reason: 'HTTP 302: more than 0 redirects' });
  });

  it('reports a refused connection', async () => {
    const probe = net.createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const free = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    expect(await checkPodHealth(target(free))).toMatchObject({
      status: 'critical',
      reason: 'connection refused',
      errorCode: 'ECONNREFUSED',
    });
  });

  it('can be cancelled', async () => {
    const controller = new AbortController();
    const pending = checkPodHealth(target(port, { path: '/hang' }), { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    expect(await pending).toMatchObject({ status: 'critical', reason: 'check cancelled' });
  });
});

describe('checkPodHealth against broken servers', () => {
  it('reports a connection closed mid-response', async () => {
    const port = await listen(
      net.createServer((socket) => {
        socket.once('data', () => {
          socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nonly part of it');
          setTimeout(() => socket.destroy(), 20);
        });
      }),
    );
    const r = await checkPodHealth(target(port));
    expect(r).toMatchObject({ status: 'critical', reason: 'connection closed mid-response' });
  });

  it('reports a connection closed before any answer', async () => {
    const port = await listen(
      net.createServer((socket) => socket.once('data', () => socket.destroy())),
    );
    const r = await checkPodHealth(target(port));
    expect(r.status).toBe('critical');
    expect(r.reason).toMatch(/^(connection reset|socket hang up)/);
    expect(r.errorCode).toBe('ECONNRESET');
  });

  it('reports garbage that is not HTTP', async () => {
    const port = await listen(
      net.createServer((socket) => socket.once('data', () => socket.end('SSH-2.0-OpenSSH\r\n'))),
    );
    const r = await checkPodHealth(target(port));
    expect(r.status).toBe('critical');
    expect(r.errorCode).toMatch(/^HPE_/);
  });
});

describe('checkPodHealth over https with a private CA', () => {
  let dir = '';
  let ca = '';
  let port = 0;
  let plainPort = 0;
  let otherPort = 0;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'p2t-health-tls-'));
    const ssl = (...args: string[]) => execFileSync('openssl', args, { cwd: dir, stdio: 'pipe' });
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    ssl(
      'req',
      '-x509',
      ...ec,
      '-keyout',
      'ca.key',
      '-out',
      'ca.pem',
      '-days',
      '2',
      '-subj',
      '/CN=p2t private CA',
    );
    ssl('req', ...ec, '-keyout', 'pod.key', '-out', 'pod.csr', '-subj', '/CN=localhost');
    writeFileSync(join(dir, 'san.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\n');
    ssl(
      'x509',
      '-req',
      '-in',
      'pod.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'pod.pem',
      '-days',
      '2',
      '-extfile',
      'san.ext',
    );
    ssl('req', ...ec, '-keyout', 'other.key', '-out', 'other.csr', '-subj', '/CN=elsewhere');
    writeFileSync(join(dir, 'other.ext'), 'subjectAltName=DNS:p2t-elsewhere.example\n');
    ssl(
      'x509',
      '-req',
      '-in',
      'other.csr',
      '-CA',
      'ca.pem',
      '-CAkey',
      'ca.key',
      '-CAcreateserial',
      '-out',
      'other.pem',
      '-days',
      '2',
      '-extfile',
      'other.ext',
    );
    ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
    otherPort = await listen(
      https.createServer(
        { key: readFileSync(join(dir, 'other.key')), cert: readFileSync(join(dir, 'other.pem')) },
        (_q, res) => res.end(),
      ),
    );
    const tlsServer = https.createServer(
      { key: readFileSync(join(dir, 'pod.key')), cert: readFileSync(join(dir, 'pod.pem')) },
      (req, res) => {
        res.statusCode = req.url === '/_status' ? 200 : 503;
        res.end();
      },
    );
    port = await listen(tlsServer);
    plainPort = await listen(http.createServer((_q, res) => res.end('plain')));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  const tls = (port: number, extra = {}) => target(port, { scheme: 'https', ...extra });

  it('passes when the pod certificate chains to the configured CA', async () => {
    expect(await checkPodHealth(tls(port), { tls: { ca } })).toMatchObject({
      status: 'passing',
      url: `https://127.0.0.1:${port}/_status`,
    });
    expect((await checkPodHealth(tls(port, { path: '/down' }), { tls: { ca } })).reason).toBe(
      'HTTP 503',
    );
  });

  it('fails verification without the CA', async () => {
    const r = await checkPodHealth(tls(port));
    expect(r.status).toBe('critical');
    expect(r.reason).toMatch(
      /^TLS verification failed \((UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT_LOCALLY)\)/,
    );
  });

  it('fails when the certificate names another host', async () => {
    const r = await checkPodHealth(tls(otherPort), { tls: { ca } });
    expect(r.status).toBe('critical');
    expect(r.errorCode).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(r.reason).toMatch(/^TLS verification failed \(ERR_TLS_CERT_ALTNAME_INVALID\)/);
  });

  it('does not verify localhost-only pods, as P2', async () => {
    const r = await checkPodHealth(tls(port, { localhostOnly: true }));
    expect(r).toMatchObject({ status: 'passing', url: `https://localhost:${port}/_status` });
  });

  it('reports https spoken to a plain http port', async () => {
    const r = await checkPodHealth(tls(plainPort), { tls: { ca } });
    expect(r.status).toBe('critical');
    expect(r.reason).toMatch(/^TLS handshake failed/);
  });
});

describe('targets', () => {
  it('a pod without a status port passes without a request', async () => {
    const t = healthTarget(parseManifest('id: p2t-quiet\n'), 'h1');
    expect(t.status).toBeUndefined();
    expect(healthCheckUrl(t)).toBeUndefined();
    expect(await checkPodHealth(t)).toMatchObject({ status: 'passing' });
  });

  it('derives the URL as P2 did: https by default, legacy keys win, localhost_only', () => {
    const url = (yaml: string) =>
      healthCheckUrl(healthTarget(parseManifest(yaml), 'node-1.example'))?.href;
    expect(url('id: a\nstatus_port: 8443\n')).toBe('https://node-1.example:8443/_status');
    expect(url('id: a\nstatus_port: 8080\nstatus: {port: 81, http: true, path: health}\n')).toBe(
      'http://node-1.example:8080/health',
    );
    expect(url('id: a\nstatus_http: true\nstatus: {port: 81, localhost_only: true}\n')).toBe(
      'http://localhost:81/_status',
    );
  });

  it('reports an impossible port instead of throwing', async () => {
    expect((await checkPodHealth(target(70000))).reason).toBe(
      'status port 70000 is not a TCP port (expected 1–65535)',
    );
  });
});
