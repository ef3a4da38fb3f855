/**
 * A real 3-member etcd cluster (`/usr/bin/etcd`, Debian etcd-server) for the multi-host scenarios:
 * clients are served on every address (the network namespaces reach the members through the root
 * side of host 0's veth, as they reach p2-kv-server), peers talk over loopback. Members can be
 * SIGKILLed and restarted on their own data dir (they rejoin the cluster from their WAL; the
 * `--initial-cluster*` flags are then ignored by etcd). `etcdctl` (Debian etcd-client) reads the
 * leader, the member list and health.
 *
 * Unlike `@p2/kv`'s test support (loopback only, no restart), this one binds 0.0.0.0 and restarts.
 */
import { execFile } from 'node:child_process';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { freePort, type Proc, spawnLogged, waitFor } from './processes.js';

const run = promisify(execFile);
const ETCD = process.env.P2_ETCD_BINARY ?? '/usr/bin/etcd';
const ETCDCTL = process.env.P2_ETCDCTL_BINARY ?? '/usr/bin/etcdctl';

/** One member of {@link EtcdTestCluster}. */
export interface EtcdTestMember {
  name: string;
  clientPort: number;
  peerPort: number;
  /** `127.0.0.1:<clientPort>`, for clients in the root namespace. */
  endpoint: string;
  proc: Proc | undefined;
}

export interface EtcdTestCluster {
  members: EtcdTestMember[];
  /** `h:p,h:p,h:p` of every member at `address`. */
  endpoints(address?: string): string;
  /** The member that is leader now (asks the running members). */
  leader(): Promise<EtcdTestMember>;
  /** SIGKILLs `member` and waits for it to exit. */
  kill(member: EtcdTestMember): Promise<void>;
  /** Starts a killed member again on its data dir and waits until it reports healthy. */
  restart(member: EtcdTestMember): Promise<void>;
  /** `etcdctl member list`: the names of the members the cluster knows, started ones only. */
  memberNames(): Promise<string[]>;
  /** `etcdctl endpoint health` of one member. */
  healthy(member: EtcdTestMember): Promise<boolean>;
  /** The raft index each running member has applied (`etcdctl endpoint status`). */
  raftIndexes(): Promise<Record<string, number>>;
  stop(): Promise<void>;
}

interface EndpointStatus {
  Endpoint: string;
  Status: { header: { member_id: number }; leader: number; raftIndex: number };
}

async function etcdctl(endpoints: string, args: string[]): Promise<string> {
  const { stdout } = await run(ETCDCTL, ['--endpoints', endpoints, '--dial-timeout=2s', ...args], {
    env: { ...process.env, ETCDCTL_API: '3' },
    timeout: 10_000,
  });
  return stdout;
}

/** Starts a 3-member cluster with data under `dir`, output in `logDir/etcd-<name>.log`. */
export async function startEtcdCluster(
  dir: string,
  logDir: string,
  size = 3,
): Promise<EtcdTestCluster> {
  const members: EtcdTestMember[] = [];
  for (let i = 0; i < size; i++) {
    const clientPort = await freePort();
    const peerPort = await freePort();
    members.push({
      name: `p2t-e${i}`,
      clientPort,
      peerPort,
      endpoint: `127.0.0.1:${clientPort}`,
      proc: undefined,
    });
  }
  const initialCluster = members.map((m) => `${m.name}=http://127.0.0.1:${m.peerPort}`).join(',');
  const token = `p2t-${process.pid}-${Date.now()}`;
  const launch = async (m: EtcdTestMember) => {
    await mkdir(join(dir, m.name), { recursive: true, mode: 0o700 });
    m.proc = spawnLogged(
      ETCD,
      [
        ...['--name', m.name, '--data-dir', join(dir, m.name)],
        ...['--listen-client-urls', `http://0.0.0.0:${m.clientPort}`],
        ...['--advertise-client-urls', `http://127.0.0.1:${m.clientPort}`],
        ...['--listen-peer-urls', `http://127.0.0.1:${m.peerPort}`],
        ...['--initial-advertise-peer-urls', `http://127.0.0.1:${m.peerPort}`],
        ...['--initial-cluster', initialCluster, '--initial-cluster-token', token],
        ...['--initial-cluster-state', 'new'],
        // As @p2/kv's test support: quick elections on one machine (defaults 100/1000 ms).
        ...['--heartbeat-interval', '50', '--election-timeout', '500'],
        ...['--logger', 'zap', '--log-level', 'warn'],
      ],
      join(logDir, `etcd-${m.name}.log`),
    );
  };
  const running = () =>
    members.filter((m) => m.proc?.child.exitCode === null && m.proc.child.signalCode === null);
  const cluster: EtcdTestCluster = {
    members,
    endpoints: (address = '127.0.0.1') =>
      members.map((m) => `${address}:${m.clientPort}`).join(','),
    async leader() {
      return waitFor(
        'an etcd leader',
        async () => {
          const out = await etcdctl(
            running()
              .map((m) => m.endpoint)
              .join(','),
            ['endpoint', 'status', '-w', 'json'],
          ).catch(() => '[]');
          const statuses = JSON.parse(out) as EndpointStatus[];
          const leader = statuses.find((s) => s.Status.header.member_id === s.Status.leader);
          return members.find((m) => leader?.Endpoint.endsWith(`:${m.clientPort}`));
        },
        15_000,
        100,
      );
    },
    async kill(m) {
      const child = m.proc?.child;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGKILL');
      await exited;
    },
    async restart(m) {
      await launch(m);
      await waitFor('the restarted etcd member to be healthy', () => cluster.healthy(m), 20_000);
    },
    async memberNames() {
      const out = JSON.parse(
        await etcdctl(running()[0]?.endpoint ?? '', ['member', 'list', '-w', 'json']),
      ) as {
        members: Array<{ name: string }>;
      };
      return out.members.map((m) => m.name).sort();
    },
    async healthy(m) {
      return etcdctl(m.endpoint, ['endpoint', 'health', '-w', 'json']).then(
        (out) => (JSON.parse(out) as Array<{ health: boolean }>)[0]?.health === true,
        () => false,
      );
    },
    async raftIndexes() {
      const out = await etcdctl(
        running()
          .map((m) => m.endpoint)
          .join(','),
        ['endpoint', 'status', '-w', 'json'],
      );
      return Object.fromEntries(
        (JSON.parse(out) as EndpointStatus[]).map((s) => [
          members.find((m) => s.Endpoint.endsWith(`:${m.clientPort}`))?.name ?? s.Endpoint,
          s.Status.raftIndex,
        ]),
      );
    },
    async stop() {
      await Promise.all(members.map((m) => cluster.kill(m)));
    },
  };
  try {
    for (const m of members) await launch(m);
    for (const m of members)
      await waitFor(`etcd member ${m.name} to be healthy`, () => cluster.healthy(m), 30_000);
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return cluster;
}
