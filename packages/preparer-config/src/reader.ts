/** Reading typed values out of a `preparer:` mapping, with errors that name the key. */
import { PreparerConfigError, PreparerConfigErrorCode } from './errors.js';

/** A YAML mapping as parsed. @internal */
export type Raw = Record<string, unknown>;

/** The error for a key holding the wrong kind of value: the file, the key, expected and found. @internal */
export function invalid(
  where: string,
  key: string,
  expected: string,
  found: unknown,
): PreparerConfigError {
  const shown = found === undefined ? 'nothing' : JSON.stringify(found);
  return new PreparerConfigError(
    PreparerConfigErrorCode.CONFIG_INVALID,
    `${where}: preparer.${key}: expected ${expected}, found ${shown}`,
    { details: { key: `preparer.${key}`, expected, found } },
  );
}

/** Typed reads of one mapping; absent, `null` (and `''` for strings) mean "not set". @internal */
export class Reader {
  constructor(
    private readonly raw: Raw,
    private readonly where: string,
  ) {}

  string(key: string): string | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null || value === '') return undefined;
    if (typeof value !== 'string') throw invalid(this.where, key, 'a string', value);
    return value;
  }

  bool(key: string, fallback: boolean): boolean {
    const value = this.raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'boolean') throw invalid(this.where, key, 'true or false', value);
    return value;
  }

  int(key: string, fallback: number): number {
    const value = this.raw[key];
    if (value === undefined || value === null) return fallback;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0) {
      throw invalid(this.where, key, 'a non-negative integer', value);
    }
    return value;
  }

  strings(key: string): string[] {
    const value = this.raw[key];
    if (value === undefined || value === null) return [];
    if (!Array.isArray(value) || value.some((v) => typeof v !== 'string')) {
      throw invalid(this.where, key, 'a list of strings', value);
    }
    return value as string[];
  }

  map(key: string): Raw | undefined {
    const value = this.raw[key];
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'object' || Array.isArray(value))
      throw invalid(this.where, key, 'a mapping', value);
    return value as Raw;
  }
}

const SIZE = /^\s*(\d+(?:\.\d+)?)\s*([KMGT]?)B?\s*$/i;
const SIZE_UNITS: Record<string, number> = {
  '': 1,
  K: 2 ** 10,
  M: 2 ** 20,
  G: 2 ** 30,
  T: 2 ** 40,
};

/**
 * Parses P2's size strings (`10G`, `512M`, `1.5GB`, `100`), binary units. Returns undefined when malformed.
 *
 * @example
 * ```ts
 * parseSize('1.5G');   // 1610612736
 * parseSize('lots');   // undefined
 * ```
 */
export function parseSize(text: string): number | undefined {
  const match = SIZE.exec(text);
  if (!match) return undefined;
  const unit = SIZE_UNITS[(match[2] ?? '').toUpperCase()] ?? 1;
  return Math.floor(Number(match[1]) * unit);
}
