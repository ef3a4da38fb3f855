// Adds up the vitest JSON reports of every workspace package and prints "N passed, N failed[, N skipped]".
// Exits non-zero when a test failed, a test file failed to load, or --status says an earlier step failed.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

const root = new URL('..', import.meta.url).pathname;
const statusArg = process.argv.indexOf('--status');
const earlierStatus = statusArg > 0 ? Number(process.argv[statusArg + 1]) : 0;

const dirs = ['packages', 'apps']
  .flatMap((group) =>
    existsSync(join(root, group))
      ? readdirSync(join(root, group)).map((d) => join(root, group, d))
      : [],
  )
  .concat([join(root, 'e2e'), join(root, 'scripts/packages')]);

let passed = 0;
let failed = 0;
let skipped = 0;
for (const dir of dirs) {
  const reportsDir = join(dir, '.reports');
  if (!existsSync(reportsDir)) continue;
  for (const file of readdirSync(reportsDir).filter((f) => f.endsWith('.json'))) {
    const report = JSON.parse(readFileSync(join(reportsDir, file), 'utf8'));
    passed += report.numPassedTests ?? 0;
    failed += report.numFailedTests ?? 0;
    skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
    // A test file that fails to load has no failed tests but is a failure all the same.
    for (const suite of report.testResults ?? []) {
      if (
        suite.status === 'failed' &&
        (suite.assertionResults ?? []).every((a) => a.status !== 'failed')
      ) {
        console.log(`failed to run: ${suite.name}: ${(suite.message ?? '').split('\n')[0]}`);
        failed += 1;
      }
    }
  }
}
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed > 0 || earlierStatus !== 0 ? 1 : 0);
