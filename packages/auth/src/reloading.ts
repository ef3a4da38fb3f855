import { stat } from 'node:fs/promises';
import type { Logger } from 'pino';

/**
 * @internal A value loaded from a file and re-loaded when the file's mtime changes. A failed
 * reload is logged and the previous value stays in use (P2's behaviour for keyrings and policies).
 */
export class ReloadingFile<T> {
  private value: T;
  private mtimeMs: number | undefined;

  private constructor(
    readonly path: string,
    private readonly load: (path: string) => Promise<T>,
    private readonly logger: Logger,
    private readonly what: string,
    value: T,
    mtimeMs: number | undefined,
  ) {
    this.value = value;
    this.mtimeMs = mtimeMs;
  }

  /** Loads the file once; errors of this first load propagate. */
  static async open<T>(
    path: string,
    load: (path: string) => Promise<T>,
    logger: Logger,
    what: string,
  ): Promise<ReloadingFile<T>> {
    const mtimeMs = await mtimeOf(path);
    const value = await load(path);
    return new ReloadingFile(path, load, logger, what, value, mtimeMs);
  }

  /** The value, reloaded first when the file changed since the last successful load. */
  async current(): Promise<T> {
    const mtimeMs = await mtimeOf(this.path);
    if (mtimeMs === undefined || mtimeMs === this.mtimeMs) return this.value;
    try {
      this.value = await this.load(this.path);
      this.mtimeMs = mtimeMs;
      this.logger.info({ path: this.path }, `${this.what} reloaded`);
    } catch (error) {
      this.logger.warn(
        { path: this.path, err: error },
        `${this.what} reload failed; keeping the previous one`,
      );
    }
    return this.value;
  }
}

async function mtimeOf(path: string): Promise<number | undefined> {
  try {
    return (await stat(path)).mtimeMs;
  } catch {
    return undefined;
  }
}
