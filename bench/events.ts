/**
 * events: throughput and latency of alliance.v1.Events across a 3-process dev federation.
 *
 * A dev federation of 3 `alliance serve` processes (cloud-a, cloud-b, cloud-c; every cloud
 * expects the subscribers nova and neutron) is started and left to connect fully
 * (bench/lib/node-federation.ts). Subscriber loops are then opened with Subscribe (all types) at
 * cloud-b and cloud-c, for nova and for neutron: each records the first arrival of every event
 * id (and counts repeats) and acks each event OUTCOME_DONE, up to `acksInFlight` acks in flight
 * per subscriber. One broadcast event is published and awaited at all four before any clock runs,
 * so every stream is open.
 *
 * 1. Throughput: N events (5,000; 1,000 with --quick) of type meter.usage, target cloud-b, are
 *    published at cloud-a's local API with `publishesInFlight` Publish calls in flight. Timed from
 *    the first Publish call until the last ack at cloud-b of both nova and neutron (2N acks).
 *    Reported: events/s end to end, the publish-only rate (first call until the last Publish
 *    answered), and per subscriber how many of the published ids arrived, and how many arrived
 *    more than once (at-least-once delivery allows repeats; none are expected without failures).
 * 2. Latency: 200 broadcast events (identity.project.deleted), published one at a time at
 *    cloud-a, each timed from just before its Publish call until nova (and neutron) at cloud-b
 *    and at cloud-c have received it (streams already open). Reported per cloud (nova) and for
 *    "both clouds" (the later of the two): p50/p99/max.
 *
 * Targets: >= 5,000 events/s published and delivered with acks; p99 <= 100 ms.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { connectLocalApi, type ApiClient, type LocalApiConnection } from '../src/cli/client.js';
import { EventsService, Outcome, type Event, type PublishRequest } from '../src/gen/alliance/v1/events.js';
import { localAddressOf } from './lib/alliance-process.js';
import type { BenchContext, BenchResult, Benchmark } from './lib/benchmark.js';
import { processCpuMs } from './lib/child-process.js';
import { round3, summarizeLatencies } from './lib/latency-summary.js';
import { startNodeFederation } from './lib/node-federation.js';

export const eventsThroughputTarget = 5_000;
export const eventsP99TargetMs = 100;

const federationStartTimeoutMs = 60_000;
const callTimeoutMs = 10_000;
const publishesInFlight = 64;
const acksInFlight = 64;
/** Batched phase: events per PublishBatch, PublishBatch calls in flight, AckBatch calls in flight. */
const publishBatchSize = 250;
const publishBatchesInFlight = 4;
const ackBatchesInFlight = 4;
/** All throughput events not received and acked by then fail the benchmark. */
const drainDeadlineMs = 120_000;
/** A latency event not received everywhere by then fails the benchmark. */
const perEventDeadlineMs = 5_000;

type EventsApi = ApiClient<typeof EventsService>;

export const eventsBenchmark: Benchmark = {
  name: 'events',
  description: '3 node processes: Publish at cloud-a, Subscribe+Ack at cloud-b/c (throughput, latency)',
  run: runEvents,
};

/**
 * One Subscribe stream that acks every event it receives, noting first arrivals and repeats. It
 * acks with one Ack call per event, or (ackMode 'batch') with AckBatch calls carrying every event
 * received since the last one, as a service handling meter records in bulk would.
 */
class SubscriberLoop {
  readonly firstSeenNs = new Map<string, bigint>();
  readonly counts = new Map<string, number>();
  acked = 0;
  lastAckNs = 0n;
  ackMode: 'single' | 'batch' = 'single';
  private pendingAcks: string[] = [];
  private batchesInFlight = 0;
  private flushScheduled = false;
  private inFlight = 0;
  private slotFree: (() => void) | null = null;
  private readonly waiters = new Map<string, () => void>();
  private readonly abort = new AbortController();
  private failure: unknown = null;
  readonly done: Promise<void>;

  constructor(
    readonly cloud: string,
    readonly subscriber: string,
    private readonly api: EventsApi,
  ) {
    this.done = this.loop().catch((err: unknown) => {
      this.failure = err;
    });
  }

  private async loop(): Promise<void> {
    const stream = this.api.subscribe(
      { subscriber: this.subscriber, types: [] },
      { signal: this.abort.signal },
    );
    for await (const event of stream) {
      this.received(event);
      if (this.ackMode === 'batch') {
        this.pendingAcks.push(event.id);
        this.scheduleBatch();
        continue;
      }
      while (this.inFlight >= acksInFlight) {
        await new Promise<void>((resolve) => (this.slotFree = resolve));
      }
      this.inFlight++;
      void this.api
        .ack({ subscriber: this.subscriber, eventId: event.id, outcome: Outcome.OUTCOME_DONE, detail: '' })
        .then(
          () => {
            this.acked++;
            this.lastAckNs = process.hrtime.bigint();
          },
          (err: unknown) => {
            this.failure ??= err;
          },
        )
        .finally(() => {
          this.inFlight--;
          const free = this.slotFree;
          this.slotFree = null;
          free?.();
        });
    }
  }

  private scheduleBatch(): void {
    if (this.flushScheduled || this.batchesInFlight >= ackBatchesInFlight) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      this.sendBatch();
    });
  }

  private sendBatch(): void {
    if (this.pendingAcks.length === 0 || this.batchesInFlight >= ackBatchesInFlight) return;
    const ids = this.pendingAcks.splice(0, 1000);
    this.batchesInFlight++;
    void this.api
      .ackBatch({
        subscriber: this.subscriber,
        acks: ids.map((eventId) => ({ eventId, outcome: Outcome.OUTCOME_DONE, detail: '' })),
      })
      .then(
        (response) => {
          if (response.refused.length > 0) {
            const first = response.refused[0];
            this.failure ??= new Error(`${response.refused.length} acks refused, e.g. ${first?.message}`);
          }
          this.acked += ids.length - response.refused.length;
          this.lastAckNs = process.hrtime.bigint();
        },
        (err: unknown) => {
          this.failure ??= err;
        },
      )
      .finally(() => {
        this.batchesInFlight--;
        this.scheduleBatch();
      });
  }

  private received(event: Event): void {
    const nowNs = process.hrtime.bigint();
    const count = (this.counts.get(event.id) ?? 0) + 1;
    this.counts.set(event.id, count);
    if (count === 1) {
      this.firstSeenNs.set(event.id, nowNs);
      const waiter = this.waiters.get(event.id);
      if (waiter) {
        this.waiters.delete(event.id);
        waiter();
      }
    }
  }

  assertHealthy(): void {
    if (this.failure !== null) {
      const message = this.failure instanceof Error ? this.failure.message : String(this.failure);
      throw new Error(`${this.subscriber} at ${this.cloud}: ${message}`);
    }
  }

  /** Resolves with the first arrival time of `id`; rejects after `timeoutMs`. */
  async arrival(id: string, timeoutMs: number): Promise<bigint> {
    const seen = this.firstSeenNs.get(id);
    if (seen !== undefined) return seen;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        this.waiters.set(id, resolve);
        timer = setTimeout(() => {
          this.waiters.delete(id);
          reject(
            new Error(`${this.subscriber} at ${this.cloud} did not receive ${id} within ${timeoutMs} ms`),
          );
        }, timeoutMs);
      });
    } finally {
      clearTimeout(timer);
    }
    const at = this.firstSeenNs.get(id);
    if (at === undefined) throw new Error(`${id} not recorded`);
    return at;
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.done;
  }
}

async function runEvents(context: BenchContext): Promise<void> {
  const events = context.quick ? 1_000 : 5_000;
  const batchedEvents = context.quick ? 5_000 : 30_000;
  const latencyEvents = context.quick ? 20 : 200;
  context.progress('events: starting 3 nodes');
  const started = await startNodeFederation({
    clouds: 3,
    dirPrefix: 'alliance-bench-events-',
    timeoutMs: federationStartTimeoutMs,
  });
  const { federation } = started;
  const connections: LocalApiConnection[] = [];
  const loops: SubscriberLoop[] = [];
  const connect = (index: number): EventsApi => {
    const cloud = federation.clouds[index];
    if (!cloud) throw new Error(`no node ${index}`);
    const connection = connectLocalApi({ address: localAddressOf(cloud), timeoutMs: callTimeoutMs });
    connections.push(connection);
    return connection.client(EventsService);
  };
  try {
    context.progress(
      `events: 3 nodes serving after ${Math.round(started.serveMs)} ms, ` +
        `fully connected ${Math.round(started.connectMs)} ms later`,
    );
    const [cloudA, cloudB, cloudC] = federation.clouds;
    if (!cloudA || !cloudB || !cloudC) throw new Error('expected 3 clouds');
    const publisher = connect(0);
    // One connection per subscriber loop, as separate services would have.
    const novaB = new SubscriberLoop(cloudB.cloud, 'nova', connect(1));
    const neutronB = new SubscriberLoop(cloudB.cloud, 'neutron', connect(1));
    const novaC = new SubscriberLoop(cloudC.cloud, 'nova', connect(2));
    const neutronC = new SubscriberLoop(cloudC.cloud, 'neutron', connect(2));
    loops.push(novaB, neutronB, novaC, neutronC);
    const assertHealthy = (): void => {
      federation.assertRunning();
      for (const loop of loops) loop.assertHealthy();
    };

    /** Publishes `events` meter records to cloud-b and waits until nova and neutron there acked each. */
    const throughput = async (mode: 'single' | 'batch', events: number): Promise<BenchResult> => {
      context.progress(
        `events: throughput (${mode === 'single' ? 'Publish and Ack per event' : 'PublishBatch and AckBatch'}), ` +
          `${events} meter.usage events to ${cloudB.cloud}`,
      );
      const throughputLoops = [novaB, neutronB];
      const ackedBefore = throughputLoops.map((loop) => loop.acked);
      const cpuStart = federation.children.map((child) => processCpuMs(child.pid));
      const publishedIds: string[] = [];
      let next = 0;
      const startNs = process.hrtime.bigint();
      const usage = (n: number): PublishRequest => ({
        type: 'meter.usage',
        subject: `bench-user-${n}`,
        data: { resource: 'vcpu-hours', quantity: n, unit: 'h' },
        targetCloud: cloudB.cloud,
      });
      const publishWorker = async (): Promise<void> => {
        while (next < events) {
          if (mode === 'single') {
            const { id } = await publisher.publish(usage(next++));
            publishedIds.push(id);
            continue;
          }
          const first = next;
          next = Math.min(events, next + publishBatchSize);
          const batch = Array.from({ length: next - first }, (_, i) => usage(first + i));
          const { ids } = await publisher.publishBatch({ events: batch });
          publishedIds.push(...ids);
        }
      };
      const workers = mode === 'single' ? publishesInFlight : publishBatchesInFlight;
      await Promise.all(Array.from({ length: workers }, () => publishWorker()));
      const publishedNs = process.hrtime.bigint();
      const drainDeadline = Date.now() + drainDeadlineMs;
      const allIn = (loop: SubscriberLoop): boolean => publishedIds.every((id) => loop.counts.has(id));
      for (;;) {
        assertHealthy();
        const ackedAll = throughputLoops.every((loop, i) => loop.acked - (ackedBefore[i] ?? 0) >= events);
        if (ackedAll && throughputLoops.every(allIn)) break;
        if (Date.now() > drainDeadline) {
          const got = throughputLoops.map((l) => `${l.subscriber} acked ${l.acked}`).join(', ');
          throw new Error(`not every event was received and acked within ${drainDeadlineMs} ms (${got})`);
        }
        await sleep(2);
      }
      const lastAckNs = throughputLoops.reduce(
        (max, loop) => (loop.lastAckNs > max ? loop.lastAckNs : max),
        0n,
      );
      const cpuEnd = federation.children.map((child) => processCpuMs(child.pid));
      const totalMs = Number(lastAckNs - startNs) / 1e6;
      const publishMs = Number(publishedNs - startNs) / 1e6;
      const perSubscriber = throughputLoops.map((loop) => {
        let received = 0;
        let duplicates = 0;
        for (const id of publishedIds) {
          const count = loop.counts.get(id) ?? 0;
          if (count > 0) received++;
          if (count > 1) duplicates += count - 1;
        }
        return { loop, received, duplicates };
      });
      const uniqueIds = new Set(publishedIds).size;
      const exactlyOnce =
        uniqueIds === events && perSubscriber.every((s) => s.received === events && s.duplicates === 0);
      const deliveredPerSec = events / (totalMs / 1000);
      const publishPerSec = events / (publishMs / 1000);
      const cpu = cpuEnd.map((end, i) => {
        const start = cpuStart[i];
        return end === null || start === null || start === undefined ? null : round3((end - start) / events);
      });
      return {
        bench: 'events',
        phase: mode === 'single' ? 'throughput' : 'throughput-batched',
        processes: 3,
        events,
        ...(mode === 'single'
          ? { publishesInFlight, acksInFlight }
          : { publishBatchSize, publishBatchesInFlight, ackBatchesInFlight }),
        subscribers: perSubscriber.map((s) => s.loop.subscriber).join(','),
        endToEndMs: round3(totalMs),
        eventsPerSec: Math.round(deliveredPerSec),
        publishMs: round3(publishMs),
        publishPerSec: Math.round(publishPerSec),
        drainAfterPublishMs: round3(totalMs - publishMs),
        ...Object.fromEntries(
          perSubscriber.flatMap((s) => [
            [`${s.loop.subscriber}Received`, s.received],
            [`${s.loop.subscriber}Duplicates`, s.duplicates],
          ]),
        ),
        uniqueIds,
        exactlyOnce,
        cpuMsPerEventA: cpu[0] ?? null,
        cpuMsPerEventB: cpu[1] ?? null,
        cpuMsPerEventC: cpu[2] ?? null,
        target: eventsThroughputTarget,
        targetMet: deliveredPerSec >= eventsThroughputTarget && publishPerSec >= eventsThroughputTarget,
      };
    };

    // Warm-up: every stream open and every connection used before any clock runs.
    for (let i = 0; i < 3; i++) {
      const { id } = await publisher.publish({
        type: 'identity.project.deleted',
        subject: `bench-warmup-${randomUUID()}`,
        data: { warmup: true },
        targetCloud: '',
      });
      await Promise.all(loops.map((loop) => loop.arrival(id, 30_000)));
    }
    assertHealthy();

    // 1. Throughput: one call per event, then in batches.
    for (const mode of ['single', 'batch'] as const) {
      for (const loop of loops) loop.ackMode = mode;
      context.emit(await throughput(mode, mode === 'single' ? events : batchedEvents));
    }

    // 2. Latency.
    context.progress(`events: latency, ${latencyEvents} broadcast events one at a time`);
    const toB: number[] = [];
    const toC: number[] = [];
    const toBoth: number[] = [];
    const toAll: number[] = [];
    const publishCall: number[] = [];
    for (let round = 0; round < latencyEvents; round++) {
      const callNs = process.hrtime.bigint();
      const { id } = await publisher.publish({
        type: 'identity.project.deleted',
        subject: `bench-project-${randomUUID()}`,
        data: { project_id: `p-${round}` },
        targetCloud: '',
      });
      publishCall.push(Number(process.hrtime.bigint() - callNs) / 1e6);
      const [atB, atBNeutron, atC, atCNeutron] = await Promise.all(
        [novaB, neutronB, novaC, neutronC].map((loop) => loop.arrival(id, perEventDeadlineMs)),
      );
      const ms = (at: bigint | undefined): number => Number((at ?? 0n) - callNs) / 1e6;
      toB.push(ms(atB));
      toC.push(ms(atC));
      toBoth.push(Math.max(ms(atB), ms(atC)));
      toAll.push(Math.max(ms(atB), ms(atC), ms(atBNeutron), ms(atCNeutron)));
      assertHealthy();
    }
    const b = summarizeLatencies(toB);
    const c = summarizeLatencies(toC);
    const both = summarizeLatencies(toBoth);
    const all = summarizeLatencies(toAll);
    const call = summarizeLatencies(publishCall);
    context.emit({
      bench: 'events',
      phase: 'latency',
      processes: 3,
      events: latencyEvents,
      cloudBP50Ms: round3(b.p50Ms),
      cloudBP99Ms: round3(b.p99Ms),
      cloudBMaxMs: round3(b.maxMs),
      cloudCP50Ms: round3(c.p50Ms),
      cloudCP99Ms: round3(c.p99Ms),
      cloudCMaxMs: round3(c.maxMs),
      bothCloudsP50Ms: round3(both.p50Ms),
      bothCloudsP99Ms: round3(both.p99Ms),
      bothCloudsMaxMs: round3(both.maxMs),
      allFourSubscribersP99Ms: round3(all.p99Ms),
      publishCallP50Ms: round3(call.p50Ms),
      publishCallP99Ms: round3(call.p99Ms),
      serveMs: Math.round(started.serveMs),
      connectMs: Math.round(started.connectMs),
      p99TargetMs: eventsP99TargetMs,
      p99TargetMet: both.p99Ms <= eventsP99TargetMs,
    });
  } finally {
    await Promise.all(loops.map((loop) => loop.stop()));
    for (const connection of connections) connection.close();
    await federation.close();
  }
}
