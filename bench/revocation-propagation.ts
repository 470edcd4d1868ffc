/**
 * revocation-propagation: how long a revocation made at one cloud takes to be held by every node
 * of an N-node federation (N = 3 and 10 processes).
 *
 * A dev federation of N `alliance serve` processes (prepareDevFederation in a temporary
 * directory) is started and left to connect fully: every node's Admin/GetStatus must list the
 * N-1 other clouds as CONNECTED peers (asked with backoff, bench/lib/node-federation.ts). Then,
 * one at a time, 200 revocations are made at cloud-a: RevokeToken by user_id, with a new made-up
 * user id each time, so each is a distinct pattern. Each is timed from just before the RevokeToken
 * call until every node's ListRevocations (origin_cloud = cloud-a) contains it (by its pattern id).
 *
 * There is no watch API for revocations, so every node is polled, from the moment RevokeToken has
 * answered (its answer names the pattern): a ListRevocations call, and if the pattern is not there
 * yet, 1 ms of sleep and another call, until a per-revocation deadline of 2 s. A node's figure is
 * therefore late by up to the sleep plus one call's round trip; after each round every node is
 * polled once more, the pattern already held, to show that floor. The answer is searched for the
 * user id (a random UUID) in its encoded bytes and decoded once when found, to check that the
 * entry is cloud-a's and is the pattern RevokeToken made.
 *
 * Reported per N: p50/p99/max of the time until the last node held it ("all nodes"), p50/p99 of
 * the time per node, of the RevokeToken call itself and of one poll of every node (the observer's
 * floor), the polls made, and the CPU all nodes used per revocation (polls included). Target:
 * p99 <= 100 ms at 10 nodes.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@grpc/grpc-js';
import {
  ListRevocationsRequest,
  ListRevocationsResponse,
  RevokeTokenRequest,
  RevokeTokenResponse,
  TokensService,
} from '../src/gen/alliance/v1/tokens.js';
import type { BenchContext, Benchmark } from './lib/benchmark.js';
import { processCpuMs } from './lib/child-process.js';
import { round3, summarizeLatencies } from './lib/latency-summary.js';
import { rawUnary } from './lib/local-channel.js';
import { startNodeFederation } from './lib/node-federation.js';

export const revocationP99TargetMs = 100;
export const revocationTargetClouds = 10;

const federationStartTimeoutMs = 60_000;
const callDeadlineMs = 5_000;
/** A revocation not held everywhere by then fails the benchmark. */
const perRevocationDeadlineMs = 2_000;
const pollSleepMs = 1;

export const revocationPropagationBenchmark: Benchmark = {
  name: 'revocation-propagation',
  description: 'N node processes: RevokeToken at cloud-a until every node lists it (200 revocations)',
  run: runRevocationPropagation,
};

async function runRevocationPropagation(context: BenchContext): Promise<void> {
  const sizes = [3, 10];
  const revocations = context.quick ? 20 : 200;
  for (const clouds of sizes) {
    context.progress(`revocation-propagation: starting ${clouds} nodes`);
    const started = await startNodeFederation({
      clouds,
      dirPrefix: 'alliance-bench-revocation-',
      timeoutMs: federationStartTimeoutMs,
    });
    const { federation } = started;
    try {
      context.progress(
        `revocation-propagation: ${clouds} nodes serving after ${Math.round(started.serveMs)} ms, ` +
          `fully connected ${Math.round(started.connectMs)} ms later; ${revocations} revocations`,
      );
      const origin = federation.clouds[0];
      if (!origin) throw new Error('no cloud-a');
      // One channel per node for polls, and one at cloud-a for RevokeToken.
      const pollChannels = federation.clouds.map((_cloud, index) => federation.openChannelTo(index));
      const revokeChannel = federation.openChannelTo(0);
      const listRequest = Buffer.from(ListRevocationsRequest.encode({ originCloud: origin.cloud }).finish());

      // Open every connection before the clock runs.
      await Promise.all(
        [...pollChannels, revokeChannel].map((channel) =>
          rawUnary(channel, TokensService.listRevocations.path, listRequest, { deadlineMs: callDeadlineMs }),
        ),
      );

      // CPU of every node over all rounds (the polls included): what one revocation costs the federation.
      const cpuStart = federation.children.map((child) => processCpuMs(child.pid));
      const allNodesMs: number[] = [];
      const perNodeMs: number[] = [];
      const revokeCallMs: number[] = [];
      const pollRoundMs: number[] = [];
      let polls = 0;
      let heldAtFirstPoll = 0;
      const lastNode = new Map<string, number>();
      for (let round = 0; round < revocations; round++) {
        const userId = `bench-${randomUUID()}`;
        const request = Buffer.from(
          RevokeTokenRequest.encode({
            target: { $case: 'userId', value: userId },
            localOnly: false,
            reason: 'revocation-propagation benchmark',
          }).finish(),
        );
        const startNs = process.hrtime.bigint();
        const answer = await rawUnary(revokeChannel, TokensService.revokeToken.path, request, {
          deadlineMs: callDeadlineMs,
        });
        revokeCallMs.push(Number(process.hrtime.bigint() - startNs) / 1e6);
        const pattern = RevokeTokenResponse.decode(answer).revocation;
        if (!pattern || pattern.userId !== userId || pattern.originCloud !== origin.cloud) {
          throw new Error(`RevokeToken answered ${JSON.stringify(pattern ?? null)}`);
        }
        const patternId = pattern.id;
        // Every node is polled from the answer on (observing costs each node one call a round
        // when the pattern is already there: the least load an observer can add).
        const seen = await Promise.all(
          pollChannels.map((channel, index) =>
            untilListed(channel, listRequest, userId, origin.cloud, startNs).then((r) => {
              polls += r.polls;
              if (r.polls === 1) heldAtFirstPoll++;
              return { cloud: federation.clouds[index]?.cloud ?? `#${index}`, ms: r.ms, id: r.id };
            }),
          ),
        );
        const stray = seen.find((node) => node.id !== patternId);
        if (stray)
          throw new Error(`${stray.cloud} lists pattern ${stray.id} for ${userId}, not ${patternId}`);
        for (const node of seen) perNodeMs.push(node.ms);
        const slowest = seen.reduce((a, b) => (b.ms > a.ms ? b : a));
        allNodesMs.push(slowest.ms);
        lastNode.set(slowest.cloud, (lastNode.get(slowest.cloud) ?? 0) + 1);
        // The observer's own floor: one poll of every node at once, the pattern already held.
        const floorStartNs = process.hrtime.bigint();
        await Promise.all(
          pollChannels.map((channel) =>
            rawUnary(channel, TokensService.listRevocations.path, listRequest, {
              deadlineMs: callDeadlineMs,
            }),
          ),
        );
        pollRoundMs.push(Number(process.hrtime.bigint() - floorStartNs) / 1e6);
        federation.assertRunning();
      }
      const cpuEnd = federation.children.map((child) => processCpuMs(child.pid));
      const cpuUsed = cpuEnd.map((end, i) => {
        const start = cpuStart[i];
        return end === null || start === null || start === undefined ? null : end - start;
      });
      const known = cpuUsed.every((ms) => ms !== null);
      const totalCpuMs = cpuUsed.reduce<number>((sum, ms) => sum + (ms ?? 0), 0);
      const all = summarizeLatencies(allNodesMs);
      const node = summarizeLatencies(perNodeMs);
      const call = summarizeLatencies(revokeCallMs);
      const pollRound = summarizeLatencies(pollRoundMs);
      const atTarget = clouds === revocationTargetClouds;
      context.emit({
        bench: 'revocation-propagation',
        clouds,
        processes: clouds,
        revocations,
        allNodesP50Ms: round3(all.p50Ms),
        allNodesP90Ms: round3(all.p90Ms),
        allNodesP99Ms: round3(all.p99Ms),
        allNodesMaxMs: round3(all.maxMs),
        allNodesMeanMs: round3(all.meanMs),
        perNodeP50Ms: round3(node.p50Ms),
        perNodeP99Ms: round3(node.p99Ms),
        revokeCallP50Ms: round3(call.p50Ms),
        revokeCallP99Ms: round3(call.p99Ms),
        pollRoundP50Ms: round3(pollRound.p50Ms),
        pollRoundP99Ms: round3(pollRound.p99Ms),
        nodesCpuMsPerRevocation: known ? round3(totalCpuMs / revocations) : null,
        originCpuMsPerRevocation:
          cpuUsed[0] === null || cpuUsed[0] === undefined ? null : round3(cpuUsed[0] / revocations),
        pollsPerNodePerRevocation: round3(polls / (revocations * clouds)),
        heldAtFirstPollPct: round3((100 * heldAtFirstPoll) / (revocations * clouds)),
        pollSleepMs,
        lastToHold: JSON.stringify(Object.fromEntries([...lastNode].sort())),
        serveMs: Math.round(started.serveMs),
        connectMs: Math.round(started.connectMs),
        p99TargetMs: atTarget ? revocationP99TargetMs : null,
        p99TargetMet: atTarget ? all.p99Ms <= revocationP99TargetMs : null,
      });
    } finally {
      await federation.close();
    }
  }
}

/**
 * Polls one node until its ListRevocations holds a pattern of `originCloud` for `userId`;
 * resolves with the time from `startNs`, the polls made and the pattern's id. Rejects after
 * perRevocationDeadlineMs.
 */
async function untilListed(
  channel: Client,
  listRequest: Buffer,
  userId: string,
  originCloud: string,
  startNs: bigint,
): Promise<{ ms: number; polls: number; id: string }> {
  // The user id is a fresh UUID: a byte search finds it without decoding every answer.
  const needle = Buffer.from(userId);
  const deadlineNs = startNs + BigInt(perRevocationDeadlineMs) * 1_000_000n;
  let polls = 0;
  for (;;) {
    const bytes = await rawUnary(channel, TokensService.listRevocations.path, listRequest, {
      deadlineMs: callDeadlineMs,
    });
    const atNs = process.hrtime.bigint();
    polls++;
    if (bytes.includes(needle)) {
      const entry = ListRevocationsResponse.decode(bytes).revocations.find((r) => r.userId === userId);
      if (!entry || entry.originCloud !== originCloud) {
        throw new Error(`a pattern for ${userId} is listed, but not as revoked at ${originCloud}`);
      }
      return { ms: Number(atNs - startNs) / 1e6, polls, id: entry.id };
    }
    if (atNs > deadlineNs) {
      throw new Error(`no pattern for ${userId} was listed within ${perRevocationDeadlineMs} ms`);
    }
    await sleep(pollSleepMs);
  }
}
