/** Key, id and size validation. Strict when writing; reading accepts whatever exists. */
import { KvError, KvErrorCodes } from './errors.js';

/** Consul's `kv_max_value_size` default: 512 KiB. */
export const MAX_VALUE_BYTES = 512 * 1024;
/** P2's transaction cap (Consul < 1.14 allowed 64; P2's builder refuses the 65th op). */
export const MAX_TXN_OPS = 64;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const UUID_LOOSE =
  /^(?:urn:uuid:)?\{?[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}\}?$/;

/** Encodes a string as UTF-8; passes bytes through. @internal */
export function toBytes(value: Uint8Array | string): Uint8Array {
  return typeof value === 'string' ? new TextEncoder().encode(value) : value;
}

/**
 * Refuses keys Consul refuses or that could escape a prefix: empty, leading `/`, `..` segments,
 * leading/trailing spaces, control characters.
 * @throws KvError `P2_KV_INVALID_KEY`
 */
export function assertWritableKey(key: string): void {
  let problem: string | undefined;
  if (key === '') problem = 'it is empty';
  else if (key.startsWith('/')) problem = "it must not begin with a '/'";
  else if (/(^|\/)\.\.(\/|$)/.test(key)) problem = 'it contains a ".." segment (path traversal)';
  else if (key !== key.trim()) problem = 'it has leading or trailing spaces';
  else if (/[\u0000-\u001f\u007f]/.test(key)) problem = 'it contains control characters';
  if (problem) {
    throw new KvError(KvErrorCodes.INVALID_KEY, `invalid key ${JSON.stringify(key)}: ${problem}`, {
      details: { key },
    });
  }
}

/** @throws KvError `P2_KV_VALUE_TOO_LARGE` above 512 KiB. */
export function assertValueSize(key: string, value: Uint8Array): void {
  if (value.length > MAX_VALUE_BYTES) {
    throw new KvError(
      KvErrorCodes.VALUE_TOO_LARGE,
      `value for ${JSON.stringify(key)} is ${value.length} bytes; the store accepts at most ${MAX_VALUE_BYTES}`,
      {
        details: { key, bytes: value.length },
        hint: 'store large data elsewhere and keep a reference in the store',
      },
    );
  }
}

/**
 * A segment a person writes into a key (pod id, node name, label id part): non-empty, no `/`, no
 * whitespace or control characters, not `.`/`..`. Stricter than P2 (which accepted anything), because
 * these segments also become directory names and Unix users.
 * @throws KvError `P2_KV_INVALID_KEY`
 */
export function assertSegment(kind: string, value: string): void {
  let problem: string | undefined;
  if (value === '') problem = 'it is empty';
  else if (value.includes('/')) problem = "it contains '/'";
  else if (/\s/.test(value)) problem = 'it contains whitespace';
  else if (/[\u0000-\u001f\u007f]/.test(value)) problem = 'it contains control characters';
  else if (value === '.' || value === '..') problem = 'it is a relative path component';
  if (problem) {
    throw new KvError(
      KvErrorCodes.INVALID_KEY,
      `invalid ${kind} ${JSON.stringify(value)}: ${problem}`,
      {
        details: { [kind]: value },
      },
    );
  }
}

/** True for a canonical lower-case UUID (what p2 writes). */
export function isCanonicalUuid(value: string): boolean {
  return UUID.test(value);
}

/**
 * True for anything P2 parsed as a UUID (canonical, 32-hex, braced, `urn:uuid:`): the discriminator
 * P2 used for uuid-pod index keys under `intent/` and `reality/`.
 */
export function looksLikeUuid(value: string): boolean {
  return UUID_LOOSE.test(value);
}

/** @throws KvError `P2_KV_INVALID_KEY` unless `value` is a canonical lower-case UUID. */
export function assertUuid(kind: string, value: string): void {
  if (!isCanonicalUuid(value)) {
    throw new KvError(
      KvErrorCodes.INVALID_KEY,
      `invalid ${kind} ${JSON.stringify(value)}: expected a lower-case UUID like 0f8fad5b-d9cb-469f-a165-70867728950e`,
      { details: { [kind]: value } },
    );
  }
}
