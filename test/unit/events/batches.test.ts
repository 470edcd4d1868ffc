/**
 * Events published and acked together: publishMany (all or none, one signature), publishSoon and
 * ackSoon (calls of one turn joined into one write), ackMany (each ack judged alone).
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { eventTopic } from '../../../src/events/index.js';
import type { PublishInput } from '../../../src/events/index.js';
import { AllianceError } from '../../../src/lib/errors.js';
import { EventsCluster, Outcome, TestStream } from './events-harness.js';
import type { EventsNode } from './events-harness.js';

let fed: EventsCluster;

beforeEach(() => {
  fed = new EventsCluster();
});

afterEach(async () => {
  await fed.stop();
});

const usage = (i: number, targetCloud = ''): PublishInput => ({
  type: 'meter.usage',
  subject: `instance-${i}`,
  data: { vcpu_hours: i },
  targetCloud,
});

function errorOf(fn: () => unknown): AllianceError {
  try {
    fn();
  } catch (err) {
    if (err instanceof AllianceError) return err;
    throw err;
  }
  throw new Error('expected an AllianceError, but nothing was thrown');
}

/** The signature of each event's record as `node` stores it. */
function signaturesOf(node: EventsNode, origin: EventsNode, ids: readonly string[]): string[] {
  return ids.map((id) => {
    const record = node.node.store.get(origin.id.nodeId, eventTopic, id);
    // A missing record must fail the test, not pass as one more equal (empty) signature.
    if (!record) throw new Error(`record of event ${id} is not held at ${node.id.nodeId}`);
    return Buffer.from(record.signature).toString('hex');
  });
}

async function pair(): Promise<[EventsNode, EventsNode]> {
  const a = await fed.start('cloud-a');
  const b = await fed.start('cloud-b', { seeds: [a.id.address] });
  await fed.idle();
  return [a, b];
}

describe('publishMany', () => {
  it('delivers every event at the other cloud in order, the records sharing one signature', async () => {
    const [a, b] = await pair();
    const events = a.events.publishMany(Array.from({ length: 5 }, (_, i) => usage(i, 'cloud-b')));
    const nova = new TestStream(b.events, 'nova');
    await fed.idle();
    const ids = events.map((event) => event.id);
    expect(nova.ids()).toEqual(ids);
    expect(nova.received.map((event) => event.data)).toEqual([0, 1, 2, 3, 4].map((i) => ({ vcpu_hours: i })));
    expect(new Set(signaturesOf(b, a, ids)).size).toBe(1);
    expect(b.node.mesh.status().rejections).toEqual([]);
  });

  it('publishes nothing when one entry is bad, and names the entry', async () => {
    const [a] = await pair();
    const before = a.node.mesh.versions().get(a.id.nodeId);
    const err = errorOf(() =>
      a.events.publishMany([usage(0), { ...usage(1), type: 'meter.exploded' }, usage(2)]),
    );
    expect(err.code).toBe('INVALID_ARGUMENT');
    expect(err.message).toMatch(/^events\[1\]: .*meter\.exploded/);
    expect(a.node.mesh.versions().get(a.id.nodeId)).toBe(before);
  });
});

describe('publishSoon', () => {
  it('joins the publishes of one turn into one write, and a bad one fails alone', async () => {
    const [a, b] = await pair();
    const results = await Promise.allSettled([
      a.events.publishSoon(usage(1, 'cloud-b')),
      a.events.publishSoon({ ...usage(2, 'cloud-b'), type: 'meter.exploded' }),
      a.events.publishSoon(usage(3, 'cloud-b')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    const bad = results[1] as PromiseRejectedResult;
    expect(bad.reason).toBeInstanceOf(AllianceError);
    expect((bad.reason as AllianceError).code).toBe('INVALID_ARGUMENT');
    const ids = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value.id] : []));
    const nova = new TestStream(b.events, 'nova');
    await fed.idle();
    expect(nova.ids()).toEqual(ids);
  });

  it('shares one signature among the publishes of one turn', async () => {
    const [a, b] = await pair();
    const events = await Promise.all([1, 2, 3].map((i) => a.events.publishSoon(usage(i, 'cloud-b'))));
    await fed.idle();
    expect(
      new Set(
        signaturesOf(
          b,
          a,
          events.map((e) => e.id),
        ),
      ).size,
    ).toBe(1);
  });
});

describe('ackMany and ackSoon', () => {
  it('take every good ack in one write and list the refused ones with their reasons', async () => {
    const [a] = await pair();
    const events = a.events.publishMany([usage(1), usage(2), usage(3)]);
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.ids()).toHaveLength(3);
    const refused = a.events.ackMany([
      { subscriber: 'nova', eventId: events[0]!.id, outcome: Outcome.OUTCOME_DONE, detail: '' },
      { subscriber: 'nova', eventId: 'no-such-event', outcome: Outcome.OUTCOME_DONE, detail: '' },
      { subscriber: 'nova', eventId: events[1]!.id, outcome: Outcome.OUTCOME_UNSPECIFIED, detail: '' },
      { subscriber: 'nova', eventId: events[2]!.id, outcome: Outcome.OUTCOME_SKIPPED, detail: 'not mine' },
    ]);
    expect(refused.map((r) => [r.eventId, r.error.code])).toEqual([
      ['no-such-event', 'NOT_FOUND'],
      [events[1]!.id, 'INVALID_ARGUMENT'],
    ]);
    const outcomeOf = (id: string): Outcome | undefined =>
      a.events
        .status(id)
        .clouds.find((c) => c.cloud === 'cloud-a')
        ?.subscribers.find((s) => s.name === 'nova')?.outcome;
    expect(events.map((e) => outcomeOf(e.id))).toEqual([
      Outcome.OUTCOME_DONE,
      Outcome.OUTCOME_UNSPECIFIED,
      Outcome.OUTCOME_SKIPPED,
    ]);
  });

  it('answer each joined ack on its own: done is durable when it resolves, an unknown event is NOT_FOUND', async () => {
    const [a] = await pair();
    const events = a.events.publishMany([usage(1), usage(2)]);
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.ids()).toHaveLength(2);
    const results = await Promise.allSettled([
      a.events.ackSoon({
        subscriber: 'nova',
        eventId: events[0]!.id,
        outcome: Outcome.OUTCOME_DONE,
        detail: '',
      }),
      a.events.ackSoon({
        subscriber: 'nova',
        eventId: 'no-such-event',
        outcome: Outcome.OUTCOME_DONE,
        detail: '',
      }),
      a.events.ackSoon({
        subscriber: 'nova',
        eventId: events[1]!.id,
        outcome: Outcome.OUTCOME_DONE,
        detail: '',
      }),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(((results[1] as PromiseRejectedResult).reason as AllianceError).code).toBe('NOT_FOUND');
    // Durable: the same database, read without the capability's memory.
    const rows = a.db
      .prepare("SELECT state FROM events_deliveries WHERE subscriber = 'nova' ORDER BY version")
      .all() as { state: string }[];
    expect(rows.map((row) => row.state)).toEqual(['done', 'done']);
  });
});
