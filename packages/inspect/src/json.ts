/** The JSON shape of an inspection that the CLI and the dashboard print. */
import type { Inspection } from './inspect.js';

/**
 * An inspection as `p2 inspect --json` prints it (and `p2 watch`, and the dashboard): every field of
 * a row, `null` when unknown, so scripts see one shape.
 *
 * @example inspectionJson(await inspectStore(store)).pods[0]?.realitySha // null before the first deploy
 */
export function inspectionJson(inspection: Inspection) {
  return {
    pods: inspection.pods.map((p) => ({
      node: p.node,
      pod: p.pod,
      uniqueKey: p.uniqueKey ?? null,
      intentSha: p.intentSha ?? null,
      realitySha: p.realitySha ?? null,
      health: p.health ?? null,
      status: p.status
        ? {
            state: p.status.state,
            sha: p.status.sha ?? null,
            code: p.status.code ?? null,
            error: p.status.error ?? null,
            attempt: p.status.attempt ?? null,
            processes: p.status.processes ?? [],
            updated: p.status.updated,
          }
        : null,
      exits: (p.exits ?? []).map((e) => ({ ...e, lastExit: e.lastExit ?? null })),
      verdict: p.verdict,
      ...(p.intentLaunchables || p.realityLaunchables
        ? {
            intentLaunchables: p.intentLaunchables ?? null,
            realityLaunchables: p.realityLaunchables ?? null,
          }
        : {}),
    })),
    problems: inspection.problems,
  };
}
