import { createHash, randomBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HoistErrorCodes } from './errors.js';
import { type DownloadProgress, downloadArtifact, fetchBytes } from './fetch.js';
import {
  makeCertificates,
  serveBytes,
  serveThenReset,
  startServer,
  type TestServer,
} from './http-test-server.js';
import { tempDir } from './test-support.js';

const body = randomBytes(512 * 1024 + 123);
const sha = createHash('sha256').update(body).digest('hex');
const fast = { backoffMs: 5, maxBackoffMs: 20 };
let work: { dir: string; cleanup: () => Promise<void> };
let server: TestServer | undefined;

beforeAll(async () => {
  work = await tempDir('p2t-hoist-fetch-');
});
afterAll(async () => {
  await work.cleanup();
});
afterEach(async () => {
  await server?.close();
  server = undefined;
});

const dest = () => join(work.dir, `download-${randomBytes(4).toString('hex')}`);

describe('downloadArtifact over HTTP', () => {
  it('streams to disk, hashes on the fly and reports progress', async () => {
    server = await startServer((req, res) => serveBytes(body, req, res));
    const progress: DownloadProgress[] = [];
    const path = dest();
    const result = await downloadArtifact(`${server.url}/app.tar.gz`, path, {
      onProgress: (p) => progress.push(p),
      progressIntervalMs: 0,
    });
    expect(result).toMatchObject({ sha256: sha, size: body.length, attempts: 1, resumed: false });
    expect((await readFile(path)).equals(body)).toBe(true);
    expect(progress.length).toBeGreaterThan(1);
    expect(progress.at(-1)).toMatchObject({ bytes: body.length, total: body.length, done: true });
    expect(progress.every((p, i) => i === 0 || p.bytes >= progress[i - 1]!.bytes)).toBe(true);
    expect(progress.at(-1)!.bytesPerSecond).toBeGreaterThan(0);
  });

  it('retries 503 with backoff, honouring Retry-After', async () => {
    server = await startServer((req, res, i) => {
      if (i < 2) {
        res.writeHead(503, { 'retry-after': '0' });
        res.end('busy');
      } else serveBytes(body, req, res);
    });
    const result = await downloadArtifact(`${server.url}/a.tar.gz`, dest(), fast);
    expect(result).toMatchObject({ sha256: sha, attempts: 3 });
    expect(server.requests).toHaveLength(3);
  });

  it('resumes with a Range request after the connection is reset mid-body', async () => {
    server = await startServer((req, res, i) => {
      if (i === 0) serveThenReset(body, 200_000, res);
      else serveBytes(body, req, res);
    });
    const path = dest();
    const result = await downloadArtifact(`${server.url}/a.tar.gz`, path, fast);
    expect(result).toMatchObject({ sha256: sha, size: body.length, resumed: true, attempts: 2 });
    const retry = server.requests[1]!;
    expect(retry.headers.range).toMatch(/^bytes=\d+-$/);
    expect(Number(retry.headers.range!.slice(6, -1))).toBeGreaterThan(0);
    expect(retry.headers['if-range']).toBe('"v1"');
    expect((await readFile(path)).equals(body)).toBe(true);
  });

  it('starts over when the server cannot resume', async () => {
    server = await startServer((req, res, i) => {
      if (i === 0) serveThenReset(body, 100_000, res);
      else serveBytes(body, req, res, { ranges: false });
    });
    const path = dest();
    const result = await downloadArtifact(`${server.url}/a.tar.gz`, path, fast);
    expect(result).toMatchObject({ sha256: sha, resumed: false, attempts: 2 });
    expect((await readFile(path)).equals(body)).toBe(true);
  });

  it('turns 404 into a clear not-found error without retrying', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(404);
      res.end();
    });
    await expect(
      downloadArtifact(`${server.url}/missing.tar.gz`, dest(), fast),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.ARTIFACT_NOT_FOUND,
      message: `artifact ${server.url}/missing.tar.gz does not exist (HTTP 404)`,
    });
    expect(server.requests).toHaveLength(1);
  });

  it('gives up after the configured retries', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(502);
      res.end();
    });
    await expect(
      downloadArtifact(`${server.url}/a.tar.gz`, dest(), { ...fast, retries: 2 }),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.FETCH_FAILED,
      details: expect.objectContaining({ status: 502 }),
    });
    expect(server.requests).toHaveLength(3);
  });

  it('follows redirects', async () => {
    server = await startServer((req, res) => {
      if (req.url === '/old.tar.gz') {
        res.writeHead(302, { location: '/new.tar.gz' });
        res.end();
      } else serveBytes(body, req, res);
    });
    const result = await downloadArtifact(`${server.url}/old.tar.gz`, dest());
    expect(result.sha256).toBe(sha);
    expect(server.requests.map((r) => r.url)).toEqual(['/old.tar.gz', '/new.tar.gz']);
  });

  it('refuses a redirect to file: (a download must not become a local read), without retrying', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(301, { location: 'file:///etc/shadow' });
      res.end();
    });
    const error = await downloadArtifact(`${server.url}/a.tar.gz`, dest(), fast).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: HoistErrorCodes.FETCH_REDIRECT_REFUSED,
      message: expect.stringContaining('redirected to a "file:" URL'),
    });
    expect(server.requests).toHaveLength(1);
  });

  it('sends URL credentials as basic auth but never shows them in errors', async () => {
    server = await startServer((req, res) => {
      res.writeHead(
        req.headers.authorization === `Basic ${Buffer.from('bob:hunter2').toString('base64')}`
          ? 403
          : 401,
      );
      res.end();
    });
    const url = server.url.replace('http://', 'http://bob:hunter2@');
    const error = await downloadArtifact(`${url}/a.tar.gz?token=s3cret`, dest(), fast).catch(
      (e: unknown) => e,
    );
    expect(error).toMatchObject({
      code: HoistErrorCodes.FETCH_HTTP_STATUS,
      details: { status: 403 },
    });
    const shown = `${(error as Error).message} ${JSON.stringify(error)}`;
    expect(shown).not.toContain('hunter2');
    expect(shown).not.toContain('s3cret');
    expect(shown).toContain('http://***@127.0.0.1');
  });

  it('keeps credentials out of the structured logs of retries', async () => {
    server = await startServer((req, res, i) => {
      if (i === 0) {
        res.writeHead(503);
        res.end();
      } else serveBytes(body, req, res);
    });
    const lines: string[] = [];
    const logger = pino({ level: 'debug' }, { write: (line: string) => lines.push(line) });
    const url = server.url.replace('http://', 'http://bob:hunter2@');
    await downloadArtifact(`${url}/a.tar.gz?token=s3cret`, dest(), { ...fast, logger });
    expect(lines.join('')).toContain('artifact download failed; retrying');
    expect(lines.join('')).not.toMatch(/hunter2|s3cret/);
  });

  it('redacts credentials from network errors too', async () => {
    const probe = await startServer(() => undefined);
    const closedUrl = probe.url;
    await probe.close();
    const error = await downloadArtifact(
      `${closedUrl.replace('http://', 'http://bob:hunter2@')}/a.tar.gz`,
      dest(),
      { ...fast, retries: 1 },
    ).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: HoistErrorCodes.FETCH_FAILED });
    expect((error as Error).message).toContain('ECONNREFUSED');
    expect(`${(error as Error).message} ${JSON.stringify(error)}`).not.toContain('hunter2');
  });

  it('times out a stalled body and retries', async () => {
    server = await startServer((req, res, i) => {
      if (i === 0) {
        res.writeHead(200, { 'content-length': String(body.length) });
        res.write(body.subarray(0, 1000)); // then nothing
      } else serveBytes(body, req, res);
    });
    const result = await downloadArtifact(`${server.url}/a.tar.gz`, dest(), {
      ...fast,
      timeouts: { idleMs: 200 },
    });
    expect(result).toMatchObject({ sha256: sha, attempts: 2 });
  });

  it('refuses artifacts above maxBytes', async () => {
    server = await startServer((req, res) => serveBytes(body, req, res));
    await expect(
      downloadArtifact(`${server.url}/a.tar.gz`, dest(), { maxBytes: 1000 }),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.FETCH_TOO_LARGE,
    });
  });
});

describe('https with a custom CA', () => {
  let certs: Awaited<ReturnType<typeof makeCertificates>>;
  beforeAll(async () => {
    certs = await makeCertificates(work.dir);
  }, 30_000);

  it('downloads when the CA is given and refuses (without retrying) when it is not', async () => {
    server = await startServer((req, res) => serveBytes(body, req, res), certs);
    const result = await downloadArtifact(`${server.url}/a.tar.gz`, dest(), { ca: certs.ca });
    expect(result.sha256).toBe(sha);
    const before = server.requests.length;
    await expect(downloadArtifact(`${server.url}/a.tar.gz`, dest(), fast)).rejects.toMatchObject({
      code: HoistErrorCodes.FETCH_FAILED,
      hint: expect.stringContaining('`ca` option'),
    });
    expect(server.requests.length).toBe(before);
  });

  it('presents the client certificate to a server requiring one (mTLS), and is refused without', async () => {
    const { ca, key, cert } = certs;
    server = await startServer((req, res) => serveBytes(body, req, res), {
      key,
      cert,
      ca,
      requestCert: true,
      rejectUnauthorized: true,
    });
    const client = { ca, cert: certs.clientCert, key: certs.clientKey };
    expect((await downloadArtifact(`${server.url}/a.tar.gz`, dest(), client)).sha256).toBe(sha);
    expect((await fetchBytes(`${server.url}/a.digest`, client)).equals(body)).toBe(true);
    expect(server.requests.length).toBe(2);
    const refused = { code: HoistErrorCodes.FETCH_FAILED, hint: expect.stringContaining('`cert`') };
    await expect(
      downloadArtifact(`${server.url}/a.tar.gz`, dest(), { ca, ...fast }),
    ).rejects.toMatchObject(refused);
    await expect(fetchBytes(`${server.url}/a.digest`, { ca, ...fast })).rejects.toMatchObject(
      refused,
    );
    expect(server.requests.length).toBe(2);
  });
});

describe('local files and fetchBytes', () => {
  it('copies file: locations and plain paths with their digest', async () => {
    const source = join(work.dir, 'local.tar.gz');
    await import('node:fs/promises').then((fs) => fs.writeFile(source, body));
    const localRoots = [work.dir];
    expect((await downloadArtifact(`file://${source}`, dest(), { localRoots })).sha256).toBe(sha);
    expect((await downloadArtifact(source, dest(), { localRoots })).sha256).toBe(sha);
    await expect(
      downloadArtifact(join(work.dir, 'nope.tar.gz'), dest(), { localRoots }),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.ARTIFACT_NOT_FOUND,
    });
  });

  it('fetches small documents into memory, with a size limit', async () => {
    server = await startServer((req, res) =>
      serveBytes(Buffer.from('artifact_sha: abc'), req, res),
    );
    expect((await fetchBytes(`${server.url}/a.tar.gz.manifest`)).toString()).toBe(
      'artifact_sha: abc',
    );
    await expect(
      fetchBytes(`${server.url}/a.tar.gz.manifest`, { maxBytes: 4 }),
    ).rejects.toMatchObject({
      code: HoistErrorCodes.FETCH_TOO_LARGE,
    });
  });
});
