/** Test helper: run `p2-kv-server` (src/cli.ts through tsx) as a real child process. @internal */
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const cli = fileURLToPath(new URL('./cli.ts', import.meta.url));
const repoRoot = fileURLToPath(new URL('../../..', import.meta.url));

export interface ServerProcess {
  child: ChildProcess;
  port: number;
  url: string;
  /** The JSON line the binary printed on stdout when it started listening. */
  startup: { listening: string; port: number; recovered: Record<string, number> };
  /** Everything written to stderr so far (pino's log lines). */
  stderr(): string;
  /** SIGKILL and wait for the exit. */
  kill9(): Promise<void>;
  /** SIGTERM and wait for the exit. */
  stop(): Promise<void>;
}

export async function spawnServer(
  dataDir: string,
  port = 0,
  extra: string[] = [],
  env: NodeJS.ProcessEnv = {},
): Promise<ServerProcess> {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      cli,
      '--data-dir',
      dataDir,
      '--port',
      String(port),
      '--log-level',
      'warn',
      ...extra,
    ],
    { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } },
  );
  let stderr = '';
  child.stderr?.on('data', (chunk) => {
    stderr += chunk;
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const startup = await new Promise<ServerProcess['startup']>((resolve, reject) => {
    let out = '';
    const timer = setTimeout(
      () => reject(new Error(`p2-kv-server did not start: ${stderr}`)),
      15_000,
    );
    child.stdout?.on('data', (chunk) => {
      out += chunk;
      const line = out.split('\n').find((l) => l.includes('"listening"'));
      if (line) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as ServerProcess['startup']);
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`p2-kv-server exited with ${code}: ${stderr}`));
    });
  });
  const signal = async (name: NodeJS.Signals) => {
    if (child.exitCode === null && child.signalCode === null) child.kill(name);
    await exited;
  };
  return {
    child,
    port: startup.port,
    url: `http://127.0.0.1:${startup.port}`,
    startup,
    stderr: () => stderr,
    kill9: () => signal('SIGKILL'),
    stop: () => signal('SIGTERM'),
  };
}
