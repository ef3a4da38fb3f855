/** How `p2 rc` shows a controller to people. */
import { type Io, style } from '@p2/cli-kit';
import type { RcView } from '@p2/inspect';

/** An RC for people (`rc get` adds its nodes). */
export function renderRc(io: Io, rc: RcView): string {
  return [
    `${style.bold(io, rc.id)}${rc.disabled ? ` ${style.yellow(io, '(disabled)')}` : ''}`,
    `pod         ${rc.podId} (${rc.sha.slice(0, 12)})`,
    `replicas    ${rc.replicasDesired}${rc.nodes ? ` desired, ${rc.nodes.length} current` : ''}`,
    `selector    ${rc.nodeSelector || style.dim(io, '(everything)')}`,
    `strategy    ${rc.allocationStrategy}${rc.topologySpreadKey ? `, spread by ${rc.topologySpreadKey}` : ''}`,
    ...(Object.keys(rc.podLabels).length > 0
      ? [
          `pod labels  ${Object.entries(rc.podLabels)
            .map(([k, v]) => `${k}=${v}`)
            .join(',')}`,
        ]
      : []),
    ...(rc.nodes && rc.nodes.length > 0 ? [`nodes       ${rc.nodes.join(', ')}`] : []),
    ...(rc.nodeTransfer
      ? [
          `transfer    ${style.yellow(io, `${rc.nodeTransfer.oldNode} → ${rc.nodeTransfer.newNode}`)} (in progress, ${rc.nodeTransfer.id})`,
        ]
      : []),
  ].join('\n');
}
