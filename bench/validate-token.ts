/**
 * validate-token: alliance.v1.Tokens/ValidateToken throughput and latency over a node's local
 * API, next to the bare grpc-js echo ceiling measured in the same run.
 *
 * Processes: the echo server (bench/echo-server.ts) and a two-cloud dev federation (two
 * `alliance serve` processes, fully connected before anything is measured); the load generator
 * is this process, one channel per target. Tokens are issued at cloud-a and validated at
 * cloud-b's local API (bench/lib/token-federation.ts), so each format crosses clouds.
 *
 * Targets, each at 1, 16, 64 and 256 in flight, in turn at each concurrency (so drift on the
 * machine hits them alike):
 * - echo: the ceiling, with a payload as large as a ValidateToken answer (the ratio target is
 *   against it); echo-federation-size: the same with a payload as large as a federation-token
 *   request (~1.9 KB), beside which federation rows also report ratioToSameSizeEcho;
 * - jws-repeat, federation-repeat, opaque-repeat: one token of the format, validated once before
 *   the window, then again and again. The node caches whole answers by token fingerprint, so
 *   these measure the answer cache (a SHA-256, a map lookup, the revocation check), whatever the
 *   format;
 * - jws-fresh, federation-fresh: a pool of distinct tokens, each validated once, so every call
 *   runs the pipeline: for a JWS, an ES256 verify at cloud-b plus the question to cloud-a for
 *   names and roles (a mesh call, not cached apart from the answer); for a federation token, an
 *   ES256 verify with the issuer certificate (whose chain check is cached). The window is bounded
 *   by the pool (callsMax), with a warm-up of its own tokens.
 *
 * Reported per (target, concurrency): rps, latency percentiles, client CPU, the validating node's
 * (cloud-b) and the origin node's (cloud-a) CPU µs per call, the ratio to the echo's rps, and the
 * targets: at least half the echo's rps, and p99 under 5 ms at 64 in flight.
 */
import type { Client } from '@grpc/grpc-js';
import type { BenchContext, Benchmark, BenchResult } from './lib/benchmark.js';
import { stopAll, type BenchChild } from './lib/child-process.js';
import { startEchoServer } from './lib/echo-server-process.js';
import { echoPath } from './lib/echo-service.js';
import { runClosedLoop } from './lib/closed-loop.js';
import { round3 } from './lib/latency-summary.js';
import { openChannel, rawUnary } from './lib/local-channel.js';
import {
  describeAnswer,
  isValidAnswer,
  startTokenFederation,
  validatePath,
  type TokenFederation,
  type TokenKind,
} from './lib/token-federation.js';
import {
  benchCallDeadlineMs,
  cpuPct,
  cpuUsPerCall,
  measureWindow,
  type UnaryTarget,
  type WindowPlan,
} from './lib/unary-window.js';

const concurrencies = [1, 16, 64, 256];

/** The targets, stated in every result line. */
export const ratioTarget = 0.5;
export const p99TargetMs = 5;
export const p99TargetConcurrency = 64;

interface Timing {
  /** Once, before any window: every repeat target (and the echo) at 16 in flight, unrecorded. */
  initialWarmupMs: number;
  repeat: WindowPlan;
  /** Fresh-token windows: warm-up calls and measured calls per concurrency (pool size). */
  freshWarmupCalls: number;
  freshCalls: number;
  freshDurationMs: number;
}
const fullTiming: Timing = {
  initialWarmupMs: 1_000,
  repeat: { warmup: { ms: 500 }, durationMs: 3_000 },
  freshWarmupCalls: 200,
  freshCalls: 2_000,
  freshDurationMs: 3_000,
};
const quickTiming: Timing = {
  initialWarmupMs: 200,
  repeat: { warmup: { ms: 100 }, durationMs: 500 },
  freshWarmupCalls: 20,
  freshCalls: 200,
  freshDurationMs: 500,
};

type TargetName =
  | 'echo'
  | 'echo-federation-size'
  | 'jws-repeat'
  | 'federation-repeat'
  | 'opaque-repeat'
  | 'jws-fresh'
  | 'federation-fresh';

/** What each target's call makes the validating node do, for the reader of the JSON. */
const pipelineOf: Record<TargetName, string> = {
  echo: 'bare grpc-js echo (the ceiling)',
  'echo-federation-size': 'bare grpc-js echo, payload as large as a federation-token request',
  'jws-repeat': 'answer cache hit (validated once before the window)',
  'federation-repeat': 'answer cache hit (validated once before the window)',
  'opaque-repeat': 'answer cache hit (validated once before the window)',
  'jws-fresh': 'ES256 verify at cloud-b + names and roles asked of cloud-a over the mesh',
  'federation-fresh': 'ES256 verify + issuer certificate (chain check cached), offline',
};

export const validateTokenBenchmark: Benchmark = {
  name: 'validate-token',
  description:
    'ValidateToken at cloud-b of cloud-a tokens (JWS, federation, opaque) next to the echo ceiling',
  run: runValidateToken,
};

async function runValidateToken(context: BenchContext): Promise<void> {
  const timing = context.quick ? quickTiming : fullTiming;
  const children: BenchChild[] = [];
  const channels: Client[] = [];
  let tokens: TokenFederation | null = null;
  const failures: string[] = [];
  try {
    context.progress('validate-token: starting the echo server and a two-cloud federation');
    const echo = await startEchoServer();
    children.push(echo.child);
    tokens = await startTokenFederation(context.progress);
    const fed = tokens;

    const perFresh = timing.freshWarmupCalls + timing.freshCalls;
    context.progress(
      `validate-token: issuing ${2 * perFresh * concurrencies.length} fresh tokens at cloud-a`,
    );
    const issueStart = performance.now();
    const freshPools: Record<'jws' | 'federation', Buffer[]> = {
      jws: await fed.freshPool('jws', perFresh * concurrencies.length),
      federation: await fed.freshPool('federation', perFresh * concurrencies.length),
    };
    context.progress(`validate-token: issued in ${Math.round(performance.now() - issueStart)} ms`);

    const echoChannel = openChannel(`127.0.0.1:${echo.port}`);
    channels.push(echoChannel);
    const echoRequest = Buffer.alloc(fed.repeat.opaque.response.length, 0x61);
    await rawUnary(echoChannel, echoPath, echoRequest, {
      deadlineMs: benchCallDeadlineMs,
      waitForReady: true,
    });

    const checkValid = (bytes: Buffer): void => {
      if (!isValidAnswer(bytes)) throw new Error(describeAnswer(bytes));
    };
    const repeatTarget = (kind: TokenKind): UnaryTarget => {
      const request = fed.repeat[kind].request;
      return {
        channel: fed.validatorChannel(),
        path: validatePath,
        nextRequest: () => request,
        check: checkValid,
      };
    };
    // Federation-token requests are ~8x larger than an answer; HTTP/2 flow control makes large
    // requests at high concurrency cost the transport itself more, so that ceiling is shown too.
    const echoLargeRequest = Buffer.alloc(fed.repeat.federation.request.length, 0x61);
    const targets: {
      name: TargetName;
      kind: TokenKind | null;
      target: UnaryTarget;
      fresh: boolean;
      echoBytes?: number;
    }[] = [
      {
        name: 'echo',
        kind: null,
        fresh: false,
        echoBytes: echoRequest.length,
        target: { channel: echoChannel, path: echoPath, nextRequest: () => echoRequest },
      },
      {
        name: 'echo-federation-size',
        kind: null,
        fresh: false,
        echoBytes: echoLargeRequest.length,
        target: { channel: echoChannel, path: echoPath, nextRequest: () => echoLargeRequest },
      },
      { name: 'jws-repeat', kind: 'jws', fresh: false, target: repeatTarget('jws') },
      { name: 'federation-repeat', kind: 'federation', fresh: false, target: repeatTarget('federation') },
      { name: 'opaque-repeat', kind: 'opaque', fresh: false, target: repeatTarget('opaque') },
    ];
    for (const kind of ['jws', 'federation'] as const) {
      const pool = freshPools[kind];
      let next = 0;
      targets.push({
        name: `${kind}-fresh`,
        kind,
        fresh: true,
        target: {
          channel: fed.validatorChannel(),
          path: validatePath,
          nextRequest: () => {
            const request = pool[next++];
            if (!request) throw new Error(`the fresh ${kind} pool ran out`);
            return request;
          },
          check: checkValid,
        },
      });
    }

    // The validator's code paths are cold after setup (a handful of calls): warm each path once,
    // so the first window measured (concurrency 1) does not pay for JIT compilation.
    context.progress('validate-token: warming up every repeat target');
    for (const { target, fresh } of targets) {
      if (!fresh)
        await runClosedLoop({
          concurrency: 16,
          durationMs: timing.initialWarmupMs,
          call: () =>
            rawUnary(target.channel, target.path, target.nextRequest(), { deadlineMs: benchCallDeadlineMs }),
        });
    }

    for (const concurrency of concurrencies) {
      let echoRps: number | null = null;
      let echoLargeRps: number | null = null;
      for (const { name, kind, target, fresh, echoBytes } of targets) {
        context.progress(`validate-token: ${name} at concurrency ${concurrency}`);
        const plan: WindowPlan = fresh
          ? {
              warmup: { calls: timing.freshWarmupCalls },
              durationMs: timing.freshDurationMs,
              callsMax: timing.freshCalls,
            }
          : timing.repeat;
        const serverChild = kind === null ? echo.child : fed.validatorChild;
        const watched = kind === null ? [echo.child.pid] : [fed.validatorChild.pid, fed.originChild.pid];
        const window = await measureWindow(target, concurrency, plan, watched);
        const { result } = window;
        const rps = result.rps;
        if (name === 'echo') echoRps = rps;
        if (name === 'echo-federation-size') echoLargeRps = rps;
        const ratio = kind === null || !echoRps ? null : round3(rps / echoRps);
        const sizedRatio = kind !== 'federation' || !echoLargeRps ? null : round3(rps / echoLargeRps);
        const atP99Concurrency = concurrency === p99TargetConcurrency;
        const line: BenchResult = {
          bench: 'validate-token',
          scenario: name,
          tokenFormat: kind === null ? null : (fed.repeat[kind].answer.identity?.tokenFormat ?? null),
          pipeline: pipelineOf[name],
          issuedAt: kind === null ? null : fed.origin.cloud,
          validatedAt: kind === null ? null : fed.validator.cloud,
          concurrency,
          channels: 1,
          clientProcesses: 1,
          requests: result.requests,
          errors: result.errors,
          errorKinds: result.errors === 0 ? '' : JSON.stringify(result.errorKinds),
          durationMs: round3(result.durationMs),
          rps: Math.round(rps),
          meanMs: round3(result.latency.meanMs),
          p50Ms: round3(result.latency.p50Ms),
          p90Ms: round3(result.latency.p90Ms),
          p99Ms: round3(result.latency.p99Ms),
          maxMs: round3(result.latency.maxMs),
          requestBytes: kind === null ? (echoBytes ?? null) : fed.repeat[kind].request.length,
          responseBytes: kind === null ? (echoBytes ?? null) : fed.repeat[kind].response.length,
          clientCpuPct: cpuPct(window.clientCpuMs, result.durationMs),
          serverCpuPct: cpuPct(window.cpuMs.get(serverChild.pid), result.durationMs),
          serverCpuUsPerCall: cpuUsPerCall(window.cpuMs.get(serverChild.pid), window.successes),
          originCpuUsPerCall:
            kind === null ? null : cpuUsPerCall(window.cpuMs.get(fed.originChild.pid), window.successes),
          ratioToEcho: ratio,
          ratioToSameSizeEcho: sizedRatio,
          target: kind === null ? null : `>= ${ratioTarget} of echo`,
          targetMet: ratio === null ? null : ratio >= ratioTarget,
          p99TargetMs: atP99Concurrency ? p99TargetMs : null,
          p99TargetMet: atP99Concurrency ? result.latency.p99Ms < p99TargetMs : null,
        };
        context.emit(line);
        if (result.errors !== 0) {
          failures.push(`${name} at concurrency ${concurrency}: ${JSON.stringify(result.errorKinds)}`);
        }
        if (serverChild.hasExited()) {
          throw new Error(`${serverChild.name} exited during the run:\n${serverChild.outputTail()}`);
        }
        fed.federation.assertRunning();
      }
    }
  } finally {
    for (const channel of channels) channel.close();
    await Promise.all([stopAll(children), tokens?.close()]);
  }
  if (failures.length > 0) throw new Error(`calls failed under load: ${failures.join('; ')}`);
}
