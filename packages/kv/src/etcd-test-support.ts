/**
 * Test helpers: real etcd processes (`/usr/bin/etcd`, Debian `etcd-server`) on free loopback ports,
 * each member with a fresh data dir under a `p2t-etcd-` temp directory. @internal
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { get as httpGet } from 'node:http';
import { get as httpsGet } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ETCD_BINARY = process.env.P2_ETCD_BINARY ?? '/usr/bin/etcd';

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

export interface EtcdMember {
  name: string;
  clientPort: number;
  peerPort: number;
  endpoint: string;
  process: ChildProcess | undefined;
  /** Last lines of the member's output, for failure messages. */
  log: string[];
}

/** True while the member's process has neither exited nor been killed. */
export function isRunning(member: EtcdMember): boolean {
  return (
    member.process !== undefined &&
    member.process.exitCode === null &&
    member.process.signalCode === null
  );
}

export interface EtcdCluster {
  members: EtcdMember[];
  endpoints: string[];
  /** SIGKILLs one member. */
  kill(member: EtcdMember): Promise<void>;
  /** Starts a killed member again on its data dir and waits until it reports healthy. */
  restart(member: EtcdMember): Promise<void>;
  /** Stops every member and removes the data dirs (idempotent). */
  stop(): Promise<void>;
}

/** Serve clients over TLS with this certificate (signed by `caFile`). */
export interface EtcdTls {
  certFile: string;
  keyFile: string;
  caFile: string;
  /**
   * Require client certificates signed by `caFile` (etcd `--client-cert-auth --trusted-ca-file`);
   * this one (with its key) is what the health check presents.
   */
  clientCert?: { certFile: string; keyFile: string };
}

function launch(
  member: EtcdMember,
  dir: string,
  initialCluster: string,
  token: string,
  tls: EtcdTls | undefined,
): void {
  const child = spawn(
    ETCD_BINARY,
    [
      ...(tls ? ['--cert-file', tls.certFile, '--key-file', tls.keyFile] : []),
      ...(tls?.clientCert ? ['--client-cert-auth', '--trusted-ca-file', tls.caFile] : []),
      '--name',
      member.name,
      '--data-dir',
      join(dir, member.name),
      '--listen-client-urls',
      member.endpoint,
      '--advertise-client-urls',
      member.endpoint,
      '--listen-peer-urls',
      `http://127.0.0.1:${member.peerPort}`,
      '--initial-advertise-peer-urls',
      `http://127.0.0.1:${member.peerPort}`,
      '--initial-cluster',
      initialCluster,
      '--initial-cluster-token',
      token,
      '--initial-cluster-state',
      'new',
      // Faster leader election on loopback (defaults 100/1000 ms): keeps failover tests short.
      '--heartbeat-interval',
      '50',
      '--election-timeout',
      '500',
      '--logger',
      'zap',
      '--log-level',
      'warn',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ETCD_UNSUPPORTED_ARCH: '' } },
  );
  const keep = (chunk: Buffer) => {
    member.log.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    if (member.log.length > 50) member.log.splice(0, member.log.length - 50);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  member.process = child;
}

function healthy(member: EtcdMember, tls: EtcdTls | undefined): Promise<boolean> {
  return new Promise((resolve) => {
    const req = (tls ? httpsGet : httpGet)(
      `${member.endpoint}/health`,
      tls
        ? {
            ca: readFileSync(tls.caFile),
            ...(tls.clientCert
              ? {
                  cert: readFileSync(tls.clientCert.certFile),
                  key: readFileSync(tls.clientCert.keyFile),
                }
              : {}),
          }
        : {},
      (res) => {
        let body = '';
        res.on('data', (chunk) => {
          body += chunk;
        });
        res.on('end', () => resolve(body.includes('"health":"true"')));
      },
    );
    req.on('error', () => resolve(false));
  });
}

async function waitHealthy(
  member: EtcdMember,
  deadline: number,
  tls: EtcdTls | undefined,
): Promise<void> {
  for (;;) {
    try {
      if (await healthy(member, tls)) return;
    } catch {
      // not up yet
    }
    if (member.process?.exitCode !== null && member.process?.exitCode !== undefined) {
      throw new Error(
        `etcd ${member.name} exited (${member.process.exitCode}):\n${member.log.join('\n')}`,
      );
    }
    if (Date.now() > deadline) {
      throw new Error(`etcd ${member.name} not healthy in time:\n${member.log.join('\n')}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Starts `size` etcd members on loopback and waits until all report healthy. */
export async function startEtcd(size = 1, tls?: EtcdTls): Promise<EtcdCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'p2t-etcd-'));
  const members: EtcdMember[] = [];
  for (let i = 0; i < size; i++) {
    const clientPort = await freePort();
    const peerPort = await freePort();
    members.push({
      name: `p2t-m${i}`,
      clientPort,
      peerPort,
      endpoint: `${tls ? 'https' : 'http'}://127.0.0.1:${clientPort}`,
      process: undefined,
      log: [],
    });
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  let stopped = false;
  const cluster: EtcdCluster = {
    members,
    endpoints: members.map((m) => `127.0.0.1:${m.clientPort}`),
    async kill(member) {
      const child = member.process;
      if (!child || !isRunning(member)) return;
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGKILL');
      await exited;
    },
    async restart(member) {
      if (isRunning(member)) return;
      launch(member, dir, initialCluster, token, tls);
      await waitHealthy(member, Date.now() + 20_000, tls);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(members.map((m) => cluster.kill(m)));
      await rm(dir, { recursive: true, force: true });
    },
  };
  const token = `p2t-${process.pid}-${Date.now()}`;
  try {
    for (const member of members) launch(member, dir, initialCluster, token, tls);
    const deadline = Date.now() + 20_000;
    await Promise.all(members.map((m) => waitHealthy(m, deadline, tls)));
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}

/** One poll of the maintenance status API: the member the live members name as leader, if any. */
async function leaderOnce(cluster: EtcdCluster): Promise<EtcdMember | undefined> {
  const ids = new Map<string, EtcdMember>();
  let leaderId: string | undefined;
  await Promise.all(
    cluster.members.filter(isRunning).map(async (member) => {
      try {
        const res = await fetch(`${member.endpoint}/v3/maintenance/status`, {
          method: 'POST',
          body: '{}',
          signal: AbortSignal.timeout(1_000),
        });
        const body = (await res.json()) as { header: { member_id: string }; leader?: string };
        ids.set(body.header.member_id, member);
        if (body.leader && body.leader !== '0') leaderId = body.leader;
      } catch {
        // member down or not answering
      }
    }),
  );
  return leaderId === undefined ? undefined : ids.get(leaderId);
}

/**
 * The member the live members name as leader (etcd's maintenance status API through the JSON
 * gateway), polled every `pollMs` until one is found that is not `except`.
 */
export async function leaderOf(
  cluster: EtcdCluster,
  options: { except?: EtcdMember; pollMs?: number; timeoutMs?: number } = {},
): Promise<EtcdMember> {
  const deadline = Date.now() + (options.timeoutMs ?? 20_000);
  for (;;) {
    const found = await leaderOnce(cluster);
    if (found && found !== options.except && isRunning(found)) return found;
    if (Date.now() > deadline) throw new Error('no etcd leader found');
    await new Promise((r) => setTimeout(r, options.pollMs ?? 100));
  }
}
