import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import { lstat, open, readlink, stat } from 'node:fs/promises';
import { join, posix } from 'node:path';
import { describeError } from '@p2/errors';
import { HoistError, HoistErrorCodes, hasErrno } from './errors.js';
import { walk } from './walk.js';

const DIGEST_LINE = /^[0-9a-f]{64}$/;

/**
 * Parses a `digest_location` file: `sha256sum` output, one `<64 lowercase hex><space><mode
 * char><path>` per line (spec 01 §1.11). Blank lines are skipped; paths are cleaned (`./a` → `a`).
 * Returns path → hex digest.
 *
 * Messages name the source and the line number and say what was expected; they never quote the
 * text (a digest location may name a file that holds secrets).
 *
 * @param source - where the text came from, for messages
 * @throws HoistError `P2_HOIST_DIGEST_FILE_INVALID` for a short or malformed line, a duplicate
 *   path, or a path that is absolute or contains `..` (`details`: `source`, `line`)
 * @example
 * ```ts
 * parseDigestFile('e3b0…b855  bin/launch\n') // Map { 'bin/launch' => 'e3b0…b855' }
 * ```
 */
export function parseDigestFile(text: string, source = 'digest file'): Map<string, string> {
  const digests = new Map<string, string>();
  const firstLine = new Map<string, number>();
  const lines = text.split('\n');
  lines.forEach((raw, index) => {
    const line = raw.endsWith('\r') ? raw.slice(0, -1) : raw;
    if (line.trim() === '') return;
    const lineNumber = index + 1;
    const where = `${source} line ${lineNumber}`;
    const details = { source, line: lineNumber };
    const hex = line.slice(0, 64);
    if (line.length < 67 || !DIGEST_LINE.test(hex)) {
      throw new HoistError(
        HoistErrorCodes.DIGEST_FILE_INVALID,
        `${where} is not "<64 lowercase hex sha256><space><mode><path>" (${line.length < 67 ? 'too short' : 'no 64-digit lowercase hex digest at its start'})`,
        {
          hint: 'generate the file with `sha256sum` from inside the artifact directory',
          details,
        },
      );
    }
    const rawPath = line.slice(66);
    if (rawPath.startsWith('/') || rawPath.split('/').includes('..')) {
      throw new HoistError(
        HoistErrorCodes.DIGEST_FILE_INVALID,
        `${where} names a path outside the install directory (expected a relative path without "..")`,
        { details },
      );
    }
    const path = posix.normalize(rawPath).replace(/^(\.\/)+/, '');
    const earlier = firstLine.get(path);
    if (earlier !== undefined) {
      throw new HoistError(
        HoistErrorCodes.DIGEST_FILE_INVALID,
        `${where} lists the same path as line ${earlier} (expected each file once)`,
        { details: { ...details, firstLine: earlier } },
      );
    }
    firstLine.set(path, lineNumber);
    digests.set(path, hex);
  });
  return digests;
}

/** The differences {@link verifyInstallDigest} found. */
export interface TreeDigestReport {
  /** Files present with another digest than listed. */
  mismatched: string[];
  /** Listed files that are absent. */
  missing: string[];
  /** Files present but not listed. */
  unlisted: string[];
  /** Files checked. */
  checked: number;
}

/**
 * Verifies an installed tree against a `digest_location` file, as P2's `Verify` did: every regular
 * file, and every relative symlink to a file, must be listed with its SHA-256; every listed file
 * must exist; absolute symlinks and symlinks to directories are skipped.
 *
 * @param digest - the digest file's text, or the map from {@link parseDigestFile}
 * @throws HoistError `P2_HOIST_TREE_DIGEST_MISMATCH` (with a {@link TreeDigestReport} in
 *   `details`), `P2_HOIST_DIGEST_FILE_INVALID`, `P2_HOIST_IO`
 * @example
 * ```ts
 * await verifyInstallDigest('/data/pods/hello/app/installs/app_abc', digestText);
 * // { mismatched: [], missing: [], unlisted: [], checked: 12 }
 * ```
 */
export async function verifyInstallDigest(
  installDir: string,
  digest: string | Map<string, string>,
): Promise<TreeDigestReport> {
  const expected = typeof digest === 'string' ? parseDigestFile(digest) : digest;
  const report: TreeDigestReport = { mismatched: [], missing: [], unlisted: [], checked: 0 };
  const seen = new Set<string>();
  let entries: string[];
  try {
    entries = (await walk(installDir)).map((item) => item.relative);
  } catch (cause) {
    throw new HoistError(HoistErrorCodes.IO, `cannot read ${installDir}: ${describeError(cause)}`, {
      cause,
    });
  }
  for (const relative of entries.sort()) {
    const path = join(installDir, relative);
    try {
      const info = await lstat(path);
      if (info.isSymbolicLink()) {
        if ((await readlink(path)).startsWith('/')) continue;
        const target = await stat(path).catch(() => undefined);
        if (target === undefined || !target.isFile()) continue;
      } else if (!info.isFile()) {
        continue;
      }
      const want = expected.get(relative);
      seen.add(relative);
      report.checked++;
      if (want === undefined) {
        report.unlisted.push(relative);
        continue;
      }
      if ((await sha256File(path)) !== want) report.mismatched.push(relative);
    } catch (cause) {
      if (hasErrno(cause, 'ENOENT')) continue;
      throw new HoistError(HoistErrorCodes.IO, `cannot read ${path}: ${describeError(cause)}`, {
        cause,
      });
    }
  }
  for (const path of expected.keys()) if (!seen.has(path)) report.missing.push(path);
  if (report.mismatched.length + report.missing.length + report.unlisted.length > 0) {
    const parts = [
      report.mismatched.length > 0 ? `different: ${preview(report.mismatched)}` : '',
      report.missing.length > 0 ? `missing: ${preview(report.missing)}` : '',
      report.unlisted.length > 0 ? `not in the digest: ${preview(report.unlisted)}` : '',
    ].filter((part) => part !== '');
    throw new HoistError(
      HoistErrorCodes.TREE_DIGEST_MISMATCH,
      `install ${installDir} does not match its digest file (${parts.join('; ')})`,
      {
        hint: 'the artifact does not match the digest published for it; rebuild one of them',
        details: { ...report },
      },
    );
  }
  return report;
}

function preview(paths: string[]): string {
  const shown = paths.slice(0, 10).join(', ');
  return paths.length > 10 ? `${shown} and ${paths.length - 10} more` : shown;
}

/**
 * The install belongs to the pod's user, who may swap a file for a FIFO after the walk: open without
 * blocking and hash only a regular file (anything else cannot match a listed digest).
 */
async function sha256File(path: string): Promise<string> {
  const handle = await open(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    if (!(await handle.stat()).isFile()) return 'not a regular file';
    const hash = createHash('sha256');
    for await (const chunk of handle.createReadStream({ start: 0, autoClose: false })) {
      hash.update(chunk as Buffer);
    }
    return hash.digest('hex');
  } finally {
    await handle.close().catch(() => undefined);
  }
}
