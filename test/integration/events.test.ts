/**
 * Account-state events across three clouds over real gRPC and mTLS: a project deleted at cloud-a
 * reaches the subscribers nova and neutron of every cloud (real Subscribe streams on each node's
 * local API), their acks travel back as receipts until GetEventStatus at cloud-a says complete; a
 * delivery that keeps failing is retried and then parked, visibly; bad input gets clear statuses.
 * Every wait is on an event (the events capability's onChange), never a sleep.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalApiError } from '../../src/cli/client.js';
import type { LocalApiConnection } from '../../src/cli/client.js';
import { limits } from '../../src/config/limits.js';
import { EventsService, Outcome } from '../../src/gen/alliance/v1/events.js';
import { IdentityAdminService } from '../../src/gen/alliance/v1/identity.js';
import type { Event, GetEventStatusResponse } from '../../src/gen/alliance/v1/events.js';
import { TestFederation, waitFor } from './harness.js';

let federation: TestFederation;
const connections: LocalApiConnection[] = [];

/** cloud-b retries fast so that parking takes a moment, not a minute. */
const fastRetries = { retryBackoffMinMs: 50, retryBackoffMaxMs: 100, attemptsMax: 3 };

beforeAll(async () => {
  federation = await TestFederation.start({ clouds: 3 });
  const cloudB = federation.clouds[1];
  if (!cloudB) throw new Error('no cloud-b');
  await federation.stopNode(1);
  cloudB.config.events = { ...cloudB.config.events, ...fastRetries };
  await federation.startNode(1);
  await federation.fullyConnected();
  // Every node knows whom every cloud expects (their "subscribers" records).
  await federation.subscribersKnownEverywhere();
});

afterAll(async () => {
  for (const connection of connections) connection.close();
  await federation.stop();
});

function api(index: number): LocalApiConnection {
  const connection = federation.localApi(index);
  connections.push(connection);
  return connection;
}

function events(index: number) {
  return api(index).client(EventsService);
}

/**
 * A service subscribed over the local API: it records every event it gets and answers each with
 * what `answer` says (done by default), over Ack.
 */
class Subscriber {
  readonly received: Event[] = [];
  readonly controller = new AbortController();
  /** Settles with the error that ended the stream, or undefined. */
  readonly done: Promise<unknown>;
  private readonly watchers = new Set<() => void>();

  constructor(
    readonly cloud: number,
    readonly name: string,
    /** The answer to each event; null: no ack (it stays in flight). */
    answer: (event: Event) => { outcome: Outcome; detail: string } | null = () => ({
      outcome: Outcome.OUTCOME_DONE,
      detail: '',
    }),
  ) {
    const client = events(cloud);
    this.done = (async () => {
      for await (const event of client.subscribe(
        { subscriber: name, types: [] },
        { signal: this.controller.signal },
      )) {
        this.received.push(event);
        for (const watcher of this.watchers) watcher();
        const reply = answer(event);
        if (reply) await client.ack({ subscriber: name, eventId: event.id, ...reply });
      }
    })().catch((err: unknown) => err);
  }

  /** Resolves once `count` events were received. */
  receivedCount(count: number): Promise<void> {
    return this.until(`${this.name} to receive ${count} events`, () => this.received.length >= count);
  }

  /** Resolves once `check()` holds, re-checked on every event received. */
  until(what: string, check: () => boolean): Promise<void> {
    return waitFor(what, check, (onChange) => {
      this.watchers.add(onChange);
      return () => this.watchers.delete(onChange);
    });
  }

  ids(): string[] {
    return this.received.map((event) => event.id);
  }

  async stop(): Promise<void> {
    this.controller.abort();
    await this.done;
  }
}

/** Resolves when GetEventStatus of `id` at node `at` (read in process) satisfies `check`. */
async function statusAt(
  at: number,
  id: string,
  what: string,
  check: (status: GetEventStatusResponse) => boolean,
): Promise<void> {
  const node = federation.node(at);
  await waitFor(
    what,
    () => check(node.events.status(id)),
    (onChange) => node.events.onChange(onChange),
    15_000,
  );
}

describe('events across three clouds', () => {
  it('a project deleted at cloud-a reaches nova and neutron in every cloud, and their acks complete it at cloud-a', async () => {
    const subscribers = [0, 1, 2].flatMap((cloud) => [
      new Subscriber(cloud, 'nova'),
      new Subscriber(cloud, 'neutron'),
    ]);
    const startedMs = Date.now();
    const { id } = await events(0).publish({
      type: 'identity.project.deleted',
      subject: 'project-123',
      data: { project_id: 'project-123', domain_id: 'default' },
      targetCloud: '',
    });
    await statusAt(0, id, 'the event to be complete at cloud-a', (status) => status.complete);
    const completeMs = Date.now() - startedMs;
    console.log(
      `FED ${JSON.stringify({ name: 'event complete at origin, 3 clouds x 2 subscribers', completeMs })}`,
    );

    for (const subscriber of subscribers) {
      expect(subscriber.received).toEqual([
        {
          id,
          source: 'alliance://cloud-a/n1',
          type: 'identity.project.deleted',
          subject: 'project-123',
          time: expect.any(Date),
          data: { project_id: 'project-123', domain_id: 'default' },
          originCloud: 'cloud-a',
          attempt: 1,
          targetCloud: '',
        },
      ]);
    }
    const status = await events(0).getEventStatus({ id });
    expect(status.complete).toBe(true);
    expect(
      status.clouds.map((cloud) => ({
        cloud: cloud.cloud,
        complete: cloud.complete,
        subscribers: cloud.subscribers.map((s) => `${s.name}:${Outcome[s.outcome]}`),
      })),
    ).toEqual(
      ['cloud-a', 'cloud-b', 'cloud-c'].map((cloud) => ({
        cloud,
        complete: true,
        subscribers: ['neutron:OUTCOME_DONE', 'nova:OUTCOME_DONE'],
      })),
    );
    // Any node answers from the receipts it holds.
    await statusAt(2, id, 'the event to be complete at cloud-c too', (s) => s.complete);
    for (const subscriber of subscribers) await subscriber.stop();
  });

  it('a delivery that keeps failing is retried with a new attempt number, then parked, visibly at the origin', async () => {
    const nova = new Subscriber(1, 'nova', (event) => ({
      outcome: Outcome.OUTCOME_FAILED,
      detail: `volume service unreachable (attempt ${event.attempt})`,
    }));
    const neutron = new Subscriber(1, 'neutron');
    const { id } = await events(0).publish({
      type: 'identity.project.deleted',
      subject: 'project-456',
      data: { project_id: 'project-456' },
      targetCloud: 'cloud-b',
    });
    await statusAt(0, id, 'nova at cloud-b to be parked, at cloud-a', (status) =>
      status.clouds.some((c) => c.subscribers.some((s) => s.name === 'nova' && s.parked)),
    );
    const status = await events(0).getEventStatus({ id });
    expect(status.complete).toBe(false);
    expect(status.clouds).toEqual([
      {
        cloud: 'cloud-b',
        complete: false,
        subscribers: [
          {
            name: 'neutron',
            outcome: Outcome.OUTCOME_DONE,
            detail: '',
            ackedAt: undefined,
            attempts: expect.any(Number),
            parked: false,
          },
          {
            name: 'nova',
            outcome: Outcome.OUTCOME_FAILED,
            detail: 'volume service unreachable (attempt 3)',
            ackedAt: undefined,
            attempts: 3,
            parked: true,
          },
        ],
      },
    ]);
    expect(nova.received.filter((e) => e.id === id).map((e) => e.attempt)).toEqual([1, 2, 3]);
    // At cloud-b itself the dead letter is there too, with when it was parked.
    const atB = await events(1).getEventStatus({ id });
    expect(atB.clouds[0]?.subscribers.find((s) => s.name === 'nova')).toMatchObject({
      parked: true,
      attempts: 3,
      ackedAt: expect.any(Date),
    });
    await nova.stop();
    await neutron.stop();
  });

  it('a second Subscribe of the same subscriber ends the first with ABORTED, and gets what was in flight', async () => {
    const { id } = await events(0).publish({
      type: 'identity.domain.disabled',
      subject: 'domain-1',
      data: {},
      targetCloud: 'cloud-c',
    });
    const first = new Subscriber(2, 'nova', () => null);
    await first.receivedCount(1);
    const second = new Subscriber(2, 'nova');
    await second.receivedCount(1);
    expect(await first.done).toBeInstanceOf(LocalApiError);
    expect(await first.done).toMatchObject({
      code: 'ABORTED',
      message: expect.stringMatching(/replaced by a newer subscription/),
    });
    expect([first.ids(), second.ids()]).toEqual([[id], [id]]);
    expect(second.received[0]?.attempt).toBe(1);
    await second.stop();
  });

  it('a user disabled at cloud-a (the built-in identity source) reaches nova at cloud-b as identity.user.disabled', async () => {
    const nova = new Subscriber(1, 'nova');
    const { user } = await api(0)
      .client(IdentityAdminService)
      .setUserEnabled({ user: 'demo', enabled: false });
    await nova.until('identity.user.disabled at cloud-b', () =>
      nova.received.some((e) => e.type === 'identity.user.disabled'),
    );
    expect(nova.received.find((e) => e.type === 'identity.user.disabled')).toMatchObject({
      subject: user?.id,
      originCloud: 'cloud-a',
      source: 'alliance://cloud-a/n1',
    });
    await nova.stop();
  });

  it('refuses bad input with clear statuses', async () => {
    const client = events(0);
    await expect(
      client.publish({ type: 'identity.project.exploded', subject: 'p', data: {}, targetCloud: '' }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/not a known event type; known types: identity\.project\.deleted, /),
    });
    await expect(
      client.publish({
        type: 'meter.usage',
        subject: 'u',
        data: { blob: 'x'.repeat(limits.eventDataBytesMax) },
        targetCloud: '',
      }),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/eventDataBytesMax/),
    });
    await expect(
      client.publish({
        type: 'meter.usage',
        subject: 'u',
        data: { blob: 'x'.repeat(limits.localMessageBytesMax) },
        targetCloud: '',
      }),
    ).rejects.toMatchObject({ code: 'RESOURCE_EXHAUSTED' });
    await expect(
      client.ack({
        subscriber: 'nova',
        eventId: '00000000-0000-4000-8000-000000000000',
        outcome: Outcome.OUTCOME_DONE,
        detail: '',
      }),
    ).rejects.toMatchObject({ code: 'NOT_FOUND', message: expect.stringMatching(/no event/) });
    const { id } = await client.publish({
      type: 'identity.user.deleted',
      subject: 'u1',
      data: {},
      targetCloud: '',
    });
    await expect(
      client.ack({ subscriber: 'nova', eventId: id, outcome: Outcome.OUTCOME_UNSPECIFIED, detail: '' }),
    ).rejects.toMatchObject({ code: 'INVALID_ARGUMENT', message: expect.stringMatching(/outcome must be/) });
    await expect(client.getEventStatus({ id: 'no-such-event' })).rejects.toMatchObject({ code: 'NOT_FOUND' });
    const badName = new Subscriber(0, 'Nova Compute');
    expect(await badName.done).toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/not a valid subscriber name/),
    });
    const badType = events(0).subscribe({ subscriber: 'nova', types: ['compute.instance.delete'] });
    await expect(
      (async () => {
        for await (const _ of badType) void _;
      })(),
    ).rejects.toMatchObject({
      code: 'INVALID_ARGUMENT',
      message: expect.stringMatching(/not a known event type/),
    });
  });
});
