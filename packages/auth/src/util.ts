import { createHash } from 'node:crypto';
import { describeError } from '@p2/errors';
import type * as openpgp from 'openpgp';
import { type Logger, pino } from 'pino';

/** @internal A logger that writes nothing (the default for library code). */
export const silentLogger: Logger = pino({ level: 'silent' });

/** @internal One line describing a foreign error, credentials redacted. */
export function describeCause(error: unknown): string {
  return describeError(error);
}

/** @internal A 64-bit key id as 16 upper-case hex digits (zero-padded, as `gpg` prints it). */
export function hexKeyId(keyId: openpgp.KeyID): string {
  return keyId.toHex().toUpperCase().padStart(16, '0');
}

/** @internal Lower-case hex SHA-256. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}
