/**
 * Account-state events and meter records, delivered durably to every interested service of every
 * cloud, with receipts back to the origin (DESIGN.md §1.6, §5.1, §6).
 *
 * - An event is a record of topic "event" (key: its id, a UUID), so the mesh stores it durably
 *   before Publish returns, spreads it, and drops it after the retention time. Its target is one
 *   cloud or, empty, every cloud.
 * - When an event targeted at this cloud is applied here (published here or received), one
 *   delivery row is made per subscriber that should get it: every subscriber the config expects,
 *   and any other subscriber for events applied after its first Subscribe. onChange runs after
 *   the mesh's transaction commits, so start() makes the rows a crash may have left out.
 * - Subscribe streams the pending deliveries of one subscriber, in origin order per origin, at
 *   most `windowMax` unacked at a time, each subscriber on its own queue; Ack answers one
 *   delivery: done and skipped are final, failed is retried with a doubling backoff and parked
 *   (a dead letter) after `attemptsMax` failures. Deliveries in flight when a stream ends are
 *   sent again (at-least-once).
 * - Each expected subscriber's standing with each origin's events is one cumulative record of
 *   topic "receipt" (receipt.ts), republished at most every limits.receiptFlushIntervalMs; each
 *   node publishes the subscribers its cloud expects (topic "subscribers", key: the cloud). From
 *   these any node answers GetEventStatus for any event it holds (event-status.ts).
 */
import assert from 'node:assert/strict';
import { v7 as timeOrderedUuid } from 'uuid';
import type { Logger } from 'pino';
import { limits } from '../config/limits.js';
import type { EventsConfig } from '../config/types.js';
import { Outcome } from '../gen/alliance/v1/events.js';
import type { Event, GetEventStatusResponse, SubscriberEventStatus } from '../gen/alliance/v1/events.js';
import { cappedDoublingMs } from '../lib/backoff.js';
import type { Clock, Timer } from '../lib/clock.js';
import { unlessAborted, Wakeup } from '../lib/wakeup.js';
import { AllianceError, errorMessage, invalidArgument, notFound } from '../lib/errors.js';
import type { Mesh, MeshRecord, Topic } from '../mesh/index.js';
import type { SqliteDatabase } from '../store/database.js';
import {
  checkEventFields,
  checkSubscriberName,
  cloudOfNode,
  decodeEventRecord,
  decodeHeldEvent,
  decodeReceiptRecord,
  decodeSubscribersRecord,
  encodeEvent,
  encodeReceipt,
  encodeSubscribers,
  eventIdFromSource,
  eventTopic,
  receiptKey,
  receiptTopic,
  sourceOf,
  subscribersTopic,
  tooManyEvents,
} from './event-codec.js';
import { assembleStatus, bestOutcome, indexReceipt, outcomeFromReceipt } from './event-status.js';
import type { IndexedReceipt } from './event-status.js';
import { checkEventType } from './event-types.js';
import { createDeliveryStore } from './delivery-store.js';
import type { Delivery, DeliveryStore, KnownSubscriber, NewDelivery } from './delivery-store.js';
import { attemptsOf, computeReceipt, outcomeOfState } from './receipt.js';

export { eventTypes, eventTypeDescriptions, isEventType, checkEventType } from './event-types.js';
export type { EventType } from './event-types.js';
export {
  eventTopic,
  receiptTopic,
  subscribersTopic,
  eventIdFromSource,
  isSubscriberName,
  checkSubscriberName,
  receiptKey,
  sourceOf,
} from './event-codec.js';
export { computeReceipt, attemptsOf } from './receipt.js';
export type { DeliveryFacts, DeliveryState, ReceiptInput } from './receipt.js';
export { assembleStatus, bestOutcome, indexReceipt, outcomeFromReceipt } from './event-status.js';
export { eventsMigrations } from './delivery-store.js';

export interface EventsOptions {
  cloud: string;
  /** `<cloud>/<node>`. */
  nodeId: string;
  config: EventsConfig;
  /** Default: limits.receiptFlushIntervalMs. */
  receiptFlushIntervalMs?: number;
  /** Default: limits.eventGapRecheckMs. */
  gapRecheckMs?: number;
  /** How often expired deliveries leave the database; default 60 s. */
  purgeIntervalMs?: number;
  /** Default: limits.receiptOutcomesMax; tests pass a smaller one. */
  receiptOutcomesMax?: number;
  /** Default: limits.receiptScanRowsMax; tests pass a smaller one. */
  receiptScanRowsMax?: number;
}

export interface EventsDeps {
  mesh: Pick<Mesh, 'registerTopic' | 'versions'>;
  /** Holds the deliveries; the node's one database (the mesh's records are in it too). */
  db: SqliteDatabase;
  clock: Clock;
  log: Logger;
  /**
   * Event ids; injected so tests can name them. Default: UUIDv7, ordered by time, so the records
   * and deliveries keyed by event id are appended to their B-trees instead of scattered across
   * them: a random UUID made each insert of a burst dirty its own page (4x the write cost).
   */
  randomId?: () => string;
}

export interface PublishInput {
  type: string;
  subject: string;
  /** A JSON object. */
  data?: Record<string, unknown>;
  /** Empty: every cloud. */
  targetCloud: string;
}

/** An account-state change from the identity source (structurally identity's AccountEvent). */
export interface AccountEventInput {
  type: string;
  subject: string;
  timeMs: number;
  data: Record<string, unknown>;
  /** A stable id of the change at its source: the same change reported twice is one event. */
  sourceId: string;
}

export interface SubscribeInput {
  subscriber: string;
  /** Event types to receive; empty: all. The others are acked `skipped` without being sent. */
  types: readonly string[];
}

export interface SubscriberStream {
  /** Aborts when the client goes away or the server stops. */
  signal: AbortSignal;
  /** Writes one event; resolves when the stream can take more. */
  send(event: Event): Promise<void>;
}

export interface AckInput {
  subscriber: string;
  eventId: string;
  outcome: Outcome;
  detail: string;
}

/** A record of one of the events topics was applied here (tests and watchers wait on these). */
export interface EventsChange {
  topic: typeof eventTopic | typeof receiptTopic | typeof subscribersTopic;
  origin: string;
  key: string;
}

export interface Events {
  /** Loads what is held, makes the deliveries a crash left out, publishes the subscribers record. */
  start(): void;
  /** Ends the open streams (UNAVAILABLE) and publishes the receipts still waiting. */
  stop(): void;
  /** Publishes an event; durable when it returns. Throws INVALID_ARGUMENT, RESOURCE_EXHAUSTED. */
  publish(input: PublishInput): Event;
  /**
   * Publishes several events together, in order: one transaction, one signature (the mesh's
   * publishMany). All or none: a bad entry throws, naming its index, and nothing is published.
   * At most limits.publishBatchEventsMax.
   */
  publishMany(inputs: readonly PublishInput[]): Event[];
  /**
   * As publish, but joined with the other publishSoon calls of this turn of the event loop into
   * one publishMany: what the Publish RPC uses, so concurrent callers share the commit and the
   * signature. Resolves when the event is durable.
   */
  publishSoon(input: PublishInput): Promise<Event>;
  /**
   * Publishes an identity source's change as a broadcast event, once per `sourceId`; resolves
   * when it is durable, so the source may then acknowledge it to its broker.
   */
  publishAccountEvent(input: AccountEventInput): Promise<void>;
  /**
   * Streams `subscriber`'s deliveries through `stream.send` until the stream's signal aborts
   * (resolves), a newer Subscribe replaces this one (rejects ABORTED) or the node stops (rejects
   * UNAVAILABLE).
   */
  subscribe(input: SubscribeInput, stream: SubscriberStream): Promise<void>;
  /** Records one answer; durable when it returns. Throws NOT_FOUND, INVALID_ARGUMENT, FAILED_PRECONDITION. */
  ack(input: AckInput): void;
  /**
   * Records several answers in one transaction, each judged as ack() would; returns the ones
   * refused with their errors. Durable when it returns. At most limits.ackBatchAcksMax.
   */
  ackMany(acks: readonly AckInput[]): { eventId: string; error: AllianceError }[];
  /**
   * As ack, joined with the other ackSoon calls of this turn of the event loop into one
   * transaction (what the Ack RPC uses). Resolves when the answer is durable.
   */
  ackSoon(input: AckInput): Promise<void>;
  /** Per target cloud, each expected subscriber's outcome. Throws NOT_FOUND for an event not held. */
  status(eventId: string): GetEventStatusResponse;
  /**
   * The subscribers each cloud expects, as far as this node knows (the "subscribers" records it
   * holds; this cloud's from its config): the clouds a broadcast event is for.
   */
  expectations(): Map<string, string[]>;
  /** Calls `listener` after each event, receipt or subscribers record is applied here. */
  onChange(listener: (change: EventsChange) => void): () => void;
  /** Publishes the receipts changed since the last flush now, instead of at the next interval. */
  flushReceipts(): void;
  /** What /metrics shows: events held per origin cloud, and each subscriber's unanswered deliveries. */
  metricsSnapshot(): EventsMetricsSnapshot;
}

export interface SubscriberMetrics {
  name: string;
  /** Named in this cloud's config (events.expectedSubscribers). */
  expected: boolean;
  /** A Subscribe stream is open for it at this node. */
  connected: boolean;
  /** Not answered yet (waiting to be sent, or sent and not acked). */
  pending: number;
  /** Failed, waiting for a retry. */
  failed: number;
  /** Dead letters: failed too often, never sent again. */
  parked: number;
  /** Sent on the open stream and not acked yet. */
  inFlight: number;
}

export interface EventsMetricsSnapshot {
  heldByCloud: ReadonlyMap<string, number>;
  subscribers: SubscriberMetrics[];
}

/** What this node remembers of every event it holds, for acks and GetEventStatus. */
interface HeldEvent {
  origin: string;
  version: number;
  cloud: string;
  targetCloud: string;
  expiresAtMs: number;
}

const defaultPurgeIntervalMs = 60_000;
export const replacedDetails = 'replaced by a newer subscription';
export const stoppingDetails = 'the node is shutting down';

export function createEvents(deps: EventsDeps, options: EventsOptions): Events {
  const log = deps.log.child({ component: 'events' });
  const { clock, mesh } = deps;
  const { cloud, nodeId, config } = options;
  const randomId = deps.randomId ?? (() => timeOrderedUuid());
  const flushIntervalMs = options.receiptFlushIntervalMs ?? limits.receiptFlushIntervalMs;
  const gapRecheckMs = options.gapRecheckMs ?? limits.eventGapRecheckMs;
  const purgeIntervalMs = options.purgeIntervalMs ?? defaultPurgeIntervalMs;
  const outcomesMax = options.receiptOutcomesMax ?? limits.receiptOutcomesMax;
  const scanRowsMax = options.receiptScanRowsMax ?? limits.receiptScanRowsMax;
  assert(cloudOfNode(nodeId) === cloud, 'nodeId must be <cloud>/<node>');
  assert(config.windowMax >= 1 && config.attemptsMax >= 1, 'windowMax and attemptsMax must be positive');
  assert(config.retryBackoffMinMs >= 1 && config.retryBackoffMaxMs >= config.retryBackoffMinMs);

  const expected = new Set(config.expectedSubscribers);
  const store: DeliveryStore = createDeliveryStore(deps.db);
  const held = new Map<string, HeldEvent>();
  const heldPerCloud = new Map<string, number>();
  /** Known subscribers that are not expected, with their baselines. */
  const known = new Map<string, KnownSubscriber>();
  /** cloud -> publishing node -> the subscribers it says its cloud expects. */
  const expectedByCloud = new Map<string, Map<string, string[]>>();
  /** receipt key -> publishing node -> receipt. */
  const receipts = new Map<string, Map<string, IndexedReceipt>>();
  const live = new Map<string, Subscription>();
  const listeners = new Set<(change: EventsChange) => void>();

  /** Per `${subscriber}\0${origin}`: the V of the last receipt computed, and its bytes. */
  const receiptState = new Map<string, { floorVersion: number; published: Uint8Array | null }>();
  const dirtyReceipts = new Set<string>();
  let flushTimer: Timer | null = null;
  let purgeTimer: Timer | null = null;
  let unsubscribers: (() => void)[] = [];
  let running = false;
  /** Deliveries of records applied in this turn, written together (writeDeliveries). */
  let unwrittenDeliveries: NewDelivery[] = [];
  let writeScheduled = false;

  const topics = {
    event: deps.mesh.registerTopic({
      name: eventTopic,
      validate(record) {
        const event = decodeEventRecord(record);
        if (!held.has(event.id) && (heldPerCloud.get(event.originCloud) ?? 0) >= limits.eventsPerCloudMax) {
          throw tooManyEvents(event.originCloud, limits.eventsPerCloudMax);
        }
      },
    }),
    receipt: deps.mesh.registerTopic({
      name: receiptTopic,
      validate: (record) => void decodeReceiptRecord(record),
    }),
    subscribers: deps.mesh.registerTopic({
      name: subscribersTopic,
      validate: (record) => void decodeSubscribersRecord(record),
    }),
  } satisfies Record<string, Topic>;

  function emit(change: EventsChange): void {
    for (const listener of listeners) {
      try {
        listener(change);
      } catch (err) {
        log.error({ err }, 'events change listener failed');
      }
    }
  }

  const isTargetedHere = (targetCloud: string): boolean => targetCloud === '' || targetCloud === cloud;

  // ---- events held, and the deliveries they make ---------------------------------------

  function remember(event: Event, record: MeshRecord): HeldEvent | undefined {
    const existing = held.get(event.id);
    if (existing) return existing.origin === record.origin ? existing : undefined;
    const entry: HeldEvent = {
      origin: record.origin,
      version: record.version,
      cloud: event.originCloud,
      targetCloud: event.targetCloud,
      expiresAtMs: record.expiresAtMs,
    };
    held.set(event.id, entry);
    heldPerCloud.set(entry.cloud, (heldPerCloud.get(entry.cloud) ?? 0) + 1);
    return entry;
  }

  /**
   * Events applied lately, decoded, so sending them (to each subscriber) reads no record: a burst
   * is sent moments after it arrives. Bounded; older events are read from their records.
   */
  const recentEvents = new Map<string, Event>();

  function rememberRecent(event: Event): void {
    if (recentEvents.size >= limits.recentEventsCachedMax) {
      // Maps iterate in insertion order: forget the oldest.
      const oldest = recentEvents.keys().next();
      if (!oldest.done) recentEvents.delete(oldest.value);
    }
    recentEvents.set(event.id, event);
  }

  /** The subscribers that get an event of `origin` at `version`: the expected ones, and any other past its baseline. */
  function recipientsOf(origin: string, version: number): string[] {
    const names = [...expected];
    for (const subscriber of known.values()) {
      if (!expected.has(subscriber.name) && version > (subscriber.baseline.get(origin) ?? 0)) {
        names.push(subscriber.name);
      }
    }
    return names;
  }

  function onEventRecord(record: MeshRecord): void {
    if (record.deleted) {
      // Nothing publishes these: an event ends only by expiring.
      log.warn({ origin: record.origin, key: record.key }, 'event tombstone ignored');
      return;
    }
    if (record.expiresAtMs <= clock.nowMs()) return;
    let event: Event;
    try {
      // Checked on arrival (topic validate) or before publishing; decoded only.
      event = decodeHeldEvent(record);
    } catch (err) {
      // A stored copy gone bad.
      log.error(
        { reason: errorMessage(err), origin: record.origin, key: record.key },
        'event record does not decode',
      );
      return;
    }
    const entry = remember(event, record);
    if (!entry) {
      log.warn({ id: event.id, origin: record.origin }, 'event id already held from another origin; ignored');
      return;
    }
    if (isTargetedHere(event.targetCloud)) rememberRecent(event);
    if (isTargetedHere(event.targetCloud)) {
      for (const subscriber of recipientsOf(record.origin, record.version)) {
        unwrittenDeliveries.push({
          subscriber,
          eventId: event.id,
          origin: record.origin,
          version: record.version,
          type: event.type,
          timeMs: event.time?.getTime() ?? record.createdAtMs,
          expiresAtMs: record.expiresAtMs,
        });
      }
      if (unwrittenDeliveries.length > 0 && !writeScheduled) {
        writeScheduled = true;
        queueMicrotask(writeDeliveries);
      }
    }
    emit({ topic: eventTopic, origin: record.origin, key: record.key });
  }

  /**
   * Writes the deliveries of the records applied in this turn in one transaction: the mesh applies
   * a received batch (up to limits.recordsPerFrameMax records) in one turn, and one commit per
   * batch instead of per record is most of the cost of receiving a burst. They are made in the
   * order the records applied, so a stream never sees a later delivery of an origin before an
   * earlier one. Every path that reads deliveries writes these first.
   */
  function writeDeliveries(): void {
    writeScheduled = false;
    if (unwrittenDeliveries.length === 0) return;
    const batch = unwrittenDeliveries;
    unwrittenDeliveries = [];
    for (const delivery of store.insert(batch)) live.get(delivery.subscriber)?.noteNew(delivery);
  }

  function onReceiptRecord(record: MeshRecord): void {
    let byNode = receipts.get(record.key);
    if (record.deleted) {
      byNode?.delete(record.origin);
    } else {
      try {
        const receipt = indexReceipt(decodeReceiptRecord(record));
        if (!byNode) receipts.set(record.key, (byNode = new Map()));
        byNode.set(record.origin, receipt);
      } catch (err) {
        log.error(
          { reason: errorMessage(err), origin: record.origin, key: record.key },
          'receipt does not decode',
        );
        return;
      }
    }
    emit({ topic: receiptTopic, origin: record.origin, key: record.key });
  }

  function onSubscribersRecord(record: MeshRecord): void {
    let byNode = expectedByCloud.get(record.key);
    if (record.deleted) {
      byNode?.delete(record.origin);
      if (byNode?.size === 0) expectedByCloud.delete(record.key);
    } else {
      try {
        const payload = decodeSubscribersRecord(record);
        if (!byNode) expectedByCloud.set(payload.cloud, (byNode = new Map()));
        byNode.set(record.origin, payload.expected);
      } catch (err) {
        log.error({ reason: errorMessage(err), origin: record.origin }, 'subscribers record does not decode');
        return;
      }
    }
    emit({ topic: subscribersTopic, origin: record.origin, key: record.key });
  }

  function publishSubscribers(): void {
    const payload = encodeSubscribers({ cloud, expected: [...expected].sort() });
    const current = topics.subscribers.get(nodeId, cloud);
    if (current && !current.deleted && Buffer.from(current.payload).equals(Buffer.from(payload))) return;
    topics.subscribers.publish(cloud, payload);
    log.info({ expected: [...expected] }, 'expected subscribers published');
  }

  // ---- publishing --------------------------------------------------------------------

  function publishEvent(event: Event, expiresAtMs: number): Event {
    assert(running, 'publish() before start()');
    const payload = checkedPayload(event, expiresAtMs);
    checkTarget(event.targetCloud);
    if (!held.has(event.id) && (heldPerCloud.get(cloud) ?? 0) >= limits.eventsPerCloudMax) {
      throw tooManyEvents(cloud, limits.eventsPerCloudMax);
    }
    topics.event.publish(event.id, payload, { expiresAtMs });
    log.debug({ id: event.id, type: event.type, targetCloud: event.targetCloud }, 'event published');
    return event;
  }

  /**
   * Refuses a target cloud no node has heard of (no "subscribers" record of it is held): such an
   * event would be delivered nowhere and never complete. Every node publishes that record at start,
   * so a cloud known to the federation is known here moments after either side starts.
   */
  function checkTarget(targetCloud: string): void {
    if (targetCloud === '' || targetCloud === cloud || expectedByCloud.has(targetCloud)) return;
    throw new AllianceError(
      'FAILED_PRECONDITION',
      `no node of cloud "${targetCloud}" is known here; an event for it would be delivered nowhere`,
    );
  }

  /** A new event of this node from a Publish input. */
  function newEvent(input: PublishInput, nowMs: number): Event {
    return {
      id: randomId(),
      source: sourceOf(nodeId),
      type: input.type,
      subject: input.subject,
      time: new Date(nowMs),
      data: input.data ?? {},
      originCloud: cloud,
      attempt: 0,
      targetCloud: input.targetCloud,
    };
  }

  /** The event's record payload, checked exactly as every peer will check it. Throws INVALID_ARGUMENT. */
  function checkedPayload(event: Event, expiresAtMs: number): Uint8Array {
    checkEventFields(event);
    const payload = encodeEvent(event);
    // Checked exactly as every peer will check it, so nothing is published that peers refuse.
    decodeEventRecord({
      origin: nodeId,
      topic: eventTopic,
      key: event.id,
      version: 0,
      deleted: false,
      expiresAtMs,
      createdAtMs: clock.nowMs(),
      payload,
    });
    return payload;
  }

  function publishMany(inputs: readonly PublishInput[]): Event[] {
    assert(running, 'publish() before start()');
    if (inputs.length > limits.publishBatchEventsMax) {
      throw invalidArgument(`at most ${limits.publishBatchEventsMax} events may be published at once`);
    }
    if ((heldPerCloud.get(cloud) ?? 0) + inputs.length > limits.eventsPerCloudMax) {
      throw tooManyEvents(cloud, limits.eventsPerCloudMax);
    }
    const nowMs = clock.nowMs();
    const expiresAtMs = nowMs + config.retentionMs;
    const events = inputs.map((input) => newEvent(input, nowMs));
    const entries = events.map((event, i) => {
      try {
        const payload = checkedPayload(event, expiresAtMs);
        checkTarget(event.targetCloud);
        return { key: event.id, payload, options: { expiresAtMs } };
      } catch (err) {
        if (err instanceof AllianceError) throw new AllianceError(err.code, `events[${i}]: ${err.message}`);
        throw err;
      }
    });
    topics.event.publishMany(entries);
    log.debug({ events: events.length }, 'events published together');
    return events;
  }

  // Publishes and acks gathered per turn of the event loop (publishSoon, ackSoon).
  const publishQueue: {
    input: PublishInput;
    resolve: (event: Event) => void;
    reject: (err: unknown) => void;
  }[] = [];
  let ackQueue: { input: AckInput; resolve: () => void; reject: (err: unknown) => void }[] = [];
  let flushScheduled = false;

  function scheduleFlush(): void {
    if (flushScheduled) return;
    flushScheduled = true;
    setImmediate(flushQueues);
  }

  function flushQueues(): void {
    flushScheduled = false;
    flushPublishes();
    flushAcks();
  }

  function flushPublishes(): void {
    while (publishQueue.length > 0) {
      const queue = publishQueue.splice(0, limits.publishBatchEventsMax);
      let published: Event[] | null = null;
      try {
        published = publishMany(queue.map((entry) => entry.input));
      } catch {
        // One bad input (or the cap) fails the whole batch: publish each alone for its own answer.
      }
      for (const [i, entry] of queue.entries()) {
        if (published) {
          entry.resolve(published[i]!);
          continue;
        }
        try {
          entry.resolve(
            publishEvent(newEvent(entry.input, clock.nowMs()), clock.nowMs() + config.retentionMs),
          );
        } catch (err) {
          entry.reject(err);
        }
      }
    }
  }

  function flushAcks(): void {
    if (ackQueue.length === 0) return;
    const queue = ackQueue;
    ackQueue = [];
    const errors: unknown[] = [];
    try {
      deps.db.transaction(() => {
        for (const [i, entry] of queue.entries()) {
          try {
            ackOne(entry.input);
          } catch (err) {
            errors[i] = err;
          }
        }
      })();
    } catch (err) {
      for (const entry of queue) entry.reject(err);
      return;
    }
    for (const [i, entry] of queue.entries()) {
      if (errors[i] === undefined) entry.resolve();
      else entry.reject(errors[i]);
    }
  }

  // ---- subscriptions -----------------------------------------------------------------

  /** One open Subscribe stream: its own queue, window and wake-ups, so no subscriber waits on another. */
  class Subscription {
    readonly inFlight = new Map<string, { origin: string; version: number }>();
    /** Per origin, the highest version sent on this stream (new deliveries are looked for above it). */
    readonly cursors = new Map<string, number>();
    /** Origins with pending deliveries above their cursor, as far as this stream knows. */
    readonly origins: Set<string>;
    readonly ended = new AbortController();
    endReason: AllianceError | null = null;
    /** False once no failed delivery waits for a retry; a failed ack sets it again. */
    retriesPossible = true;
    /** Rung when there may be something to send: new deliveries, an ack, a retry or gap timer. */
    private readonly doorbell = new Wakeup();
    private retryTimer: { timer: Timer; dueMs: number } | null = null;
    private gapTimer: Timer | null = null;

    constructor(
      readonly name: string,
      readonly types: ReadonlySet<string> | null,
    ) {
      this.origins = new Set(store.originsWithPending(name));
    }

    ring(): void {
      this.doorbell.wake();
    }

    /** Resolves at the next ring() (at once if one came since the last wait), or on abort. */
    wait(signal: AbortSignal): Promise<void> {
      return this.doorbell.wait(signal);
    }

    noteNew(delivery: NewDelivery): void {
      this.origins.add(delivery.origin);
      // A delivery below what this stream sent already (not expected to happen: deliveries are made
      // as records apply, in version order up to the gap-free version) is looked for again.
      const cursor = this.cursors.get(delivery.origin) ?? 0;
      if (delivery.version <= cursor) this.cursors.set(delivery.origin, delivery.version - 1);
      this.ring();
    }

    end(reason: AllianceError): void {
      this.endReason ??= reason;
      this.ended.abort(reason);
    }

    scheduleRetry(dueMs: number): void {
      if (this.retryTimer && this.retryTimer.dueMs <= dueMs) return;
      this.retryTimer?.timer.cancel();
      const timer = clock.setTimer(dueMs - clock.nowMs(), () => {
        this.retryTimer = null;
        this.ring();
      });
      this.retryTimer = { timer, dueMs };
    }

    scheduleGapRecheck(): void {
      if (this.gapTimer) return;
      this.gapTimer = clock.setTimer(gapRecheckMs, () => {
        this.gapTimer = null;
        this.ring();
      });
    }

    cancelTimers(): void {
      this.retryTimer?.timer.cancel();
      this.retryTimer = null;
      this.gapTimer?.cancel();
      this.gapTimer = null;
    }
  }

  /** The event a delivery sends, or null when its record is gone (expired). */
  function loadEvent(delivery: Delivery): Event | null {
    const recent = recentEvents.get(delivery.eventId);
    const entry = held.get(delivery.eventId);
    if (recent && entry?.origin === delivery.origin && entry.expiresAtMs > clock.nowMs()) {
      return { ...recent, attempt: delivery.failures + 1 };
    }
    const record = topics.event.get(delivery.origin, delivery.eventId);
    if (!record || record.deleted || record.expiresAtMs <= clock.nowMs()) return null;
    try {
      return { ...decodeHeldEvent(record), attempt: delivery.failures + 1 };
    } catch (err) {
      log.error({ reason: errorMessage(err), id: delivery.eventId }, 'event record does not decode');
      return null;
    }
  }

  /**
   * The next events to send on `sub`, at most its free window, marked in flight: failed ones due
   * for a retry first, then new ones, per origin in version order and never above the origin's
   * gap-free version (so a late event never overtakes an earlier one), origins interleaved by
   * event time. Deliveries of types the stream does not take are acked `skipped` on the way.
   */
  function nextBatch(sub: Subscription): Event[] {
    writeDeliveries();
    const out: Event[] = [];
    const nowMs = clock.nowMs();
    const versions = mesh.versions();
    let blockedByGap = false;
    let windowFull = false;
    for (;;) {
      const room = config.windowMax - sub.inFlight.size;
      if (room <= 0) {
        windowFull = true;
        break;
      }
      const chosen: Delivery[] = [];
      /** A cursor stepped over deliveries in flight: look again even if nothing was chosen. */
      let stepped = false;
      const retries = sub.retriesPossible
        ? store
            .dueRetries(sub.name, nowMs, room + sub.inFlight.size)
            .filter((d) => !sub.inFlight.has(d.eventId))
        : [];
      if (sub.retriesPossible && retries.length === 0) {
        // None due: wake up when the next one is, or stop looking until a failed ack (failed ones
        // in flight come back through one).
        const dueMs = store.nextRetryDueMs(sub.name, nowMs);
        if (dueMs !== undefined) sub.scheduleRetry(dueMs);
        else sub.retriesPossible = false;
      }
      chosen.push(...retries.slice(0, room));
      const perOrigin: Delivery[][] = [];
      if (chosen.length < room) {
        for (const origin of [...sub.origins]) {
          const fetched = store.nextPending(sub.name, origin, sub.cursors.get(origin) ?? 0, room);
          if (fetched.length === 0) {
            sub.origins.delete(origin);
            continue;
          }
          const gapFree = versions.get(origin) ?? 0;
          const ready: Delivery[] = [];
          for (const delivery of fetched) {
            if (delivery.version > gapFree) {
              blockedByGap = true;
              break;
            }
            if (sub.inFlight.has(delivery.eventId)) {
              // Sent on this stream already (its cursor was moved back for a late delivery).
              sub.cursors.set(origin, delivery.version);
              stepped = true;
            } else ready.push(delivery);
          }
          if (ready.length > 0) perOrigin.push(ready);
        }
        chosen.push(...mergeByTime(perOrigin, room - chosen.length));
      }
      if (chosen.length === 0) {
        if (stepped) continue;
        break;
      }
      for (const delivery of chosen) {
        if (delivery.state === 'pending') {
          sub.cursors.set(delivery.origin, Math.max(sub.cursors.get(delivery.origin) ?? 0, delivery.version));
        }
        if (sub.types && !sub.types.has(delivery.type)) {
          settle(delivery, { state: 'skipped', detail: 'not among the types the subscriber takes' }, nowMs);
          continue;
        }
        const event = loadEvent(delivery);
        if (!event) {
          store.remove(delivery.subscriber, delivery.eventId);
          markReceiptDirty(delivery.subscriber, delivery.origin);
          continue;
        }
        sub.inFlight.set(delivery.eventId, { origin: delivery.origin, version: delivery.version });
        out.push(event);
      }
    }
    // Nothing more to send now, with room left: look again when the gap may have closed.
    if (!windowFull && out.length === 0 && blockedByGap) sub.scheduleGapRecheck();
    return out;
  }

  function settle(
    delivery: Delivery,
    answer: { state: 'done' | 'skipped'; detail: string },
    nowMs: number,
  ): void {
    store.update(delivery.subscriber, delivery.eventId, {
      state: answer.state,
      failures: delivery.failures,
      dueAtMs: 0,
      detail: answer.detail,
      ackedAtMs: nowMs,
    });
    markReceiptDirty(delivery.subscriber, delivery.origin);
  }

  async function serve(sub: Subscription, stream: SubscriberStream): Promise<void> {
    const signal = AbortSignal.any([stream.signal, sub.ended.signal]);
    while (!signal.aborted) {
      const batch = nextBatch(sub);
      for (const event of batch) {
        if (signal.aborted) return;
        await unlessAborted(stream.send(event), signal);
      }
      if (batch.length === 0) await sub.wait(signal);
    }
  }

  /** One answer of a subscriber (ack, ackMany, ackSoon). */
  function ackOne(input: AckInput): void {
    assert(running, 'ack() before start()');
    checkSubscriberName(input.subscriber);
    if (input.eventId === '') throw invalidArgument('event_id is required');
    if (Buffer.byteLength(input.detail) > limits.eventAckDetailBytesMax) {
      throw invalidArgument(`detail is longer than ${limits.eventAckDetailBytesMax} bytes`);
    }
    if (
      input.outcome !== Outcome.OUTCOME_DONE &&
      input.outcome !== Outcome.OUTCOME_FAILED &&
      input.outcome !== Outcome.OUTCOME_SKIPPED
    ) {
      throw invalidArgument('outcome must be OUTCOME_DONE, OUTCOME_FAILED or OUTCOME_SKIPPED');
    }
    writeDeliveries();
    const delivery = store.get(input.subscriber, input.eventId);
    if (!delivery) {
      if (!held.has(input.eventId)) throw notFound(`no event ${input.eventId} is held at this node`);
      throw notFound(`event ${input.eventId} has no delivery to subscriber ${input.subscriber} at this node`);
    }
    const sub = live.get(input.subscriber);
    const wasInFlight = sub?.inFlight.delete(input.eventId) ?? false;
    const nowMs = clock.nowMs();
    const final = delivery.state === 'done' || delivery.state === 'skipped';
    if (input.outcome === Outcome.OUTCOME_FAILED) {
      if (final) {
        sub?.ring();
        throw new AllianceError(
          'FAILED_PRECONDITION',
          `event ${input.eventId} was acked ${delivery.state} already; a final answer stands`,
        );
      }
      // Parked stays parked; a failure repeated for a delivery not sent again is counted once.
      if (delivery.state === 'parked' || (delivery.state === 'failed' && !wasInFlight)) {
        sub?.ring();
        return;
      }
      const failures = delivery.failures + 1;
      const parked = failures >= config.attemptsMax;
      const backoffMs = cappedDoublingMs(failures, {
        minMs: config.retryBackoffMinMs,
        maxMs: config.retryBackoffMaxMs,
      });
      store.update(input.subscriber, input.eventId, {
        state: parked ? 'parked' : 'failed',
        failures,
        dueAtMs: parked ? 0 : nowMs + backoffMs,
        detail: input.detail,
        ackedAtMs: nowMs,
      });
      if (!parked && sub) sub.retriesPossible = true;
      if (parked) {
        log.warn(
          { subscriber: input.subscriber, id: input.eventId, failures, detail: input.detail },
          'delivery parked after too many failures',
        );
      }
    } else if (!final) {
      settle(
        delivery,
        { state: input.outcome === Outcome.OUTCOME_DONE ? 'done' : 'skipped', detail: input.detail },
        nowMs,
      );
    }
    markReceiptDirty(input.subscriber, delivery.origin);
    sub?.ring();
  }

  // ---- receipts ----------------------------------------------------------------------

  const receiptStateKey = (subscriber: string, origin: string): string => `${subscriber}\0${origin}`;

  function markReceiptDirty(subscriber: string, origin: string): void {
    if (!expected.has(subscriber)) return;
    dirtyReceipts.add(receiptStateKey(subscriber, origin));
    if (flushTimer || !running) return;
    flushTimer = clock.setTimer(flushIntervalMs, () => {
      flushTimer = null;
      flushReceipts();
    });
  }

  function flushReceipts(): void {
    writeDeliveries();
    flushTimer?.cancel();
    flushTimer = null;
    if (dirtyReceipts.size === 0) return;
    const versions = mesh.versions();
    const dirty = [...dirtyReceipts];
    dirtyReceipts.clear();
    let published = 0;
    for (const key of dirty) {
      const [subscriber = '', origin = ''] = key.split('\0');
      let state = receiptState.get(key);
      if (!state) receiptState.set(key, (state = { floorVersion: 0, published: null }));
      // Read in slices: during a burst most deliveries above the floor are unanswered, and reading
      // them all at every flush cost more than the burst itself. A cut-short read claims nothing
      // past its last row; the next flush goes on from the new floor.
      const facts = store.receiptFacts(subscriber, origin, state.floorVersion, scanRowsMax);
      const gapFree = versions.get(origin) ?? 0;
      const receipt = computeReceipt({
        cloud,
        subscriber,
        origin,
        gapFreeVersion: facts.scannedThrough === null ? gapFree : Math.min(gapFree, facts.scannedThrough),
        deliveries: facts.deliveries,
        floorVersion: state.floorVersion,
        outcomesMax,
      });
      state.floorVersion = Number(receipt.handledThroughVersion);
      // Cut short: the next flush reads on from the new floor.
      if (facts.scannedThrough !== null) markReceiptDirty(subscriber, origin);
      const bytes = encodeReceipt(receipt);
      if (state.published && Buffer.from(state.published).equals(Buffer.from(bytes))) continue;
      topics.receipt.publish(receiptKey(cloud, subscriber, origin), bytes);
      state.published = bytes;
      published++;
    }
    if (published > 0) log.debug({ published }, 'receipts published');
  }

  // ---- status ------------------------------------------------------------------------

  function localOutcome(eventId: string, subscriber: string): SubscriberEventStatus {
    const delivery = store.get(subscriber, eventId);
    if (!delivery) return bestOutcome(subscriber, []);
    return {
      name: subscriber,
      outcome: outcomeOfState(delivery.state),
      detail: delivery.detail,
      ackedAt: delivery.ackedAtMs > 0 ? new Date(delivery.ackedAtMs) : undefined,
      attempts: attemptsOf(delivery),
      parked: delivery.state === 'parked',
    };
  }

  function expectedIn(targetCloud: string): string[] | undefined {
    if (targetCloud === cloud) return [...expected];
    const byNode = expectedByCloud.get(targetCloud);
    if (!byNode) return undefined;
    return [...new Set([...byNode.values()].flat())];
  }

  // ---- purge -------------------------------------------------------------------------

  function purge(): void {
    writeDeliveries();
    const nowMs = clock.nowMs();
    let dropped = 0;
    for (const [id, entry] of held) {
      if (entry.expiresAtMs > nowMs) continue;
      held.delete(id);
      heldPerCloud.set(entry.cloud, (heldPerCloud.get(entry.cloud) ?? 1) - 1);
      dropped++;
    }
    const rows = store.purge(nowMs);
    if (rows > 0) {
      // A pending delivery gone may let a receipt move on.
      for (const { subscriber, origin } of store.subscriberOrigins()) markReceiptDirty(subscriber, origin);
    }
    if (dropped > 0 || rows > 0) log.info({ events: dropped, deliveries: rows }, 'expired events purged');
    purgeTimer = clock.setTimer(purgeIntervalMs, purge);
  }

  // ---- the handle --------------------------------------------------------------------

  return {
    start() {
      assert(!running, 'events already started');
      running = true;
      for (const subscriber of store.knownSubscribers()) known.set(subscriber.name, subscriber);
      // Listen first, then load: a record applied in between is seen twice, and its deliveries
      // (INSERT OR IGNORE) made once. Loading makes the deliveries of every event held here,
      // which a crash between the mesh's commit and onChange may have left out.
      unsubscribers = [
        topics.event.onChange(onEventRecord),
        topics.receipt.onChange(onReceiptRecord),
        topics.subscribers.onChange(onSubscribersRecord),
      ];
      for (const record of topics.event.list()) onEventRecord(record);
      writeDeliveries();
      for (const record of topics.subscribers.list()) onSubscribersRecord(record);
      for (const record of topics.receipt.list()) {
        onReceiptRecord(record);
        if (record.origin !== nodeId) continue;
        try {
          const receipt = decodeReceiptRecord(record);
          receiptState.set(receiptStateKey(receipt.subscriber, receipt.origin), {
            floorVersion: 0,
            published: record.payload,
          });
        } catch {
          // Logged by onReceiptRecord; it is recomputed below anyway.
        }
      }
      publishSubscribers();
      for (const { subscriber, origin } of store.subscriberOrigins()) markReceiptDirty(subscriber, origin);
      flushReceipts();
      purgeTimer = clock.setTimer(purgeIntervalMs, purge);
      log.info({ events: held.size, expected: [...expected], known: [...known.keys()] }, 'events started');
    },

    stop() {
      if (!running) return;
      flushQueues();
      writeDeliveries();
      for (const sub of live.values()) sub.end(new AllianceError('UNAVAILABLE', stoppingDetails));
      flushReceipts();
      running = false;
      for (const unsubscribe of unsubscribers) unsubscribe();
      unsubscribers = [];
      purgeTimer?.cancel();
      purgeTimer = null;
    },

    publish(input) {
      const nowMs = clock.nowMs();
      return publishEvent(newEvent(input, nowMs), nowMs + config.retentionMs);
    },

    publishMany,

    publishSoon(input) {
      assert(running, 'publish() before start()');
      return new Promise<Event>((resolve, reject) => {
        publishQueue.push({ input, resolve, reject });
        scheduleFlush();
      });
    },

    async publishAccountEvent(input) {
      const id = eventIdFromSource(cloud, input.sourceId);
      if (held.has(id)) return;
      let data: Record<string, unknown>;
      try {
        data = JSON.parse(JSON.stringify(input.data ?? {})) as Record<string, unknown>;
      } catch (err) {
        throw invalidArgument(`account event data is not JSON: ${errorMessage(err)}`);
      }
      const nowMs = clock.nowMs();
      publishEvent(
        {
          id,
          source: sourceOf(nodeId),
          type: input.type,
          subject: input.subject,
          time: new Date(input.timeMs),
          data,
          originCloud: cloud,
          attempt: 0,
          targetCloud: '',
        },
        Math.max(input.timeMs, nowMs) + config.retentionMs,
      );
      log.info({ id, type: input.type, subject: input.subject }, 'account event published');
    },

    async subscribe(input, stream) {
      assert(running, 'subscribe() before start()');
      checkSubscriberName(input.subscriber);
      const types =
        input.types.length === 0 ? null : new Set(input.types.map((t) => checkEventType(t, 'types entry')));
      const name = input.subscriber;
      if (!expected.has(name) && !known.has(name)) {
        if (expected.size + known.size >= limits.subscribersMax) {
          throw new AllianceError(
            'RESOURCE_EXHAUSTED',
            `this node already delivers to ${limits.subscribersMax} subscribers (limits.subscribersMax)`,
          );
        }
        const subscriber: KnownSubscriber = { name, firstSeenMs: clock.nowMs(), baseline: mesh.versions() };
        store.addKnownSubscriber(subscriber);
        known.set(name, subscriber);
        log.info({ subscriber: name }, 'new subscriber: it gets the events applied from now on');
      }
      live.get(name)?.end(new AllianceError('ABORTED', replacedDetails));
      writeDeliveries();
      const sub = new Subscription(name, types);
      live.set(name, sub);
      log.info({ subscriber: name, types: types && [...types] }, 'subscriber connected');
      try {
        await serve(sub, stream);
      } catch (err) {
        if (!sub.endReason) throw err;
      } finally {
        sub.cancelTimers();
        if (live.get(name) === sub) live.delete(name);
        log.info(
          { subscriber: name, inFlight: sub.inFlight.size, reason: sub.endReason?.message },
          'subscriber gone',
        );
      }
      if (sub.endReason) throw sub.endReason;
    },

    ack(input) {
      ackOne(input);
    },

    ackMany(acks) {
      assert(running, 'ack() before start()');
      if (acks.length > limits.ackBatchAcksMax) {
        throw invalidArgument(`at most ${limits.ackBatchAcksMax} acks may be given at once`);
      }
      const refused: { eventId: string; error: AllianceError }[] = [];
      deps.db.transaction(() => {
        for (const input of acks) {
          try {
            ackOne(input);
          } catch (err) {
            if (!(err instanceof AllianceError)) throw err;
            refused.push({ eventId: input.eventId, error: err });
          }
        }
      })();
      return refused;
    },

    ackSoon(input) {
      assert(running, 'ack() before start()');
      return new Promise<void>((resolve, reject) => {
        ackQueue.push({ input, resolve, reject });
        scheduleFlush();
      });
    },

    status(eventId) {
      writeDeliveries();
      const entry = held.get(eventId);
      const record = entry && topics.event.get(entry.origin, eventId);
      if (!entry || !record || record.deleted || entry.expiresAtMs <= clock.nowMs()) {
        throw notFound(`no event ${eventId} is held at this node`);
      }
      const event = decodeHeldEvent(record);
      const targets =
        entry.targetCloud !== ''
          ? [entry.targetCloud]
          : [...new Set([cloud, ...expectedByCloud.keys()])].sort();
      const { complete, clouds } = assembleStatus(
        targets.map((target) => ({
          cloud: target,
          expected: expectedIn(target),
          outcomeOf: (subscriber) => {
            if (target === cloud) return localOutcome(eventId, subscriber);
            const byNode = receipts.get(receiptKey(target, subscriber, entry.origin));
            return bestOutcome(
              subscriber,
              [...(byNode?.values() ?? [])].map((receipt) =>
                outcomeFromReceipt(subscriber, receipt, eventId, entry.version),
              ),
            );
          },
        })),
      );
      return { complete, clouds, event };
    },

    expectations() {
      const clouds = new Set([cloud, ...expectedByCloud.keys()]);
      return new Map([...clouds].sort().map((name) => [name, [...(expectedIn(name) ?? [])].sort()]));
    },

    metricsSnapshot() {
      const names = [...new Set([...expected, ...known.keys()])].sort();
      return {
        heldByCloud: new Map(heldPerCloud),
        subscribers: names.map((name) => ({
          name,
          expected: expected.has(name),
          connected: live.has(name),
          pending: store.countInState(name, 'pending'),
          failed: store.countInState(name, 'failed'),
          parked: store.countInState(name, 'parked'),
          inFlight: live.get(name)?.inFlight.size ?? 0,
        })),
      };
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },

    flushReceipts,
  };
}

/** `promise`, or a rejection with `signal.reason` as soon as `signal` aborts. */
/**
 * Up to `count` deliveries from per-origin lists (each in version order), taking the earliest
 * event time among the heads each time: origins are interleaved fairly, and each keeps its order.
 */
function mergeByTime(lists: Delivery[][], count: number): Delivery[] {
  const heads = lists.map(() => 0);
  const out: Delivery[] = [];
  while (out.length < count) {
    let best = -1;
    for (let i = 0; i < lists.length; i++) {
      const candidate = lists[i]?.[heads[i] ?? 0];
      if (!candidate) continue;
      const current = best >= 0 ? lists[best]?.[heads[best] ?? 0] : undefined;
      if (!current || candidate.timeMs < current.timeMs) best = i;
    }
    if (best < 0) break;
    const chosen = lists[best]?.[heads[best] ?? 0];
    if (!chosen) break;
    out.push(chosen);
    heads[best] = (heads[best] ?? 0) + 1;
  }
  return out;
}
