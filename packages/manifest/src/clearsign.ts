/**
 * Splitting an OpenPGP clearsigned document (RFC 4880 §7) into the YAML text, the exact bytes the
 * signature covers and the signature packets, as P2 did (spec 01 §1.9). Verification is
 * `@p2/auth`'s job.
 */

/** The parts of a clearsigned manifest. */
export interface ClearsignedParts {
  /** The cleartext with dash-escapes removed and trailing blanks stripped, each line ending in LF. */
  yamlText: string;
  /** RFC 4880 canonical text: the same lines joined with CRLF, no trailing line break. */
  signedBytes: Uint8Array;
  /** The de-armoured binary signature packet(s). */
  signature: Uint8Array;
  /** Values of the `Hash:` armour headers (e.g. `['SHA256']`). */
  hashHeaders: string[];
}

const BEGIN_SIGNED = '-----BEGIN PGP SIGNED MESSAGE-----';
const BEGIN_SIGNATURE = '-----BEGIN PGP SIGNATURE-----';
const END_SIGNATURE = '-----END PGP SIGNATURE-----';
const encoder = new TextEncoder();

const stripLineEnd = (line: string): string => line.replace(/[ \t\r]+$/, '');

/**
 * Detects a clearsigned document and splits it. Returns undefined when `input` is not one (no
 * begin line at the start of a line, a header other than `Hash:`, non-ASCII or control characters
 * in the headers, or a malformed signature block) — P2 then read it as plain YAML.
 *
 * @example
 * const parts = splitClearsigned(text);
 * if (parts) await verify(parts.signedBytes, parts.signature);
 */
export function splitClearsigned(input: string | Uint8Array): ClearsignedParts | undefined {
  const text =
    typeof input === 'string' ? input : new TextDecoder('utf-8', { fatal: false }).decode(input);
  let start = -1;
  if (text.startsWith(BEGIN_SIGNED)) start = 0;
  else {
    const at = text.indexOf(`\n${BEGIN_SIGNED}`);
    if (at >= 0) start = at + 1;
  }
  if (start < 0) return undefined;
  const lines = text.slice(start).split('\n');
  if (stripLineEnd(lines[0] ?? '') !== BEGIN_SIGNED) return undefined;
  let i = 1;
  const hashHeaders: string[] = [];
  for (; i < lines.length; i++) {
    const line = stripLineEnd(lines[i] ?? '');
    if (line === '') break;
    if (/[^\x20-\x7e]/.test(line)) return undefined;
    const header = /^Hash: (.+)$/.exec(line);
    if (!header) return undefined;
    hashHeaders.push(...(header[1] ?? '').split(',').map((h) => h.trim()));
  }
  if (i >= lines.length) return undefined;
  i++;
  const cleartext: string[] = [];
  for (; i < lines.length; i++) {
    const raw = lines[i] ?? '';
    if (stripLineEnd(raw) === BEGIN_SIGNATURE) break;
    const unescaped = raw.startsWith('- ') ? raw.slice(2) : raw;
    cleartext.push(stripLineEnd(unescaped));
  }
  if (i >= lines.length) return undefined;
  const signature = dearmour(lines.slice(i + 1));
  if (signature === undefined) return undefined;
  return {
    yamlText: cleartext.map((line) => `${line}\n`).join(''),
    signedBytes: encoder.encode(cleartext.join('\r\n')),
    signature,
    hashHeaders,
  };
}

/** Decodes the body of an armoured signature block (after its BEGIN line). */
function dearmour(lines: string[]): Uint8Array | undefined {
  let i = 0;
  // Armour headers (Version:, Comment:, …) up to a blank line.
  for (; i < lines.length; i++) {
    const line = stripLineEnd(lines[i] ?? '');
    if (line === '') break;
    if (!/^[^:\s]+: /.test(line)) return undefined;
  }
  i++;
  let body = '';
  for (; i < lines.length; i++) {
    const line = stripLineEnd(lines[i] ?? '');
    if (line === END_SIGNATURE) {
      if (body === '' || !/^[A-Za-z0-9+/]*={0,2}$/.test(body)) return undefined;
      return new Uint8Array(Buffer.from(body, 'base64'));
    }
    if (line.startsWith('=')) continue; // CRC-24 checksum line
    body += line;
  }
  return undefined;
}
