/**
 * Benchmark entry: `node dist/bench/run.js [name ...] [--quick]` (or `npm run bench -- ...`).
 *
 * Runs the named benchmarks (all by default) one after another, printing one JSON object per
 * result on stdout and human progress on stderr. Exits 1 if any benchmark failed (the others
 * still run), 2 on a bad argument, 130 when interrupted (after stopping its child processes).
 * docs/PERFORMANCE.md describes each benchmark and the figures measured.
 */
import type { BenchResult, Benchmark } from './lib/benchmark.js';
import { stopLiveChildren, terminateLiveChildrenNow } from './lib/child-process.js';
import { removeLiveTempDirs } from './lib/temp-dir.js';
import { eventsBenchmark } from './events.js';
import { localApiBenchmark } from './local-api.js';
import { meshConvergenceBenchmark } from './mesh-convergence.js';
import { revocationPropagationBenchmark } from './revocation-propagation.js';
import { validateTokenKeystoneBenchmark } from './validate-token-keystone.js';
import { validateTokenBenchmark } from './validate-token.js';

const benchmarks: readonly Benchmark[] = [
  localApiBenchmark,
  meshConvergenceBenchmark,
  validateTokenBenchmark,
  validateTokenKeystoneBenchmark,
  revocationPropagationBenchmark,
  eventsBenchmark,
];

function usage(): string {
  return [
    'usage: node dist/bench/run.js [name ...] [--quick]',
    '',
    '  --quick   short durations and one repetition: a smoke test, not a measurement',
    '',
    'benchmarks:',
    ...benchmarks.map((b) => `  ${b.name.padEnd(24)} ${b.description}`),
    '',
  ].join('\n');
}

function progress(message: string): void {
  process.stderr.write(`${message}\n`);
}

async function main(argv: readonly string[]): Promise<number> {
  const names: string[] = [];
  let quick = false;
  for (const arg of argv) {
    if (arg === '--quick') quick = true;
    else if (arg === '--help' || arg === '-h') {
      process.stdout.write(usage());
      return 0;
    } else if (arg.startsWith('-')) {
      process.stderr.write(`bench: unknown option ${arg}\n${usage()}`);
      return 2;
    } else names.push(arg);
  }
  const unknown = names.filter((name) => !benchmarks.some((b) => b.name === name));
  if (unknown.length > 0) {
    process.stderr.write(`bench: unknown benchmark ${unknown.join(', ')}\n${usage()}`);
    return 2;
  }
  const selected = names.length === 0 ? benchmarks : benchmarks.filter((b) => names.includes(b.name));

  const failed: string[] = [];
  for (const benchmark of selected) {
    const startMs = performance.now();
    progress(`== ${benchmark.name}${quick ? ' (quick)' : ''}`);
    try {
      await benchmark.run({
        quick,
        emit: (result: BenchResult) => process.stdout.write(`${JSON.stringify(result)}\n`),
        progress,
      });
      progress(`== ${benchmark.name} done in ${((performance.now() - startMs) / 1000).toFixed(1)} s`);
    } catch (err) {
      failed.push(benchmark.name);
      progress(`== ${benchmark.name} FAILED: ${err instanceof Error ? err.message : String(err)}`);
    }
  }
  if (failed.length > 0) {
    progress(`bench: failed: ${failed.join(', ')}`);
    return 1;
  }
  return 0;
}

// A run that dies (an uncaught error, e.g. EPIPE when its output is piped into `head`) must not
// leave node processes or temporary directories behind either; a normal end has stopped them all.
process.on('exit', () => {
  terminateLiveChildrenNow();
  removeLiveTempDirs();
});

// An interrupted run must not leave node processes or temporary directories behind.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    progress(`bench: ${signal}: stopping child processes`);
    void stopLiveChildren().finally(() => {
      removeLiveTempDirs();
      process.exit(130);
    });
  });
}

process.exitCode = await main(process.argv.slice(2));
// Open handles (a channel's timers) must not keep a finished run alive.
process.exit();
