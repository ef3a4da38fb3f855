/**
 * The README's opening example must stay true: run it as written (root; pod `p2t-cgroups-readme`
 * instead of `hello`, so nothing of a real pod is touched) and compare with what it shows: the
 * hierarchy (on a v1 host like the README's), the limit files and the usage counts. The example's
 * last line, removing the cgroup, runs after those checks, and the pod's cgroup goes too.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, it } from 'vitest';
import {
  type Cgroup,
  type CgroupHierarchy,
  type CgroupLocation,
  detectCgroups,
  openCgroup,
} from './index.js';

const pod = 'p2t-cgroups-readme';

it('the README example gives what the README says', async () => {
  const readme = await readFile(new URL('../README.md', import.meta.url), 'utf8');
  const code = /```ts\n([\s\S]*?)```/.exec(readme)?.[1] ?? '';
  const lastLine = 'await cgroup.remove({ kill: true });\n';
  expect(code.endsWith(lastLine)).toBe(true);
  const shownHierarchy = new Function(
    `return (${/^const hierarchy = .*\n\/\/ (.*)$/m.exec(code)?.[1]});`,
  )();
  const shownName = /^const location = .*; \/\/ '(.*)'$/m.exec(code)?.[1] ?? '';
  const shownFiles = [...code.matchAll(/^\/\/ (\/sys\/fs\/cgroup\/\S+) +(\d+)$/gm)].map((m) => [
    (m[1] as string).replace('/hello__', `/${pod}__`),
    m[2],
  ]);
  expect(shownFiles).toHaveLength(4);
  const shownUsage = /^await cgroup\.usage\(\); \/\/ \{ (.*) \}$/m.exec(code)?.[1] ?? '';
  const runnable = `${code
    .slice(0, -lastLine.length)
    .replace("pod: 'hello'", `pod: '${pod}'`)
    .replace(/^await (cgroup\.usage\(\));/m, 'export const usage = await $1;')}
export { cgroup, hierarchy, location };
`;
  const dir = await mkdtemp(join(tmpdir(), 'p2t-cgroups-readme-'));
  let example: {
    cgroup?: Cgroup;
    hierarchy: CgroupHierarchy;
    location: CgroupLocation;
    usage: object;
  };
  try {
    // Imported from a file, so that vitest compiles it and `@p2/cgroups` is this package's source.
    await writeFile(join(dir, 'example.ts'), runnable);
    example = await import(join(dir, 'example.ts'));
    if (example.hierarchy.version === 1) expect(example.hierarchy).toEqual(shownHierarchy);
    expect(example.location).toEqual({
      parent: '',
      name: shownName.replace('hello__', `${pod}__`),
    });
    // What was written is what the README shows; a kernel that keeps memory limits in whole pages
    // (this host's rounds down) reads the README's sub-page limits back as 0.
    const page = Number(execFileSync('getconf', ['PAGESIZE'], { encoding: 'utf8' }));
    const files = [];
    for (const [file, shown] of shownFiles) {
      const value = Number((await readFile(file as string, 'utf8')).trim());
      const pages = Math.floor(Number(shown) / page) * page;
      files.push([file, file?.includes('/memory.') && value === pages ? shown : String(value)]);
    }
    expect(files).toEqual(shownFiles);
    // `{ memoryBytes, …, oomKills: 0, …, processes: 1 }`: the counts it shows.
    for (const [key, value] of shownUsage.split(', ').map((part) => part.split(': '))) {
      if (value === undefined) expect(example.usage).toHaveProperty(key as string);
      else expect(example.usage).toHaveProperty(key as string, Number(value));
    }
    await example.cgroup?.remove({ kill: true });
  } finally {
    await openCgroup(await detectCgroups(), { name: `${pod}__app` }).remove({ kill: true });
    await rm(dir, { recursive: true, force: true });
  }
});
