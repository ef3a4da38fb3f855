/**
 * Runs benchmark suites: every `src/suites/*.bench.ts`, or those whose name contains an argument.
 *   pnpm bench            # all
 *   pnpm bench manifest   # only suites with "manifest" in their file name
 */
import { readdirSync } from 'node:fs';
import { fileURLToPath, pathToFileURL } from 'node:url';

const dir = fileURLToPath(new URL('./suites/', import.meta.url));
const filters = process.argv.slice(2).filter((a) => !a.startsWith('-'));
const suites = readdirSync(dir)
  .filter((f) => f.endsWith('.bench.ts'))
  .filter((f) => filters.length === 0 || filters.some((x) => f.includes(x)))
  .sort();
if (suites.length === 0) {
  console.error(`no benchmark suite matches ${filters.join(', ')}`);
  process.exit(2);
}
for (const file of suites) {
  console.log(`\n# ${file}`);
  const suite = (await import(pathToFileURL(`${dir}${file}`).href)) as { run: () => Promise<void> };
  await suite.run();
}
