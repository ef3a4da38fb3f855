/** One server per data directory: a `LOCK` file holding the owner's pid. */
import { existsSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { KvServerError, KvServerErrorCodes } from './errors.js';

/** Takes the directory, unless a live process other than this one holds it. */
export function claimDataDir(lockFile: string): void {
  if (existsSync(lockFile)) {
    const pid = Number(readFileSync(lockFile, 'utf8').trim());
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid)) {
      throw new KvServerError(
        KvServerErrorCodes.DATA_DIR,
        `data directory is in use by process ${pid} (${lockFile})`,
        {
          hint: 'stop that p2-kv-server first, or pass another --data-dir',
        },
      );
    }
  }
  writeFileSync(lockFile, `${process.pid}\n`, { mode: 0o600 });
}

/** Gives the directory up, if this process holds it. */
export function releaseDataDir(lockFile: string): void {
  try {
    if (readFileSync(lockFile, 'utf8').trim() === String(process.pid)) unlinkSync(lockFile);
  } catch {
    // already gone
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
