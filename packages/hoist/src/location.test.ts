import { describe, expect, it } from 'vitest';
import { HoistErrorCodes } from './errors.js';
import {
  installDirName,
  resolveLocation,
  verificationLocations,
  versionFromLocation,
} from './location.js';

describe('resolveLocation', () => {
  it('resolves http(s) URLs and redacts credentials for display', () => {
    const resolved = resolveLocation(
      'https://bob:hunter2@artifacts.local/a/app_1.tar.gz?token=abc',
    );
    expect(resolved.kind).toBe('http');
    expect(resolved.display).toBe('https://***@artifacts.local/a/app_1.tar.gz?token=***');
    expect(resolved.display).not.toContain('hunter2');
  });

  it('resolves file: URLs and plain paths to local files', () => {
    expect(resolveLocation('file:///srv/a.tar.gz')).toEqual({
      kind: 'file',
      path: '/srv/a.tar.gz',
      display: '/srv/a.tar.gz',
    });
    expect(resolveLocation('/srv/a.tar.gz')).toMatchObject({ kind: 'file', path: '/srv/a.tar.gz' });
    expect(resolveLocation('art/a.tar.gz', '/base')).toMatchObject({ path: '/base/art/a.tar.gz' });
  });

  it.each([
    ['', 'empty'],
    ['ftp://h/a.tar.gz', 'unknown scheme "ftp:"'],
    ['file://otherhost/a.tar.gz', 'names host "otherhost"'],
    ['file:///', 'absolute path to a file'],
    ['https://[bad/a', 'not a valid URL'],
  ])('refuses %j', (location, message) => {
    expect(() => resolveLocation(location)).toThrowError(
      expect.objectContaining({
        code: HoistErrorCodes.LOCATION_INVALID,
        message: expect.stringContaining(message),
      }),
    );
  });

  it('never puts credentials into errors', () => {
    expect(() => resolveLocation('gopher://user:pw@h/x')).toThrowError(
      expect.objectContaining({ message: expect.not.stringContaining('pw@') }),
    );
  });
});

describe('verificationLocations', () => {
  it('appends suffixes to the URL path and keeps the query (spec 01 §1.11)', () => {
    expect(verificationLocations('https://h/a/app_1.tar.gz?token=t&x=1')).toEqual({
      signature: 'https://h/a/app_1.tar.gz.sig?token=t&x=1',
      manifest: 'https://h/a/app_1.tar.gz.manifest?token=t&x=1',
      manifestSignature: 'https://h/a/app_1.tar.gz.manifest.sig?token=t&x=1',
    });
  });

  it('works for plain paths and file URLs', () => {
    expect(verificationLocations('/srv/a.tar.gz').signature).toBe('/srv/a.tar.gz.sig');
    expect(verificationLocations('file:///srv/a.tar.gz').manifest).toBe(
      'file:///srv/a.tar.gz.manifest',
    );
  });
});

describe('versionFromLocation / installDirName (spec 01 §1.3)', () => {
  it('takes a 40-hex version with an optional suffix from the file name', () => {
    const sha = '3c021aff048ca8117593f9c71e03b87cf72fd440';
    expect(versionFromLocation(`https://h/x/hoisted-hello_${sha}.tar.gz?q=1`)).toBe(sha);
    expect(versionFromLocation(`/srv/hello_${sha}-rc1.tar.gz`)).toBe(`${sha}-rc1`);
  });

  it('yields no version for names P2 did not recognise', () => {
    expect(versionFromLocation('hoisted-hello_def456.tar.gz')).toBeUndefined();
    expect(
      versionFromLocation('https://h/Hello_3C021AFF048CA8117593F9C71E03B87CF72FD440.tar.gz'),
    ).toBeUndefined();
    expect(versionFromLocation('myapp_123.tar')).toBeUndefined();
  });

  it('names install directories <lid>_<version> or <lid>', () => {
    expect(installDirName('app', 'abc')).toBe('app_abc');
    expect(installDirName('app')).toBe('app');
    expect(installDirName('app', '')).toBe('app');
  });

  it.each([
    ['', 'v'],
    ['..', undefined],
    ['a/b', 'v'],
    ['app', '../x'],
    ['.', ''],
  ])('refuses id %j version %j', (id, version) => {
    expect(() => installDirName(id, version)).toThrowError(
      expect.objectContaining({ code: HoistErrorCodes.NAME_INVALID }),
    );
  });
});
