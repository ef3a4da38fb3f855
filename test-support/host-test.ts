/**
 * What host tests share (tests only; never published): a free loopback port, and the teardown of
 * what they made.
 */
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { detectCgroups, openCgroup, removePodCgroups } from '@p2/cgroups';
import type { RunsvDir } from '@p2/runit';
import { findUser, removeUser } from '@p2/users';

/** What {@link cleanUpHostTest} removes; each part is optional. */
export interface HostTestLeftovers {
  /** Stopped with its services. */
  runsvdir?: RunsvDir | undefined;
  /** The node whose cgroup tree `p2/<node>` is removed (processes in it killed), when cgroup v1 is here. */
  node?: string;
  /** Pods (unique names) whose cgroups in either naming, at the mount root, are removed (needs `node`). */
  pods?: string[];
  /** Users (and their groups) to remove when they exist. */
  users?: string[];
  /** The test's scratch directory. */
  dir?: string;
}

/** A TCP port on 127.0.0.1 nothing listens on (for a pod's app or a server that is down). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/**
 * Tears down what a host test made: the pods' runit services, the node's cgroups, the pod users,
 * the scratch directory. Every step runs even when another fails, so a failed test still leaves the
 * host clean.
 */
export async function cleanUpHostTest(leftovers: HostTestLeftovers): Promise<void> {
  await leftovers.runsvdir?.stop({ stopServices: true }).catch(() => undefined);
  if (leftovers.node !== undefined && existsSync('/sys/fs/cgroup/memory')) {
    const hierarchy = await detectCgroups();
    for (const pod of leftovers.pods ?? [])
      await removePodCgroups(hierarchy, {}, { node: leftovers.node, pod }).catch(() => undefined);
    await openCgroup(hierarchy, { name: `p2/${leftovers.node}` })
      .remove({ kill: true })
      .catch(() => undefined);
  }
  for (const user of leftovers.users ?? []) {
    if (await findUser(user)) await removeUser(user, { removeGroup: true }).catch(() => undefined);
  }
  if (leftovers.dir) await rm(leftovers.dir, { recursive: true, force: true });
}
