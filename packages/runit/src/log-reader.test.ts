/** Reading svlogd logs: stamps, rotated files in order, `since`, and following through a rotation. */
import { appendFile, mkdir, mkdtemp, rename, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { followServiceLog, parseLogLine, readServiceLog } from './log-reader.js';

let dir: string;
let main: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'p2t-logs-'));
  main = join(dir, 'log', 'main');
  await mkdir(main, { recursive: true });
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('svlogd log reader', () => {
  it('parses svlogd -tt stamps (UTC) and keeps unstamped lines whole', () => {
    expect(parseLogLine('2026-12-05_04:50:32.123456789 hello world')).toEqual({
      time: '2026-12-05T04:50:32.123Z',
      text: 'hello world',
    });
    expect(parseLogLine('2026-12-05_04:50:32 x')).toEqual({
      time: '2026-12-05T04:50:32.000Z',
      text: 'x',
    });
    expect(parseLogLine('no stamp')).toEqual({ text: 'no stamp' });
  });

  it('reads rotated files oldest first, then current; filters by since; ignores symlinks', async () => {
    await writeFile(join(main, '@400000006931a0a10000000a.s'), '2026-12-05_01:00:00.000 a\n');
    await writeFile(join(main, '@400000006931a0b10000000a.s'), '2026-12-05_02:00:00.000 b\n');
    await writeFile(
      join(main, 'current'),
      '2026-12-05_03:00:00.000 c\n2026-12-05_04:00:00.000 d\n',
    );
    await writeFile(join(dir, 'secret'), 'root only\n');
    await symlink(join(dir, 'secret'), join(main, '@400000006931a0c10000000a.s'));
    expect((await readServiceLog(dir)).map((l) => l.text)).toEqual(['a', 'b', 'c', 'd']);
    const since = await readServiceLog(dir, { since: new Date('2026-12-05T02:30:00Z') });
    expect(since.map((l) => l.text)).toEqual(['c', 'd']);
    expect(await readServiceLog(join(dir, 'none'))).toEqual([]);
  });

  it('follows new lines from the end, through a rotation, until aborted', async () => {
    const current = join(main, 'current');
    await writeFile(current, '2026-12-05_01:00:00.000 old\n');
    const controller = new AbortController();
    const seen: string[] = [];
    const done = (async () => {
      for await (const line of followServiceLog(dir, { signal: controller.signal, pollMs: 20 })) {
        seen.push(line.text);
        if (seen.length === 3) controller.abort();
      }
    })();
    const until = async (n: number) => {
      while (seen.length < n) await new Promise((r) => setTimeout(r, 10));
    };
    await new Promise((r) => setTimeout(r, 60));
    await appendFile(current, '2026-12-05_01:00:01.000 new');
    await appendFile(current, ' line\n2026-12-05_01:00:02.000 before rotation\n');
    await until(2);
    await rename(current, join(main, '@400000006931a0a10000000a.s'));
    await writeFile(current, '2026-12-05_01:00:03.000 after rotation\n');
    await done;
    expect(seen).toEqual(['new line', 'before rotation', 'after rotation']);
  });
});
