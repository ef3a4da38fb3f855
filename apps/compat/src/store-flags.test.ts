import { CliExit } from '@p2/cli-kit';
import { describe, expect, it } from 'vitest';
import { p2StoreAccess } from './store-flags.js';

const refusal = (run: () => unknown) => {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(CliExit);
    return (error as CliExit).message;
  }
  throw new Error('expected a refusal');
};

describe("P2's store flags on p2's store", () => {
  it('maps --consul and --https to a store URL', () => {
    const url = (flags: Parameters<typeof p2StoreAccess>[0], env = {}) =>
      p2StoreAccess(flags, 'none', env).flags.store;
    expect(url({ consul: 'h1:8500' })).toBe('consul://h1:8500');
    expect(url({ consul: 'h1:8501', https: true })).toBe('consul+https://h1:8501');
    expect(url({ consul: 'http://h1:8500' })).toBe('consul://h1:8500');
    expect(url({ consul: 'https://h1:8501' })).toBe('consul+https://h1:8501');
    expect(url({ consul: 'etcd://e1:2379,e2:2379' })).toBe('etcd://e1:2379,e2:2379');
    // Without --consul p2 picks the store (P2_STORE, else the local one); --https switches it.
    expect(url({})).toBeUndefined();
    expect(url({ https: true }, { P2_STORE: 'consul://s:8500' })).toBe('consul+https://s:8500');
    // Consul's own variable, as Consul's CLI reads it.
    expect(url({ https: true }, { CONSUL_HTTP_ADDR: 'c1:8501' })).toBe('consul+https://c1:8501');
  });

  it('passes the token, token file, TLS files and wait on', () => {
    const access = p2StoreAccess(
      {
        token: 't0k',
        tlsCaFile: '/ca.pem',
        tlsCertFile: '/c.pem',
        tlsKeyFile: '/k.pem',
        wait: '1m30s',
      },
      'none',
      {},
    );
    expect(access.flags).toEqual({ token: 't0k' });
    expect(access.connection).toEqual({
      options: {
        tlsCaFile: '/ca.pem',
        tlsCertFile: '/c.pem',
        tlsKeyFile: '/k.pem',
        waitMs: 90_000,
      },
    });
    expect(p2StoreAccess({ tokenFile: '/t' }, 'none', {}).connection.tokenFile).toBe('/t');
    expect(p2StoreAccess({ header: ['X-A=1'] }, 'none', {}).flags.header).toEqual(['X-A=1']);
    expect(refusal(() => p2StoreAccess({ wait: 'soon' }, 'none', {}))).toContain('--wait');
  });

  it('refuses what p2 cannot honour, with the reason', () => {
    expect(
      refusal(() => p2StoreAccess({ consul: 'unix:///run/consul.sock' }, 'none', {})),
    ).toContain('not a unix socket');
    expect(refusal(() => p2StoreAccess({ token: 'a', tokenFile: '/t' }, 'none', {}))).toContain(
      'not both',
    );
    expect(
      refusal(() => p2StoreAccess({ httpApplicatorUrl: 'http://la:3000' }, 'labels', {})),
    ).toContain('no remote label applicator');
  });

  it('warns where P2 itself did not use the applicator', () => {
    expect(
      p2StoreAccess({ httpApplicatorUrl: 'http://la' }, 'ignores-applicator', {}).warnings,
    ).toEqual([expect.stringContaining('as P2’s p2-rm ignored it')]);
    expect(p2StoreAccess({ httpApplicatorUrl: 'http://la' }, 'none', {}).warnings).toEqual([
      expect.stringContaining('uses no labels'),
    ]);
    expect(p2StoreAccess({}, 'none', {}).warnings).toEqual([]);
  });
});
