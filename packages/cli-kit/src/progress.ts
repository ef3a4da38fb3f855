/** Progress lines redrawn in place on terminals (quiet when piped: callers only create them on a TTY). */

import type { DownloadProgress } from '@p2/hoist';

export type { DownloadProgress };

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * Renders one progress line (no newline).
 *
 * @example progressLine('app', { bytes: 512, total: 1024, bytesPerSecond: 0, attempt: 1, done: false }, 10) // 'app [#####.....]  50% 512 B/1.0 KiB'
 */
export function progressLine(label: string, p: DownloadProgress, width = 30): string {
  const speed = p.bytesPerSecond > 0 ? ` ${size(p.bytesPerSecond)}/s` : '';
  const retry = p.attempt > 1 ? ` (attempt ${p.attempt})` : '';
  if (!p.total) return `${label} ${size(p.bytes)}${speed}${retry}`;
  const fraction = Math.min(1, p.bytes / p.total);
  const filled = Math.round(fraction * width);
  const bar = `${'#'.repeat(filled)}${'.'.repeat(width - filled)}`;
  return `${label} [${bar}] ${String(Math.floor(fraction * 100)).padStart(3)}% ${size(p.bytes)}/${size(p.total)}${speed}${retry}`;
}

/**
 * A status line redrawn in place (carriage return, clear line); `done` ends it with a newline and
 * `print` writes a whole line above it. Create it only on a TTY.
 *
 * @example const line = liveLine((t) => io.stderr(t)); line.draw('2/3 healthy'); line.done()
 */
export function liveLine(write: (text: string) => void): {
  draw: (text: string) => void;
  print: (text: string) => void;
  done: () => void;
} {
  let current: string | undefined;
  return {
    draw(text) {
      current = text;
      write(`\r\u001b[2K${text}`);
    },
    print(text) {
      write(`\r\u001b[2K${text}\n`);
      if (current !== undefined) write(current);
    },
    done() {
      if (current !== undefined) write('\n');
      current = undefined;
    },
  };
}

/**
 * A progress line redrawn in place on `write`, at most every 100 ms until the download is done;
 * create it only on a TTY.
 *
 * @example const bar = progressBar((t) => io.stderr(t)); fetch({ onProgress: (p) => bar.update('app', p) })
 */
export function progressBar(write: (text: string) => void): {
  update: (label: string, p: DownloadProgress) => void;
  done: () => void;
} {
  const line = liveLine(write);
  let lastDraw = 0;
  return {
    update(label, p) {
      const now = Date.now();
      if (!p.done && now - lastDraw < 100) return;
      lastDraw = now;
      line.draw(progressLine(label, p));
      if (p.done) line.done();
    },
    done: line.done,
  };
}
