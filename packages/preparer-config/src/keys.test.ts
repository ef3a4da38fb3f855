import { describe, expect, it } from 'vitest';
import {
  describePreparerKeys,
  isKnownPreparerKey,
  PREPARER_KEYS,
  PREPARER_PARAMS,
  parsePreparerConfig,
  pinoLevel,
  readOnlyDefault,
} from './index.js';

describe('describePreparerKeys', () => {
  it('says for every key, in file order, whether it is implemented, ignored (and why) or unknown', () => {
    const text =
      'preparer:\n  node_name: h1\n  http2: true\n  nodename: typo\n  store: etcd://e:2379\n  params: {healthcheck_timeout: "2", runc_path: /bin/runc, bogus: 1}\n';
    expect(describePreparerKeys(text)).toEqual([
      { key: 'node_name', status: 'implemented', origin: 'P2' },
      { key: 'http2', status: 'ignored', origin: 'P2', reason: 'p2 speaks HTTP/1.1 to the store' },
      { key: 'nodename', status: 'unknown' },
      { key: 'store', status: 'implemented', origin: 'p2' },
      { key: 'params', status: 'implemented', origin: 'P2' },
      { key: 'params.healthcheck_timeout', status: 'implemented', origin: 'P2' },
      { key: 'params.runc_path', status: 'implemented', origin: 'P2' },
      { key: 'params.bogus', status: 'unknown' },
    ]);
  });

  it('gives a reason for every ignored key and param', () => {
    for (const info of [...Object.values(PREPARER_KEYS), ...Object.values(PREPARER_PARAMS)]) {
      if (info.status === 'ignored') expect(info.reason).toMatch(/\w/);
      else expect(info.reason).toBeUndefined();
    }
  });

  it('agrees with parsePreparerConfig on which keys are unknown', () => {
    const keys = Object.keys(PREPARER_KEYS).filter((key) => !['auth', 'params'].includes(key));
    const text = `preparer:\n  auth: {type: none}\n${keys.map((key) => `  ${key}: null\n`).join('')}`;
    expect(() => parsePreparerConfig(text)).not.toThrow();
    expect(() => parsePreparerConfig(`${text}  toString: 1\n  nodename: x\n`)).toThrow(
      /unknown keys preparer\.toString, preparer\.nodename \(did you mean preparer\.node_name\?\)/,
    );
    expect(isKnownPreparerKey('toString')).toBe(false);
    expect(isKnownPreparerKey('replay_guard')).toBe(true);
  });

  it('refuses text that is not a preparer config, as parsing does', () => {
    expect(() => describePreparerKeys('other: 1\n', 'p.yaml')).toThrow(
      expect.objectContaining({ code: 'P2_PREPARER_CONFIG_INVALID' }),
    );
  });
});

describe('readOnlyDefault and pinoLevel', () => {
  it('lets the blacklist win over the whitelist, and the whitelist over read_only_deploys', () => {
    const config = parsePreparerConfig(
      'preparer:\n  auth: {type: none}\n  read_only_deploys: true\n  read_only_whitelist: [db]\n  read_only_blacklist: [db, cache]\n',
    );
    const readOnly = readOnlyDefault(config);
    expect([readOnly('web'), readOnly('db'), readOnly('cache')]).toEqual([true, false, false]);
    const off = readOnlyDefault({ ...config, readOnlyDeploys: false, readOnlyBlacklist: [] });
    expect([off('web'), off('db')]).toEqual([false, true]);
  });

  it("maps logrus' level names onto pino's", () => {
    expect(['warning', 'panic', 'info', 'trace'].map(pinoLevel)).toEqual([
      'warn',
      'fatal',
      'info',
      'trace',
    ]);
  });
});
