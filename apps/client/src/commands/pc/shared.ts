/** What the `p2 pc` subcommands share: P2's JSON view of a cluster, flags, finding a cluster. */
import { CliExit, ExitCode } from '@p2/cli-kit';
import type { PodClusterRecord, PodClusterStore } from '@p2/keyspace';

/** A cluster as P2's p2-pcctl printed it: the stored record's JSON (snake_case fields). */
export function pcView(pc: PodClusterRecord): Record<string, unknown> {
  return {
    id: pc.id,
    podId: pc.podId,
    availabilityZone: pc.availabilityZone,
    name: pc.name,
    podSelector: pc.podSelector.toString(),
    annotations: pc.annotations,
    allocationStrategy: pc.allocationStrategy,
    minHealthPercentage: pc.minHealthPercentage,
  };
}

/** `--annotations JSON`: a JSON object, or a usage error naming the flag. */
export function parseAnnotations(text: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (cause) {
    throw new CliExit(
      ExitCode.USAGE,
      `error: --annotations is not valid JSON: ${(cause as Error).message}`,
    );
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new CliExit(
      ExitCode.USAGE,
      'error: --annotations must be a JSON object, like {"lb":"x"}',
    );
  }
  return parsed as Record<string, unknown>;
}

/** The identity flags P2's p2-pcctl took instead of an id. */
export interface IdentityFlags {
  pod?: string;
  az?: string;
  clusterName?: string;
}

/** The cluster named by `[id]` or by all of `--pod --az --cluster-name` (as p2-pcctl). */
export async function findCluster(
  pcs: PodClusterStore,
  id: string | undefined,
  flags: IdentityFlags,
): Promise<PodClusterRecord> {
  if (id !== undefined) return pcs.get(id);
  if (!flags.pod || !flags.az || !flags.clusterName) {
    throw new CliExit(
      ExitCode.USAGE,
      'error: name the pod cluster by its id or by all of --pod, --az and --cluster-name',
    );
  }
  const pc = await pcs.find(flags.pod, flags.az, flags.clusterName);
  if (!pc) {
    throw new CliExit(
      ExitCode.NOT_FOUND,
      `error: no pod cluster for pod ${flags.pod}, az ${flags.az}, cluster ${flags.clusterName}`,
    );
  }
  return pc;
}

/** Human lines for one cluster. */
export function describeCluster(pc: PodClusterRecord): string {
  return [
    pc.id,
    `pod          ${pc.podId}`,
    `az           ${pc.availabilityZone}`,
    `cluster      ${pc.name}`,
    `selector     ${pc.podSelector.toString()}`,
    `strategy     ${pc.allocationStrategy}`,
    `annotations  ${JSON.stringify(pc.annotations)}`,
  ].join('\n');
}
