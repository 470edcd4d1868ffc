/**
 * One measured window of raw unary calls on one channel, with the CPU each server process and the
 * client used during it: the common part of the token benchmarks. Requests come pre-encoded from
 * `nextRequest` (the same buffer, or the next of a pool); `check` may refuse a response, which
 * then counts as a failed call.
 */
import type { Client } from '@grpc/grpc-js';
import { processCpuMs } from './child-process.js';
import { runClosedLoop, type ClosedLoopResult } from './closed-loop.js';
import { rawUnary } from './local-channel.js';

/** Per-call deadline: far above any latency seen here, so a timeout means a stuck call. */
export const benchCallDeadlineMs = 10_000;

export interface UnaryTarget {
  channel: Client;
  path: string;
  nextRequest: () => Buffer;
  /** Throws to count the call as failed (e.g. a "valid = false" answer). */
  check?: (response: Buffer) => void;
}

export interface WindowPlan {
  /** Unrecorded warm-up: for a duration, or (for a pool of single-use requests) a number of calls. */
  warmup: { ms: number } | { calls: number };
  durationMs: number;
  /** Stop the measured window after this many calls (a pool's size), if it comes before durationMs. */
  callsMax?: number;
}

export interface MeasuredWindow {
  result: ClosedLoopResult;
  successes: number;
  /** CPU ms each watched process used during the measured window (null without /proc). */
  cpuMs: Map<number, number | null>;
  clientCpuMs: number;
}

export async function measureWindow(
  target: UnaryTarget,
  concurrency: number,
  plan: WindowPlan,
  watchedPids: readonly number[],
): Promise<MeasuredWindow> {
  const call = async (): Promise<void> => {
    const response = await rawUnary(target.channel, target.path, target.nextRequest(), {
      deadlineMs: benchCallDeadlineMs,
    });
    target.check?.(response);
  };
  const warmup = 'ms' in plan.warmup ? { durationMs: plan.warmup.ms } : { callsMax: plan.warmup.calls };
  await runClosedLoop({ concurrency, call, ...warmup });
  let cpuStart = new Map<number, number | null>();
  let clientStart = process.cpuUsage();
  const result = await runClosedLoop({
    concurrency,
    durationMs: plan.durationMs,
    callsMax: plan.callsMax,
    call,
    onMeasureStart: () => {
      cpuStart = new Map(watchedPids.map((pid) => [pid, processCpuMs(pid)]));
      clientStart = process.cpuUsage();
    },
  });
  const cpuMs = new Map<number, number | null>();
  for (const pid of watchedPids) {
    const start = cpuStart.get(pid);
    const end = processCpuMs(pid);
    cpuMs.set(pid, start === null || start === undefined || end === null ? null : end - start);
  }
  const client = process.cpuUsage(clientStart);
  return {
    result,
    successes: result.requests - result.errors,
    cpuMs,
    clientCpuMs: (client.user + client.system) / 1000,
  };
}

/** CPU µs per successful call, from a window's CPU ms; null when unknown. */
export function cpuUsPerCall(cpuMs: number | null | undefined, successes: number): number | null {
  if (cpuMs === null || cpuMs === undefined || successes === 0) return null;
  return Math.round((1000 * cpuMs) / successes);
}

/** CPU as % of one core over the window. */
export function cpuPct(cpuMs: number | null | undefined, durationMs: number): number | null {
  if (cpuMs === null || cpuMs === undefined || durationMs <= 0) return null;
  return Math.round((100 * cpuMs) / durationMs);
}
