/** Plain text tables that line up even when cells carry ANSI colour codes. */

const ANSI = /\u001b\[[0-9;]*m/g;

function width(text: string): number {
  return text.replace(ANSI, '').length;
}

/**
 * Renders rows under a header, columns separated by two spaces; the last column is not padded.
 *
 * @example table(['ID', 'NODE'], [['web', 'h1']]) // 'ID   NODE\nweb  h1'
 */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(width(h), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) =>
        i === cells.length - 1 ? cell : cell + ' '.repeat(widths[i]! - width(cell)),
      )
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
