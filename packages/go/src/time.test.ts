import { describe, expect, it } from 'vitest';
import { formatRfc3339Nano } from './index.js';

describe('formatRfc3339Nano', () => {
  it("formats times like Go's RFC3339Nano", () => {
    expect(formatRfc3339Nano(new Date('2026-01-02T03:04:05.000Z'))).toBe('2026-01-02T03:04:05Z');
    expect(formatRfc3339Nano(new Date('2026-01-02T03:04:05.120Z'))).toBe('2026-01-02T03:04:05.12Z');
  });
});
