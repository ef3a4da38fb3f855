import { P2Error } from '@p2/errors';
import { describe, expect, it } from 'vitest';
import { CliExit, ExitCode, exitCodeFor, STORE_ACCESS_EXIT_CODES } from './exit-code.js';

const err = (code: string) => new P2Error(code, 'x');

describe('exitCodeFor', () => {
  it("maps p2's error families: whole codes before prefixes", () => {
    expect(exitCodeFor(err('P2_MANIFEST_INVALID'))).toBe(ExitCode.INVALID_INPUT);
    expect(exitCodeFor(err('P2_LABELS_BAD_SELECTOR'))).toBe(ExitCode.INVALID_INPUT);
    expect(exitCodeFor(err('P2_LABELS_STORE'))).toBe(ExitCode.FAILURE);
    expect(exitCodeFor(err('P2_RC_NOT_FOUND'))).toBe(ExitCode.NOT_FOUND);
    expect(exitCodeFor(err('P2_KV_BAD_OPTIONS'))).toBe(ExitCode.USAGE);
    expect(exitCodeFor(err('P2_KV_PERMISSION_DENIED'))).toBe(ExitCode.DENIED);
    expect(exitCodeFor(err('P2_KV_UNAVAILABLE'))).toBe(ExitCode.FAILURE);
    expect(exitCodeFor(new Error('boom'))).toBe(ExitCode.FAILURE);
    expect(exitCodeFor(new CliExit(ExitCode.NOT_FOUND))).toBe(ExitCode.NOT_FOUND);
  });

  it('takes a binary’s own table', () => {
    const table = { ...STORE_ACCESS_EXIT_CODES, P2_X_BAD_ARG: ExitCode.USAGE };
    expect(exitCodeFor(err('P2_X_BAD_ARG'), table)).toBe(ExitCode.USAGE);
    expect(exitCodeFor(err('P2_KV_TOKEN_FILE_UNSAFE'), table)).toBe(ExitCode.DENIED);
    expect(exitCodeFor(err('P2_MANIFEST_INVALID'), table)).toBe(ExitCode.FAILURE);
  });
});
