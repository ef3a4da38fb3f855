import { createServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { HoistErrorCodes } from './errors.js';
import { makeCertificates, startServer, type TestServer } from './http-test-server.js';
import {
  discoverArtifact,
  parseRegistryResponse,
  type RegistryQuery,
  registryDiscoverUrl,
} from './registry.js';
import { tempDir } from './test-support.js';

const centos = { os: 'CentOS', version: '7.4.1708' };
// P2's fixture manifest (fixtures/p2/manifests/current-with-version.yaml): pod and launchable
// `some-app`, version {id: asdf, tags: {directory: deployable}}.
const someApp: RegistryQuery = {
  registry: 'http://registry.local',
  podId: 'some-app',
  launchableId: 'some-app',
  version: 'asdf',
  tags: { directory: 'deployable' },
  os: centos,
};
const fast = { backoffMs: 5, maxBackoffMs: 20, retries: 2 };
let server: TestServer | undefined;

afterEach(async () => {
  await server?.close();
  server = undefined;
});

function json(body: unknown, status = 200) {
  return (_req: unknown, res: import('node:http').ServerResponse) => {
    const text = typeof body === 'string' ? body : JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(text);
  };
}

async function refusal(
  promise: Promise<unknown>,
): Promise<Error & { code: string; hint?: string }> {
  try {
    await promise;
  } catch (error) {
    return error as Error & { code: string; hint?: string };
  }
  throw new Error('expected a refusal');
}

describe('registryDiscoverUrl', () => {
  it("asks /discover/<pod> with the tags, then artifact_name, os, os_version, version (P2's fixture)", () => {
    expect(registryDiscoverUrl(someApp).href).toBe(
      'http://registry.local/discover/some-app?directory=deployable&artifact_name=some-app&os=CentOS&os_version=7.4.1708&version=asdf',
    );
  });

  it('replaces the registry path (an absolute path, as in P2), encodes values, uses artifact_name', () => {
    const url = registryDiscoverUrl({
      ...someApp,
      registry: 'https://user:pw@registry.local:8443/api/v1?x=1',
      artifactName: 'other name',
      tags: { zone: 'a&b=c', arch: 'x86_64' },
      os: { os: 'debian', version: '12' },
    });
    expect(url.origin).toBe('https://registry.local:8443');
    expect(url.pathname).toBe('/discover/some-app');
    expect([...url.searchParams]).toEqual([
      ['arch', 'x86_64'],
      ['zone', 'a&b=c'],
      ['artifact_name', 'other name'],
      ['os', 'debian'],
      ['os_version', '12'],
      ['version', 'asdf'],
    ]);
  });

  it('refuses a missing registry, a registry that is not http(s), and a tag named like p2’s parameters', () => {
    for (const registry of [undefined, '']) {
      expect(() => registryDiscoverUrl({ ...someApp, registry })).toThrow(
        expect.objectContaining({
          code: HoistErrorCodes.REGISTRY_MISSING,
          hint: expect.stringContaining('artifact_registry_url'),
        }),
      );
    }
    for (const registry of ['file:///srv/registry', 'ftp://registry.local', 'not a url']) {
      expect(() => registryDiscoverUrl({ ...someApp, registry })).toThrow(
        expect.objectContaining({ code: HoistErrorCodes.REGISTRY_QUERY_INVALID }),
      );
    }
    expect(() => registryDiscoverUrl({ ...someApp, tags: { os: 'windows' } })).toThrow(
      expect.objectContaining({
        code: HoistErrorCodes.REGISTRY_QUERY_INVALID,
        message: expect.stringContaining('"os"'),
      }),
    );
  });
});

describe('parseRegistryResponse', () => {
  const from = 'http://registry.local/discover/some-app';
  const parse = (body: unknown) =>
    parseRegistryResponse(
      Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
      from,
    );

  it('takes location and derives the verification files it was not given', () => {
    expect(parse({ location: 'https://a.local/app_1.tar.gz?t=1', other: 5 })).toEqual({
      location: 'https://a.local/app_1.tar.gz?t=1',
      fromRegistry: [],
      verificationLocations: {
        signature: 'https://a.local/app_1.tar.gz.sig?t=1',
        manifest: 'https://a.local/app_1.tar.gz.manifest?t=1',
        manifestSignature: 'https://a.local/app_1.tar.gz.manifest.sig?t=1',
      },
    });
  });

  it('uses the signature, manifest and manifest signature locations the registry gives', () => {
    const parsed = parse({
      location: 'file:///var/lib/p2/artifacts/app.tar.gz',
      signature_location: 'https://sigs.local/app.sig',
      manifest_location: '',
      manifest_signature_location: null,
    });
    expect(parsed.fromRegistry).toEqual(['signature']);
    expect(parsed.verificationLocations).toEqual({
      signature: 'https://sigs.local/app.sig',
      manifest: 'file:///var/lib/p2/artifacts/app.tar.gz.manifest',
      manifestSignature: 'file:///var/lib/p2/artifacts/app.tar.gz.manifest.sig',
    });
  });

  it.each([
    ['not JSON', '<html>oops</html>', 'not JSON'],
    ['a JSON array', '["https://a/b"]', 'array, not an object'],
    ['no location', { signature_location: 'https://a/b.sig' }, '"location" is missing'],
    ['an empty location', { location: '' }, '"location" is missing'],
    ['a numeric location', { location: 42 }, '"location" is a number'],
    ['an ftp location', { location: 'ftp://a.local/app.tar.gz' }, 'not an http(s):// or file://'],
    ['a plain path', { location: '/etc/shadow' }, 'not an http(s):// or file://'],
    ['a javascript: URL', { location: 'javascript:alert(1)' }, 'not an http(s):// or file://'],
    ['a remote file: URL', { location: 'file://evil.host/x.tar.gz' }, 'names host'],
    [
      'a bad signature location',
      { location: 'https://a/b', signature_location: 'gopher://x' },
      '"signature_location"',
    ],
    ['bytes that are not UTF-8', Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), 'not UTF-8'],
  ])('refuses %s, naming the field', (_what, body, expected) => {
    let caught: (Error & { code: string }) | undefined;
    try {
      if (Buffer.isBuffer(body)) parseRegistryResponse(body, from);
      else parse(body);
    } catch (error) {
      caught = error as Error & { code: string };
    }
    expect(caught?.code).toBe(HoistErrorCodes.REGISTRY_RESPONSE_INVALID);
    expect(caught?.message).toContain(expected);
    expect(caught?.message).toContain(from);
  });

  it('quotes at most a short, escaped excerpt of a bad body', () => {
    const body = `\u001b[31mHACKED\n${'x'.repeat(5000)}`;
    let message = '';
    try {
      parse(body);
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toContain('not JSON');
    expect(message).not.toContain('\u001b');
    expect(message).not.toContain('\n');
    expect(message).not.toContain('x'.repeat(100));
    expect(message.length).toBeLessThan(400);
  });
});

describe('discoverArtifact against a registry on loopback', () => {
  it('sends the query and returns the validated answer', async () => {
    server = await startServer(
      json({
        location: 'https://artifacts.local/some-app_asdf.tar.gz',
        signature_location: 'https://artifacts.local/sigs/some-app_asdf.sig',
      }),
    );
    const found = await discoverArtifact({ ...someApp, registry: server.url });
    expect(server.requests).toHaveLength(1);
    expect(server.requests[0]?.url).toBe(
      '/discover/some-app?directory=deployable&artifact_name=some-app&os=CentOS&os_version=7.4.1708&version=asdf',
    );
    expect(found.location).toBe('https://artifacts.local/some-app_asdf.tar.gz');
    expect(found.verificationLocations.signature).toBe(
      'https://artifacts.local/sigs/some-app_asdf.sig',
    );
  });

  it('retries a registry that answers 503, then succeeds', async () => {
    server = await startServer((req, res, i) => {
      if (i === 0) {
        res.writeHead(503, { 'retry-after': '0' });
        res.end();
      } else json({ location: 'https://a.local/x.tar.gz' })(req, res);
    });
    const found = await discoverArtifact({ ...someApp, registry: server.url }, fast);
    expect(found.location).toBe('https://a.local/x.tar.gz');
    expect(server.requests).toHaveLength(2);
  });

  it('404: the registry does not know the version', async () => {
    server = await startServer(json({ error: 'no such version' }, 404));
    const error = await refusal(discoverArtifact({ ...someApp, registry: server.url }, fast));
    expect(error.code).toBe(HoistErrorCodes.REGISTRY_NOT_FOUND);
    expect(error.message).toContain('some-app version "asdf"');
    expect(error.message).not.toContain('no such version');
    expect(error.hint).toContain('version.tags');
    expect(server.requests).toHaveLength(1);
  });

  it('a registry that is down: unavailable after the retries', async () => {
    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const port = (closed.address() as import('node:net').AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const error = await refusal(
      discoverArtifact({ ...someApp, registry: `http://127.0.0.1:${port}` }, fast),
    );
    expect(error.code).toBe(HoistErrorCodes.REGISTRY_UNAVAILABLE);
    expect(error.message).toContain('ECONNREFUSED');
    expect(error.message).toContain('some-app');
  });

  it('a registry answering 403 is unavailable at once (not retried)', async () => {
    server = await startServer(json('denied', 403));
    const error = await refusal(discoverArtifact({ ...someApp, registry: server.url }, fast));
    expect(error.code).toBe(HoistErrorCodes.REGISTRY_UNAVAILABLE);
    expect(error.message).toContain('HTTP 403');
    expect(server.requests).toHaveLength(1);
  });

  it('bad JSON and a missing location are refused', async () => {
    server = await startServer((req, res, i) =>
      json(i === 0 ? '{"location": ' : { signature_location: 'https://a/b.sig' })(req, res),
    );
    const registry = server.url;
    expect(await refusal(discoverArtifact({ ...someApp, registry }))).toMatchObject({
      code: HoistErrorCodes.REGISTRY_RESPONSE_INVALID,
      message: expect.stringContaining('not JSON'),
    });
    expect(await refusal(discoverArtifact({ ...someApp, registry }))).toMatchObject({
      code: HoistErrorCodes.REGISTRY_RESPONSE_INVALID,
      message: expect.stringContaining('"location" is missing'),
    });
  });

  it('a huge body is refused without being read whole', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(64 * 1024, 0x20);
      let sent = 0;
      const write = () => {
        while (sent < 1024 && res.write(chunk)) sent++;
        if (sent < 1024) res.once('drain', write);
        else res.end();
      };
      res.on('error', () => undefined);
      write();
    });
    const error = await refusal(
      discoverArtifact({ ...someApp, registry: server.url }, { ...fast, maxResponseBytes: 4096 }),
    );
    expect(error.code).toBe(HoistErrorCodes.REGISTRY_RESPONSE_INVALID);
    expect(error.message).toContain('larger than 4096 bytes');
  });

  it('a redirect to file:// is refused (never read as a local file), and not retried', async () => {
    server = await startServer((_req, res) => {
      res.writeHead(302, { location: 'file:///etc/shadow' });
      res.end();
    });
    const error = await refusal(discoverArtifact({ ...someApp, registry: server.url }, fast));
    expect(error.code).toBe(HoistErrorCodes.REGISTRY_RESPONSE_INVALID);
    expect(error.message).toContain('redirected to a "file:" URL');
    expect(server.requests).toHaveLength(1);
  });

  it('a redirect to another http(s) registry path is followed', async () => {
    server = await startServer((req, res) => {
      if (req.url?.startsWith('/discover/')) {
        res.writeHead(307, { location: `/v2${req.url}` });
        res.end();
      } else json({ location: 'https://a.local/x.tar.gz' })(req, res);
    });
    const found = await discoverArtifact({ ...someApp, registry: server.url });
    expect(found.location).toBe('https://a.local/x.tar.gz');
    expect(server.requests.map((r) => r.url.split('?')[0])).toEqual([
      '/discover/some-app',
      '/v2/discover/some-app',
    ]);
  });

  describe('over mutual TLS, with the artifact download’s client settings', () => {
    let certs: Awaited<ReturnType<typeof makeCertificates>>;
    let work: { dir: string; cleanup: () => Promise<void> };
    beforeAll(async () => {
      work = await tempDir('p2t-hoist-registry-tls-');
      certs = await makeCertificates(work.dir);
    });
    afterAll(async () => {
      await work.cleanup();
    });

    it('presents the client certificate; without the CA the registry is not trusted', async () => {
      server = await startServer(json({ location: 'https://a.local/x.tar.gz' }), {
        key: certs.key,
        cert: certs.cert,
        ca: certs.ca,
        requestCert: true,
        rejectUnauthorized: true,
      });
      const registry = server.url;
      const found = await discoverArtifact(
        { ...someApp, registry },
        { ca: certs.ca, cert: certs.clientCert, key: certs.clientKey },
      );
      expect(found.location).toBe('https://a.local/x.tar.gz');
      const untrusted = await refusal(discoverArtifact({ ...someApp, registry }, fast));
      expect(untrusted.code).toBe(HoistErrorCodes.REGISTRY_UNAVAILABLE);
      expect(untrusted.hint).toContain('CA');
    });

    it('refuses a redirect from https down to plain http', async () => {
      server = await startServer(
        (_req, res) => {
          res.writeHead(302, { location: 'http://127.0.0.1:1/discover/some-app' });
          res.end();
        },
        { key: certs.key, cert: certs.cert },
      );
      const error = await refusal(
        discoverArtifact({ ...someApp, registry: server.url }, { ca: certs.ca, ...fast }),
      );
      expect(error.code).toBe(HoistErrorCodes.REGISTRY_RESPONSE_INVALID);
      expect(error.message).toContain('plain http');
    });
  });
});
