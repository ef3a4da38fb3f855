/**
 * Which Unix accounts a pod may run as (SECURITY.md). A manifest names its user in `run_as`; left
 * unchecked, whoever may write intent could run code as root, as a system account, as the log
 * user or as another pod. The rules, in order:
 *
 * 1. an explicit exception (`allow[podId]` or `allow['*']` lists the user) is allowed — the only
 *    way to run as root (p2-bootstrap allows `root` for `p2-preparer`);
 * 2. `root` (any uid 0 account) and the log user (`nobody`, svlogd's) are refused;
 * 3. a user that does not exist yet is allowed: it is created as this pod's own user;
 * 4. a user whose home is a pod home under the pod root (or a hook pod's, under
 *    `<pod_root>/hooks`) belongs to that pod: allowed for it, refused for every other pod (this is
 *    how users created for pods are recognised, whatever their uid);
 * 5. any other account below `minUid` (system accounts) is refused;
 * 6. an account another installed pod (or hook pod) already runs as is refused.
 *
 * The preparer's hook pods are named `hooks/<hook-pod-id>` here — in `allow` too — a name no pod id
 * can take, so an exception for a hook pod (typically `root`) never reaches a pod of the same id.
 */
import { PodError, PodErrorCode } from './errors.js';

/** The `run_as` policy of a host (preparer keys `run_as_min_uid`, `run_as_allow`). */
export interface RunAsPolicy {
  /** Lowest uid of an existing account a pod may run as (pod users p2 created excepted). @default 1000 */
  minUid?: number;
  /**
   * Exceptions: pod id (`hooks/<id>` for a hook pod; `*` for every pod) → accounts it may run
   * as, whatever the rules say.
   * @default {}
   */
  allow?: Readonly<Record<string, readonly string[]>>;
}

/** What the policy needs to know about the account a manifest names. @internal */
export interface RunAsFacts {
  podId: string;
  user: string;
  /** The account, when it exists. */
  account?: { uid: number; home: string };
  /** The pod whose home the account's home is, when it is one. */
  homeOfPod?: string;
  /** Another installed pod that already runs as this user. */
  usedByPod?: string;
  /** The user svlogd runs as. */
  logUser: string;
}

/**
 * Applies the rules above.
 * @throws PodError `P2_PODS_RUN_AS_REFUSED` saying which rule and how to open an exception
 * @internal
 */
export function checkRunAs(policy: RunAsPolicy, facts: RunAsFacts): void {
  const { podId, user } = facts;
  const allow = policy.allow ?? {};
  if ((allow[podId] ?? []).includes(user) || (allow['*'] ?? []).includes(user)) return;
  const minUid = policy.minUid ?? 1000;
  const refuse = (why: string): never => {
    throw new PodError(
      PodErrorCode.RUN_AS_REFUSED,
      `pod ${podId} may not run as ${JSON.stringify(user)}: ${why}`,
      {
        hint: `give the pod its own user (run_as: ${podId}, created when missing), or, if this is intended, list it in the preparer's run_as_allow: {${podId}: [${user}]}`,
        details: { pod: podId, user },
      },
    );
  };
  if (user === 'root' || facts.account?.uid === 0) refuse('it is root (uid 0)');
  if (user === facts.logUser) refuse('it is the account every service log is written as');
  if (!facts.account) return;
  if (facts.homeOfPod !== undefined) {
    if (facts.homeOfPod === podId) return;
    refuse(`it is the user of pod ${facts.homeOfPod}`);
  }
  if (facts.account.uid < minUid)
    refuse(`uid ${facts.account.uid} is below run_as_min_uid ${minUid} (a system account)`);
  if (facts.usedByPod !== undefined && facts.usedByPod !== podId)
    refuse(`pod ${facts.usedByPod} already runs as it`);
}
