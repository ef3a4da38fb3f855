/**
 * The packages are publishable for real: publish every `packages/*` package to a local verdaccio
 * (loopback, throwaway storage, uplink = this machine's npm registry), then install each one alone
 * into a fresh project with npm and run its README's opening example there — from the published
 * `dist`, not from the workspace's source.
 *
 * An example that needs something around it (a store, a free port, root) gets here the same setup its
 * package's own tests give it; `SETUPS` says what and why, and `SKIPPED` lists what cannot run.
 */
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmdirSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import net, { type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect, promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const repoRoot = new URL('../../', import.meta.url).pathname;
const isRoot = process.getuid?.() === 0;

interface Pkg {
  name: string;
  dir: string;
  readme: string;
}

const packages: Pkg[] = readdirSync(join(repoRoot, 'packages'))
  .map((d) => join(repoRoot, 'packages', d))
  .map((dir) => ({
    dir,
    name: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name as string,
    readme: readFileSync(join(dir, 'README.md'), 'utf8'),
  }));

/** Packages whose README example cannot run here, with the reason. */
const SKIPPED: Record<string, string> = {};

/** What an example needs around it in the fresh project; `project` is that project's directory. */
interface Setup {
  /** Also asks for root (it creates cgroups or users). */
  root?: boolean;
  /** Other packages the example's surroundings use (the prelude's store, say). */
  alsoInstall?: string[];
  /** Rewrites the example before it runs (free ports, temporary paths, test names). */
  rewrite?: (code: string, project: string) => string;
  /** Code placed after the imports (what the README takes from its surroundings). */
  prelude?: (project: string) => string;
  /** Code placed at the end (closing what the prelude opened). */
  epilogue?: string;
  /** Prepares files in the project before the example runs. */
  prepare?: (project: string, pkg: Pkg) => Promise<void> | void;
  /** Checks the example's output against what the README shows. */
  check?: (stdout: string, pkg: Pkg) => void;
  /** Removes what the example left on the host. */
  cleanup?: () => Promise<void> | void;
}

/** A store for examples that take one from their surroundings, as the packages' tests start it. */
const storePrelude = (project: string) => `
const { startKvServer: startKvServerForTheExample } = await import('@p2/kv-server');
const kvServerForTheExample = await startKvServerForTheExample({ dataDir: ${JSON.stringify(join(project, 'kv-data'))}, port: 0 });
`;

/**
 * Stops the runsvdir (and so the services) an example left running in a scratch directory
 * `<tmpdir>/<prefix>*` (its service root: `serviceRoot` inside it) and removes the directory.
 */
async function removeLeftoverServiceRoots(prefix: string, serviceRoot: string): Promise<void> {
  for (const entry of readdirSync(tmpdir()).filter((name) => name.startsWith(prefix))) {
    const dir = join(tmpdir(), entry);
    let pid = 0;
    try {
      pid = Number.parseInt(readFileSync(join(dir, serviceRoot, '.p2-runsvdir.pid'), 'utf8'), 10);
    } catch {
      // no runsvdir was started there
    }
    if (pid > 0) {
      try {
        // HUP: runsvdir stops every service, then exits.
        process.kill(pid, 'SIGHUP');
        for (let i = 0; i < 100 && existsSync(`/proc/${pid}`); i++) {
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Removes cgroups (deepest first) in every v1 controller, as the cgroups example's cleanup does. */
function removeCgroups(dirs: string[]): void {
  for (const controller of readdirSync('/sys/fs/cgroup')) {
    for (const dir of dirs) {
      try {
        rmdirSync(join('/sys/fs/cgroup', controller, dir));
      } catch {
        // not there, or not this controller
      }
    }
  }
}

let healthPort = 0;

const SETUPS: Record<string, Setup> = {
  '@p2/auth': {
    // P2's integration-test keys, which the example reads from `fixtures/p2/keys/`.
    prepare: (project) => symlinkSync(join(repoRoot, 'fixtures'), join(project, 'fixtures')),
    check: (stdout) => expect(stdout).toMatch(/^AuthError P2_AUTH_UNSIGNED: received unsigned/m),
  },
  '@p2/cgroups': {
    root: true,
    // A test name, as the cgroups host tests use, so that nothing of a real node is touched.
    rewrite: (code) => code.replace("pod: 'hello'", "pod: 'p2t-readme'"),
    cleanup: () => removeCgroups(['p2t-readme__app']),
  },
  '@p2/health': {
    // A free port instead of 43770, as src/readme.test.ts does.
    rewrite: (code) => code.replaceAll('43770', String(healthPort)),
    check: (stdout, pkg) => {
      const shown = /prints\n\n```text\n([\s\S]*?)```/.exec(pkg.readme)?.[1];
      expect(stdout).toBe(shown?.replaceAll('43770', String(healthPort)));
    },
  },
  '@p2/hoist': {
    // The README's shell block makes the artifact; both use a /tmp of the project's own.
    rewrite: (code, project) => code.replaceAll('/tmp/', `${project}/tmp/`),
    prepare: async (project, pkg) => {
      const sh = /```sh\n([\s\S]*?)```/.exec(pkg.readme)?.[1] ?? '';
      await run('sh', ['-ec', sh.replaceAll('/tmp/', `${project}/tmp/`)]);
    },
    check: (stdout) => expect(stdout).toMatch(/^fetched \d+\/\d+ bytes$/m),
  },
  '@p2/hooks': {
    // The README's hook, installed in a hooks directory of the project (as src/readme.test.ts does).
    rewrite: (code, project) =>
      code
        .replace('/usr/local/p2hooks.d', join(project, 'p2hooks.d'))
        .replace('/data/pods/hello', join(project, 'pods/hello')),
    prepare: (project, pkg) => {
      const hook = /```js\n([\s\S]*?)```/.exec(pkg.readme)?.[1] ?? '';
      mkdirSync(join(project, 'p2hooks.d'));
      mkdirSync(join(project, 'pods/hello/env'), { recursive: true });
      writeFileSync(join(project, 'p2hooks.d/greeting'), hook);
      chmodSync(join(project, 'p2hooks.d/greeting'), 0o755);
    },
    check: (stdout) => expect(stdout).toMatch(/'greeting',\s+true,\s+0,\s+'wrote /),
  },
  '@p2/kv-server': {
    rewrite: (code, project) => code.replace('/tmp/p2-kv', join(project, 'kv-data')),
  },
  '@p2/labels': {
    alsoInstall: ['@p2/kv', '@p2/kv-server'],
    prelude: (project) =>
      `${storePrelude(project)}const { createStore } = await import('@p2/kv');
const store = createStore(\`consul://127.0.0.1:\${kvServerForTheExample.port}\`);`,
    epilogue: 'await store.close();\nawait kvServerForTheExample.close();',
    check: (stdout) => expect(stdout).toMatch(/P2_LABELS_SELECTOR_SYNTAX/),
  },
  '@p2/oci-image': {
    // Root: blobs must be root's. The example's image.tar, made as its comment says: a real
    // `skopeo copy … oci-archive:` of a one-layer image built with umoci (empty rootfs).
    root: true,
    prelude: (project) => `const tmp = ${JSON.stringify(join(project, 'work'))};`,
    prepare: async (project) => {
      const work = join(project, 'work');
      const layout = join(project, 'layout');
      await run('mkdir', ['-p', work]);
      await run('umoci', ['init', '--layout', layout]);
      await run('umoci', ['new', '--image', `${layout}:latest`]);
      await run('umoci', ['config', '--image', `${layout}:latest`, '--config.cmd', 'true']);
      await run('skopeo', [
        'copy',
        `oci:${layout}:latest`,
        `oci-archive:${join(work, 'image.tar')}`,
      ]);
    },
  },
  '@p2/pods': {
    root: true,
    // Its scratch directory under a name of its own, so that the cleanup never meets the README
    // host test's; the `// →` lines are checked as by default.
    rewrite: (code) => code.replace("'p2t-pods-readme-'", "'p2t-pods-publish-'"),
    check: (stdout, pkg) => DEFAULT_SETUP.check?.(stdout, pkg),
    // What the example's own `finally` removes, should it have been killed first.
    cleanup: async () => {
      await removeLeftoverServiceRoots('p2t-pods-publish-', 'service');
      removeCgroups(['p2t-hello__app']);
      await run('userdel', ['p2t-hello']).catch(() => undefined);
      await run('groupdel', ['p2t-hello']).catch(() => undefined);
    },
  },
  '@p2/runit': {
    root: true,
    rewrite: (code) => code.replace("'p2t-runit-readme-'", "'p2t-runit-publish-'"),
    check: (stdout, pkg) => DEFAULT_SETUP.check?.(stdout, pkg),
    cleanup: () => removeLeftoverServiceRoots('p2t-runit-publish-', '.'),
  },
  '@p2/secure-fs': {
    rewrite: (code, project) => code.replaceAll('/tmp/p2-example', join(project, 'p2-example')),
    check: (stdout) => expect(stdout.trim()).toBe('{}'),
  },
  '@p2/users': {
    root: true,
    // A test user and a home in the project, as the users host tests use, removed afterwards.
    rewrite: (code, project) =>
      code
        .replaceAll('/data/pods/hello', join(project, 'home'))
        .replaceAll("name: 'hello'", "name: 'p2t-readme'"),
    check: (stdout) => expect(stdout).toMatch(/P2_USERS_INVALID_NAME/),
    cleanup: async () => {
      await run('userdel', ['p2t-readme']).catch(() => undefined);
      await run('groupdel', ['p2t-readme']).catch(() => undefined);
    },
  },
};

/**
 * What most examples need, as their `src/readme.test.ts` gives it: a data directory for an example
 * that starts its own store (`dataDirForTheExample`), and every `// → value` line checked against
 * what the example printed (console.log prints strings bare).
 */
const DEFAULT_SETUP: Setup = {
  prelude: (project) => `const dataDirForTheExample = ${JSON.stringify(join(project, 'kv-data'))};`,
  check: (stdout, pkg) => {
    const shown = [...openingExample(pkg.readme).matchAll(/console\.log\(.*\); \/\/ → (.*)$/gm)]
      .map((m) => JSON.parse(m[1] as string) as unknown)
      .map((value) => (typeof value === 'string' ? value : inspect(value)));
    // console.log writes each value and a newline (a value may span lines itself).
    if (shown.length > 0) expect(stdout).toBe(shown.map((value) => `${value}\n`).join(''));
  },
};

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** The first ```ts block of a README: its opening example. */
function openingExample(readme: string): string {
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1];
  if (code === undefined) throw new Error('the README has no ```ts example');
  return code;
}

/** The `@p2/*` packages an example imports: installed with the package, as a reader would. */
function importedP2Packages(code: string): string[] {
  return [...new Set([...code.matchAll(/from '(@p2\/[a-z0-9-]+)'/g)].map((m) => m[1] as string))];
}

/** TypeScript → JavaScript for Node 20 (which cannot strip types itself). */
function toJavaScript(code: string, setup: Setup, project: string): string {
  const lines = code.split('\n');
  const lastImport = lines.findLastIndex((line) => /^import .* from '.*';$/.test(line));
  lines.splice(lastImport + 1, 0, setup.prelude?.(project) ?? '');
  const source = `${lines.join('\n')}\n${setup.epilogue ?? ''}\n`;
  return ts.transpileModule(source, {
    compilerOptions: {
      module: ts.ModuleKind.ESNext,
      target: ts.ScriptTarget.ES2022,
      verbatimModuleSyntax: false,
    },
  }).outputText;
}

let workDir = '';
let registry = '';
let verdaccio: ChildProcess | undefined;
let npmEnv: NodeJS.ProcessEnv = {};
const published = new Set<string>();

async function npm(args: string[], cwd: string, timeout = 180_000) {
  return run('npm', args, { cwd, env: npmEnv, timeout, maxBuffer: 16 * 2 ** 20 });
}

/**
 * Removes what npm's cache holds from a throwaway registry at `registry`. The installs use
 * `--prefer-offline`, and the cache outlives the run: a later run whose verdaccio gets the same port
 * would otherwise install the packages as an earlier run published them (a CI run failed so, with
 * a kv without an export of that week).
 */
async function forgetCachedRegistry(at: string): Promise<void> {
  const { stdout } = await run('npm', ['cache', 'ls'], { maxBuffer: 64 * 2 ** 20 });
  const keys = stdout
    .split('\n')
    .filter((key) => key.startsWith(`make-fetch-happen:request-cache:${at}`));
  if (keys.length > 0) await run('npm', ['cache', 'clean', ...keys]);
}

beforeAll(async () => {
  workDir = mkdtempSync(join(tmpdir(), 'p2t-publish-'));
  healthPort = await freePort();
  const port = await freePort();
  registry = `http://127.0.0.1:${port}/`;
  await forgetCachedRegistry(registry);
  const uplink = (await run('npm', ['config', 'get', 'registry'])).stdout.trim();
  const config = join(workDir, 'verdaccio.yaml');
  writeFileSync(
    config,
    [
      `storage: ${join(workDir, 'storage')}`,
      'auth:',
      '  htpasswd:',
      `    file: ${join(workDir, 'htpasswd')}`,
      'uplinks:',
      '  upstream:',
      `    url: ${uplink}`,
      '    timeout: 60s',
      'packages:',
      "  '@p2/*':",
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    proxy: upstream',
      'log: { type: stdout, format: pretty, level: error }',
      '',
    ].join('\n'),
  );
  verdaccio = spawn(
    process.execPath,
    [
      join(repoRoot, 'node_modules/verdaccio/bin/verdaccio'),
      '--config',
      config,
      '--listen',
      `127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'inherit', 'inherit'] },
  );
  const deadline = Date.now() + 60_000;
  for (;;) {
    const up = await fetch(`${registry}-/ping`).then(
      (r) => r.ok,
      () => false,
    );
    if (up) break;
    if (Date.now() > deadline || verdaccio.exitCode !== null)
      throw new Error('verdaccio did not start');
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  // One user, so that publishing needs a token as on a real registry.
  const user = await fetch(`${registry}-/user/org.couchdb.user:p2t`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'p2t', password: 'p2t-password' }),
  });
  const { token } = (await user.json()) as { token: string };
  const npmrc = join(workDir, 'npmrc');
  writeFileSync(
    npmrc,
    `registry=${uplink}\n@p2:registry=${registry}\n//127.0.0.1:${port}/:_authToken=${token}\naudit=false\nfund=false\nupdate-notifier=false\n`,
  );
  npmEnv = {
    ...process.env,
    npm_config_userconfig: npmrc,
    // The fresh projects must not see the workspace's settings.
    npm_config_workspaces: undefined,
  };
  // pnpm publish turns `workspace:^` and `catalog:` into real ranges; the packages are already built.
  const queue = [...packages];
  await Promise.all(
    [1, 2, 3].map(async () => {
      for (let pkg = queue.shift(); pkg; pkg = queue.shift()) {
        await run('pnpm', ['publish', '--no-git-checks', '--registry', registry], {
          cwd: pkg.dir,
          env: npmEnv,
          timeout: 120_000,
        });
        published.add(pkg.name);
      }
    }),
  );
}, 300_000);

afterAll(async () => {
  verdaccio?.kill();
  if (registry) await forgetCachedRegistry(registry);
  if (workDir) rmSync(workDir, { recursive: true, force: true });
});

// P2T_PUBLISH_ONLY=@p2/a,@p2/b runs only those examples (everything is still published).
const only = process.env.P2T_PUBLISH_ONLY?.split(',');

// Installs wait on the network and the disk more than on the CPU: several at once.
describe.concurrent.each(packages.filter((p) => !only || only.includes(p.name)))('$name', (pkg) => {
  const setup = SETUPS[pkg.name] ?? DEFAULT_SETUP;
  const skip =
    SKIPPED[pkg.name] ?? (setup.root && !isRoot ? 'needs root (CI runs as root)' : undefined);

  it('is published with its dependencies as real versions', async () => {
    expect(published.has(pkg.name)).toBe(true);
    const { stdout } = await npm(
      ['view', pkg.name, 'dependencies', '--json', '--registry', registry],
      workDir,
    );
    expect(stdout).not.toMatch(/workspace:|catalog:/);
  });

  it.skipIf(skip !== undefined)(
    `installs alone and runs its README example${skip ? ` (skipped: ${skip})` : ''}`,
    async () => {
      const project = mkdtempSync(join(workDir, 'project-'));
      writeFileSync(
        join(project, 'package.json'),
        JSON.stringify({ name: 'readme-example', private: true, type: 'module' }),
      );
      const code = (setup.rewrite ?? ((c: string) => c))(openingExample(pkg.readme), project);
      const imported = importedP2Packages(code).filter((name) => name !== pkg.name);
      const wanted = [pkg.name, ...new Set([...imported, ...(setup.alsoInstall ?? [])])];
      await npm(['install', '--prefer-offline', '--no-audit', '--no-fund', ...wanted], project);
      await setup.prepare?.(project, pkg);
      writeFileSync(join(project, 'example.mjs'), toJavaScript(code, setup, project));
      try {
        const { stdout } = await run(process.execPath, ['example.mjs'], {
          cwd: project,
          timeout: 60_000,
          env: { ...process.env, NODE_OPTIONS: undefined },
        });
        setup.check?.(stdout, pkg);
      } finally {
        await setup.cleanup?.();
      }
    },
  );
});
