// Prints vitest's JSON reports as the plain closing line CI recognises:
// "N passed, N failed" (", N skipped" when any were skipped), summed over every report given.
import { readFileSync } from 'node:fs';

let passed = 0;
let failed = 0;
let skipped = 0;
for (const path of process.argv.slice(2)) {
  let report;
  try {
    report = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    console.error(`no vitest report at ${path}: ${err.message}`);
    failed++;
    continue;
  }
  passed += report.numPassedTests ?? 0;
  // A test file that failed to load counts too: it ran nothing it promised.
  failed += (report.numFailedTests ?? 0) + (report.numFailedTestSuites ?? 0);
  skipped += (report.numPendingTests ?? 0) + (report.numTodoTests ?? 0);
}
console.log(`${passed} passed, ${failed} failed${skipped > 0 ? `, ${skipped} skipped` : ''}`);
if (passed === 0) {
  console.error('no test ran');
  process.exit(1);
}
