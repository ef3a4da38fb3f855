import { describe, expect, it } from 'vitest';
import { parseMemory, resolveLimits } from './index.js';

describe('limits', () => {
  it('parses sizes like P2 (binary units, case-insensitive, decimals)', () => {
    expect(parseMemory('4G')).toBe(4 * 2 ** 30);
    expect(parseMemory('512m')).toBe(512 * 2 ** 20);
    expect(parseMemory('1.5KB')).toBe(1536);
    expect(parseMemory(1024)).toBe(1024);
    expect(parseMemory('100')).toBe(100);
  });

  it('rejects sizes that are not sizes', () => {
    for (const bad of ['4 gigs', '-1', 'G', Number.NaN, -5])
      expect(() => parseMemory(bad)).toThrow(
        expect.objectContaining({ code: 'P2_CGROUPS_INVALID_LIMIT' }),
      );
  });

  it('resolves P2 semantics: hard = 2 x soft, quota = cpus x period (spec 02 §5 vector)', () => {
    expect(resolveLimits({ cpus: 2, memory: 1024 })).toEqual({
      cpuQuotaUs: 2_000_000,
      memorySoft: 1024,
      memoryHard: 2048,
    });
    expect(resolveLimits({})).toEqual({
      cpuQuotaUs: undefined,
      memorySoft: undefined,
      memoryHard: undefined,
    });
    expect(resolveLimits({ cpus: 0.25 }).cpuQuotaUs).toBe(250_000);
    expect(resolveLimits({ cpus: 0.0001 }).cpuQuotaUs).toBe(1000);
    const huge = resolveLimits({ memory: Number.MAX_SAFE_INTEGER });
    expect(huge.memoryHard).toBe(huge.memorySoft);
    expect(() => resolveLimits({ cpus: -1 })).toThrow(
      expect.objectContaining({ code: 'P2_CGROUPS_INVALID_LIMIT' }),
    );
  });
});
