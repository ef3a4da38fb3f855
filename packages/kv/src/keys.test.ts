import { describe, expect, it } from 'vitest';
import { assertSegment, assertUuid, assertWritableKey, looksLikeUuid } from './keys.js';

describe('key validation', () => {
  it.each([
    ['', 'it is empty'],
    ['/lead', "must not begin with a '/'"],
    ['a/../b', 'path traversal'],
    ['..', 'path traversal'],
    [' a', 'leading or trailing spaces'],
    ['a\nb', 'control characters'],
  ])('refuses %j', (key, reason) => {
    expect(() => assertWritableKey(key)).toThrow(reason);
  });

  it('accepts every key shape P2 writes', () => {
    for (const key of [
      'intent/node1/hello',
      'lock/replication_controllers/x/update',
      'labels/pod/node1/hello',
      'a..b/c',
    ]) {
      expect(() => assertWritableKey(key)).not.toThrow();
    }
  });

  it('segments refuse slashes, whitespace and dot names; uuids must be canonical', () => {
    expect(() => assertSegment('pod id', 'a/b')).toThrow(`invalid pod id "a/b": it contains '/'`);
    expect(() => assertSegment('node name', 'a b')).toThrow('whitespace');
    expect(() => assertSegment('node name', '.')).toThrow('relative path');
    expect(() => assertUuid('id', '0F8FAD5B-D9CB-469F-A165-70867728950E')).toThrow(
      'lower-case UUID',
    );
    expect(looksLikeUuid('{0F8FAD5B-D9CB-469F-A165-70867728950E}')).toBe(true);
    expect(looksLikeUuid('urn:uuid:0f8fad5bd9cb469fa16570867728950e')).toBe(true);
    expect(looksLikeUuid('hello')).toBe(false);
  });
});
