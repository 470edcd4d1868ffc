/**
 * A closed-loop load generator: `concurrency` workers each issue one call, wait for it to end,
 * and issue the next, so exactly that many calls are in flight until the run ends (after a
 * duration or a number of calls). Closed loop means the offered load adapts to the server: the
 * figure is the throughput at that concurrency, and latency is measured per call from just
 * before it is issued to its completion, with process.hrtime.bigint (monotonic, nanoseconds).
 *
 * An optional warm-up runs the same loop unrecorded first (connection set-up, JIT), then drains,
 * so the measured window starts with warm code and an open connection.
 */
import { summarizeLatencies, type LatencySummary } from './latency-summary.js';

export interface ClosedLoopOptions {
  /** Calls kept in flight. */
  concurrency: number;
  /** Stop issuing calls after this long (measured window). At least one of durationMs, callsMax. */
  durationMs?: number;
  /** Stop after this many calls have been issued. */
  callsMax?: number;
  /** Unrecorded warm-up before the measured window. */
  warmupMs?: number;
  /** One call; rejects on failure. */
  call: () => Promise<unknown>;
  /** Called once, just before the measured window starts (after the warm-up), e.g. to read CPU counters. */
  onMeasureStart?: () => void;
}

export interface ClosedLoopResult {
  /** Calls completed in the measured window, successful or not. */
  requests: number;
  errors: number;
  /** Failures by their description (gRPC code name and details), for the report. */
  errorKinds: Record<string, number>;
  /** From the first call issued to the last one completed. */
  durationMs: number;
  /** Successful calls per second over durationMs. */
  rps: number;
  latency: LatencySummary;
}

export async function runClosedLoop(options: ClosedLoopOptions): Promise<ClosedLoopResult> {
  if (!Number.isInteger(options.concurrency) || options.concurrency < 1) {
    throw new Error(`concurrency must be a whole number >= 1, got ${options.concurrency}`);
  }
  if (options.durationMs === undefined && options.callsMax === undefined) {
    throw new Error('a closed loop needs durationMs or callsMax (or both)');
  }
  if (options.warmupMs && options.warmupMs > 0) {
    await loop({ ...options, durationMs: options.warmupMs, callsMax: undefined }, null);
  }
  options.onMeasureStart?.();
  const samplesMs: number[] = [];
  const counts = await loop(options, samplesMs);
  const durationMs = Number(counts.endNs - counts.startNs) / 1e6;
  return {
    requests: counts.completed,
    errors: counts.errors,
    errorKinds: counts.errorKinds,
    durationMs,
    rps: durationMs > 0 ? (samplesMs.length * 1000) / durationMs : 0,
    latency: summarizeLatencies(samplesMs),
  };
}

interface LoopCounts {
  startNs: bigint;
  endNs: bigint;
  completed: number;
  errors: number;
  errorKinds: Record<string, number>;
}

/** Runs the workers; records each successful call's latency into `samplesMs` unless it is null. */
async function loop(options: ClosedLoopOptions, samplesMs: number[] | null): Promise<LoopCounts> {
  const startNs = process.hrtime.bigint();
  const deadlineNs =
    options.durationMs === undefined ? null : startNs + BigInt(Math.round(options.durationMs * 1e6));
  const callsMax = options.callsMax ?? Number.POSITIVE_INFINITY;
  const counts: LoopCounts = { startNs, endNs: startNs, completed: 0, errors: 0, errorKinds: {} };
  let issued = 0;

  const worker = async (): Promise<void> => {
    for (;;) {
      const beforeNs = process.hrtime.bigint();
      if (issued >= callsMax || (deadlineNs !== null && beforeNs >= deadlineNs)) return;
      issued++;
      try {
        await options.call();
        const afterNs = process.hrtime.bigint();
        samplesMs?.push(Number(afterNs - beforeNs) / 1e6);
      } catch (err) {
        counts.errors++;
        const kind = describeFailure(err);
        counts.errorKinds[kind] = (counts.errorKinds[kind] ?? 0) + 1;
      }
      counts.completed++;
    }
  };

  await Promise.all(Array.from({ length: options.concurrency }, worker));
  counts.endNs = process.hrtime.bigint();
  return counts;
}

/** A short, stable description of a failed call: `CODE: details` for gRPC errors. */
export function describeFailure(err: unknown): string {
  if (err instanceof Error) {
    const { code, details } = err as Error & { code?: unknown; details?: unknown };
    if (typeof code === 'number' && typeof details === 'string') return `${code}: ${details}`.slice(0, 200);
    return err.message.slice(0, 200);
  }
  return String(err).slice(0, 200);
}
