/**
 * The local side of event delivery, in SQLite tables of the events capability: one row per
 * (subscriber, event) to deliver here, and the subscribers that are not expected by config but
 * subscribed once. A row is where that delivery stands (pending, failed and waiting to be
 * retried, done, skipped, parked), so a subscriber resumes after its last ack across restarts of
 * either side; what is in flight on a stream lives in memory only, so a stream that ends (or a
 * node that dies) leaves those deliveries pending, to be sent again (at-least-once).
 *
 * Every write is durable when it returns (better-sqlite3 is synchronous; WAL, store/database.ts).
 */
import type { Migration, SqliteDatabase } from '../store/database.js';
import { migrate } from '../store/database.js';
import type { DeliveryFacts, DeliveryState } from './receipt.js';

export const eventsMigrations: Migration[] = [
  {
    id: 'events-001-deliveries',
    sql: `
      CREATE TABLE events_deliveries (
        subscriber TEXT NOT NULL,
        event_id TEXT NOT NULL,
        origin TEXT NOT NULL,
        version INTEGER NOT NULL,
        type TEXT NOT NULL,
        time_ms INTEGER NOT NULL,
        state TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        due_at_ms INTEGER NOT NULL DEFAULT 0,
        detail TEXT NOT NULL DEFAULT '',
        acked_at_ms INTEGER NOT NULL DEFAULT 0,
        expires_at_ms INTEGER NOT NULL,
        PRIMARY KEY (subscriber, event_id)
      ) WITHOUT ROWID;
      CREATE INDEX events_deliveries_by_state ON events_deliveries (subscriber, state, origin, version);
      CREATE INDEX events_deliveries_by_origin ON events_deliveries (subscriber, origin, version);
      CREATE INDEX events_deliveries_expiry ON events_deliveries (expires_at_ms);
      CREATE TABLE events_subscribers (
        name TEXT PRIMARY KEY,
        first_seen_ms INTEGER NOT NULL,
        baseline TEXT NOT NULL
      ) WITHOUT ROWID;
    `,
  },
];

export interface NewDelivery {
  subscriber: string;
  eventId: string;
  origin: string;
  version: number;
  type: string;
  timeMs: number;
  expiresAtMs: number;
}

export interface Delivery extends NewDelivery {
  state: DeliveryState;
  failures: number;
  dueAtMs: number;
  detail: string;
  ackedAtMs: number;
}

/** A subscriber not expected by config: it gets the events applied after its first Subscribe. */
export interface KnownSubscriber {
  name: string;
  firstSeenMs: number;
  /** Per origin, the gap-free version held when it first subscribed: it gets the events above. */
  baseline: Map<string, number>;
}

export interface DeliveryUpdate {
  state: DeliveryState;
  failures: number;
  dueAtMs: number;
  detail: string;
  ackedAtMs: number;
}

interface DeliveryRow {
  subscriber: string;
  event_id: string;
  origin: string;
  version: number;
  type: string;
  time_ms: number;
  state: DeliveryState;
  failures: number;
  due_at_ms: number;
  detail: string;
  acked_at_ms: number;
  expires_at_ms: number;
}

export interface DeliveryStore {
  /** Inserts the deliveries not there yet (by subscriber and event id); returns the new ones. */
  insert(deliveries: readonly NewDelivery[]): NewDelivery[];
  get(subscriber: string, eventId: string): Delivery | undefined;
  /** Pending deliveries of `origin` above `afterVersion`, lowest version first. */
  nextPending(subscriber: string, origin: string, afterVersion: number, limit: number): Delivery[];
  /** Origins with pending deliveries to `subscriber`. */
  originsWithPending(subscriber: string): string[];
  /** How many deliveries to `subscriber` are in `state` (an index range: cheap for the unanswered states). */
  countInState(subscriber: string, state: DeliveryState): number;
  /** Failed deliveries due by `nowMs`, earliest first. */
  dueRetries(subscriber: string, nowMs: number, limit: number): Delivery[];
  /** When the next failed delivery not due by `nowMs` falls due; undefined if none. */
  nextRetryDueMs(subscriber: string, nowMs: number): number | undefined;
  update(subscriber: string, eventId: string, update: DeliveryUpdate): void;
  remove(subscriber: string, eventId: string): void;
  /**
   * What a receipt needs: the deliveries above `floorVersion` up to and including the first one
   * still pending (the receipt's V cannot pass it; answers above it are left out, so they show as
   * not acked until V reaches them), at most `aboveMax` of them, and those at or below the floor
   * not done. `scannedThrough` is the version of the last one read when the cap cut the list
   * short (the receipt must then claim nothing above it), else null.
   */
  receiptFacts(
    subscriber: string,
    origin: string,
    floorVersion: number,
    aboveMax: number,
  ): { deliveries: DeliveryFacts[]; scannedThrough: number | null };
  /** Every (subscriber, origin) with deliveries. */
  subscriberOrigins(): { subscriber: string; origin: string }[];
  /** Every subscriber's delivery of one event. */
  forEvent(eventId: string): Delivery[];
  /** Deletes deliveries of expired events; returns how many. */
  purge(nowMs: number): number;
  knownSubscribers(): KnownSubscriber[];
  addKnownSubscriber(subscriber: KnownSubscriber): void;
  /** Runs `fn` in one transaction (nested calls join it). */
  transaction<T>(fn: () => T): T;
}

export function createDeliveryStore(db: SqliteDatabase): DeliveryStore {
  migrate(db, eventsMigrations);
  const statements = {
    insert: db.prepare(
      `INSERT OR IGNORE INTO events_deliveries
         (subscriber, event_id, origin, version, type, time_ms, state, expires_at_ms)
       VALUES (@subscriber, @eventId, @origin, @version, @type, @timeMs, 'pending', @expiresAtMs)`,
    ),
    get: db.prepare('SELECT * FROM events_deliveries WHERE subscriber = ? AND event_id = ?'),
    nextPending: db.prepare(
      `SELECT * FROM events_deliveries
        WHERE subscriber = ? AND state = 'pending' AND origin = ? AND version > ?
        ORDER BY version LIMIT ?`,
    ),
    countInState: db.prepare<[string, string], { count: number }>(
      'SELECT COUNT(*) AS count FROM events_deliveries WHERE subscriber = ? AND state = ?',
    ),
    originsWithPending: db.prepare(
      `SELECT DISTINCT origin FROM events_deliveries WHERE subscriber = ? AND state = 'pending'`,
    ),
    dueRetries: db.prepare(
      `SELECT * FROM events_deliveries
        WHERE subscriber = ? AND state = 'failed' AND due_at_ms <= ?
        ORDER BY due_at_ms, origin, version LIMIT ?`,
    ),
    nextRetryDue: db.prepare(
      `SELECT MIN(due_at_ms) AS due FROM events_deliveries
        WHERE subscriber = ? AND state = 'failed' AND due_at_ms > ?`,
    ),
    update: db.prepare(
      `UPDATE events_deliveries
          SET state = @state, failures = @failures, due_at_ms = @dueAtMs, detail = @detail,
              acked_at_ms = @ackedAtMs
        WHERE subscriber = @subscriber AND event_id = @eventId`,
    ),
    remove: db.prepare('DELETE FROM events_deliveries WHERE subscriber = ? AND event_id = ?'),
    firstPendingAbove: db.prepare<[string, string, number], { version: number | null }>(
      `SELECT MIN(version) AS version FROM events_deliveries
        WHERE subscriber = ? AND state = 'pending' AND origin = ? AND version > ?`,
    ),
    receiptAbove: db.prepare(
      `SELECT event_id, version, state, failures, detail FROM events_deliveries
        WHERE subscriber = ? AND origin = ? AND version > ? AND version <= ? ORDER BY version LIMIT ?`,
    ),
    receiptBelow: db.prepare(
      `SELECT event_id, version, state, failures, detail FROM events_deliveries
        WHERE subscriber = ? AND state IN ('pending', 'failed', 'skipped', 'parked') AND origin = ?
          AND version <= ?`,
    ),
    subscriberOrigins: db.prepare('SELECT DISTINCT subscriber, origin FROM events_deliveries'),
    forEvent: db.prepare('SELECT * FROM events_deliveries WHERE event_id = ? ORDER BY subscriber'),
    purge: db.prepare('DELETE FROM events_deliveries WHERE expires_at_ms <= ?'),
    knownSubscribers: db.prepare('SELECT * FROM events_subscribers ORDER BY name'),
    addKnownSubscriber: db.prepare(
      'INSERT OR IGNORE INTO events_subscribers (name, first_seen_ms, baseline) VALUES (?, ?, ?)',
    ),
  };

  const insertAll = db.transaction((deliveries: readonly NewDelivery[]) =>
    deliveries.filter((delivery) => statements.insert.run(delivery).changes === 1),
  );

  const toFacts = (row: Pick<DeliveryRow, 'event_id' | 'version' | 'state' | 'failures' | 'detail'>) => ({
    eventId: row.event_id,
    version: row.version,
    state: row.state,
    failures: row.failures,
    detail: row.detail,
  });

  return {
    insert(deliveries) {
      if (deliveries.length === 0) return [];
      return insertAll(deliveries);
    },
    get(subscriber, eventId) {
      const row = statements.get.get(subscriber, eventId) as DeliveryRow | undefined;
      return row && fromRow(row);
    },
    nextPending: (subscriber, origin, afterVersion, limit) =>
      (statements.nextPending.all(subscriber, origin, afterVersion, limit) as DeliveryRow[]).map(fromRow),
    countInState: (subscriber, state) => statements.countInState.get(subscriber, state)?.count ?? 0,
    originsWithPending: (subscriber) =>
      (statements.originsWithPending.all(subscriber) as { origin: string }[]).map((row) => row.origin),
    dueRetries: (subscriber, nowMs, limit) =>
      (statements.dueRetries.all(subscriber, nowMs, limit) as DeliveryRow[]).map(fromRow),
    nextRetryDueMs(subscriber, nowMs) {
      const row = statements.nextRetryDue.get(subscriber, nowMs) as { due: number | null } | undefined;
      return row?.due ?? undefined;
    },
    update(subscriber, eventId, update) {
      statements.update.run({ subscriber, eventId, ...update });
    },
    remove(subscriber, eventId) {
      statements.remove.run(subscriber, eventId);
    },
    receiptFacts(subscriber, origin, floorVersion, aboveMax) {
      type FactRow = Pick<DeliveryRow, 'event_id' | 'version' | 'state' | 'failures' | 'detail'>;
      // During a burst nearly every delivery above the floor is unanswered: reading only up to the
      // first pending one keeps a flush to a few rows instead of the whole backlog.
      const firstPending =
        statements.firstPendingAbove.get(subscriber, origin, floorVersion)?.version ??
        Number.MAX_SAFE_INTEGER;
      const above = statements.receiptAbove.all(
        subscriber,
        origin,
        floorVersion,
        firstPending,
        aboveMax,
      ) as FactRow[];
      const below = statements.receiptBelow.all(subscriber, origin, floorVersion) as FactRow[];
      const last = above[above.length - 1];
      return {
        deliveries: [...below, ...above].map(toFacts),
        scannedThrough: above.length >= aboveMax && last ? last.version : null,
      };
    },
    subscriberOrigins: () => statements.subscriberOrigins.all() as { subscriber: string; origin: string }[],
    forEvent: (eventId) => (statements.forEvent.all(eventId) as DeliveryRow[]).map(fromRow),
    purge: (nowMs) => statements.purge.run(nowMs).changes,
    knownSubscribers: () =>
      (statements.knownSubscribers.all() as { name: string; first_seen_ms: number; baseline: string }[]).map(
        (row) => ({
          name: row.name,
          firstSeenMs: row.first_seen_ms,
          baseline: new Map(Object.entries(JSON.parse(row.baseline) as Record<string, number>)),
        }),
      ),
    addKnownSubscriber(subscriber) {
      statements.addKnownSubscriber.run(
        subscriber.name,
        subscriber.firstSeenMs,
        JSON.stringify(Object.fromEntries(subscriber.baseline)),
      );
    },
    transaction: (fn) => db.transaction(fn)(),
  };
}

function fromRow(row: DeliveryRow): Delivery {
  return {
    subscriber: row.subscriber,
    eventId: row.event_id,
    origin: row.origin,
    version: row.version,
    type: row.type,
    timeMs: row.time_ms,
    state: row.state,
    failures: row.failures,
    dueAtMs: row.due_at_ms,
    detail: row.detail,
    ackedAtMs: row.acked_at_ms,
    expiresAtMs: row.expires_at_ms,
  };
}
