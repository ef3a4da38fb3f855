/**
 * The etcd backend of `@p2/kv` next to the Consul backend on `@p2/kv-server`, all measured in this
 * run on this machine (baseline: kv-server, the store p2 ships today).
 *
 * - put/s and CAS/s (create-only) with 1 request in flight and with 16, on kv-server, on one real
 *   etcd 3.4 member and on a real 3-member loopback cluster (every write replicated to a quorum and
 *   fsynced by etcd's WAL).
 * - watch fan-out: 300 blocking watchers on distinct keys (one etcd watch each, multiplexed on one
 *   gRPC stream), one write each; latency from starting the write to the watcher's answer.
 *
 * - failover (3 members): a `watchPrefix` (the preparer's intent watch) and a writer (the CLI) on
 *   their own clients; 12 rounds, each SIGKILLs a member (alternately the leader and a follower),
 *   writes through the survivors and restarts the member. Figures: kill → the watch yields the write,
 *   and the survivors naming a leader (maintenance status) → the watch yields it. Baseline: the same
 *   write → wake without a kill. See bench/src/etcd-failover.ts.
 *
 * etcd puts and CAS are one guarded txn when the client knows the key's revision (these runs: it
 * wrote the key or it is new), else a read plus a guarded txn; see packages/kv/README.md.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsulStore, EtcdStore, type Store } from '@p2/kv';
import { startKvServer } from '@p2/kv-server';
import { startEtcd } from '../../../packages/kv/src/etcd-test-support.js';
import { measureFailover } from '../etcd-failover.js';
import { measure, report, type Sample } from '../harness.js';
import { parallel, watchFanOut } from '../kv-workload.js';

interface Figures {
  put1: Sample;
  put16: Sample;
  cas1: Sample;
  cas16: Sample;
  wake: Sample;
}

async function figures(label: string, store: Store): Promise<Figures> {
  const runs = { runs: 150, warmup: 15 };
  const value = 'x'.repeat(200);
  let n = 0;
  const put1 = await measure(
    `${label}: put, 1 in flight`,
    () => store.put(`bench/put/${n++ % 1000}`, `${value}${n}`),
    runs,
  );
  const put16 = await measure(
    `${label}: put, 16 in flight`,
    () => parallel(16, (i) => store.put(`bench/put/${i}`, `${value}${n++}`)),
    { runs: 40, warmup: 5, opsPerRun: 16 },
  );
  const cas1 = await measure(
    `${label}: cas (create-only), 1 in flight`,
    () => store.cas(`bench/cas/${n++}`, value, 0),
    runs,
  );
  const cas16 = await measure(
    `${label}: cas (create-only), 16 in flight`,
    () => parallel(16, () => store.cas(`bench/cas/${n++}`, value, 0)),
    { runs: 40, warmup: 5, opsPerRun: 16 },
  );

  const wake = await watchFanOut(store, label, 300, 60_000);
  return { put1, put16, cas1, cas16, wake };
}

export async function run(): Promise<void> {
  const dataDir = await mkdtemp(join(tmpdir(), 'p2t-kv-etcd-bench-'));
  const kv = await startKvServer({
    dataDir,
    port: 0,
    maxBlockingPerClient: 1000, // every watcher comes from this one client (127.0.0.1)
  });
  const single = await startEtcd(1);
  const trio = await startEtcd(3);
  const stores = {
    kv: new ConsulStore({ address: `127.0.0.1:${kv.port}` }),
    one: new EtcdStore({ endpoints: single.endpoints }),
    three: new EtcdStore({ endpoints: trio.endpoints }),
  };
  try {
    const base = await figures('kv-server (consul backend)', stores.kv);
    const one = await figures('etcd, 1 member', stores.one);
    const three = await figures('etcd, 3 members', stores.three);
    report('puts, 1 in flight', base.put1, [one.put1, three.put1]);
    report('puts, 16 in flight', base.put16, [one.put16, three.put16]);
    report('CAS create-only, 1 in flight', base.cas1, [one.cas1, three.cas1]);
    report('CAS create-only, 16 in flight', base.cas16, [one.cas16, three.cas16]);
    report('watch fan-out', base.wake, [one.wake, three.wake]);
    const failover = await measureFailover(trio, 12);
    report('failover (3 members, 12 SIGKILLs, half of them the leader)', failover.baseline, [
      failover.fromKill,
      failover.fromElection,
      failover.election,
    ]);
  } finally {
    await Promise.all(Object.values(stores).map((s) => s.close()));
    await kv.close();
    await single.stop();
    await trio.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}
