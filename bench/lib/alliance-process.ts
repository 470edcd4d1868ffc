/**
 * Alliance nodes as real processes (`node dist/src/main.js serve --config FILE`), and the wait
 * for one to be up: its local API answers grpc.health.v1.Health/Check with SERVING.
 *
 * The wait is a call, not a port poll: each attempt is a Check with waitForReady (so it is sent
 * as soon as the connection opens) and a short deadline; UNAVAILABLE, DEADLINE_EXCEEDED and
 * NOT_SERVING are retried after a short backoff until an overall deadline. A child that exits
 * meanwhile fails the wait at once, with the tail of its output.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { status as GrpcStatus, type Client } from '@grpc/grpc-js';
import type { DevCloud } from '../../src/dev/index.js';
import {
  HealthCheckRequest,
  HealthCheckResponse,
  HealthCheckResponse_ServingStatus,
  HealthService,
} from '../../src/gen/grpc/health/v1/health.js';
import { spawnChild, type BenchChild } from './child-process.js';
import { isServiceError, rawUnary } from './local-channel.js';
import { allianceMainJs, assertBuilt } from './paths.js';

/** Deadline of one Check attempt. */
const healthAttemptDeadlineMs = 1_000;
const healthRetryBackoffMinMs = 20;
const healthRetryBackoffMaxMs = 200;

export function localAddressOf(cloud: DevCloud): string {
  return `127.0.0.1:${cloud.ports.local}`;
}

/**
 * Extra node flags for every node process, from ALLIANCE_BENCH_NODE_FLAGS (space-separated), e.g.
 * `--cpu-prof --cpu-prof-dir=/tmp/prof` to profile the nodes (Node refuses --cpu-prof in
 * NODE_OPTIONS). Empty by default.
 */
function nodeFlagsFromEnv(): string[] {
  return (process.env.ALLIANCE_BENCH_NODE_FLAGS ?? '').split(' ').filter((flag) => flag !== '');
}

export function spawnAllianceNode(cloud: DevCloud): BenchChild {
  assertBuilt(allianceMainJs);
  return spawnChild({
    name: cloud.cloud,
    script: allianceMainJs,
    args: ['serve', '--config', cloud.configPath],
    nodeFlags: nodeFlagsFromEnv(),
  });
}

const checkRequest = Buffer.from(HealthCheckRequest.encode({ service: '' }).finish());

/**
 * Resolves (with the hrtime in ns of the SERVING answer) once `channel`'s server reports SERVING;
 * rejects if `child` exits first or `timeoutMs` passes.
 */
export async function waitUntilServing(
  channel: Client,
  child: BenchChild | null,
  timeoutMs: number,
): Promise<bigint> {
  const deadline = Date.now() + timeoutMs;
  let backoffMs = healthRetryBackoffMinMs;
  let lastProblem = 'no answer yet';
  while (Date.now() < deadline) {
    if (child?.hasExited()) {
      throw new Error(`${child.name} exited before it was healthy:\n${child.outputTail()}`);
    }
    try {
      const bytes = await rawUnary(channel, HealthService.check.path, checkRequest, {
        deadlineMs: Math.min(healthAttemptDeadlineMs, Math.max(1, deadline - Date.now())),
        waitForReady: true,
      });
      const answer = HealthCheckResponse.decode(bytes);
      if (answer.status === HealthCheckResponse_ServingStatus.SERVING) return process.hrtime.bigint();
      lastProblem = `status ${answer.status}`;
    } catch (err) {
      const retryable =
        isServiceError(err) &&
        (err.code === GrpcStatus.UNAVAILABLE || err.code === GrpcStatus.DEADLINE_EXCEEDED);
      if (!retryable) throw err;
      lastProblem = `${GrpcStatus[err.code]}: ${err.details}`;
      // The attempt itself waited for a connection until its deadline: try again at once.
      if (err.code === GrpcStatus.DEADLINE_EXCEEDED) continue;
    }
    await sleep(backoffMs);
    backoffMs = Math.min(healthRetryBackoffMaxMs, backoffMs * 2);
  }
  const who = child ? child.name : 'the server';
  throw new Error(`${who} was not SERVING within ${timeoutMs} ms (${lastProblem})`);
}
