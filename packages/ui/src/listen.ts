/** Where the dashboard listens, and whether that address is reachable from other hosts. */
import { isIP } from 'node:net';
import { UiError, UiErrorCode } from './errors.js';

/** A listen address. */
export interface ListenAddress {
  /** An IP address or a host name (`localhost`). */
  host: string;
  /** 0 picks a free port. */
  port: number;
}

/** The default: loopback only, port 8501. */
export const DEFAULT_LISTEN: ListenAddress = { host: '127.0.0.1', port: 8501 };

/**
 * Parses `HOST:PORT`, `[IPv6]:PORT` or `PORT` (loopback).
 *
 * @throws UiError `P2_UI_BAD_LISTEN`
 * @example parseListen('0.0.0.0:9000') // { host: '0.0.0.0', port: 9000 }
 */
export function parseListen(text: string): ListenAddress {
  const match = /^(?:(\[[0-9a-fA-F:.]+\]|[^:[\]]+):)?(\d{1,5})$/.exec(text.trim());
  const port = Number(match?.[2]);
  if (!match || port > 65_535) {
    throw new UiError(
      UiErrorCode.BAD_LISTEN,
      `--listen must be HOST:PORT, got ${JSON.stringify(text)}`,
      {
        hint: 'for example 127.0.0.1:8501, [::1]:8501 or 8501',
      },
    );
  }
  const host = match[1]?.replace(/^\[|\]$/g, '') ?? DEFAULT_LISTEN.host;
  return { host, port };
}

/**
 * True when `host` only accepts connections from this machine (`localhost`, 127.0.0.0/8, ::1).
 *
 * @example isLoopback('0.0.0.0') // false
 */
export function isLoopback(host: string): boolean {
  if (host === 'localhost') return true;
  if (isIP(host) === 4) return host.startsWith('127.');
  return host === '::1' || host === '0:0:0:0:0:0:0:1';
}

/** `host:port` as it appears in a URL or a Host header (IPv6 in brackets). */
export function hostPort(host: string, port: number): string {
  return isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}`;
}
