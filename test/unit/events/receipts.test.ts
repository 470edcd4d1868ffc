/**
 * Events across nodes over the in-memory mesh: delivery at every target cloud, receipts that
 * travel back so the origin sees each cloud's subscribers, thousands of acks in a handful of
 * receipt records, targeted events, and origin order kept across a gap in an origin's versions.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { encodeEvent } from '../../../src/events/event-codec.js';
import { receiptTopic } from '../../../src/events/index.js';
import type { SignedRecord } from '../../../src/gen/alliance/peer/v1/mesh.js';
import type { Event } from '../../../src/gen/alliance/v1/events.js';
import { limits } from '../../../src/config/limits.js';
import { encodeRecordBody } from '../../../src/mesh/record-codec.js';
import { FakePeer } from '../mesh/mesh-harness.js';
import { EventsCluster, Outcome, TestStream, ack, projectDeleted } from './events-harness.js';
import type { EventsNode } from './events-harness.js';

let fed: EventsCluster;

beforeEach(() => {
  fed = new EventsCluster();
});

afterEach(async () => {
  await fed.stop();
});

async function federation(): Promise<[EventsNode, EventsNode, EventsNode]> {
  const a = await fed.start('cloud-a');
  const b = await fed.start('cloud-b', { seeds: [a.id.address] });
  const c = await fed.start('cloud-c', {
    seeds: [a.id.address],
    config: { expectedSubscribers: ['glance'] },
  });
  await fed.idle();
  return [a, b, c];
}

/** Acks done every event each stream received that it has not acked yet. */
function ackAll(
  node: EventsNode,
  streams: Record<string, TestStream>,
  acked = new Set<string>(),
): Set<string> {
  for (const [name, stream] of Object.entries(streams)) {
    for (const event of stream.received) {
      const key = `${name}/${event.id}`;
      if (acked.has(key)) continue;
      ack(node.events, name, event.id);
      acked.add(key);
    }
  }
  return acked;
}

describe('events across clouds', () => {
  it('reach the subscribers of every cloud, and their acks make the status complete at the origin', async () => {
    const [a, b, c] = await federation();
    const event = projectDeleted(a.events, 'p1');
    const streams = {
      a: { nova: new TestStream(a.events, 'nova'), neutron: new TestStream(a.events, 'neutron') },
      b: { nova: new TestStream(b.events, 'nova'), neutron: new TestStream(b.events, 'neutron') },
      c: { glance: new TestStream(c.events, 'glance') },
    };
    await fed.idle();
    for (const stream of [...Object.values(streams.b), ...Object.values(streams.c)]) {
      expect(stream.received).toEqual([{ ...event, attempt: 1 }]);
    }
    expect(a.events.status(event.id)).toMatchObject({
      complete: false,
      clouds: [
        { cloud: 'cloud-a', complete: false },
        { cloud: 'cloud-b', complete: false },
        { cloud: 'cloud-c', complete: false },
      ],
    });
    ackAll(a, streams.a);
    ackAll(b, streams.b);
    ackAll(c, streams.c);
    await fed.advance(limits.receiptFlushIntervalMs);
    const status = a.events.status(event.id);
    expect(status.complete).toBe(true);
    expect(status.event).toEqual(event);
    expect(status.clouds.map((cloud) => [cloud.cloud, cloud.subscribers.map((s) => s.name)])).toEqual([
      ['cloud-a', ['neutron', 'nova']],
      ['cloud-b', ['neutron', 'nova']],
      ['cloud-c', ['glance']],
    ]);
    // Any node answers, from the receipts it holds.
    expect(c.events.status(event.id).complete).toBe(true);
  });

  it('show a failed and then parked delivery at the origin, with its detail and attempts', async () => {
    const [a, b] = await federation();
    const event = projectDeleted(a.events, 'p1', 'cloud-b');
    const nova = new TestStream(b.events, 'nova');
    await fed.idle();
    ack(b.events, 'nova', event.id, Outcome.OUTCOME_FAILED, 'quota service down');
    await fed.advance(limits.receiptFlushIntervalMs);
    expect(a.events.status(event.id).clouds).toEqual([
      {
        cloud: 'cloud-b',
        complete: false,
        subscribers: [
          {
            name: 'neutron',
            outcome: Outcome.OUTCOME_UNSPECIFIED,
            detail: '',
            ackedAt: undefined,
            attempts: 0,
            parked: false,
          },
          {
            name: 'nova',
            outcome: Outcome.OUTCOME_FAILED,
            detail: 'quota service down',
            ackedAt: undefined,
            attempts: 1,
            parked: false,
          },
        ],
      },
    ]);
    for (let attempt = 2; attempt <= 4; attempt++) {
      await fed.advance(8_000);
      expect(nova.received.at(-1)).toMatchObject({ id: event.id, attempt });
      ack(b.events, 'nova', event.id, Outcome.OUTCOME_FAILED, `quota service down (${attempt})`);
    }
    await fed.advance(limits.receiptFlushIntervalMs);
    expect(a.events.status(event.id).clouds[0]?.subscribers[1]).toMatchObject({
      name: 'nova',
      outcome: Outcome.OUTCOME_FAILED,
      detail: 'quota service down (4)',
      attempts: 4,
      parked: true,
    });
  });

  it('deliver an event with a target cloud there only, and report only that cloud', async () => {
    const [a, b, c] = await federation();
    const event = projectDeleted(a.events, 'p1', 'cloud-b');
    const atA = new TestStream(a.events, 'nova');
    const atB = new TestStream(b.events, 'nova');
    const atC = new TestStream(c.events, 'glance');
    await fed.idle();
    expect([atA.ids(), atB.ids(), atC.ids()]).toEqual([[], [event.id], []]);
    expect(a.events.status(event.id).clouds.map((cloud) => cloud.cloud)).toEqual(['cloud-b']);
  });

  it('cost a handful of receipt records for a thousand acks', async () => {
    const [a, b] = await federation();
    let receiptRecords = 0;
    a.events.onChange((change) => {
      if (change.topic === receiptTopic && change.origin === b.id.nodeId) receiptRecords++;
    });
    const ids = Array.from({ length: 1000 }, (_, i) => projectDeleted(a.events, `p${i}`, 'cloud-b').id);
    const streams = { nova: new TestStream(b.events, 'nova'), neutron: new TestStream(b.events, 'neutron') };
    const acked = new Set<string>();
    while (acked.size < 2 * ids.length) {
      await fed.idle();
      ackAll(b, streams, acked);
    }
    await fed.advance(limits.receiptFlushIntervalMs);
    expect(streams.nova.ids()).toEqual(ids);
    expect(streams.neutron.ids()).toEqual(ids);
    expect(receiptRecords).toBe(2);
    expect(ids.every((id) => a.events.status(id).complete)).toBe(true);
  });

  it('read a backlog of answered deliveries in slices, claiming no more than each slice, until all are counted', async () => {
    const a = await fed.start('cloud-a');
    const b = await fed.start('cloud-b', {
      seeds: [a.id.address],
      config: { expectedSubscribers: ['nova'] },
      options: { receiptScanRowsMax: 3 },
    });
    await fed.idle();
    const ids = Array.from({ length: 10 }, (_, i) => projectDeleted(a.events, `p${i}`, 'cloud-b').id);
    const nova = new TestStream(b.events, 'nova');
    await fed.idle();
    expect(nova.ids()).toEqual(ids);
    for (const id of ids) ack(b.events, 'nova', id);
    const doneAtA = (): boolean[] => ids.map((id) => a.events.status(id).complete);
    await fed.advance(limits.receiptFlushIntervalMs);
    // One flush read three deliveries: only those are claimed.
    expect(doneAtA()).toEqual([true, true, true, false, false, false, false, false, false, false]);
    for (let flush = 0; flush < 3; flush++) {
      b.events.flushReceipts();
      await fed.idle();
    }
    expect(doneAtA().every(Boolean)).toBe(true);
  });

  it('keep origin order across a gap in the origin versions: later events wait for the gap to close', async () => {
    const b = await fed.start('cloud-b');
    const peerId = fed.identity('cloud-f');
    const peer = new FakePeer(fed.cluster, peerId, b.id.address);
    peer.hello();
    await fed.idle();
    const eventRecord = (version: number, subject: string): SignedRecord => {
      const id = fed.nextEventId('cloud-f');
      const nowMs = fed.clock.nowMs();
      const event: Event = {
        id,
        source: `alliance://${peerId.nodeId}`,
        type: 'identity.project.deleted',
        subject,
        time: new Date(nowMs),
        data: {},
        originCloud: 'cloud-f',
        attempt: 0,
        targetCloud: '',
      };
      const body = encodeRecordBody({
        origin: peerId.nodeId,
        topic: 'event',
        key: id,
        version,
        deleted: false,
        expiresAtMs: nowMs + 60_000,
        createdAtMs: nowMs,
        payload: encodeEvent(event),
      });
      return {
        body: Buffer.from(body),
        signature: Buffer.from(peerId.crypto.signRecord(body)),
        batchProof: Buffer.alloc(0),
      };
    };
    const nova = new TestStream(b.events, 'nova');
    const v2 = eventRecord(2, 'second');
    const v3 = eventRecord(3, 'third');
    const v4 = eventRecord(4, 'fourth');
    peer.push([peer.member(1), v2, v4]);
    await fed.idle();
    expect(nova.received.map((e) => e.subject)).toEqual(['second']);
    peer.push([v3]);
    await fed.idle();
    expect(nova.received.map((e) => e.subject)).toEqual(['second', 'third', 'fourth']);
  });

  it('refuse an event record from a node that claims another cloud', async () => {
    const b = await fed.start('cloud-b');
    const peerId = fed.identity('cloud-f');
    const peer = new FakePeer(fed.cluster, peerId, b.id.address);
    peer.hello();
    const id = fed.nextEventId('cloud-f');
    const nowMs = fed.clock.nowMs();
    const body = encodeRecordBody({
      origin: peerId.nodeId,
      topic: 'event',
      key: id,
      version: 2,
      deleted: false,
      expiresAtMs: nowMs + 60_000,
      createdAtMs: nowMs,
      payload: encodeEvent({
        id,
        source: `alliance://${peerId.nodeId}`,
        type: 'identity.project.deleted',
        subject: 'p',
        time: new Date(nowMs),
        data: {},
        originCloud: 'cloud-a',
        attempt: 0,
        targetCloud: '',
      }),
    });
    const nova = new TestStream(b.events, 'nova');
    peer.push([
      peer.member(1),
      {
        body: Buffer.from(body),
        signature: Buffer.from(peerId.crypto.signRecord(body)),
        batchProof: Buffer.alloc(0),
      },
    ]);
    await fed.idle();
    expect(nova.received).toEqual([]);
    expect(b.node.events).toContainEqual(
      expect.objectContaining({ kind: 'record-rejected', reason: 'invalid-payload' }),
    );
  });
});
