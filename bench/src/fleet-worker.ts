/**
 * One process of a {@link ProcessFleet} (bench/src/fleet-procs.ts): runs a slice of the simulated
 * hosts (`SimFleet`) and reports to its parent over IPC — each host's events with absolute times,
 * and the requests its hosts' clients made — every 20 ms and whenever the parent asks.
 */
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import { PREPARER_STORE_LIMITS } from '@p2/host-agent';
import { createStore } from '@p2/kv';
import { SimFleet } from './fleet.js';
import type { FromParent, ToParent } from './fleet-procs.js';

// tsx maps every error's stack through the source maps of the packages' dist files; a preparer
// runs without (bin/launch: plain node), and a spiral of timeouts spent 7 % of a fleet process's
// CPU formatting mapped stacks.
process.setSourceMapsEnabled(false);

const send = (message: ToParent) =>
  new Promise<void>((resolve, reject) =>
    process.send?.(message, undefined, {}, (error) => (error ? reject(error) : resolve())),
  );

let fleet: SimFleet | undefined;
let running: [string, number][] = [];
let woke: [string, number][] = [];

async function flush(): Promise<void> {
  const counts = fleet?.requests.drain();
  if (running.length === 0 && woke.length === 0 && !counts) return;
  const message: ToParent = { type: 'events', running, woke, counts };
  running = [];
  woke = [];
  await send(message);
}

const loops = {
  trace: monitorEventLoopDelay({ resolution: 10 }),
  figure: monitorEventLoopDelay({ resolution: 10 }),
};
loops.trace.enable();
loops.figure.enable();

const ticker = setInterval(() => void flush().catch(() => {}), 20);

process.on('message', (message: FromParent) => {
  void handle(message).then(
    () => send({ type: 'ack', id: message.id }),
    (error: unknown) => send({ type: 'ack', id: message.id, error: String(error) }),
  );
});
// The parent went away (killed, or it crashed): nothing is left to report to.
process.on('disconnect', () => process.exit(0));

async function handle(message: FromParent): Promise<void> {
  switch (message.type) {
    case 'start': {
      const url = message.storeUrl;
      fleet = new SimFleet(() => createStore(url, PREPARER_STORE_LIMITS));
      fleet.requests.trackDeltas();
      const origin = performance.timeOrigin;
      fleet.onEvent = (kind, node, at) =>
        (kind === 'running' ? running : woke).push([node, origin + at]);
      await fleet.start(message.count, message.first);
      return;
    }
    case 'expect':
      await flush();
      fleet?.expect(message.sha);
      return;
    case 'flush':
      await flush();
      return;
    case 'loop-delay': {
      const loop = loops[message.window];
      await send({ type: 'loop-delay', p99Ms: loop.percentile(99) / 1e6, maxMs: loop.max / 1e6 });
      loop.reset();
      return;
    }
    case 'stop':
      clearInterval(ticker);
      await fleet?.stop();
      await flush();
      // Let the last messages leave before the channel closes.
      await sleep(10);
      process.disconnect?.();
      return;
  }
}
