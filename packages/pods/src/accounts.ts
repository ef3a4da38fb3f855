/**
 * The Unix accounts a host's pods run as: the `run_as` policy check with the facts it needs (the
 * account, whether its home is a pod home, which installed pod already runs as it), and the
 * account's creation when it is missing.
 */
import { basename, dirname, join, resolve } from 'node:path';
import { describeError } from '@p2/errors';
import type { Manifest } from '@p2/manifest';
import { ensureUser, findUser, lookupUser, type UnixUser } from '@p2/users';
import { PodError, PodErrorCode } from './errors.js';
import { installedPods } from './inventory.js';
import { HOOK_PODS_DIR, PodLayout } from './layout.js';
import { checkRunAs } from './run-as.js';
import type { PodHostOptions, PodUser } from './types.js';

/** The run-as accounts of one host, with what it looked up cached. @internal */
export class PodAccounts {
  /** Run-as users already resolved by this host (user creation takes a lock; lookups do not). */
  private readonly users = new Map<string, PodUser>();

  /** Existing accounts looked up by the run_as check (a new account is looked up until it exists). */
  private readonly accounts = new Map<string, UnixUser>();

  /**
   * Pod home → the pod's id as the run_as policy names it and the user its trusted
   * `current_manifest.yaml` runs as. The other pod root's pods are keyed `other:<home name>`.
   */
  private runAsIndex: Map<string, { podId: string; runAs: string }> | undefined;

  /** The pod root whose pods share this host's accounts: the hook pods' or the node's pods'. */
  private readonly otherRoot: string;

  /**
   * @param hookPods - this host holds the hook pods (`<pod_root>/hooks`): the policy names them
   *   `hooks/<id>` (a key no pod id can be, so `run_as_allow` for a hook pod never applies to a
   *   pod of the same id), and the node's pods under the parent directory share the accounts.
   */
  constructor(
    private readonly podRoot: string,
    private readonly options: Pick<PodHostOptions, 'createUsers' | 'runAs' | 'logUser'>,
    private readonly hookPods = false,
  ) {
    this.otherRoot = hookPods ? dirname(resolve(podRoot)) : join(resolve(podRoot), HOOK_PODS_DIR);
  }

  /** A pod's id as the run_as policy names it. */
  private policyId(podId: string, hookPod = this.hookPods): string {
    return hookPod ? `${HOOK_PODS_DIR}/${podId}` : podId;
  }

  /**
   * The account a manifest runs as, checked against the policy and created when missing (unless
   * `createUsers` is false).
   * @throws PodError `P2_PODS_RUN_AS_REFUSED`; the users error when it cannot be created
   */
  async runAsUser(manifest: Manifest, layout: PodLayout): Promise<PodUser> {
    return (await this.checkedRunAs(manifest, layout))();
  }

  /**
   * {@link runAsUser} in two steps: the policy check (and lookup) now, the account's creation when
   * the returned function is called — an install creates it while its artifacts download.
   * @throws PodError `P2_PODS_RUN_AS_REFUSED`
   */
  async checkedRunAs(manifest: Manifest, layout: PodLayout): Promise<() => Promise<PodUser>> {
    // The policy check is also the lookup: an existing user needs one, not a turn in ensureUser's
    // lock (which made a burst of 20 deploys wait ~0.5 s each for nothing).
    const existing = await this.checkRunAs(manifest);
    const name = manifest.runAs;
    return async () => {
      const known = this.users.get(name);
      if (known && existing?.uid === known.uid && existing.gid === known.gid) return known;
      const user =
        existing ??
        (this.options.createUsers === false
          ? await lookupUser(name)
          : (await ensureUser({ name, home: layout.home, createHome: false })).user);
      const resolved = { uid: user.uid, gid: user.gid, name };
      this.users.set(name, resolved);
      return resolved;
    };
  }

  /**
   * Checks the manifest's `run_as` against this host's policy ({@link RunAsPolicy}) before any user
   * is created or any file written.
   * @returns the account, when it exists already
   * @throws PodError `P2_PODS_RUN_AS_REFUSED`
   */
  async checkRunAs(manifest: Manifest): Promise<UnixUser | undefined> {
    const user = manifest.runAs;
    let account: UnixUser | undefined = this.accounts.get(user);
    try {
      account ??= await findUser(user);
      if (account) this.accounts.set(user, account);
    } catch (error) {
      throw new PodError(
        PodErrorCode.RUN_AS_REFUSED,
        `pod ${manifest.id} may not run as ${JSON.stringify(user)}: ${describeError(error)}`,
        { cause: error, details: { pod: manifest.id, user } },
      );
    }
    const podId = this.policyId(manifest.id);
    let homeOfPod: string | undefined;
    const homeDir = account ? dirname(resolve(account.home)) : undefined;
    // A home under either pod root makes the account that pod's (hook pods: `hooks/<id>`).
    for (const [root, hookPod] of [
      [resolve(this.podRoot), this.hookPods],
      [this.otherRoot, !this.hookPods],
    ] as const) {
      if (!account || homeDir !== root) continue;
      try {
        homeOfPod = this.policyId(
          PodLayout.fromHomeName(root, basename(account.home)).podId,
          hookPod,
        );
      } catch {
        homeOfPod = undefined;
      }
    }
    let usedByPod: string | undefined;
    if (account && homeOfPod === undefined) {
      for (const pod of (await this.podsByUser()).values())
        if (pod.runAs === user && pod.podId !== podId) usedByPod = pod.podId;
    }
    checkRunAs(this.options.runAs ?? {}, {
      podId,
      user,
      ...(account ? { account: { uid: account.uid, home: account.home } } : {}),
      ...(homeOfPod !== undefined ? { homeOfPod } : {}),
      ...(usedByPod !== undefined ? { usedByPod } : {}),
      logUser: this.options.logUser ?? 'nobody',
    });
    return account;
  }

  /** Records that a pod now runs as its manifest's user (once the index is built). */
  launched(layout: PodLayout, manifest: Manifest): void {
    this.runAsIndex?.set(layout.uniqueName, {
      podId: this.policyId(manifest.id),
      runAs: manifest.runAs,
    });
  }

  /** Forgets an uninstalled pod's user. */
  uninstalled(layout: PodLayout): void {
    this.runAsIndex?.delete(layout.uniqueName);
  }

  private async podsByUser(): Promise<Map<string, { podId: string; runAs: string }>> {
    if (!this.runAsIndex) {
      const index = new Map<string, { podId: string; runAs: string }>();
      for (const [root, hookPod, prefix] of [
        [this.podRoot, this.hookPods, ''],
        [this.otherRoot, !this.hookPods, 'other:'],
      ] as const) {
        for (const pod of await installedPods(root))
          if (pod.manifest)
            index.set(`${prefix}${pod.layout.uniqueName}`, {
              podId: this.policyId(pod.layout.podId, hookPod),
              runAs: pod.manifest.runAs,
            });
      }
      this.runAsIndex = index;
    }
    return this.runAsIndex;
  }
}
