/**
 * Go's `time.RFC3339Nano` rendering of an instant in UTC: fractional seconds without trailing zeros,
 * `Z` for UTC — what P2 wrote for health records, audit logs and statuses (`time.Time` in JSON).
 *
 * @example formatRfc3339Nano(new Date('2026-01-02T03:04:05.120Z')) // '2026-01-02T03:04:05.12Z'
 * @example formatRfc3339Nano(new Date('2026-01-02T03:04:05.000Z')) // '2026-01-02T03:04:05Z'
 */
export function formatRfc3339Nano(date: Date): string {
  const iso = date.toISOString(); // 2026-01-02T03:04:05.120Z (years 0–9999)
  return iso.replace(/\.(\d+)Z$/, (_m, frac: string) => {
    const trimmed = frac.replace(/0+$/, '');
    return trimmed === '' ? 'Z' : `.${trimmed}Z`;
  });
}
