/** Test helpers: a real kv-server in-process, and the CLI run with captured output. */

import { createReadStream, existsSync } from 'node:fs';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectCgroups, openCgroup, removePodCgroups } from '@p2/cgroups';
import type { Io } from '@p2/cli-kit';
import { createStore, type Store } from '@p2/kv';
import { type KvServer, startKvServer } from '@p2/kv-server';
import { RunsvDir } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';
import { runCli } from './program.js';

export interface Captured extends Io {
  out: string;
  err: string;
}

/** Captured output; with `ask`, a person answers the questions the command asks (on stderr). */
export function capture(isTTY = false, ask?: (question: string) => string): Captured {
  const io: Captured = {
    out: '',
    err: '',
    isTTY,
    ...(ask
      ? {
          ask: async (question: string) => {
            io.err += question;
            return ask(question);
          },
        }
      : {}),
    stdout: (text: string) => {
      io.out += text;
    },
    stderr: (text: string) => {
      io.err += text;
    },
  };
  return io;
}

export interface Harness {
  dir: string;
  server: KvServer;
  store: Store;
  url: string;
  p2(
    args: string[],
    options?: {
      isTTY?: boolean;
      env?: NodeJS.ProcessEnv;
      /** A person at a terminal answering the command's questions. */
      ask?: (question: string) => string;
    },
  ): Promise<{ code: number; out: string; err: string }>;
  close(): Promise<void>;
}

/**
 * Starts a kv-server on a free loopback port with a temp data dir; `p2()` runs the CLI against it.
 * With `aclToken` the server denies anything without it, and `store` (the test's own client) has it.
 */
export async function startHarness(
  prefix: string,
  options: { aclToken?: string } = {},
): Promise<Harness> {
  const dir = await mkdtemp(join(tmpdir(), `p2t-${prefix}-`));
  const server = await startKvServer({
    dataDir: join(dir, 'kv'),
    port: 0,
    ...(options.aclToken ? { aclToken: options.aclToken } : {}),
  });
  const url = `consul://127.0.0.1:${server.port}`;
  const store = createStore(url, options.aclToken ? { token: options.aclToken } : {});
  return {
    dir,
    server,
    store,
    url,
    async p2(args, options = {}) {
      const io = capture(options.isTTY ?? false, options.ask);
      const code = await runCli(args, { io, cwd: dir, env: { P2_STORE: url, ...options.env } });
      return { code, out: io.out, err: io.err };
    },
    async close() {
      await store.close();
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Serves the files of `dir` over HTTP on loopback (404 for anything else): artifacts for launches. */
export async function serveFiles(dir: string): Promise<{ server: Server; url: string }> {
  const server = createServer((req, res) => {
    const path = join(dir, (req.url ?? '/').slice(1));
    stat(path).then(
      (info) => {
        res.writeHead(200, { 'content-length': info.size });
        createReadStream(path).pipe(res);
      },
      () => {
        res.writeHead(404);
        res.end();
      },
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * Removes what `p2 launch` left in a test's `work` dir, also after a failure: the services under
 * `<work>/service` (stopped), the pods' cgroups (either naming) and the node's, the users, then
 * `work` itself.
 */
export async function removeLaunched(
  work: string,
  node: string,
  made: { pods: string[]; users: string[] },
): Promise<void> {
  if (existsSync(join(work, 'service'))) {
    const runsvdir = new RunsvDir({ root: join(work, 'service'), slots: 0 });
    await runsvdir.start().catch(() => undefined);
    await runsvdir.stop({ stopServices: true }).catch(() => undefined);
  }
  if (existsSync('/sys/fs/cgroup/memory') || existsSync('/sys/fs/cgroup/cgroup.controllers')) {
    const hierarchy = await detectCgroups();
    for (const pod of made.pods)
      await removePodCgroups(hierarchy, {}, { node, pod }).catch(() => undefined);
    await openCgroup(hierarchy, { name: `p2/${node}` })
      .remove({ kill: true })
      .catch(() => undefined);
  }
  for (const user of made.users)
    if (await findUser(user)) await removeUser(user, { removeGroup: true });
  await rm(work, { recursive: true, force: true });
}
