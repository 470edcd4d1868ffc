/** The contract between bench/run.ts and each benchmark. */

/** One result: a flat JSON object, printed as one line on stdout. `bench` names the benchmark. */
export type BenchResult = { bench: string } & Record<string, string | number | boolean | null>;

export interface BenchContext {
  /** Shorter durations and fewer repetitions: a smoke test, not a measurement. */
  quick: boolean;
  /** Prints one result line on stdout. */
  emit(result: BenchResult): void;
  /** Human progress on stderr. */
  progress(message: string): void;
}

export interface Benchmark {
  name: string;
  /** One line for `run.js --help`. */
  description: string;
  /** Emits results as it goes; rejects if the benchmark failed (results emitted so far stand). */
  run(context: BenchContext): Promise<void>;
}
