/** JSON shapes of Consul's HTTP API, written by hand where Consul's types exceed JSON numbers. */
import { formatGoDuration } from '@p2/go';
import type { Entry, Session } from './state.js';

/** A KV entry as Consul prints it. `Flags` is a uint64 written as digits (not a JS number). */
export function entryJson(entry: Entry, withValue: boolean): string {
  const value = withValue && entry.value !== null && entry.value.length > 0 ? entry.value : null;
  return (
    `{"LockIndex":${entry.lockIndex},"Key":${JSON.stringify(entry.key)},"Flags":${entry.flags},` +
    `"Value":${value === null ? 'null' : `"${value.toString('base64')}"`},` +
    (entry.session === '' ? '' : `"Session":${JSON.stringify(entry.session)},`) +
    `"CreateIndex":${entry.createIndex},"ModifyIndex":${entry.modifyIndex}}`
  );
}

/** A session as Consul's `/v1/session/info` prints it (LockDelay in nanoseconds). */
export function sessionJson(session: Session): Record<string, unknown> {
  return {
    ID: session.id,
    Name: session.name,
    Node: session.node,
    LockDelay: session.lockDelayNs,
    Behavior: session.behavior,
    TTL: session.ttl,
    NodeChecks: session.nodeChecks,
    ServiceChecks: session.serviceChecks,
    CreateIndex: session.createIndex,
    ModifyIndex: session.modifyIndex,
  };
}

/** Formats a TTL for display in errors. */
export function ttlText(ms: number): string {
  return formatGoDuration(ms * 1e6);
}
