/**
 * Where a pod's cgroups are (spec 02 §5): P2's flat names by default, nested ones with its param
 * `nested_cgroups`, both below p2's `cgroup_parent`.
 */
import { assertCgroupPath, type CgroupLocation } from './cgroup.js';

/**
 * How pod cgroups are named and where (the preparer's `params.nested_cgroups` and `cgroup_parent`).
 * Every program that computes a pod's cgroup takes one of these, so they cannot disagree.
 */
export interface CgroupNaming {
  /**
   * P2's `nested_cgroups`: `p2/<node>/<pod>/<launchable>` instead of the flat
   * `<pod>__<launchable>` (the launchable's runit service id). @default false
   */
  nested?: boolean;
  /**
   * An existing cgroup, relative to each controller's mount, that every pod cgroup is created
   * below (e.g. a slice delegated to p2); `''` is the mount itself, as in P2. @default ''
   */
  parent?: string;
  /**
   * Pod cgroups of this naming only ever lived below `parent` (hook pods' own parent): the mount
   * root is never searched for leftovers of an earlier naming, where another pod's cgroup may be.
   * @default false
   */
  onlyParent?: boolean;
}

/** Names a launchable's cgroup is made of. */
export interface LaunchableCgroupIds {
  /** The node name (nested names only). */
  node: string;
  /** The pod's unique name: its id, or `<id>-<uuid>` for a uuid pod (as its home and services). */
  pod: string;
  launchable: string;
}

/**
 * The cgroup of a launchable under a naming: flat `<parent>/<pod>__<launchable>` or nested
 * `<parent>/p2/<node>/<pod>/<launchable>`. The one function everything that puts a process in a
 * pod's cgroup (services, lifecycle scripts, `p2 exec`) uses.
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_NAME` when an id or the parent is not a plain name
 * @example launchableCgroupLocation({}, { node: 'h1', pod: 'hello', launchable: 'app' }) // { parent: '', name: 'hello__app' }
 * @example launchableCgroupLocation({ nested: true }, { node: 'h1', pod: 'hello', launchable: 'app' }) // { parent: '', name: 'p2/h1/hello/app' }
 */
export function launchableCgroupLocation(
  naming: CgroupNaming,
  ids: LaunchableCgroupIds,
): CgroupLocation {
  return form(naming.parent ?? '', naming.nested === true, ids);
}

/**
 * The pod's own cgroup in the nested form, `<parent>/p2/<node>/<pod>`: the parent of its
 * launchables' cgroups, where P2's `p2-exec --podID` put the pod's `resource_limits`. The flat
 * form has no pod cgroup.
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_NAME`
 * @example podCgroupLocation({ nested: true }, { node: 'h1', pod: 'hello' }) // { parent: '', name: 'p2/h1/hello' }
 */
export function podCgroupLocation(
  naming: CgroupNaming,
  ids: Omit<LaunchableCgroupIds, 'launchable'>,
): CgroupLocation {
  for (const [what, id] of Object.entries(ids)) assertCgroupPath(id, `${what} id`, false, true);
  const location = { parent: naming.parent ?? '', name: ['p2', ids.node, ids.pod].join('/') };
  assertCgroupPath(location.parent, 'cgroup parent', true);
  assertCgroupPath(location.name, 'cgroup name', false);
  return location;
}

/**
 * Every place a launchable's cgroup may be on a host that changed its naming: the naming's own
 * location first, then the other form below the same parent, then (with a parent) both forms at
 * the mount root, where earlier p2 versions and P2 put them. Launch and halt clean the others up.
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_NAME`
 * @example launchableCgroupCandidates({}, ids).map((l) => l.name) // ['hello__app', 'p2/h1/hello/app']
 */
export function launchableCgroupCandidates(
  naming: CgroupNaming,
  ids: LaunchableCgroupIds,
): CgroupLocation[] {
  const nested = naming.nested === true;
  const parents = naming.onlyParent
    ? [naming.parent ?? '']
    : [...new Set([naming.parent ?? '', ''])];
  return parents.flatMap((parent) => [form(parent, nested, ids), form(parent, !nested, ids)]);
}

/**
 * A cgroup path as written in a configuration file, checked and without leading or trailing `/`
 * (`/p2.slice/` → `p2.slice`); `''` for the mount root.
 *
 * @throws {CgroupsError} `P2_CGROUPS_INVALID_NAME` for `..`, empty segments or a segment that is not a plain name
 * @example normalizeCgroupPath('/p2.slice') // 'p2.slice'
 */
export function normalizeCgroupPath(path: string): string {
  const trimmed = path.replace(/^\/+|\/+$/g, '');
  assertCgroupPath(trimmed, 'cgroup path', true);
  return trimmed;
}

function form(parent: string, nested: boolean, ids: LaunchableCgroupIds): CgroupLocation {
  // Each id is one segment: a "/" in one would move the cgroup elsewhere.
  for (const [what, id] of Object.entries(ids)) assertCgroupPath(id, `${what} id`, false, true);
  const name = nested
    ? ['p2', ids.node, ids.pod, ids.launchable].join('/')
    : `${ids.pod}__${ids.launchable}`;
  assertCgroupPath(parent, 'cgroup parent', true);
  assertCgroupPath(name, 'cgroup name', false);
  return { parent, name };
}
