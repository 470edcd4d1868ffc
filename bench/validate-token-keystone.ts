/**
 * validate-token-keystone: Keystone's own token validation (`GET /v3/auth/tokens`) beside
 * Alliance's ValidateToken, measured in the same run, as a ratio.
 *
 * Runs only when a Keystone is named: ALLIANCE_BENCH_KEYSTONE_URL (e.g. http://127.0.0.1:5000)
 * and ALLIANCE_BENCH_KEYSTONE_PASSWORD (of user ALLIANCE_BENCH_KEYSTONE_USER, default admin, in
 * the default domain, scoped to project ALLIANCE_BENCH_KEYSTONE_PROJECT, default admin). Without
 * them, or when the URL does not answer, it prints one "skipped" line and succeeds.
 *
 * Keystone side: one project-scoped token from Keystone itself (password POST /v3/auth/tokens),
 * then a closed loop of `GET /v3/auth/tokens` with that token as both X-Auth-Token and
 * X-Subject-Token (how keystonemiddleware validates), at 8 and 32 in flight, ~10 s each after a
 * 1 s warm-up, from this process with Node's built-in fetch: its global undici dispatcher keeps
 * connections alive, so the loop reuses up to one connection per call in flight. Every answer
 * must be 200 and its body is read in full.
 *
 * Alliance side, at the same concurrencies and right after each Keystone window: a two-cloud
 * federation (bench/lib/token-federation.ts), tokens issued at cloud-a, validated at cloud-b:
 * jws-repeat and opaque-repeat (answer-cache hits) and jws-fresh (each call a never-seen JWS: ES256
 * verify plus roles from cloud-a over the mesh). Each Alliance line carries its ratio to
 * Keystone's rps at that concurrency; target: at least 100 times Keystone's throughput.
 */
import type { Client } from '@grpc/grpc-js';
import type { BenchContext, Benchmark, BenchResult } from './lib/benchmark.js';
import { runClosedLoop, type ClosedLoopResult } from './lib/closed-loop.js';
import { round3 } from './lib/latency-summary.js';
import { describeAnswer, isValidAnswer, startTokenFederation, validatePath } from './lib/token-federation.js';
import { cpuUsPerCall, measureWindow, type UnaryTarget, type WindowPlan } from './lib/unary-window.js';

const benchName = 'validate-token-keystone';
const concurrencies = [8, 32];
export const keystoneRatioTarget = 100;
const keystoneCallTimeoutMs = 30_000;
const reachTimeoutMs = 3_000;

interface Timing {
  keystoneWarmupMs: number;
  keystoneDurationMs: number;
  alliance: WindowPlan;
  freshWarmupCalls: number;
  freshCalls: number;
}
const fullTiming: Timing = {
  keystoneWarmupMs: 1_000,
  keystoneDurationMs: 10_000,
  alliance: { warmup: { ms: 500 }, durationMs: 3_000 },
  freshWarmupCalls: 200,
  freshCalls: 2_000,
};
const quickTiming: Timing = {
  keystoneWarmupMs: 200,
  keystoneDurationMs: 1_000,
  alliance: { warmup: { ms: 100 }, durationMs: 500 },
  freshWarmupCalls: 20,
  freshCalls: 200,
};

export const validateTokenKeystoneBenchmark: Benchmark = {
  name: benchName,
  description:
    'Keystone GET /v3/auth/tokens beside Alliance ValidateToken (needs ALLIANCE_BENCH_KEYSTONE_URL)',
  run: runValidateTokenKeystone,
};

interface KeystoneTarget {
  url: string;
  token: string;
}

async function runValidateTokenKeystone(context: BenchContext): Promise<void> {
  const url = process.env.ALLIANCE_BENCH_KEYSTONE_URL?.replace(/\/+$/, '');
  if (!url) {
    context.emit({ bench: benchName, skipped: 'no Keystone (set ALLIANCE_BENCH_KEYSTONE_URL)' });
    return;
  }
  const password = process.env.ALLIANCE_BENCH_KEYSTONE_PASSWORD;
  if (!password) {
    context.emit({
      bench: benchName,
      skipped: 'no Keystone password (set ALLIANCE_BENCH_KEYSTONE_PASSWORD for user admin)',
    });
    return;
  }
  try {
    const version = await fetch(`${url}/v3`, { signal: AbortSignal.timeout(reachTimeoutMs) });
    await version.arrayBuffer();
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    context.progress(`${benchName}: ${url} does not answer (${reason}): skipped`);
    context.emit({ bench: benchName, skipped: `Keystone at ${url} not reachable: ${reason}` });
    return;
  }
  const keystone: KeystoneTarget = { url, token: await keystoneToken(url, password) };
  const timing = context.quick ? quickTiming : fullTiming;

  context.progress(`${benchName}: starting a two-cloud Alliance federation`);
  const tokens = await startTokenFederation(context.progress);
  const channels: Client[] = [];
  const failures: string[] = [];
  try {
    const perFresh = timing.freshWarmupCalls + timing.freshCalls;
    const jwsPool = await tokens.freshPool('jws', perFresh * concurrencies.length);
    let next = 0;
    const check = (bytes: Buffer): void => {
      if (!isValidAnswer(bytes)) throw new Error(describeAnswer(bytes));
    };
    const channel = (): Client => {
      const c = tokens.validatorChannel();
      channels.push(c);
      return c;
    };
    const repeat = (kind: 'jws' | 'opaque'): UnaryTarget => {
      const request = tokens.repeat[kind].request;
      return { channel: channel(), path: validatePath, nextRequest: () => request, check };
    };
    const allianceTargets: { name: string; target: UnaryTarget; plan: WindowPlan }[] = [
      { name: 'alliance-jws-repeat', target: repeat('jws'), plan: timing.alliance },
      { name: 'alliance-opaque-repeat', target: repeat('opaque'), plan: timing.alliance },
      {
        name: 'alliance-jws-fresh',
        target: {
          channel: channel(),
          path: validatePath,
          nextRequest: () => {
            const request = jwsPool[next++];
            if (!request) throw new Error('the fresh JWS pool ran out');
            return request;
          },
          check,
        },
        plan: {
          warmup: { calls: timing.freshWarmupCalls },
          durationMs: timing.alliance.durationMs,
          callsMax: timing.freshCalls,
        },
      },
    ];

    for (const concurrency of concurrencies) {
      context.progress(`${benchName}: Keystone GET /v3/auth/tokens at concurrency ${concurrency}`);
      const ks = await measureKeystone(keystone, concurrency, timing);
      context.emit({
        bench: benchName,
        scenario: 'keystone',
        url,
        method: 'GET /v3/auth/tokens',
        client: 'node fetch (undici global dispatcher, keep-alive)',
        concurrency,
        ...loopFields(ks.result),
        responseBytes: ks.responseBytes,
      });
      if (ks.result.errors > 0)
        failures.push(`keystone at ${concurrency}: ${JSON.stringify(ks.result.errorKinds)}`);
      const keystoneRps = ks.result.rps;

      for (const { name, target, plan } of allianceTargets) {
        context.progress(`${benchName}: ${name} at concurrency ${concurrency}`);
        const window = await measureWindow(target, concurrency, plan, [
          tokens.validatorChild.pid,
          tokens.originChild.pid,
        ]);
        const ratio = keystoneRps > 0 ? round3(window.result.rps / keystoneRps) : null;
        const line: BenchResult = {
          bench: benchName,
          scenario: name,
          validatedAt: tokens.validator.cloud,
          issuedAt: tokens.origin.cloud,
          concurrency,
          ...loopFields(window.result),
          serverCpuUsPerCall: cpuUsPerCall(window.cpuMs.get(tokens.validatorChild.pid), window.successes),
          originCpuUsPerCall: cpuUsPerCall(window.cpuMs.get(tokens.originChild.pid), window.successes),
          keystoneRps: Math.round(keystoneRps * 10) / 10,
          ratioToKeystone: ratio,
          target: `>= ${keystoneRatioTarget}x Keystone`,
          targetMet: ratio === null ? null : ratio >= keystoneRatioTarget,
        };
        context.emit(line);
        if (window.result.errors > 0) {
          failures.push(`${name} at ${concurrency}: ${JSON.stringify(window.result.errorKinds)}`);
        }
        tokens.federation.assertRunning();
      }
    }
  } finally {
    for (const c of channels) c.close();
    await tokens.close();
  }
  if (failures.length > 0) throw new Error(`calls failed: ${failures.join('; ')}`);
}

function loopFields(result: ClosedLoopResult): Record<string, number | string> {
  return {
    requests: result.requests,
    errors: result.errors,
    errorKinds: result.errors === 0 ? '' : JSON.stringify(result.errorKinds),
    durationMs: round3(result.durationMs),
    rps: Math.round(result.rps * 10) / 10,
    meanMs: round3(result.latency.meanMs),
    p50Ms: round3(result.latency.p50Ms),
    p90Ms: round3(result.latency.p90Ms),
    p99Ms: round3(result.latency.p99Ms),
    maxMs: round3(result.latency.maxMs),
  };
}

/** A project-scoped token from Keystone's password method. */
async function keystoneToken(url: string, password: string): Promise<string> {
  const user = process.env.ALLIANCE_BENCH_KEYSTONE_USER || 'admin';
  const project = process.env.ALLIANCE_BENCH_KEYSTONE_PROJECT || 'admin';
  const response = await fetch(`${url}/v3/auth/tokens`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { id: 'default' }, password } },
        },
        scope: { project: { name: project, domain: { id: 'default' } } },
      },
    }),
    signal: AbortSignal.timeout(keystoneCallTimeoutMs),
  });
  await response.arrayBuffer();
  const token = response.headers.get('x-subject-token');
  if (response.status !== 201 || !token) {
    throw new Error(`Keystone refused a token for ${user} on project ${project}: HTTP ${response.status}`);
  }
  return token;
}

async function measureKeystone(
  keystone: KeystoneTarget,
  concurrency: number,
  timing: Timing,
): Promise<{ result: ClosedLoopResult; responseBytes: number }> {
  const headers = { 'x-auth-token': keystone.token, 'x-subject-token': keystone.token };
  let responseBytes = 0;
  const result = await runClosedLoop({
    concurrency,
    warmupMs: timing.keystoneWarmupMs,
    durationMs: timing.keystoneDurationMs,
    call: async () => {
      const response = await fetch(`${keystone.url}/v3/auth/tokens`, {
        headers,
        signal: AbortSignal.timeout(keystoneCallTimeoutMs),
      });
      const body = await response.arrayBuffer();
      if (response.status !== 200) throw new Error(`HTTP ${response.status}`);
      responseBytes = body.byteLength;
    },
  });
  return { result, responseBytes };
}
