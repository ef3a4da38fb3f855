/** Reading stored JSON records: what every typed store shares. @internal */
import { type KvEntry, KvError, KvErrorCodes } from '@p2/kv';

const decoder = new TextDecoder();

/** The entry's value as text. @internal */
export function text(value: string | Uint8Array): string {
  return typeof value === 'string' ? value : decoder.decode(value);
}

/**
 * Parses a stored value as JSON. @throws KvError `P2_KV_BAD_RECORD` naming `key` @internal
 */
export function parseJsonValue(value: string | Uint8Array, key: string): unknown {
  try {
    return JSON.parse(text(value));
  } catch (cause) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${key}: ${(cause as Error).message}`, {
      cause,
      details: { key },
    });
  }
}

/** UTF-8 bytes of a string. @internal */
export function bytes(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}

function decodeJson(entry: KvEntry): unknown {
  try {
    return JSON.parse(decoder.decode(entry.value));
  } catch (cause) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${entry.key} does not hold valid JSON`, {
      cause,
      details: { key: entry.key },
    });
  }
}

/** The entry's value as a JSON object. @throws KvError `P2_KV_BAD_RECORD` @internal */
export function asObject(entry: KvEntry): Record<string, unknown> {
  const value = decodeJson(entry);
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    throw new KvError(KvErrorCodes.BAD_RECORD, `${entry.key} must hold a JSON object`, {
      details: { key: entry.key },
    });
  }
  return value as Record<string, unknown>;
}

/** A problem found while reading (the entry was skipped, the rest is returned). */
export interface ReadProblem {
  key: string;
  error: KvError;
}
