/**
 * How the etcd backend stores Consul's entries and sessions (layout in `etcd.ts`): the value
 * envelope that carries flags, LockIndex and the lock holder, and the session record.
 */
import type { IKeyValue } from 'etcd3';
import type { KvEntry } from './types.js';

/** A session's metadata, stored at `session/<uuid>` under its lease. */
export interface SessionRecord {
  name: string;
  node: string;
  behavior: 'release' | 'delete';
  ttlMs: number;
  lockDelayMs: number;
  lease: string;
}

/** An entry as read, with the lease its etcd key is attached to (`'0'`: none). */
export interface Loaded {
  entry: KvEntry;
  lease: string;
}

const ENVELOPE = 'p2kv1 ';
const NO_SESSION = '-';

/** Turns the stored envelope back into an entry. Foreign (non-envelope) values read as plain. */
export function decodeEntry(key: string, kv: IKeyValue): Loaded {
  const raw = kv.value ?? Buffer.alloc(0);
  let value: Uint8Array = raw;
  let flags = 0;
  let lockIndex = 0;
  let session: string | undefined;
  if (raw.subarray(0, ENVELOPE.length).toString('latin1') === ENVELOPE) {
    const newline = raw.indexOf(0x0a);
    const fields = raw.subarray(ENVELOPE.length, newline).toString('utf8').split(' ');
    if (newline > 0 && fields.length === 3) {
      flags = Number(fields[0]);
      lockIndex = Number(fields[1]);
      session = fields[2] === NO_SESSION ? undefined : fields[2];
      value = raw.subarray(newline + 1);
    }
  }
  return {
    entry: {
      key,
      value: new Uint8Array(value),
      flags,
      session,
      lockIndex,
      createIndex: Number(kv.create_revision),
      modifyIndex: Number(kv.mod_revision),
    },
    lease: kv.lease ?? '0',
  };
}

/** The envelope `p2kv1 <flags> <lockIndex> <session|->\n<bytes>`. */
export function encodeEntry(entry: KvEntry): Buffer {
  return Buffer.concat([
    Buffer.from(
      `${ENVELOPE}${entry.flags} ${entry.lockIndex} ${entry.session ?? NO_SESSION}\n`,
      'utf8',
    ),
    entry.value,
  ]);
}

/** The first key after every key starting with `prefix` (etcd's range_end for a prefix). */
export function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    if ((end[i] as number) < 0xff) {
      end[i] = (end[i] as number) + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** Parses a stored session record. */
export function decodeSessionRecord(kv: IKeyValue): SessionRecord {
  return JSON.parse(kv.value.toString('utf8')) as SessionRecord;
}
