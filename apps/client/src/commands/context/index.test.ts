import { chmod, chown, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ExitCode } from '@p2/cli-kit';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Harness, startHarness } from '../../test-support.js';

const TOKEN = 'p2t-context-token';
let h: Harness;
let config: string;
/** No store in the environment: the contexts file decides (P2_STORE empty counts as unset). */
let env: NodeJS.ProcessEnv;

const p2 = (args: string[], extra: NodeJS.ProcessEnv = {}) =>
  h.p2(args, { env: { ...env, ...extra } });

beforeAll(async () => {
  h = await startHarness('context', { aclToken: TOKEN });
  await writeFile(join(h.dir, 'token'), `${TOKEN}\n`, { mode: 0o600 });
  await writeFile(join(h.dir, 'pod.yaml'), 'id: p2t-ctx\n');
});
afterAll(async () => {
  await h?.close();
});
beforeEach(async () => {
  config = join(h.dir, `config-${Math.random().toString(36).slice(2)}.yaml`);
  env = {
    P2_STORE: '',
    P2_CONFIG: config,
    CONSUL_HTTP_TOKEN: '',
    P2_TOKEN_FILE: join(h.dir, 'none'),
  };
});

describe('p2 context', () => {
  it('set, use, list and current; commands then reach the current context with its token', async () => {
    const set = await p2([
      'context',
      'set',
      'lab',
      '--store',
      h.url,
      '--token-file',
      'token',
      '--use',
    ]);
    expect(set.code, set.err).toBe(ExitCode.OK);
    expect(set.out).toBe(`context lab → ${h.url} (current)\n`);
    await p2(['context', 'set', 'dead', '--store', 'consul://127.0.0.1:1']);
    const list = await p2(['context', 'list', '--json']);
    expect(JSON.parse(list.out)).toEqual({
      path: config,
      current: 'lab',
      contexts: [
        {
          name: 'lab',
          current: true,
          store: h.url,
          tokenFile: join(h.dir, 'token'),
          caFile: null,
          certFile: null,
          keyFile: null,
        },
        expect.objectContaining({ name: 'dead', current: false, tokenFile: null }),
      ],
    });
    expect((await p2(['context', 'list'])).out).toMatch(
      /^\*\s+lab\s+consul:\/\/127\.0\.0\.1:\d+\s+\S+token$/m,
    );
    expect((await p2(['context', 'current'])).out).toBe('lab\n');
    // No --store, no P2_STORE: the current context's store and token.
    const scheduled = await p2(['schedule', 'pod.yaml', '--node', 'p2t-n1', '--force']);
    expect(scheduled.code, scheduled.err).toBe(ExitCode.OK);
    expect((await h.store.get('intent/p2t-n1/p2t-ctx')).value).toBeDefined();
    // --context and P2_CONTEXT pick another; the token of lab is not sent there.
    expect((await p2(['inspect', '--context', 'dead'])).code).toBe(ExitCode.FAILURE);
    expect((await p2(['inspect'], { P2_CONTEXT: 'dead' })).code).toBe(ExitCode.FAILURE);
    // P2_STORE names the store: the current context (and its token) is not used.
    expect((await p2(['inspect'], { P2_STORE: h.url })).code).toBe(ExitCode.DENIED);
    const both = await p2(['inspect', '--store', h.url, '--context', 'lab']);
    expect(both.code).toBe(ExitCode.USAGE);
    expect(both.err).toContain('--store and --context both name a store');
  });

  it('keeps comments, refuses unknown names, and delete drops the current-context line', async () => {
    await writeFile(config, `# our stores\ncontexts:\n  a: # the first\n    store: ${h.url}\n`, {
      mode: 0o600,
    });
    const missing = await p2(['context', 'use', 'b']);
    expect(missing.code).toBe(ExitCode.NOT_FOUND);
    expect(missing.err).toContain('contexts: a');
    expect(await readFile(config, 'utf8')).not.toContain('current-context');
    expect((await p2(['context', 'use', 'a'])).code).toBe(ExitCode.OK);
    const text = await readFile(config, 'utf8');
    expect(text).toContain('# our stores');
    expect(text).toContain('# the first');
    expect(text).toContain('current-context: a');
    const unknown = await p2(['inspect', '--context', 'nope']);
    expect(unknown.code).toBe(ExitCode.NOT_FOUND);
    expect(unknown.err).toContain('no context named "nope"');
    expect((await p2(['context', 'delete', 'a'])).code).toBe(ExitCode.OK);
    expect(await readFile(config, 'utf8')).not.toContain('current-context');
    expect((await p2(['context', 'current'])).code).toBe(ExitCode.NOT_FOUND);
    expect((await p2(['context', 'set', '../x', '--store', h.url])).code).toBe(ExitCode.USAGE);
    expect((await p2(['context', 'set', 'x', '--store', 'ftp://h'])).code).toBe(ExitCode.USAGE);
  });

  it('names the key of a malformed file, and never ignores one', async () => {
    await writeFile(config, `contexts:\n  a:\n    store: ${h.url}\n    tokn-file: t\n`, {
      mode: 0o600,
    });
    const r = await p2(['context', 'list']);
    expect(r.code).toBe(ExitCode.INVALID_INPUT);
    expect(r.err).toContain('contexts.a: unknown key "tokn-file"');
    await writeFile(config, 'current-context: a\nkontexts: {}\n');
    expect((await p2(['inspect'])).err).toContain('unknown key "kontexts"');
  });

  it('does not trust a file others may write, a symlink, or one another user owns', async () => {
    await writeFile(config, `current-context: a\ncontexts:\n  a:\n    store: ${h.url}\n`, {
      mode: 0o600,
    });
    await chmod(config, 0o620);
    const writable = await p2(['inspect']);
    expect(writable.code).toBe(ExitCode.DENIED);
    expect(writable.err).toContain('is writable by group or others');
    await chmod(config, 0o600);
    await chown(config, 65534, 65534);
    expect((await p2(['inspect'])).err).toContain('belongs to uid 65534');
    await chown(config, 0, 0);
    const link = join(h.dir, 'link.yaml');
    await symlink(config, link);
    const linked = await p2(['inspect'], { P2_CONFIG: link });
    expect(linked.code).toBe(ExitCode.DENIED);
    expect(linked.err).toContain('is a symbolic link');
    // With P2_STORE set and no --context, the file is not read at all.
    await chmod(config, 0o666);
    expect((await p2(['inspect'], { P2_STORE: h.url, CONSUL_HTTP_TOKEN: TOKEN })).code).toBe(
      ExitCode.OK,
    );
  });
});
