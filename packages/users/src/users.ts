import { execFile } from 'node:child_process';
import { chown, mkdir, stat } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { describeError } from '@p2/errors';
import { UsersError, UsersErrorCodes } from './errors.js';
import { type LockedJob, LockedQueue } from './lock.js';
import { assertValidUserName } from './names.js';

/** An entry of the user database (`getent passwd`). */
export interface UnixUser {
  name: string;
  uid: number;
  /** Primary group id. */
  gid: number;
  home: string;
  shell: string;
}

/** An entry of the group database (`getent group`). */
export interface UnixGroup {
  name: string;
  gid: number;
  members: string[];
}

/** A uid/gid range, inclusive at both ends. */
export interface IdRange {
  min: number;
  max: number;
}

/** Minimal structured logger (pino-compatible). */
export interface UsersLogger {
  info(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

/** Options of {@link ensureUser}. */
export interface EnsureUserOptions {
  /** User name; also the primary group's name unless `group` is given. */
  name: string;
  /** Primary group (created when missing). @default name */
  group?: string;
  /** Home directory recorded in the user database and created (0755, owned by the user) when missing. */
  home?: string;
  /** Create `home` on disk when missing. @default true */
  createHome?: boolean;
  /** Range new uids and gids are taken from. @default { min: 1000, max: 60000 } (Debian's UID_MIN/UID_MAX) */
  idRange?: IdRange;
  /** Login shell of a new user. @default '/usr/sbin/nologin' */
  shell?: string;
  /** Supplementary groups (must exist) added when the user is created. @default [] */
  supplementaryGroups?: string[];
  /** Structured logger. @default silent */
  logger?: UsersLogger;
}

/** Result of {@link ensureUser}. */
export interface EnsuredUser {
  user: UnixUser;
  group: UnixGroup;
  /** Supplementary group ids (every group the user is in, primary included). */
  groups: number[];
  /** True when this call created the user (false: it already existed). */
  created: boolean;
  /** True when this call created the home directory. */
  homeCreated: boolean;
}

/** Default uid/gid range, Debian's `UID_MIN`..`UID_MAX` from login.defs. */
export const DEFAULT_ID_RANGE: IdRange = { min: 1000, max: 60000 };

interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

function run(file: string, args: string[]): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { encoding: 'utf8', timeout: 30_000 }, (error, stdout, stderr) => {
      if (error && typeof error.code !== 'number') {
        reject(error);
        return;
      }
      resolve({ code: error ? Number(error.code) : 0, stdout, stderr });
    });
  });
}

/**
 * Entries of one database for several keys in one `getent` call, keyed by the name they were
 * asked by (an entry NSS returns under another name is looked up alone).
 */
async function getent(
  database: 'passwd' | 'group',
  keys: string[],
): Promise<Map<string, string[]>> {
  const found = new Map<string, string[]>();
  if (keys.length === 0) return found;
  let result: ExecResult;
  try {
    result = await run('getent', [database, ...keys]);
  } catch (error) {
    throw new UsersError(
      UsersErrorCodes.LOOKUP_FAILED,
      `getent ${database} ${keys.join(' ')} failed: ${describeError(error)}`,
      {
        cause: error,
        hint: 'getent comes with libc-bin; is it on PATH?',
      },
    );
  }
  // 2: one key or more was not found (the others are printed)
  if (result.code !== 0 && result.code !== 2)
    throw new UsersError(
      UsersErrorCodes.LOOKUP_FAILED,
      `getent ${database} ${keys.join(' ')} exited ${result.code}: ${result.stderr.trim()}`,
    );
  const lines = result.stdout.split('\n').filter((line) => line !== '');
  for (const line of lines) {
    const fields = line.split(':');
    const key = fields[0];
    if (key !== undefined && keys.includes(key) && !found.has(key)) found.set(key, fields);
  }
  // One key, one line: the entry NSS answered with, whatever name it carries.
  if (keys.length === 1 && lines.length > 0 && found.size === 0)
    found.set(keys[0] as string, (lines[0] as string).split(':'));
  return found;
}

function toUser(name: string, fields: string[]): UnixUser {
  return {
    name: fields[0] ?? name,
    uid: Number(fields[2]),
    gid: Number(fields[3]),
    home: fields[5] ?? '',
    shell: fields[6] ?? '',
  };
}

function toGroup(name: string, fields: string[]): UnixGroup {
  const members = fields[3] ?? '';
  return {
    name: fields[0] ?? name,
    gid: Number(fields[2]),
    members: members === '' ? [] : members.split(','),
  };
}

/**
 * Looks a user up by name in the user database (NSS, so LDAP users count too).
 *
 * @returns the user, or `undefined` when there is none.
 * @throws {UsersError} `P2_USERS_INVALID_NAME`, `P2_USERS_LOOKUP_FAILED`
 * @example await findUser('root') // { name: 'root', uid: 0, gid: 0, home: '/root', shell: '/bin/bash' }
 */
export async function findUser(name: string): Promise<UnixUser | undefined> {
  assertValidUserName(name);
  const fields = (await getent('passwd', [name])).get(name);
  return fields === undefined ? undefined : toUser(name, fields);
}

/**
 * Like {@link findUser} but a missing user is an error.
 *
 * @throws {UsersError} `P2_USERS_NOT_FOUND`, `P2_USERS_INVALID_NAME`, `P2_USERS_LOOKUP_FAILED`
 * @example const { uid, gid } = await lookupUser('nobody');
 */
export async function lookupUser(name: string): Promise<UnixUser> {
  const user = await findUser(name);
  if (user === undefined) throw notFound(name);
  return user;
}

function notFound(name: string): UsersError {
  return new UsersError(
    UsersErrorCodes.NOT_FOUND,
    `user ${JSON.stringify(name)} does not exist on this host`,
    {
      hint: 'create it with ensureUser() (the preparer does this when a pod is installed) or `useradd`',
      details: { name },
    },
  );
}

/**
 * Looks a group up by name.
 *
 * @returns the group, or `undefined` when there is none.
 * @throws {UsersError} `P2_USERS_INVALID_NAME`, `P2_USERS_LOOKUP_FAILED`
 * @example await findGroup('root') // { name: 'root', gid: 0, members: [] }
 */
export async function findGroup(name: string): Promise<UnixGroup | undefined> {
  assertValidUserName(name, 'group name');
  const fields = (await getent('group', [name])).get(name);
  return fields === undefined ? undefined : toGroup(name, fields);
}

/**
 * Every group id the user belongs to (primary first), as `initgroups(3)` would set them.
 *
 * @throws {UsersError} `P2_USERS_NOT_FOUND`, `P2_USERS_INVALID_NAME`, `P2_USERS_LOOKUP_FAILED`
 * @example await userGroupIds('root') // [0]
 */
export async function userGroupIds(name: string): Promise<number[]> {
  assertValidUserName(name);
  const result = await run('id', ['-G', name]).catch((error: unknown) => {
    throw new UsersError(
      UsersErrorCodes.LOOKUP_FAILED,
      `id -G ${name} failed: ${describeError(error)}`,
      {
        cause: error,
      },
    );
  });
  if (result.code !== 0)
    throw new UsersError(
      UsersErrorCodes.NOT_FOUND,
      `user ${JSON.stringify(name)} does not exist on this host`,
      {
        details: { name, stderr: result.stderr.trim() },
      },
    );
  return result.stdout.trim().split(/\s+/).map(Number);
}

function checkRange(range: IdRange): void {
  const ok =
    Number.isInteger(range.min) &&
    Number.isInteger(range.max) &&
    range.min > 0 &&
    range.max >= range.min &&
    range.max < 2 ** 31;
  if (!ok)
    throw new UsersError(
      UsersErrorCodes.RANGE,
      `invalid uid/gid range ${range.min}..${range.max}: expected whole numbers with 0 < min <= max < 2^31`,
      { details: { ...range } },
    );
}

/** useradd/groupadd exit codes: 1 = cannot update the password file (lock), 10 = cannot update the group file. */
const LOCK_EXIT_CODES = new Set([1, 10]);
/** 9 = name already in use (someone else created it meanwhile). */
const EXISTS_EXIT_CODE = 9;
/** 4 = no unique uid/gid left in the range. */
const NO_ID_EXIT_CODE = 4;

async function runAdd(
  tool: 'useradd' | 'groupadd',
  args: string[],
  name: string,
  range: IdRange,
): Promise<boolean> {
  for (let attempt = 0; ; attempt++) {
    let result: ExecResult;
    try {
      result = await run(tool, args);
    } catch (error) {
      throw new UsersError(
        UsersErrorCodes.CREATE_FAILED,
        `could not run ${tool} for ${JSON.stringify(name)}: ${describeError(error)}`,
        {
          cause: error,
          hint: `${tool} comes with Debian's passwd package (apt-get install passwd); the preparer must run as root`,
        },
      );
    }
    if (result.code === 0) return true;
    if (result.code === EXISTS_EXIT_CODE) return false;
    if (result.code === NO_ID_EXIT_CODE)
      throw new UsersError(
        UsersErrorCodes.RANGE,
        `${tool} found no free id for ${JSON.stringify(name)} in ${range.min}..${range.max}: ${result.stderr.trim()}`,
        {
          hint: 'widen the uid range of the preparer (users.id_range) or remove unused pod users',
          details: { ...range },
        },
      );
    if (LOCK_EXIT_CODES.has(result.code) && attempt < 5) {
      await sleep(50 * 2 ** attempt);
      continue;
    }
    throw new UsersError(
      UsersErrorCodes.CREATE_FAILED,
      `${tool} ${args.join(' ')} exited ${result.code}: ${result.stderr.trim() || result.stdout.trim()}`,
      { details: { tool, args, exitCode: result.code } },
    );
  }
}

async function ensureHome(path: string, uid: number, gid: number): Promise<boolean> {
  try {
    await stat(path);
    return false;
  } catch {
    // Only the missing part is created and owned by the user; existing parents are left alone.
    const first = await mkdir(path, { recursive: true, mode: 0o755 });
    if (first !== undefined) await chown(path, uid, gid);
    return first !== undefined;
  }
}

/**
 * Makes sure a pod's user, its primary group and its home exist; creates what is missing and
 * leaves what exists untouched (idempotent, safe to call on every install and from parallel workers).
 * New ids come from `idRange`.
 *
 * @throws {UsersError} `P2_USERS_INVALID_NAME` (name not usable), `P2_USERS_RANGE` (bad or exhausted
 * range), `P2_USERS_CREATE_FAILED` (useradd/groupadd failed), `P2_USERS_MISMATCH` (the user exists
 * with another primary group than `group`), `P2_USERS_LOOKUP_FAILED`
 * @example
 * ```ts
 * const { user, created } = await ensureUser({ name: 'hello', home: '/data/pods/hello' });
 * // user = { name: 'hello', uid: 1001, gid: 1001, home: '/data/pods/hello', shell: '/usr/sbin/nologin' }
 * ```
 */
export async function ensureUser(options: EnsureUserOptions): Promise<EnsuredUser> {
  const { name } = options;
  const groupName = options.group ?? name;
  const range = options.idRange ?? DEFAULT_ID_RANGE;
  assertValidUserName(name);
  assertValidUserName(groupName, 'group name');
  checkRange(range);
  for (const extra of options.supplementaryGroups ?? []) assertValidUserName(extra, 'group name');

  const { user, group, created } = await new Promise<Ensured>((resolve, reject) =>
    queue.push({ kind: 'ensure', options, groupName, range, resolve, reject }),
  );
  // Outside the lock: the user's ids are settled, and neither needs the user database locked.
  const [homeCreated, groups] = await Promise.all([
    options.home !== undefined && options.createHome !== false
      ? ensureHome(options.home, user.uid, user.gid)
      : false,
    userGroupIds(name),
  ]);
  return { user, group, groups, created, homeCreated };
}

interface Ensured {
  user: UnixUser;
  group: UnixGroup;
  created: boolean;
}

interface EnsureJob extends LockedJob<'ensure'> {
  options: EnsureUserOptions;
  groupName: string;
  range: IdRange;
  resolve(value: Ensured): void;
}

interface RemoveJob extends LockedJob<'remove'> {
  name: string;
  removeGroup: boolean;
  resolve(): void;
}

// useradd/groupadd lock /etc/passwd and /etc/group only for one command; a user is made by several
// (look up, groupadd, useradd, look up again). Every process (several preparers, p2 launch,
// bootstrap) takes one lock file around the whole sequence, so two never interleave and end with a
// half-made user or another caller's group. Within a process the calls are group-committed: those
// that arrive while a batch holds the lock go together in the next one, under one acquisition,
// with one lookup of all their names before and after (a burst of new pods waits for one lock
// turn and one useradd per user, not for a turn each).
const queue = new LockedQueue<EnsureJob | RemoveJob>(async (batch) => {
  if (batch[0]?.kind === 'remove') {
    for (const job of batch as RemoveJob[])
      await removeLocked(job.name, job.removeGroup).then(job.resolve, job.reject);
  } else await ensureLocked(batch as EnsureJob[]);
});

/** Creates what is missing of a batch's users, under the users lock; settles every job. */
async function ensureLocked(jobs: EnsureJob[]): Promise<void> {
  const names = [...new Set(jobs.map((job) => job.options.name))];
  const groupNames = [...new Set(jobs.map((job) => job.groupName))];
  let users: Map<string, string[]>;
  let groups: Map<string, string[]>;
  try {
    [users, groups] = await Promise.all([getent('passwd', names), getent('group', groupNames)]);
  } catch (error) {
    for (const job of jobs) job.reject(error);
    return;
  }
  const createdBy = new Map<string, EnsureJob>();
  // A job is settled as soon as its user exists (looked up beside the next useradd), not when the
  // whole batch is done; the lock is released once all are.
  const settling: Promise<void>[] = [];
  for (const job of jobs) {
    const { options, groupName, range } = job;
    const { name } = options;
    const fields = users.get(name);
    if (fields !== undefined) {
      settle(job, fields, groups.get(groupName), false);
      continue;
    }
    if (createdBy.has(name)) {
      settling.push(lookUpAndSettle(job, false));
      continue;
    }
    try {
      const groupMissing = !groups.has(groupName);
      // The user's own group goes with it in one useradd (-U); another one is made first.
      const ownGroup = groupMissing && groupName === name;
      if (groupMissing && !ownGroup) {
        await runAdd('groupadd', [...gidLimits(range), groupName], groupName, range);
        groups.set(groupName, []);
      }
      const args = (group: string[]) => [
        '-K',
        `UID_MIN=${range.min}`,
        '-K',
        `UID_MAX=${range.max}`,
        ...group,
        '-M',
        '-s',
        options.shell ?? '/usr/sbin/nologin',
        ...(options.home === undefined ? [] : ['-d', options.home]),
        ...(options.supplementaryGroups?.length
          ? ['-G', options.supplementaryGroups.join(',')]
          : []),
        name,
      ];
      let made = await runAdd(
        'useradd',
        args(ownGroup ? ['-U', ...gidLimits(range)] : ['-g', groupName]),
        name,
        range,
      );
      // -U refuses (9) when the group appeared meanwhile (made outside p2): join it instead.
      if (!made && ownGroup && !(await findUser(name)))
        made = await runAdd('useradd', args(['-g', groupName]), name, range);
      if (made) createdBy.set(name, job);
      if (ownGroup) groups.set(groupName, []);
      settling.push(lookUpAndSettle(job, made));
    } catch (error) {
      job.reject(error);
    }
  }
  await Promise.all(settling);
}

/** Looks a batch's user (made or found meanwhile) up and settles its job. */
async function lookUpAndSettle(job: EnsureJob, created: boolean): Promise<void> {
  const { name } = job.options;
  try {
    const [users, groups] = await Promise.all([
      getent('passwd', [name]),
      getent('group', [job.groupName]),
    ]);
    const fields = users.get(name);
    if (fields === undefined) throw notFound(name);
    if (created) {
      const user = toUser(name, fields);
      job.options.logger?.info(
        { user: name, uid: user.uid, gid: user.gid, created },
        'pod user ensured',
      );
    }
    settle(job, fields, groups.get(job.groupName), created);
  } catch (error) {
    job.reject(error);
  }
}

/** Settles a job from its user's and group's entries: the user, or a mismatch of their ids. */
function settle(
  job: EnsureJob,
  fields: string[],
  groupFields: string[] | undefined,
  created: boolean,
): void {
  const { name } = job.options;
  const user = toUser(name, fields);
  const group = groupFields === undefined ? undefined : toGroup(job.groupName, groupFields);
  if (group === undefined || group.gid !== user.gid) {
    job.reject(
      new UsersError(
        UsersErrorCodes.MISMATCH,
        `user ${JSON.stringify(name)} exists with primary gid ${user.gid}, expected group ${JSON.stringify(job.groupName)}${group ? ` (gid ${group.gid})` : ' (missing)'}`,
        {
          hint: 'fix the user with `usermod -g` or choose the group the user already has',
          details: { name, gid: user.gid },
        },
      ),
    );
    return;
  }
  job.resolve({ user, group, created });
}

function gidLimits(range: IdRange): string[] {
  return ['-K', `GID_MIN=${range.min}`, '-K', `GID_MAX=${range.max}`];
}

/**
 * Deletes a user and (by default) its same-named group; a missing user or group is not an error.
 * Home directories are left alone. Meant for uninstalling pods that p2 created users for, and tests.
 *
 * @throws {UsersError} `P2_USERS_INVALID_NAME`, `P2_USERS_CREATE_FAILED` (userdel/groupdel failed)
 * @example await removeUser('p2t-hello');
 */
export async function removeUser(
  name: string,
  options: { removeGroup?: boolean } = {},
): Promise<void> {
  assertValidUserName(name);
  await new Promise<void>((resolve, reject) =>
    queue.push({
      kind: 'remove',
      name,
      removeGroup: options.removeGroup !== false,
      resolve,
      reject,
    }),
  );
}

async function removeLocked(name: string, removeGroup: boolean): Promise<void> {
  if ((await findUser(name)) !== undefined) {
    const result = await run('userdel', [name]);
    // 6 = user does not exist (a concurrent removal)
    if (result.code !== 0 && result.code !== 6)
      throw new UsersError(
        UsersErrorCodes.CREATE_FAILED,
        `userdel ${name} exited ${result.code}: ${result.stderr.trim()}`,
      );
  }
  if (removeGroup && (await findGroup(name)) !== undefined) {
    const result = await run('groupdel', [name]);
    if (result.code !== 0 && result.code !== 6)
      throw new UsersError(
        UsersErrorCodes.CREATE_FAILED,
        `groupdel ${name} exited ${result.code}: ${result.stderr.trim()}`,
      );
  }
}
