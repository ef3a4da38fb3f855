import { CgroupsError, CgroupsErrorCodes } from './errors.js';

/** Resource limits of a pod or launchable, as in the manifest's `cgroup:` stanza. */
export interface CgroupLimits {
  /** Logical CPUs (fractions allowed); 0 or absent = unlimited. */
  cpus?: number;
  /** Memory in bytes, or a size string (`512M`, `4G`, binary units); 0 or absent = unlimited. */
  memory?: number | string;
}

/** The period P2 writes to `cpu.cfs_period_us`: one second. */
export const CPU_PERIOD_US = 1_000_000;

const UNITS: Record<string, number> = {
  '': 1,
  B: 1,
  K: 2 ** 10,
  KB: 2 ** 10,
  M: 2 ** 20,
  MB: 2 ** 20,
  G: 2 ** 30,
  GB: 2 ** 30,
  T: 2 ** 40,
  TB: 2 ** 40,
};

/**
 * Parses a memory size as P2 did: a byte count or a number with a binary unit (`K`, `M`, `G`, `T`,
 * optionally followed by `B`; case-insensitive; decimals allowed).
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_LIMIT`
 * @example parseMemory('4G') // 4294967296
 */
export function parseMemory(value: number | string): number {
  if (typeof value === 'number') {
    if (Number.isFinite(value) && value >= 0) return Math.floor(value);
  } else {
    const match = /^\s*([0-9]+(?:\.[0-9]+)?)\s*([a-z]*)\s*$/i.exec(value);
    const factor = match ? UNITS[(match[2] ?? '').toUpperCase()] : undefined;
    if (match && factor !== undefined) return Math.floor(Number(match[1]) * factor);
  }
  throw new CgroupsError(
    CgroupsErrorCodes.INVALID_LIMIT,
    `memory limit ${JSON.stringify(value)} is not a size`,
    {
      hint: 'use a byte count or a number with K, M, G or T (binary units), e.g. 512M or 4G',
    },
  );
}

/** Limits resolved to the numbers written to the kernel. `undefined` = unlimited. @internal */
export interface ResolvedLimits {
  cpuQuotaUs: number | undefined;
  memorySoft: number | undefined;
  memoryHard: number | undefined;
}

/**
 * Resolves limits with P2's semantics: quota = cpus × 1 s per 1 s period; memory soft limit = the
 * given bytes, hard limit = twice that (or the soft limit when doubling overflows).
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_LIMIT`
 * @example resolveLimits({ cpus: 2, memory: 1024 }) // { cpuQuotaUs: 2000000, memorySoft: 1024, memoryHard: 2048 }
 */
export function resolveLimits(limits: CgroupLimits): ResolvedLimits {
  const cpus = limits.cpus ?? 0;
  if (!Number.isFinite(cpus) || cpus < 0)
    throw new CgroupsError(
      CgroupsErrorCodes.INVALID_LIMIT,
      `cpus ${cpus} is not a non-negative number`,
    );
  const memory = parseMemory(limits.memory ?? 0);
  // The kernel refuses quotas under 1 ms.
  const cpuQuotaUs = cpus === 0 ? undefined : Math.max(1000, Math.round(cpus * CPU_PERIOD_US));
  if (memory === 0) return { cpuQuotaUs, memorySoft: undefined, memoryHard: undefined };
  const doubled = memory * 2;
  return {
    cpuQuotaUs,
    memorySoft: memory,
    memoryHard: Number.isSafeInteger(doubled) ? doubled : memory,
  };
}
