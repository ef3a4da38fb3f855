import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { HealthResult, HealthTarget } from './check.js';
import { HealthChecker } from './checker.js';
import { MemoryHealthPublisher } from './publisher.js';

/** A pod status server whose answer and speed each test controls per path. */
const answers = new Map<string, { code: number; delayMs: number }>();
const active = new Map<string, number>();
const maxActive = new Map<string, number>();
const hits = new Map<string, number>();
/** Checks running at once among the pods of the concurrency test (paths `/p2t-c…`). */
let globalActive = 0;
let globalMax = 0;
let port = 0;
const server = http.createServer((req, res) => {
  const path = req.url ?? '';
  const answer = answers.get(path) ?? { code: 200, delayMs: 0 };
  hits.set(path, (hits.get(path) ?? 0) + 1);
  active.set(path, (active.get(path) ?? 0) + 1);
  maxActive.set(path, Math.max(maxActive.get(path) ?? 0, active.get(path)!));
  const counted = path.startsWith('/p2t-c');
  if (counted) globalActive += 1;
  globalMax = Math.max(globalMax, globalActive);
  setTimeout(() => {
    active.set(path, active.get(path)! - 1);
    if (counted) globalActive -= 1;
    res.statusCode = answer.code;
    res.end();
  }, answer.delayMs);
});

beforeAll(async () => {
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const checkers: HealthChecker[] = [];
afterEach(async () => {
  await Promise.all(checkers.splice(0).map((c) => c.close()));
  answers.clear();
  active.clear();
  maxActive.clear();
  hits.clear();
  globalMax = 0;
});

function pod(podId: string, path = `/${podId}`): HealthTarget {
  return { podId, host: '127.0.0.1', status: { port, path, scheme: 'http', localhostOnly: false } };
}

function track(checker: HealthChecker): HealthChecker {
  checkers.push(checker);
  return checker;
}

async function waitFor(what: string, cond: () => boolean, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

function published(publisher: MemoryHealthPublisher, podId: string): string[] {
  return publisher.history
    .filter((h) => h.podId === podId)
    .map((h) => (h.op === 'publish' ? h.result.status : 'removed'));
}

/** A check that answers passing, critical, passing, … without a server. */
function alternatingCheck(): () => Promise<HealthResult> {
  let n = 0;
  return async () => {
    n += 1;
    return {
      status: n % 2 ? 'passing' : 'critical',
      reason: 'alternating',
      durationMs: 0,
      checkedAt: new Date(),
    };
  };
}

/** A publisher whose first `failures` publishes fail as an unreachable store's would. */
function failingPublisher(failures: number) {
  let attempts = 0;
  const memory = new MemoryHealthPublisher();
  const publisher = {
    publish: async (podId: string, result: HealthResult) => {
      attempts += 1;
      if (attempts <= failures) throw new Error('store unreachable');
      await memory.publish(podId, result);
    },
    remove: (podId: string) => memory.remove(podId),
  };
  return { publisher, memory, attempts: () => attempts };
}

describe('HealthChecker', () => {
  it('publishes on change and on refresh, not on every check', async () => {
    const publisher = new MemoryHealthPublisher();
    const checker = track(
      new HealthChecker({
        publisher,
        intervalMs: 20,
        jitter: 0,
        refreshMs: 1000,
        flapControl: false,
      }),
    );
    checker.setPod(pod('p2t-a'));
    await waitFor('first publish', () => publisher.current.has('p2t-a'));
    await waitFor('more checks', () => (hits.get('/p2t-a') ?? 0) >= 5);
    expect(published(publisher, 'p2t-a')).toEqual(['passing']);

    answers.set('/p2t-a', { code: 500, delayMs: 0 });
    await waitFor('critical', () => publisher.current.get('p2t-a')?.status === 'critical');
    expect(publisher.current.get('p2t-a')?.reason).toBe('HTTP 500');
    expect(checker.latest('p2t-a')?.httpStatus).toBe(500);
    await waitFor('refresh', () => published(publisher, 'p2t-a').length === 3, 4000);
    expect(published(publisher, 'p2t-a')).toEqual(['passing', 'critical', 'critical']);
  });

  it('checks each pod at its own interval', async () => {
    const publisher = new MemoryHealthPublisher();
    const checker = track(new HealthChecker({ publisher, intervalMs: 1000, jitter: 0 }));
    await checker.setPods([{ ...pod('p2t-fast'), intervalMs: 10 }, pod('p2t-default')]);
    await waitFor('many fast checks', () => (hits.get('/p2t-fast') ?? 0) >= 10);
    expect(hits.get('/p2t-default') ?? 0).toBeLessThanOrEqual(1);
    expect(() => checker.setPod({ ...pod('p2t-bad'), intervalMs: 0 })).toThrowError(
      /intervalMs of pod p2t-bad/,
    );
  });

  it('checkNow runs a check at once without doubling a running one', async () => {
    answers.set('/p2t-now', { code: 200, delayMs: 80 });
    const publisher = new MemoryHealthPublisher();
    const checker = track(new HealthChecker({ publisher, intervalMs: 60_000 }));
    checker.setPod(pod('p2t-now'));
    checker.checkNow('p2t-now');
    checker.checkNow('p2t-now');
    checker.checkNow('p2t-unknown');
    await waitFor('published', () => publisher.current.has('p2t-now'));
    expect(hits.get('/p2t-now')).toBe(1);
    expect(maxActive.get('/p2t-now')).toBe(1);
  });

  it('never runs two checks of one pod at once', async () => {
    answers.set('/p2t-slow', { code: 200, delayMs: 120 });
    const publisher = new MemoryHealthPublisher();
    track(new HealthChecker({ publisher, intervalMs: 5, jitter: 0.5 })).setPod(pod('p2t-slow'));
    await waitFor('three checks', () => (hits.get('/p2t-slow') ?? 0) >= 3);
    expect(maxActive.get('/p2t-slow')).toBe(1);
  });

  it('bounds concurrency across pods', async () => {
    const ids = ['p2t-c1', 'p2t-c2', 'p2t-c3', 'p2t-c4', 'p2t-c5', 'p2t-c6'];
    for (const id of ids) answers.set(`/${id}`, { code: 200, delayMs: 60 });
    const publisher = new MemoryHealthPublisher();
    const checker = track(new HealthChecker({ publisher, intervalMs: 10, concurrency: 2 }));
    await checker.setPods(ids.map((id) => pod(id)));
    await waitFor('every pod published', () => ids.every((id) => publisher.current.has(id)));
    expect(globalMax).toBe(2);
  });

  it('removes a pod and its result, and stops checking it', async () => {
    const publisher = new MemoryHealthPublisher();
    const checker = track(new HealthChecker({ publisher, intervalMs: 10 }));
    await checker.setPods([pod('p2t-keep'), pod('p2t-gone')]);
    await waitFor('both', () => publisher.current.size === 2);
    await checker.setPods([pod('p2t-keep')]);
    expect(checker.podIds()).toEqual(['p2t-keep']);
    expect(published(publisher, 'p2t-gone').at(-1)).toBe('removed');
    const after = hits.get('/p2t-gone');
    await sleep(80);
    expect(hits.get('/p2t-gone')).toBe(after);
    expect((hits.get('/p2t-keep') ?? 0) > 1).toBe(true);
  });

  it('replaces a check when the status settings change', async () => {
    answers.set('/old', { code: 503, delayMs: 0 });
    const publisher = new MemoryHealthPublisher();
    const checker = track(new HealthChecker({ publisher, intervalMs: 10, flapControl: false }));
    checker.setPod(pod('p2t-moving', '/old'));
    await waitFor('critical', () => publisher.current.get('p2t-moving')?.status === 'critical');
    checker.setPod(pod('p2t-moving', '/new'));
    await waitFor('passing', () => publisher.current.get('p2t-moving')?.status === 'passing');
    expect(publisher.current.get('p2t-moving')?.url).toBe(`http://127.0.0.1:${port}/new`);
    const oldHits = hits.get('/old');
    await sleep(60);
    expect(hits.get('/old')).toBe(oldHits);
  });

  it("throttles a flapping pod to unknown, as P2's token bucket did", async () => {
    const results: string[] = [];
    const publisher = new MemoryHealthPublisher();
    const checker = track(
      new HealthChecker({
        publisher,
        intervalMs: 5,
        jitter: 0,
        flapControl: { burst: 3, refillPerMinute: 0.01 },
        // Alternate answers without a server: the bucket is what is under test here.
        checkFn: alternatingCheck(),
        onResult: (_id, r) => results.push(r.status),
      }),
    );
    checker.setPod(pod('p2t-flap'));
    await waitFor('many checks', () => results.length >= 12);
    expect(published(publisher, 'p2t-flap')).toEqual(['passing', 'critical', 'passing', 'unknown']);
  });

  it('retries a failed publish on the next check', async () => {
    const failing = failingPublisher(2);
    track(
      new HealthChecker({ publisher: failing.publisher, intervalMs: 10, refreshMs: 60_000 }),
    ).setPod(pod('p2t-retry'));
    await waitFor('published after failures', () => failing.memory.current.has('p2t-retry'));
    expect(failing.attempts()).toBe(3);
    expect(published(failing.memory, 'p2t-retry')).toEqual(['passing']);
  });

  it('after a failed publish, waits publishRetryMs of its clock before the next (P2: health_retry_time_sec)', async () => {
    let clock = 1_000_000;
    let checks = 0;
    const { publisher, memory, attempts } = failingPublisher(1);
    track(
      new HealthChecker({
        publisher,
        intervalMs: 2,
        jitter: 0,
        publishRetryMs: 5_000,
        now: () => clock,
        onResult: () => {
          checks += 1;
        },
      }),
    ).setPod(pod('p2t-pause'));
    await waitFor('the failed publish', () => attempts() === 1);
    // Checks go on; publishing waits for the clock, not for the number of checks.
    const seen = checks;
    await waitFor('ten more checks', () => checks >= seen + 10);
    clock += 4_999;
    const later = checks;
    await waitFor('ten more checks', () => checks >= later + 10);
    expect(attempts()).toBe(1);
    clock += 1;
    await waitFor('the retry', () => memory.current.has('p2t-pause'));
    expect(attempts()).toBe(2);
    expect(published(memory, 'p2t-pause')).toEqual(['passing']);
  });

  it('after a failed publish, retries on time even when the wall clock is set back an hour', async () => {
    // The jump is real for this process: Date.now is stepped back, as a stepped system clock would
    // (performance.now does not move). Stepping the machine's clock would hit every process on it.
    const realNow = Date.now;
    let offset = 0;
    Date.now = () => realNow() + offset;
    const { publisher, memory, attempts } = failingPublisher(1);
    try {
      track(
        new HealthChecker({ publisher, intervalMs: 10, jitter: 0, publishRetryMs: 100 }),
      ).setPod(pod('p2t-clock'));
      await waitFor('the failed publish', () => attempts() === 1);
      offset = -3_600_000;
      // With the wall clock the retry waited for the hour to pass again.
      const started = performance.now();
      while (!memory.current.has('p2t-clock') && performance.now() - started < 3_000)
        await sleep(10);
      expect(memory.current.has('p2t-clock')).toBe(true);
    } finally {
      Date.now = realNow;
    }
  });

  it('holds unknown for holdRefillPeriods refill periods once the bucket ran dry (P2: health_resume_limit)', async () => {
    let clock = 5_000_000;
    let checks = 0;
    const publisher = new MemoryHealthPublisher();
    track(
      new HealthChecker({
        publisher,
        intervalMs: 2,
        jitter: 0,
        refreshMs: 1e12,
        // 2 tokens, one more per minute of the clock; unknown held for 3 minutes.
        flapControl: { burst: 2, refillPerMinute: 1, holdRefillPeriods: 3 },
        now: () => clock,
        checkFn: alternatingCheck(),
        onResult: () => {
          checks += 1;
        },
      }),
    ).setPod(pod('p2t-hold'));
    const moreChecks = async () => {
      const seen = checks;
      await waitFor('ten more checks', () => checks >= seen + 10);
    };
    await moreChecks();
    expect(published(publisher, 'p2t-hold')).toEqual(['passing', 'critical', 'unknown']);
    clock += 2 * 60_000; // two tokens back, but still held
    await moreChecks();
    expect(published(publisher, 'p2t-hold')).toHaveLength(3);
    clock += 60_000; // the hold is over: changes are published again
    await waitFor('a change published', () => published(publisher, 'p2t-hold').length > 3);
    expect(published(publisher, 'p2t-hold')[3]).not.toBe('unknown');
  });

  it('a removal waits for a publish in flight, so no key is left behind', async () => {
    const memory = new MemoryHealthPublisher();
    let publishing = false;
    const publisher = {
      publish: async (podId: string, result: HealthResult) => {
        publishing = true;
        await sleep(150); // a slow store
        await memory.publish(podId, result);
      },
      remove: (podId: string) => memory.remove(podId),
    };
    const checker = track(new HealthChecker({ publisher, intervalMs: 1 }));
    checker.setPod(pod('p2t-racing'));
    await waitFor('publish under way', () => publishing);
    await checker.removePod('p2t-racing');
    expect(published(memory, 'p2t-racing')).toEqual(['passing', 'removed']);
    expect(memory.current.has('p2t-racing')).toBe(false);
  });

  it('keeps checking when an onResult callback throws', async () => {
    const publisher = new MemoryHealthPublisher();
    let calls = 0;
    track(
      new HealthChecker({
        publisher,
        intervalMs: 5,
        onResult: () => {
          calls += 1;
          throw new Error('bad callback');
        },
      }),
    ).setPod(pod('p2t-callback'));
    await waitFor('several results', () => calls >= 3);
  });

  it('close waits for running checks and closes the publisher', async () => {
    answers.set('/p2t-shut', { code: 200, delayMs: 100 });
    let closed = false;
    const memory = new MemoryHealthPublisher();
    const checker = new HealthChecker({
      publisher: {
        publish: (a, b) => memory.publish(a, b),
        remove: (a) => memory.remove(a),
        close: async () => {
          closed = true;
        },
      },
      intervalMs: 1,
    });
    checker.setPod(pod('p2t-shut'));
    await waitFor('request started', () => (active.get('/p2t-shut') ?? 0) === 1);
    await checker.close();
    expect(closed).toBe(true);
    const count = hits.get('/p2t-shut');
    await sleep(50);
    expect(hits.get('/p2t-shut')).toBe(count);
    expect(() => checker.setPod(pod('p2t-shut'))).toThrowError(/closed/);
  });

  it('probes a new pod at once and backs off fast until it passes, not an interval later', async () => {
    const publisher = new MemoryHealthPublisher();
    answers.set('/p2t-startup', { code: 503, delayMs: 0 }); // the app is still starting
    const checker = track(
      // An hour's interval: only start-up probing can see the app pass within this test.
      new HealthChecker({ publisher, intervalMs: 3_600_000, startupProbeMs: 5 }),
    );
    checker.setPod(pod('p2t-startup'));
    await waitFor('first probe', () => publisher.current.get('p2t-startup') !== undefined);
    expect(publisher.current.get('p2t-startup')?.status).toBe('critical');
    await waitFor('probed again', () => (hits.get('/p2t-startup') ?? 0) >= 3);
    answers.delete('/p2t-startup'); // the app answers
    await waitFor('passing', () => publisher.current.get('p2t-startup')?.status === 'passing');
    // Once passing, the pod is on its interval: no more probes.
    const seen = hits.get('/p2t-startup');
    await sleep(300);
    expect(hits.get('/p2t-startup')).toBe(seen);
  });

  it('caps the start-up back-off, so a slow start is seen soon after its first answer', async () => {
    const publisher = new MemoryHealthPublisher();
    answers.set('/p2t-slowstart', { code: 503, delayMs: 0 });
    const checker = track(
      new HealthChecker({
        publisher,
        intervalMs: 3_600_000,
        startupProbeMs: 5,
        startupProbeMaxMs: 20,
      }),
    );
    checker.setPod(pod('p2t-slowstart'));
    // Doubling without a cap would need 5 ms × 2^14 ≈ 80 s for these 15 probes.
    await waitFor('probed 15 times', () => (hits.get('/p2t-slowstart') ?? 0) >= 15);
    answers.delete('/p2t-slowstart');
    await waitFor('passing', () => publisher.current.get('p2t-slowstart')?.status === 'passing');
  });

  it('ends start-up probing after its window: a pod that never passes goes on its interval', async () => {
    const publisher = new MemoryHealthPublisher();
    answers.set('/p2t-neverup', { code: 503, delayMs: 0 });
    const checker = track(
      new HealthChecker({
        publisher,
        intervalMs: 3_600_000,
        startupProbeMs: 5,
        startupProbeMaxMs: 10,
        startupWindowMs: 100,
      }),
    );
    checker.setPod(pod('p2t-neverup'));
    await waitFor('probed', () => (hits.get('/p2t-neverup') ?? 0) >= 2);
    await sleep(300);
    const seen = hits.get('/p2t-neverup');
    await sleep(300);
    expect(hits.get('/p2t-neverup')).toBe(seen);
    expect(publisher.current.get('p2t-neverup')?.status).toBe('critical');
  });

  it('without start-up probing, checks a new pod first within one interval', async () => {
    const publisher = new MemoryHealthPublisher();
    track(new HealthChecker({ publisher, intervalMs: 3_600_000, startupProbeMs: false })).setPod(
      pod('p2t-nostartup'),
    );
    await sleep(300);
    expect(hits.get('/p2t-nostartup')).toBeUndefined();
  });

  it('refuses nonsense options', () => {
    const publisher = new MemoryHealthPublisher();
    expect(() => new HealthChecker({ publisher, intervalMs: 0 })).toThrowError(
      expect.objectContaining({ code: 'P2_HEALTH_INVALID_OPTIONS' }),
    );
    expect(() => new HealthChecker({ publisher, concurrency: 0 })).toThrowError(/concurrency/);
    expect(() => new HealthChecker({ publisher, jitter: 1 })).toThrowError(/jitter/);
    expect(() => new HealthChecker({ publisher, startupProbeMs: 0 })).toThrowError(
      /startupProbeMs/,
    );
    expect(() => new HealthChecker({ publisher, startupProbeMaxMs: 0 })).toThrowError(
      /startupProbeMaxMs/,
    );
    expect(() => new HealthChecker({ publisher, startupWindowMs: -1 })).toThrowError(
      /startupWindowMs/,
    );
    expect(() => new HealthChecker({ publisher, publishRetryMs: -1 })).toThrowError(
      /publishRetryMs/,
    );
  });
});
