import { readFile } from 'node:fs/promises';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { AuthError, AuthErrorCodes } from './errors.js';
import { ReloadingFile } from './reloading.js';
import { describeCause, silentLogger } from './util.js';

/**
 * P2's deploy policy: which e-mail addresses (groups) may deploy which app users.
 *
 * File format (YAML): `groups: {<group>: [emails]}`, `apps: {<app user>: [groups]}`.
 *
 * @example
 * ```ts
 * const policy = DeployPolicy.parse('groups: {web: [a@x.io]}\napps: {hello: [web]}');
 * policy.allowedEmails('hello'); // Set { 'a@x.io' }
 * ```
 */
export class DeployPolicy implements DeployPolicySource {
  /** Group name → member e-mails. */
  readonly groups: Readonly<Record<string, readonly string[]>>;
  /** App user → group names allowed to deploy it. */
  readonly apps: Readonly<Record<string, readonly string[]>>;
  /** Where the policy came from, for messages. */
  readonly source: string;

  constructor(
    groups: Record<string, string[]>,
    apps: Record<string, string[]>,
    source = '<inline deploy policy>',
  ) {
    this.groups = groups;
    this.apps = apps;
    this.source = source;
  }

  /**
   * Parses deploy policy YAML.
   * @throws AuthError `P2_AUTH_DEPLOY_POLICY_INVALID` naming the offending field.
   */
  static parse(text: string, source = '<inline deploy policy>'): DeployPolicy {
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (cause) {
      throw invalid(source, `not YAML: ${describeCause(cause)}`, cause);
    }
    if (doc === null || doc === undefined) doc = {};
    if (typeof doc !== 'object' || Array.isArray(doc)) {
      throw invalid(source, 'expected a map with `groups` and `apps`');
    }
    const record = doc as Record<string, unknown>;
    return new DeployPolicy(
      stringListMap(record.groups, 'groups', source),
      stringListMap(record.apps, 'apps', source),
      source,
    );
  }

  /**
   * Reads a deploy policy file.
   * @throws AuthError `P2_AUTH_DEPLOY_POLICY_INVALID`.
   */
  static async fromFile(path: string): Promise<DeployPolicy> {
    let text: string;
    try {
      text = await readFile(path, 'utf8');
    } catch (cause) {
      throw invalid(path, `cannot read it: ${describeCause(cause)}`, cause);
    }
    return DeployPolicy.parse(text, path);
  }

  /** The groups allowed for `appUser` (empty when the app user is not listed: fail closed). */
  allowedGroups(appUser: string): readonly string[] {
    return Object.hasOwn(this.apps, appUser) ? (this.apps[appUser] ?? []) : [];
  }

  /** E-mails that may deploy `appUser`. */
  allowedEmails(appUser: string): Set<string> {
    const emails = new Set<string>();
    for (const group of this.allowedGroups(appUser)) {
      for (const email of Object.hasOwn(this.groups, group) ? (this.groups[group] ?? []) : []) {
        emails.add(email);
      }
    }
    return emails;
  }

  /** A policy is its own current version. */
  async current(): Promise<DeployPolicy> {
    return this;
  }
}

/** A {@link DeployPolicy} or a {@link DeployPolicyFile}. */
export interface DeployPolicySource {
  current(): Promise<DeployPolicy>;
}

/**
 * A deploy policy file re-read when its mtime changes; a failed reload keeps the previous policy.
 *
 * @example
 * ```ts
 * const policy = await DeployPolicyFile.open('/etc/p2/deploy-policy.yaml');
 * ```
 */
export class DeployPolicyFile implements DeployPolicySource {
  private constructor(private readonly file: ReloadingFile<DeployPolicy>) {}

  /**
   * Loads the file; later {@link current} calls reload it when it changed.
   * @throws AuthError `P2_AUTH_DEPLOY_POLICY_INVALID` when the first load fails.
   */
  static async open(path: string, options: { logger?: Logger } = {}): Promise<DeployPolicyFile> {
    const file = await ReloadingFile.open(
      path,
      (p) => DeployPolicy.fromFile(p),
      options.logger ?? silentLogger,
      'deploy policy',
    );
    return new DeployPolicyFile(file);
  }

  /** The policy, reloaded first if the file changed. */
  current(): Promise<DeployPolicy> {
    return this.file.current();
  }
}

function stringListMap(value: unknown, field: string, source: string): Record<string, string[]> {
  if (value === undefined || value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw invalid(source, `\`${field}\` must be a map of name → list of strings`);
  }
  const out: Record<string, string[]> = {};
  for (const [name, list] of Object.entries(value as Record<string, unknown>)) {
    if (list === null) {
      out[name] = [];
      continue;
    }
    if (!Array.isArray(list) || list.some((item) => typeof item !== 'string')) {
      throw invalid(source, `\`${field}.${name}\` must be a list of strings`);
    }
    out[name] = list as string[];
  }
  return out;
}

function invalid(source: string, problem: string, cause?: unknown): AuthError {
  return new AuthError(
    AuthErrorCodes.DEPLOY_POLICY_INVALID,
    `deploy policy ${source}: ${problem}`,
    {
      cause,
      hint: 'expected YAML `groups: {<group>: [emails]}` and `apps: {<app user>: [groups]}`',
      details: { source },
    },
  );
}
