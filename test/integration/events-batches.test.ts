/**
 * PublishBatch and AckBatch over real gRPC and mTLS, three clouds: 300 meter records published at
 * cloud-a in one call, targeted at cloud-b, reach nova at cloud-b in the order given, are acked in
 * batches, and complete at cloud-a; a batch that is refused publishes none of its events; an
 * AckBatch takes the good acks and lists the refused ones with their codes. "Nothing published"
 * is shown without sleeping: a sentinel event published after the refused batch is the first thing
 * the subscriber gets, and events of one origin arrive in the order they were published.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LocalApiConnection } from '../../src/cli/client.js';
import { limits } from '../../src/config/limits.js';
import { EventsService, Outcome } from '../../src/gen/alliance/v1/events.js';
import type { Event, PublishRequest } from '../../src/gen/alliance/v1/events.js';
import { TestFederation, waitFor } from './harness.js';

let federation: TestFederation;
const connections: LocalApiConnection[] = [];

beforeAll(async () => {
  federation = await TestFederation.start({ clouds: 3 });
  await federation.fullyConnected();
  // Every node knows whom every cloud expects (nova and neutron, in the dev federation).
  await federation.subscribersKnownEverywhere();
});

afterAll(async () => {
  for (const connection of connections) connection.close();
  await federation.stop();
});

function events(index: number) {
  const connection = federation.localApi(index);
  connections.push(connection);
  return connection.client(EventsService);
}

function meterRecord(i: number, targetCloud = 'cloud-b'): PublishRequest {
  return {
    type: 'meter.usage',
    subject: `user-${i}`,
    data: { user_id: `user-${i}`, cpu_s: i, period: '2026-11-23T10:00Z' },
    targetCloud,
  };
}

/**
 * A service subscribed over the local API that answers what it receives with AckBatch: the events
 * of one turn of the event loop in one call (at most the stream's window, 64).
 */
class BatchAckSubscriber {
  readonly received: Event[] = [];
  /** Sizes of the AckBatch calls made. */
  readonly ackBatchSizes: number[] = [];
  readonly controller = new AbortController();
  /** Settles with the error that ended the stream (or an AckBatch), or undefined. */
  readonly done: Promise<unknown>;
  private readonly watchers = new Set<() => void>();
  private pending: string[] = [];
  private flushScheduled = false;
  private failure: unknown;

  constructor(
    readonly cloud: number,
    readonly name: string,
    types: string[] = [],
  ) {
    const client = events(cloud);
    this.done = (async () => {
      for await (const event of client.subscribe(
        { subscriber: name, types },
        { signal: this.controller.signal },
      )) {
        this.received.push(event);
        this.pending.push(event.id);
        this.scheduleAcks(client);
        for (const watcher of this.watchers) watcher();
      }
    })().catch((err: unknown) => err);
  }

  private scheduleAcks(client: ReturnType<typeof events>): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    setImmediate(() => {
      this.flushScheduled = false;
      const ids = this.pending;
      this.pending = [];
      this.ackBatchSizes.push(ids.length);
      client
        .ackBatch({
          subscriber: this.name,
          acks: ids.map((eventId) => ({ eventId, outcome: Outcome.OUTCOME_DONE, detail: '' })),
        })
        .then(({ refused }) => {
          if (refused.length > 0) throw new Error(`acks refused: ${JSON.stringify(refused)}`);
        })
        .catch((err: unknown) => {
          this.failure = err;
          this.controller.abort();
        });
    });
  }

  /** Resolves once `check()` holds, re-checked on every event received. */
  until(what: string, check: () => boolean): Promise<void> {
    return waitFor(
      what,
      check,
      (onChange) => {
        this.watchers.add(onChange);
        return () => this.watchers.delete(onChange);
      },
      15_000,
    );
  }

  ids(): string[] {
    return this.received.map((event) => event.id);
  }

  /** Ends the stream; rejects if an AckBatch failed or was refused in part. */
  async stop(): Promise<void> {
    this.controller.abort();
    const ended = await this.done;
    if (this.failure) throw this.failure;
    if (ended) throw ended;
  }
}

/** Resolves when every event of `ids` is complete at node `at` (read in process). */
async function completeAt(at: number, ids: readonly string[]): Promise<void> {
  const node = federation.node(at);
  await waitFor(
    `${ids.length} events to be complete at node ${at}`,
    () => ids.every((id) => node.events.status(id).complete),
    (onChange) => node.events.onChange(onChange),
    20_000,
  );
}

/**
 * Publishes a sentinel meter record to cloud-b and resolves with what nova at cloud-b received up
 * to and including it: were anything of an earlier refused batch published, it would come first.
 */
async function receivedUpToSentinel(subject: string): Promise<Event[]> {
  const nova = new BatchAckSubscriber(1, 'nova');
  const { id } = await events(0).publish({ ...meterRecord(0), subject });
  await nova.until('the sentinel at nova in cloud-b', () => nova.ids().includes(id));
  await nova.stop();
  return nova.received;
}

describe('PublishBatch and AckBatch across three clouds', () => {
  it('300 meter records published in one call reach nova at cloud-b in order, acked in batches, and complete at cloud-a', async () => {
    const nova = new BatchAckSubscriber(1, 'nova');
    // neutron takes no meter records: they are acked skipped for it as they come.
    const neutron = new BatchAckSubscriber(1, 'neutron', ['identity.project.deleted']);
    const requests = Array.from({ length: 300 }, (_, i) => meterRecord(i));
    const startedMs = Date.now();
    const { ids } = await events(0).publishBatch({ events: requests });
    expect(ids).toHaveLength(300);
    expect(new Set(ids).size).toBe(300);

    await nova.until('300 events at nova in cloud-b', () => nova.received.length >= 300);
    await completeAt(0, ids);
    const completeMs = Date.now() - startedMs;
    console.log(
      `FED ${JSON.stringify({ name: 'batch of 300 complete at origin, acked in batches', completeMs })}`,
    );

    expect(nova.ids()).toEqual(ids);
    expect(nova.received.map((e) => e.subject)).toEqual(requests.map((r) => r.subject));
    expect(nova.received[7]).toEqual({
      id: ids[7],
      source: 'alliance://cloud-a/n1',
      type: 'meter.usage',
      subject: 'user-7',
      time: expect.any(Date),
      data: { user_id: 'user-7', cpu_s: 7, period: '2026-11-23T10:00Z' },
      originCloud: 'cloud-a',
      attempt: 1,
      targetCloud: 'cloud-b',
    });
    expect(nova.received.every((e) => e.attempt === 1)).toBe(true);
    expect(neutron.received).toEqual([]);
    // Fewer calls than events: each AckBatch answered what one turn brought, at most a window.
    expect(nova.ackBatchSizes.reduce((sum, n) => sum + n, 0)).toBe(300);
    expect(Math.max(...nova.ackBatchSizes)).toBeLessThanOrEqual(64);
    expect(nova.ackBatchSizes.length).toBeLessThan(300);

    // Over the wire, at the origin: complete, nova done and neutron skipped, for every one.
    const client = events(0);
    const statuses = await Promise.all(ids.map((id) => client.getEventStatus({ id })));
    for (const status of statuses) {
      expect({
        complete: status.complete,
        clouds: status.clouds.map((cloud) => ({
          cloud: cloud.cloud,
          complete: cloud.complete,
          subscribers: cloud.subscribers.map((s) => `${s.name}:${Outcome[s.outcome]}`),
        })),
      }).toEqual({
        complete: true,
        clouds: [
          {
            cloud: 'cloud-b',
            complete: true,
            subscribers: ['neutron:OUTCOME_SKIPPED', 'nova:OUTCOME_DONE'],
          },
        ],
      });
    }
    await nova.stop();
    await neutron.stop();
  });

  it('refuses an empty batch, one of 1001 events and one over 1 MiB, and publishes none of them', async () => {
    const client = events(0);
    await expect(client.publishBatch({ events: [] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'INVALID_ARGUMENT: events is empty',
    });
    const tooMany = Array.from({ length: limits.publishBatchEventsMax + 1 }, (_, i) => meterRecord(i));
    await expect(client.publishBatch({ events: tooMany })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'INVALID_ARGUMENT: events holds more than 1000 entries',
    });
    // 20 events of 60 KiB of data each: every one within eventDataBytesMax, the request not.
    const large = Array.from({ length: 20 }, (_, i) => ({
      ...meterRecord(i),
      data: { blob: 'x'.repeat(60 * 1024) },
    }));
    await expect(client.publishBatch({ events: large })).rejects.toMatchObject({
      code: 'RESOURCE_EXHAUSTED',
      message: expect.stringMatching(
        /^RESOURCE_EXHAUSTED: Received message larger than max \(\d+ vs 1048576\)$/,
      ),
    });

    const received = await receivedUpToSentinel('sentinel-1');
    expect(received.map((e) => e.subject)).toEqual(['sentinel-1']);
  });

  it('a batch with an unknown type at index 3 is refused whole, naming events[3], and nova at cloud-b gets none of it', async () => {
    const batch = Array.from({ length: 6 }, (_, i) => meterRecord(i));
    batch[3] = { ...meterRecord(3), type: 'meter.usage.v2' };
    await expect(events(0).publishBatch({ events: batch })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        /^INVALID_ARGUMENT: events\[3\]: type "meter\.usage\.v2" is not a known event type; known types: identity\.project\.deleted, /,
      ),
    });
    // A field the handler checks is named the same way.
    batch[3] = { ...meterRecord(3), type: '' };
    await expect(events(0).publishBatch({ events: batch })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'INVALID_ARGUMENT: events[3].type is required',
    });

    const received = await receivedUpToSentinel('sentinel-2');
    expect(received.map((e) => e.subject)).toEqual(['sentinel-2']);
  });

  it('AckBatch takes the good acks and lists an unknown event (5) and OUTCOME_UNSPECIFIED (3) as refused', async () => {
    const client = events(0);
    // Held at cloud-a for cloud-a's expected nova: acks need no open stream.
    const { ids } = await client.publishBatch({
      events: [0, 1, 2].map((i) => meterRecord(i, 'cloud-a')),
    });
    const [done, unspecified, skipped] = ids;
    if (!done || !unspecified || !skipped) throw new Error('expected three ids');
    const unknown = '00000000-0000-4000-8000-000000000000';

    const answer = await client.ackBatch({
      subscriber: 'nova',
      acks: [
        { eventId: done, outcome: Outcome.OUTCOME_DONE, detail: 'billed' },
        { eventId: unknown, outcome: Outcome.OUTCOME_DONE, detail: '' },
        { eventId: unspecified, outcome: Outcome.OUTCOME_UNSPECIFIED, detail: '' },
        { eventId: skipped, outcome: Outcome.OUTCOME_SKIPPED, detail: 'not billable' },
      ],
    });
    expect(answer).toEqual({
      refused: [
        { eventId: unknown, code: 5, message: `no event ${unknown} is held at this node` },
        {
          eventId: unspecified,
          code: 3,
          message: 'outcome must be OUTCOME_DONE, OUTCOME_FAILED or OUTCOME_SKIPPED',
        },
      ],
    });

    const novaAt = async (id: string) => {
      const status = await client.getEventStatus({ id });
      const nova = status.clouds[0]?.subscribers.find((s) => s.name === 'nova');
      return { outcome: nova?.outcome, detail: nova?.detail, acked: nova?.ackedAt !== undefined };
    };
    expect(await Promise.all([done, unspecified, skipped].map(novaAt))).toEqual([
      { outcome: Outcome.OUTCOME_DONE, detail: 'billed', acked: true },
      { outcome: Outcome.OUTCOME_UNSPECIFIED, detail: '', acked: false },
      { outcome: Outcome.OUTCOME_SKIPPED, detail: 'not billable', acked: true },
    ]);
  });

  it('AckBatch with no acks or no subscriber is INVALID_ARGUMENT', async () => {
    const client = events(0);
    const { ids } = await client.publishBatch({ events: [meterRecord(0, 'cloud-a')] });
    const acks = ids.map((eventId) => ({ eventId, outcome: Outcome.OUTCOME_DONE, detail: '' }));
    await expect(client.ackBatch({ subscriber: 'nova', acks: [] })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'INVALID_ARGUMENT: acks is empty',
    });
    await expect(client.ackBatch({ subscriber: '', acks })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'INVALID_ARGUMENT: subscriber is required',
    });
    const tooMany = Array.from({ length: limits.ackBatchAcksMax + 1 }, () => acks[0]!);
    await expect(client.ackBatch({ subscriber: 'nova', acks: tooMany })).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: 'INVALID_ARGUMENT: acks holds more than 1024 entries',
    });
  });
});
