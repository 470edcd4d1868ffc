/**
 * Local delivery of events on one node (file-backed SQLite, ManualClock): order, window, type
 * filters, retries with backoff, parking, streams that end or are replaced, restarts, and the
 * deliveries a crash between the mesh's commit and onChange left out.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AllianceError } from '../../../src/lib/errors.js';
import { EventsCluster, Outcome, TestStream, ack, projectDeleted } from './events-harness.js';
import type { EventsNode } from './events-harness.js';

let fed: EventsCluster;

beforeEach(() => {
  fed = new EventsCluster();
});

afterEach(async () => {
  await fed.stop();
});

function codeOf(err: unknown): string | undefined {
  return err instanceof AllianceError ? err.code : undefined;
}

function publishMany(node: EventsNode, count: number): string[] {
  return Array.from({ length: count }, (_, i) => projectDeleted(node.events, `p${i}`).id);
}

describe('delivery on one node', () => {
  it('delivers an event published here to every expected subscriber, first attempt 1', async () => {
    const a = await fed.start('cloud-a');
    const event = projectDeleted(a.events, 'p1');
    const nova = new TestStream(a.events, 'nova');
    const neutron = new TestStream(a.events, 'neutron');
    await fed.idle();
    expect(nova.received).toEqual([{ ...event, attempt: 1 }]);
    expect(neutron.ids()).toEqual([event.id]);
    expect(event).toMatchObject({
      source: 'alliance://cloud-a/n1',
      type: 'identity.project.deleted',
      subject: 'p1',
      originCloud: 'cloud-a',
      targetCloud: '',
      data: { project_id: 'p1' },
    });
  });

  it('sends in origin order, at most windowMax unacked, and more as acks free the window', async () => {
    const a = await fed.start('cloud-a', { config: { windowMax: 3 } });
    const ids = publishMany(a, 7);
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.ids()).toEqual(ids.slice(0, 3));
    ack(a.events, 'nova', ids[1] ?? '');
    await fed.idle();
    expect(nova.ids()).toEqual(ids.slice(0, 4));
    for (const id of ids.slice(0, 4)) ack(a.events, 'nova', id);
    await fed.idle();
    expect(nova.ids()).toEqual(ids);
  });

  it('waits for new events without polling and wakes when one is published', async () => {
    const a = await fed.start('cloud-a');
    const timersBefore = fed.clock.pendingTimers();
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.received).toEqual([]);
    // An idle stream sets no timer: it waits to be woken.
    expect(fed.clock.pendingTimers()).toBe(timersBefore);
    const event = projectDeleted(a.events, 'late');
    await fed.idle();
    expect(nova.ids()).toEqual([event.id]);
  });

  it('acks events outside the requested types as skipped without sending them', async () => {
    const a = await fed.start('cloud-a');
    const deleted = projectDeleted(a.events, 'p1');
    const usage = a.events.publish({
      type: 'meter.usage',
      subject: 'u1',
      data: { cpu_s: 3 },
      targetCloud: '',
    });
    const billing = new TestStream(a.events, 'nova', ['meter.usage']);
    await fed.idle();
    expect(billing.ids()).toEqual([usage.id]);
    const status = a.events.status(deleted.id);
    expect(status.clouds[0]?.subscribers.find((s) => s.name === 'nova')).toMatchObject({
      outcome: Outcome.OUTCOME_SKIPPED,
      detail: 'not among the types the subscriber takes',
    });
  });

  it('retries a failed delivery after a doubling backoff, then parks it and never sends it again', async () => {
    const a = await fed.start('cloud-a', {
      config: { retryBackoffMinMs: 1_000, retryBackoffMaxMs: 3_000, attemptsMax: 4 },
    });
    const event = projectDeleted(a.events, 'p1');
    const other = projectDeleted(a.events, 'p2');
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    ack(a.events, 'nova', other.id);
    const attemptsSeen: number[] = [];
    const delays = [1_000, 2_000, 3_000];
    for (const delayMs of delays) {
      attemptsSeen.push(nova.received.at(-1)?.attempt ?? 0);
      ack(a.events, 'nova', event.id, Outcome.OUTCOME_FAILED, `disk full ${attemptsSeen.length}`);
      await fed.idle();
      const before = nova.received.length;
      await fed.advance(delayMs - 1);
      expect(nova.received.length).toBe(before);
      await fed.advance(1);
      expect(nova.received.length).toBe(before + 1);
      expect(nova.received.at(-1)?.id).toBe(event.id);
    }
    attemptsSeen.push(nova.received.at(-1)?.attempt ?? 0);
    expect(attemptsSeen).toEqual([1, 2, 3, 4]);
    ack(a.events, 'nova', event.id, Outcome.OUTCOME_FAILED, 'disk full 4');
    await fed.advance(60_000);
    expect(nova.ids()).toEqual([event.id, other.id, event.id, event.id, event.id]);
    const status = a.events.status(event.id);
    expect(status.complete).toBe(false);
    expect(status.clouds[0]?.subscribers.find((s) => s.name === 'nova')).toEqual({
      name: 'nova',
      outcome: Outcome.OUTCOME_FAILED,
      detail: 'disk full 4',
      ackedAt: new Date(fed.clock.nowMs() - 60_000),
      attempts: 4,
      parked: true,
    });
    // A new stream does not get the dead letter either.
    nova.cancel();
    const again = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(again.received).toEqual([]);
  });

  it('later events are not held back while a failed one waits for its retry', async () => {
    const a = await fed.start('cloud-a');
    const [first, second] = publishMany(a, 2);
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    ack(a.events, 'nova', first ?? '', Outcome.OUTCOME_FAILED, 'try later');
    await fed.idle();
    expect(nova.ids()).toEqual([first, second]);
  });

  it('treats done and skipped as final: a repeated ack is accepted, a failure after done is refused', async () => {
    const a = await fed.start('cloud-a');
    const event = projectDeleted(a.events, 'p1');
    ack(a.events, 'nova', event.id);
    ack(a.events, 'nova', event.id);
    expect(() => ack(a.events, 'nova', event.id, Outcome.OUTCOME_FAILED)).toThrow(/acked done already/);
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.received).toEqual([]);
  });

  it('sends in-flight deliveries again on the next stream when a stream ends', async () => {
    const a = await fed.start('cloud-a');
    const ids = publishMany(a, 3);
    const first = new TestStream(a.events, 'nova');
    await fed.idle();
    ack(a.events, 'nova', ids[0] ?? '');
    first.cancel();
    await first.ended;
    expect(first.endedWith).toBe(null);
    const second = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(second.ids()).toEqual(ids.slice(1));
  });

  it('ends the older stream with ABORTED when the same subscriber subscribes again', async () => {
    const a = await fed.start('cloud-a');
    const ids = publishMany(a, 2);
    const first = new TestStream(a.events, 'nova');
    await fed.idle();
    const second = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(codeOf(await first.ended)).toBe('ABORTED');
    expect(String(first.endedWith)).toMatch(/replaced by a newer subscription/);
    expect(second.ids()).toEqual(ids);
    expect(second.isEnded).toBe(false);
  });

  it('lets a slow subscriber fall behind without holding back another', async () => {
    const a = await fed.start('cloud-a', { config: { windowMax: 2 } });
    const ids = publishMany(a, 5);
    const slow = new TestStream(a.events, 'nova');
    const fast = new TestStream(a.events, 'neutron');
    await fed.idle();
    for (let i = 0; i < 5; i++) {
      for (const id of fast.ids()) {
        try {
          ack(a.events, 'neutron', id);
        } catch {
          // acked already
        }
      }
      await fed.idle();
    }
    expect(fast.ids()).toEqual(ids);
    expect(slow.ids()).toEqual(ids.slice(0, 2));
  });

  it('gives a subscriber the config does not expect only the events applied after its first Subscribe', async () => {
    const a = await fed.start('cloud-a');
    projectDeleted(a.events, 'before');
    const billing = new TestStream(a.events, 'billing');
    await fed.idle();
    const after = projectDeleted(a.events, 'after');
    await fed.idle();
    expect(billing.ids()).toEqual([after.id]);
    billing.cancel();
    const later = projectDeleted(a.events, 'while away');
    const back = new TestStream(a.events, 'billing');
    await fed.idle();
    expect(back.ids()).toEqual([after.id, later.id]);
  });

  it('keeps each subscriber position across a restart: acked events are not sent again', async () => {
    const a = await fed.start('cloud-a');
    const ids = publishMany(a, 4);
    ack(a.events, 'nova', ids[0] ?? '');
    ack(a.events, 'nova', ids[2] ?? '');
    ack(a.events, 'nova', ids[1] ?? '', Outcome.OUTCOME_FAILED, 'oops');
    await fed.stopNode(a);
    const again = await fed.start('cloud-a', { dbPath: a.dbPath });
    const nova = new TestStream(again.events, 'nova');
    await fed.idle();
    expect(nova.ids()).toEqual([ids[3]]);
    await fed.advance(1_000);
    expect(nova.ids()).toEqual([ids[3], ids[1]]);
    expect(nova.received[1]?.attempt).toBe(2);
  });

  it('makes at start the deliveries a crash between the record and its deliveries left out', async () => {
    const a = await fed.start('cloud-a');
    const ids = publishMany(a, 3);
    // The crash: the records committed, the delivery rows never written.
    a.db.prepare('DELETE FROM events_deliveries').run();
    await fed.stopNode(a);
    const again = await fed.start('cloud-a', { dbPath: a.dbPath });
    const nova = new TestStream(again.events, 'nova');
    const neutron = new TestStream(again.events, 'neutron');
    await fed.idle();
    expect(nova.ids()).toEqual(ids);
    expect(neutron.ids()).toEqual(ids);
  });

  it('refuses bad input with clear errors', async () => {
    const a = await fed.start('cloud-a');
    const event = projectDeleted(a.events, 'p1');
    const refusal = (fn: () => unknown): { code: string | undefined; message: string } => {
      try {
        fn();
      } catch (err) {
        return { code: codeOf(err), message: String(err) };
      }
      return { code: undefined, message: 'no error' };
    };
    expect(
      refusal(() => a.events.publish({ type: 'identity.project.exploded', subject: 'p', targetCloud: '' })),
    ).toEqual({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(
        /not a known event type; known types: identity\.project\.deleted, .*provision\.request/,
      ),
    });
    expect(
      refusal(() =>
        a.events.publish({
          type: 'meter.usage',
          subject: 'u',
          data: { blob: 'x'.repeat(70_000) },
          targetCloud: '',
        }),
      ),
    ).toEqual({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/limits\.eventDataBytesMax/) });
    expect(
      refusal(() => a.events.publish({ type: 'meter.usage', subject: 'u', targetCloud: 'Cloud B' })),
    ).toMatchObject({ code: 'INVALID_ARGUMENT' });
    // A well-formed cloud id no node has heard of: the event would be delivered nowhere.
    expect(
      refusal(() => a.events.publish({ type: 'meter.usage', subject: 'u', targetCloud: 'cloud-z' })),
    ).toEqual({ code: 'FAILED_PRECONDITION', message: expect.stringMatching(/cloud "cloud-z"/) });
    expect(
      refusal(() => a.events.publishMany([{ type: 'meter.usage', subject: 'u', targetCloud: 'cloud-z' }])),
    ).toEqual({
      code: 'FAILED_PRECONDITION',
      message: expect.stringMatching(/events\[0\]: no node of cloud "cloud-z"/),
    });
    expect(refusal(() => ack(a.events, 'nova', '00000000-0000-4000-8000-ffffffffffff'))).toEqual({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/no event 00000000-0000-4000-8000-ffffffffffff/),
    });
    expect(refusal(() => ack(a.events, 'glance', event.id))).toEqual({
      code: 'NOT_FOUND',
      message: expect.stringMatching(/no delivery to subscriber glance/),
    });
    expect(refusal(() => ack(a.events, 'nova', event.id, Outcome.OUTCOME_UNSPECIFIED))).toMatchObject({
      code: 'INVALID_ARGUMENT',
    });
    expect(refusal(() => ack(a.events, 'Nova!', event.id))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/not a valid subscriber name/),
    });
    const badName = new TestStream(a.events, '-nova');
    expect(codeOf(await badName.ended)).toBe('INVALID_ARGUMENT');
    const badType = new TestStream(a.events, 'nova', ['identity.nothing']);
    expect(codeOf(await badType.ended)).toBe('INVALID_ARGUMENT');
    expect(refusal(() => a.events.status('00000000-0000-4000-8000-ffffffffffff'))).toMatchObject({
      code: 'NOT_FOUND',
    });
  });

  it('publishes an account event once per source id', async () => {
    const a = await fed.start('cloud-a');
    const change = {
      type: 'identity.user.disabled',
      subject: 'u1',
      timeMs: fed.clock.nowMs() - 5_000,
      data: { user_id: 'u1' },
      sourceId: 'oslo-message-1',
    };
    await a.events.publishAccountEvent(change);
    await a.events.publishAccountEvent(change);
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.received).toHaveLength(1);
    expect(nova.received[0]).toMatchObject({
      type: 'identity.user.disabled',
      subject: 'u1',
      time: new Date(change.timeMs),
      data: { user_id: 'u1' },
    });
  });

  it('drops events and their deliveries once they expire', async () => {
    const a = await fed.start('cloud-a', { options: { purgeIntervalMs: 1_000 } });
    const event = projectDeleted(a.events, 'p1');
    await fed.advance(3_600_000 + 1_000);
    expect(() => a.events.status(event.id)).toThrow(/no event/);
    const nova = new TestStream(a.events, 'nova');
    await fed.idle();
    expect(nova.received).toEqual([]);
    expect(a.db.prepare('SELECT COUNT(*) AS n FROM events_deliveries').get()).toEqual({ n: 0 });
  });
});
