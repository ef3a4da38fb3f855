/**
 * Blocked queries indexed by what they wait on, so a commit finds the ones it concerns without
 * looking at every other: exact keys by key, prefixes by prefix (looked up once per distinct
 * prefix length), session watchers apart. With 5,000 hosts each holding a few watches, scanning
 * every waiter on every commit was most of the server's CPU (docs/scaling.md).
 */

/** What a blocked query waits on: one key, a prefix, or the session table. */
export interface WaitScope {
  prefix: string;
  exact: boolean;
  sessions: boolean;
}

/** A blocked query: its scope and what to call when a commit concerns it. */
export interface Waiter extends WaitScope {
  wake: () => void;
}

function addTo<K>(map: Map<K, Set<Waiter>>, key: K, waiter: Waiter): void {
  const set = map.get(key);
  if (set) set.add(waiter);
  else map.set(key, new Set([waiter]));
}

function removeFrom<K>(map: Map<K, Set<Waiter>>, key: K, waiter: Waiter): boolean {
  const set = map.get(key);
  if (!set?.delete(waiter)) return false;
  if (set.size === 0) map.delete(key);
  return true;
}

/** The set of blocked queries, indexed by scope. @internal */
export class WaiterIndex {
  private readonly all = new Set<Waiter>();
  private readonly sessions = new Set<Waiter>();
  private readonly exact = new Map<string, Set<Waiter>>();
  private readonly prefixes = new Map<string, Set<Waiter>>();
  /** How many waited-on prefixes have each length (the lengths a key is cut at). */
  private readonly lengths = new Map<number, number>();

  get size(): number {
    return this.all.size;
  }

  has(waiter: Waiter): boolean {
    return this.all.has(waiter);
  }

  add(waiter: Waiter): void {
    this.all.add(waiter);
    if (waiter.sessions) this.sessions.add(waiter);
    else if (waiter.exact) addTo(this.exact, waiter.prefix, waiter);
    else {
      const had = this.prefixes.get(waiter.prefix)?.size ?? 0;
      addTo(this.prefixes, waiter.prefix, waiter);
      const n = waiter.prefix.length;
      if (had === 0) this.lengths.set(n, (this.lengths.get(n) ?? 0) + 1);
    }
  }

  delete(waiter: Waiter): void {
    if (!this.all.delete(waiter)) return;
    if (waiter.sessions) this.sessions.delete(waiter);
    else if (waiter.exact) removeFrom(this.exact, waiter.prefix, waiter);
    else if (
      removeFrom(this.prefixes, waiter.prefix, waiter) &&
      !this.prefixes.has(waiter.prefix)
    ) {
      const n = waiter.prefix.length;
      const left = (this.lengths.get(n) ?? 1) - 1;
      if (left > 0) this.lengths.set(n, left);
      else this.lengths.delete(n);
    }
  }

  /** Every waiter, for waking them all. */
  values(): Waiter[] {
    return [...this.all];
  }

  /** The waiters a commit of `keys` (and of sessions, when `sessions`) concerns. */
  concerned(keys: readonly string[], sessions: boolean): Waiter[] {
    const out = new Set<Waiter>();
    if (sessions) for (const w of this.sessions) out.add(w);
    for (const key of keys) {
      for (const w of this.exact.get(key) ?? []) out.add(w);
      for (const n of this.lengths.keys()) {
        if (n > key.length) continue;
        for (const w of this.prefixes.get(key.slice(0, n)) ?? []) out.add(w);
      }
    }
    return [...out];
  }
}
