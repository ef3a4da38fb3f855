/** What the commands that follow the store live (`p2 watch`, `p2 pc watch`) share. */
import { type CliContext, style } from '@p2/cli-kit';

/** What {@link following} hands a live command. */
export interface Following {
  /** Aborted by SIGINT or SIGTERM: the command then ends cleanly (exit 0). */
  readonly signal: AbortSignal;
  /** For the watch's `onError`: says once per distinct error that the store is unreachable. */
  readonly onError: (error: unknown) => void;
  /** Call after each answer: the next error is reported again. */
  readonly recovered: () => void;
}

/** Runs `body` until it returns, or until SIGINT/SIGTERM aborts its signal. */
export async function following<T>(
  ctx: CliContext,
  body: (follow: Following) => Promise<T>,
): Promise<T> {
  const controller = new AbortController();
  const stop = () => controller.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  let lastError = '';
  try {
    return await body({
      signal: controller.signal,
      onError: (error) => {
        // Say once that the store is unreachable; the watch keeps retrying with backoff.
        const text = error instanceof Error ? error.message : String(error);
        if (text === lastError) return;
        lastError = text;
        ctx.io.stderr(`${style.yellow(ctx.io, 'warning')}: ${text} (retrying)\n`);
      },
      recovered: () => {
        lastError = '';
      },
    });
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}
