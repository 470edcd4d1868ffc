/**
 * The events capability over real meshes (test/unit/mesh/mesh-harness.ts: real certificates and
 * signatures, an in-memory network, one ManualClock), each node on a file-backed SQLite database
 * so a "restart" reopens the same file, and subscribers driven by hand: a stream whose send()
 * records the event, and which the test can end or replace.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { EventsConfig } from '../../../src/config/types.js';
import { createEvents } from '../../../src/events/index.js';
import type { Events, EventsOptions } from '../../../src/events/index.js';
import type { Event } from '../../../src/gen/alliance/v1/events.js';
import { Outcome } from '../../../src/gen/alliance/v1/events.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { RecordStore } from '../../../src/mesh/record-store.js';
import { openDatabase } from '../../../src/store/database.js';
import type { SqliteDatabase } from '../../../src/store/database.js';
import { TestCluster, identity } from '../mesh/mesh-harness.js';
import type { Identity, TestNode } from '../mesh/mesh-harness.js';

export { Outcome };

export const baseConfig: EventsConfig = {
  expectedSubscribers: ['nova', 'neutron'],
  windowMax: 64,
  retryBackoffMinMs: 1_000,
  retryBackoffMaxMs: 8_000,
  attemptsMax: 4,
  retentionMs: 3_600_000,
};

export interface EventsNode {
  id: Identity;
  node: TestNode;
  db: SqliteDatabase;
  dbPath: string;
  events: Events;
}

export interface StartOptions {
  seeds?: string[];
  config?: Partial<EventsConfig>;
  /** Reopen this database file (a restart) instead of a new one. */
  dbPath?: string;
  /** Registers the topics but does not start the capability (records apply with no listener). */
  startEvents?: boolean;
  options?: Partial<EventsOptions>;
}

/** A stream a test drives: what was sent on it, and how it ended. */
export class TestStream {
  readonly received: Event[] = [];
  readonly controller = new AbortController();
  /** Settles when subscribe() returns or throws: the error, or null. */
  readonly ended: Promise<unknown>;
  endedWith: unknown = undefined;
  isEnded = false;

  constructor(events: Events, subscriber: string, types: string[] = []) {
    this.ended = events
      .subscribe(
        { subscriber, types },
        {
          signal: this.controller.signal,
          send: async (event) => {
            this.received.push(event);
          },
        },
      )
      .then(
        () => null,
        (err: unknown) => err,
      )
      .then((result) => {
        this.isEnded = true;
        this.endedWith = result;
        return result;
      });
  }

  ids(): string[] {
    return this.received.map((event) => event.id);
  }

  /** The client goes away. */
  cancel(): void {
    this.controller.abort();
  }
}

export class EventsCluster {
  readonly cluster = new TestCluster();
  readonly dir = mkdtempSync(join(tmpdir(), 'alliance-events-'));
  readonly running: EventsNode[] = [];
  private ids = new Map<string, Identity>();
  private counter = 0;
  private eventCounters = new Map<string, number>();

  /** Event ids that say where they come from: 00000000-0000-4000-8000-<cloud letter><counter>. */
  nextEventId(cloud: string): string {
    const next = (this.eventCounters.get(cloud) ?? 0) + 1;
    this.eventCounters.set(cloud, next);
    const letter = cloud
      .charCodeAt(cloud.length - 1)
      .toString(16)
      .padStart(4, '0');
    return `00000000-0000-4000-8000-${letter}${next.toString(16).padStart(8, '0')}`;
  }

  identity(cloud: string): Identity {
    let id = this.ids.get(cloud);
    if (!id) this.ids.set(cloud, (id = identity(cloud)));
    return id;
  }

  get clock() {
    return this.cluster.clock;
  }

  async start(cloud: string, options: StartOptions = {}): Promise<EventsNode> {
    const id = this.identity(cloud);
    const dbPath = options.dbPath ?? join(this.dir, `${cloud}-${++this.counter}.db`);
    const db = openDatabase(dbPath);
    const node = this.cluster.create(id, { seeds: options.seeds ?? [], store: new RecordStore(db) });
    const events = createEvents(
      {
        mesh: node.mesh,
        db,
        clock: this.cluster.clock,
        log: silentLogger(),
        randomId: () => this.nextEventId(cloud),
      },
      {
        cloud,
        nodeId: id.nodeId,
        config: { ...baseConfig, ...options.config },
        ...options.options,
      },
    );
    await node.mesh.start();
    if (options.startEvents ?? true) events.start();
    await this.cluster.network.idle();
    const started: EventsNode = { id, node, db, dbPath, events };
    this.running.push(started);
    return started;
  }

  /** Stops the capability and the mesh and closes the database (the file stays). */
  async stopNode(target: EventsNode): Promise<void> {
    this.running.splice(this.running.indexOf(target), 1);
    target.events.stop();
    await this.cluster.stopNode(target.node);
    target.db.close();
  }

  async idle(): Promise<void> {
    await this.cluster.network.idle();
  }

  /** Moves the clock (firing timers) and lets everything settle. */
  async advance(ms: number): Promise<void> {
    await this.cluster.advance(ms);
  }

  async stop(): Promise<void> {
    for (const target of [...this.running]) await this.stopNode(target);
    await this.cluster.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function ack(
  events: Events,
  subscriber: string,
  eventId: string,
  outcome: Outcome = Outcome.OUTCOME_DONE,
  detail = '',
): void {
  events.ack({ subscriber, eventId, outcome, detail });
}

export function projectDeleted(events: Events, subject: string, targetCloud = ''): Event {
  return events.publish({
    type: 'identity.project.deleted',
    subject,
    data: { project_id: subject },
    targetCloud,
  });
}
