import { describe, expect, it } from 'vitest';
import {
  decodeLabels,
  encodeLabels,
  labelKey,
  parseLabelKey,
  parsePodLabelId,
  podLabelId,
} from './labels.js';

describe('label keys', () => {
  it('lays records out as labels/<type>/<id>, pod ids keeping their slash', () => {
    expect(labelKey('pod', podLabelId('node1', 'hello'))).toBe('labels/pod/node1/hello');
    expect(labelKey('replication_controller', 'abc')).toBe('labels/replication_controller/abc');
    expect(parseLabelKey('labels/pod/node1/hello')).toEqual({ type: 'pod', id: 'node1/hello' });
    expect(parseLabelKey('labels/node/n1')).toEqual({ type: 'node', id: 'n1' });
  });

  it('rejects unknown types, empty ids and foreign keys', () => {
    expect(() => labelKey('replication_controllers' as never, 'x')).toThrow(
      expect.objectContaining({ code: 'P2_LABELS_INVALID_TYPE' }),
    );
    expect(() => labelKey('node', '')).toThrow(
      expect.objectContaining({ code: 'P2_LABELS_INVALID_KEY_PATH' }),
    );
    expect(() => parseLabelKey('intent/n1/hello')).toThrow(
      expect.objectContaining({ code: 'P2_LABELS_INVALID_KEY_PATH' }),
    );
    expect(() => parseLabelKey('labels/node/')).toThrow(
      expect.objectContaining({ code: 'P2_LABELS_INVALID_KEY_PATH' }),
    );
    expect(() => parseLabelKey('labels/nodes/n1')).toThrow(
      expect.objectContaining({ code: 'P2_LABELS_INVALID_TYPE' }),
    );
  });

  it('splits pod label ids', () => {
    expect(parsePodLabelId('n1/hello')).toEqual({ node: 'n1', podId: 'hello' });
    expect(parsePodLabelId('0b4e1a9c-uuid-pod')).toBeUndefined();
    expect(parsePodLabelId('/x')).toBeUndefined();
  });
});

describe('label record values', () => {
  it('encodes like Go: sorted keys, HTML characters escaped', () => {
    expect(encodeLabels({ zone: 'a', pod_id: 'hello' })).toBe('{"pod_id":"hello","zone":"a"}');
    expect(encodeLabels({ a: '<&>' })).toBe('{"a":"\\u003c\\u0026\\u003e"}');
    expect(decodeLabels(encodeLabels({ a: '<&>' }))).toEqual({ a: '<&>' });
  });

  it('decodes bytes and treats an empty value as no labels', () => {
    expect(decodeLabels(new TextEncoder().encode('{"a":"1"}'))).toEqual({ a: '1' });
    expect(decodeLabels('')).toEqual({});
  });

  it.each([
    ['not json', /not valid JSON/],
    ['[1]', /found an array/],
    ['"x"', /found string/],
    ['{"a":1}', /label "a" in labels\/node\/n1 must be a string, found number/],
    ['{"a":null}', /found null/],
  ])('rejects %j', (value, message) => {
    expect(() => decodeLabels(value, 'labels/node/n1')).toThrow(message);
    try {
      decodeLabels(value, 'labels/node/n1');
    } catch (e) {
      expect((e as { code: string }).code).toBe('P2_LABELS_INVALID_RECORD');
    }
  });
});
