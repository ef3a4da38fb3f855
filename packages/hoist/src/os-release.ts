/**
 * The host's operating system and version, as an artifact registry is asked for them (spec 02 §2.6):
 * from a Red Hat release file (`CentOS Linux release 7.4.1708 (Core)`, P2's only format) or an
 * os-release file (`ID=debian`, `VERSION_ID="12"`, what Debian and most others ship).
 */
import { realpath } from 'node:fs/promises';
import { describeError } from '@p2/errors';
import { distrustAncestors, readTrustedFile } from '@p2/secure-fs';
import { HoistError, HoistErrorCodes, hasErrno } from './errors.js';

/** What an artifact registry is told about the host (`os` and `os_version` of the query). */
export interface OsRelease {
  /** `CentOS` from a Red Hat release file (as P2 sent it); os-release's `ID` (`debian`). */
  os: string;
  /** `7.4.1708` (second-to-last word of the release line); os-release's `VERSION_ID` (`12`). */
  version: string;
}

/** P2's release file (its default, and the only one its registry queries read). */
export const DEFAULT_OS_VERSION_FILE = '/etc/redhat-release';

/**
 * Read when no file is configured and {@link DEFAULT_OS_VERSION_FILE} does not exist: the
 * os-release file of systemd-era distributions (Debian, Ubuntu, …).
 */
export const FALLBACK_OS_VERSION_FILE = '/etc/os-release';

const MAX_RELEASE_FILE_BYTES = 64 * 1024;
const OS_RELEASE_LINE = /^[A-Za-z_][A-Za-z0-9_]*=/;
// os-release(5): ID is lowercase a–z, 0–9, ".", "_", "-"; VERSION_ID the same plus upper case
// and "~" seen in the wild. Anything else is refused rather than sent to a registry.
const OS_ID = /^[a-z0-9._-]{1,64}$/;
const OS_VERSION_ID = /^[A-Za-z0-9._~-]{1,64}$/;
const CENTOS_VERSION = /^\d+(\.\d+)*$/;

function invalid(file: string, problem: string, cause?: unknown): HoistError {
  return new HoistError(
    HoistErrorCodes.OS_RELEASE_INVALID,
    `cannot tell the OS version from ${file}: ${problem}`,
    {
      ...(cause === undefined ? {} : { cause }),
      hint: `set the preparer's os_version_file to a root-owned release file: ${DEFAULT_OS_VERSION_FILE} ("CentOS … release <version> (…)") or ${FALLBACK_OS_VERSION_FILE} (ID= and VERSION_ID=)`,
      details: { file },
    },
  );
}

/** One os-release value: unquoted, with the shell escapes os-release(5) allows inside quotes. */
function unquote(raw: string): string {
  const quote = raw[0];
  if ((quote === '"' || quote === "'") && raw.length >= 2 && raw.endsWith(quote)) {
    const inner = raw.slice(1, -1);
    return quote === '"' ? inner.replace(/\\([\\$"`])/g, '$1') : inner;
  }
  return raw;
}

/**
 * Parses a release file's text. The format is recognised by its content: `KEY=value` lines are
 * os-release (`ID` and `VERSION_ID` are required); otherwise the first line must be P2's Red Hat
 * form, `CentOS …`, whose second-to-last word is the version (digits and dots).
 *
 * Messages name the file and what was expected, never its content.
 *
 * @param file - the file's path, for messages
 * @throws HoistError `P2_HOIST_OS_RELEASE_INVALID`
 * @example
 * ```ts
 * parseOsRelease('CentOS Linux release 7.4.1708 (Core)\n', f); // { os: 'CentOS', version: '7.4.1708' }
 * parseOsRelease('ID=debian\nVERSION_ID="12"\n', f);           // { os: 'debian', version: '12' }
 * ```
 */
export function parseOsRelease(text: string, file: string): OsRelease {
  const lines = text.split('\n').map((line) => line.trim());
  if (lines.some((line) => OS_RELEASE_LINE.test(line))) {
    const values = new Map<string, string>();
    for (const line of lines) {
      if (!OS_RELEASE_LINE.test(line)) continue;
      const at = line.indexOf('=');
      values.set(line.slice(0, at), unquote(line.slice(at + 1)));
    }
    const os = values.get('ID');
    const version = values.get('VERSION_ID');
    if (os === undefined || version === undefined)
      throw invalid(file, 'an os-release file needs both ID= and VERSION_ID=');
    if (!OS_ID.test(os))
      throw invalid(file, 'its ID is not lowercase letters, digits, ".", "_", "-"');
    if (!OS_VERSION_ID.test(version))
      throw invalid(file, 'its VERSION_ID is not letters, digits, ".", "_", "~", "-"');
    return { os, version };
  }
  const first = lines.find((line) => line !== '') ?? '';
  if (!first.startsWith('CentOS ')) {
    throw invalid(
      file,
      'expected a CentOS release line ("CentOS … release <version> (…)") or an os-release file',
    );
  }
  const words = first.split(/\s+/);
  const version = words.at(-2) ?? '';
  if (words.length < 3 || !CENTOS_VERSION.test(version))
    throw invalid(
      file,
      'the CentOS release line has no version (digits and dots) before its last word',
    );
  return { os: 'CentOS', version };
}

/**
 * Reads the OS and its version from a release file that root may trust: the file (after
 * following links, as `/etc/os-release` is one on Debian) and every directory above it, as
 * written and resolved, must be root's and writable by nobody else — what the registry is told
 * decides which build the host runs. Without `file`, P2's {@link DEFAULT_OS_VERSION_FILE} is read
 * when it exists, else {@link FALLBACK_OS_VERSION_FILE}.
 *
 * (P2 read `os_version_file` for runc only and always queried the registry with
 * `/etc/redhat-release`; here the configured file is the one used.)
 *
 * @throws HoistError `P2_HOIST_OS_RELEASE_INVALID` when the file is missing, unreadable, not
 *   root's alone, or in neither format
 * @example
 * ```ts
 * await readOsRelease();                     // on Debian 12: { os: 'debian', version: '12', file: '/etc/os-release' }
 * await readOsRelease('/etc/redhat-release'); // { os: 'CentOS', version: '7.4.1708', file: … }
 * ```
 */
export async function readOsRelease(file?: string): Promise<OsRelease & { file: string }> {
  const candidates =
    file === undefined ? [DEFAULT_OS_VERSION_FILE, FALLBACK_OS_VERSION_FILE] : [file];
  for (const candidate of candidates) {
    const text = await readReleaseFile(candidate, file === undefined);
    if (text !== undefined) return { ...parseOsRelease(text, candidate), file: candidate };
  }
  throw invalid(
    candidates.join(' or '),
    file === undefined ? 'neither file exists' : 'the file does not exist',
  );
}

/** The file's text, or undefined when it is missing and `missingOk`. */
async function readReleaseFile(file: string, missingOk: boolean): Promise<string | undefined> {
  if (!file.startsWith('/')) throw invalid(file, 'the path is not absolute');
  let real: string;
  try {
    real = await realpath(file);
  } catch (error) {
    if (hasErrno(error, 'ENOENT')) {
      if (missingOk) return undefined;
      throw invalid(file, 'the file does not exist');
    }
    throw invalid(file, describeError(error), error);
  }
  const distrust = await distrustAncestors(file).catch((error: unknown) => {
    throw invalid(file, describeError(error), error);
  });
  if (distrust) throw invalid(file, `${distrust.dir} ${distrust.why}`);
  let bytes: Buffer | undefined;
  try {
    bytes = await readTrustedFile(real, { maxBytes: MAX_RELEASE_FILE_BYTES });
  } catch (error) {
    // secure-fs names the file and why (owner, mode, size), never its content.
    throw invalid(file, describeError(error), error);
  }
  if (bytes === undefined) throw invalid(file, 'the file disappeared while it was read');
  return bytes.toString('utf8');
}
