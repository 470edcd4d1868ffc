/**
 * The SQLite record store on its own: one row per (origin, topic, key) holding the newest
 * version, per-origin contiguous versions that only rise, purging, and durability across
 * closing and reopening a database file.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordStore } from '../../../src/mesh/record-store.js';
import type { StoredRecord } from '../../../src/mesh/types.js';
import { openDatabase } from '../../../src/store/database.js';
import type { SqliteDatabase } from '../../../src/store/database.js';

const nowMs = 1_700_000_000_000;
const dayMs = 24 * 3600 * 1000;

/** A stored record with recognisable bytes; signature checking is not the store's business. */
function rec(fields: Partial<StoredRecord> & { key: string; version: number }): StoredRecord {
  const origin = fields.origin ?? 'cloud-a/n1';
  const topic = fields.topic ?? 'test';
  const tag = `${origin}|${topic}|${fields.key}|${fields.version}`;
  return {
    origin,
    topic,
    deleted: false,
    expiresAtMs: 0,
    createdAtMs: nowMs,
    payload: Buffer.from(`payload ${tag}`),
    body: Buffer.from(`body ${tag}`),
    signature: Buffer.from(`signature ${tag}`),
    ...fields,
  };
}

const databases: SqliteDatabase[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const db of databases.splice(0)) if (db.open) db.close();
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function memoryStore(): RecordStore {
  const db = openDatabase(':memory:');
  databases.push(db);
  return new RecordStore(db);
}

/** (topic, key, version) of each record, to compare listings whole. */
function summary(records: StoredRecord[]): string[] {
  return records.map((r) => `${r.origin} ${r.topic}/${r.key}@${r.version}`);
}

describe('RecordStore.put', () => {
  it('keeps only a newer version per (origin, topic, key) and says whether it stored', () => {
    const store = memoryStore();
    const v3 = rec({ key: 'k', version: 3 });
    expect(store.put(v3)).toBe(true);
    // Same version again, then an older one: both refused, the row is untouched.
    expect(store.put({ ...v3, payload: Buffer.from('other') })).toBe(false);
    expect(store.put(rec({ key: 'k', version: 2 }))).toBe(false);
    expect(store.get('cloud-a/n1', 'test', 'k')).toEqual(v3);

    const v7 = rec({ key: 'k', version: 7, deleted: true, expiresAtMs: nowMs + 5, createdAtMs: nowMs + 1 });
    expect(store.put(v7)).toBe(true);
    expect(store.get('cloud-a/n1', 'test', 'k')).toEqual(v7);
  });

  it('keeps the same key of different origins and topics apart', () => {
    const store = memoryStore();
    const records = [
      rec({ key: 'k', version: 5 }),
      rec({ key: 'k', version: 1, origin: 'cloud-b/n1' }),
      rec({ key: 'k', version: 2, topic: 'other' }),
    ];
    expect(records.map((r) => store.put(r))).toEqual([true, true, true]);
    expect(store.get('cloud-a/n1', 'test', 'k')).toEqual(records[0]);
    expect(store.get('cloud-b/n1', 'test', 'k')).toEqual(records[1]);
    expect(store.get('cloud-a/n1', 'other', 'k')).toEqual(records[2]);
    expect(store.get('cloud-c/n1', 'test', 'k')).toBeUndefined();
  });
});

describe('RecordStore.listTopic', () => {
  it('lists live records of the topic only: no tombstones, no expired records, no other topic', () => {
    const store = memoryStore();
    store.put(rec({ key: 'live', version: 1 }));
    store.put(rec({ key: 'live-b', version: 4, origin: 'cloud-b/n1' }));
    store.put(rec({ key: 'expires-later', version: 2, expiresAtMs: nowMs + 1 }));
    store.put(rec({ key: 'expires-now', version: 3, expiresAtMs: nowMs }));
    store.put(rec({ key: 'expired', version: 4, expiresAtMs: nowMs - 1 }));
    store.put(rec({ key: 'deleted', version: 5, deleted: true }));
    store.put(rec({ key: 'elsewhere', version: 6, topic: 'other' }));

    const listed = store.listTopic('test', nowMs).sort((a, b) => a.key.localeCompare(b.key));
    expect(summary(listed)).toEqual([
      'cloud-a/n1 test/expires-later@2',
      'cloud-a/n1 test/live@1',
      'cloud-b/n1 test/live-b@4',
    ]);
    // One millisecond later the record expiring then is gone too.
    expect(summary(store.listTopic('test', nowMs + 1)).sort()).toEqual([
      'cloud-a/n1 test/live@1',
      'cloud-b/n1 test/live-b@4',
    ]);
  });
});

describe('RecordStore.recordsAbove', () => {
  it('returns the records of one origin above a version, oldest first, at most `limit` of them', () => {
    const store = memoryStore();
    // Inserted out of order, across topics, with another origin in between.
    for (const [key, version, topic] of [
      ['e', 9, 'test'],
      ['a', 2, 'test'],
      ['d', 7, 'other'],
      ['b', 3, 'test'],
      ['c', 5, 'other'],
    ] as const) {
      store.put(rec({ key, version, topic }));
    }
    store.put(rec({ key: 'x', version: 4, origin: 'cloud-b/n1' }));
    store.put(rec({ key: 'gone', version: 8, deleted: true }));

    expect(summary(store.recordsAbove('cloud-a/n1', 0, 100))).toEqual([
      'cloud-a/n1 test/a@2',
      'cloud-a/n1 test/b@3',
      'cloud-a/n1 other/c@5',
      'cloud-a/n1 other/d@7',
      'cloud-a/n1 test/gone@8',
      'cloud-a/n1 test/e@9',
    ]);
    expect(summary(store.recordsAbove('cloud-a/n1', 3, 2))).toEqual([
      'cloud-a/n1 other/c@5',
      'cloud-a/n1 other/d@7',
    ]);
    expect(summary(store.recordsAbove('cloud-a/n1', 9, 100))).toEqual([]);
    expect(store.versionsAbove('cloud-a/n1', 4)).toEqual([5, 7, 8, 9]);
  });
});

describe('RecordStore origin versions', () => {
  it('only ever raise an origin version', () => {
    const store = memoryStore();
    store.setOriginVersion('cloud-a/n1', 5);
    store.setOriginVersion('cloud-a/n1', 3);
    store.setOriginVersion('cloud-b/n1', 1);
    store.setOriginVersion('cloud-b/n1', 2);
    expect(store.loadOriginVersions()).toEqual(
      new Map([
        ['cloud-a/n1', 5],
        ['cloud-b/n1', 2],
      ]),
    );
  });

  it('summarise the highest stored version and the record count of each origin', () => {
    const store = memoryStore();
    store.put(rec({ key: 'a', version: 2 }));
    store.put(rec({ key: 'b', version: 6, deleted: true }));
    store.put(rec({ key: 'a', version: 1, origin: 'cloud-b/n1' }));
    expect(store.storedSummary()).toEqual(
      new Map([
        ['cloud-a/n1', { maxVersion: 6, count: 2 }],
        ['cloud-b/n1', { maxVersion: 1, count: 1 }],
      ]),
    );
  });
});

describe('RecordStore.purge', () => {
  it('drops expired records and tombstones older than the horizon, and keeps the rest', () => {
    const store = memoryStore();
    const horizonMs = 7 * dayMs;
    store.put(rec({ key: 'live', version: 1, createdAtMs: nowMs - 30 * dayMs }));
    store.put(rec({ key: 'expired', version: 2, expiresAtMs: nowMs - 1 }));
    store.put(rec({ key: 'expires-now', version: 3, expiresAtMs: nowMs }));
    store.put(rec({ key: 'expires-later', version: 4, expiresAtMs: nowMs + 1 }));
    store.put(rec({ key: 'old-tombstone', version: 5, deleted: true, createdAtMs: nowMs - 8 * dayMs }));
    store.put(rec({ key: 'at-horizon', version: 6, deleted: true, createdAtMs: nowMs - horizonMs }));
    store.put(rec({ key: 'new-tombstone', version: 7, deleted: true, createdAtMs: nowMs - horizonMs + 1 }));

    expect(store.purge(nowMs, horizonMs)).toBe(4);
    expect(summary(store.recordsAbove('cloud-a/n1', 0, 100))).toEqual([
      'cloud-a/n1 test/live@1',
      'cloud-a/n1 test/expires-later@4',
      'cloud-a/n1 test/new-tombstone@7',
    ]);
    // Purging again at the same time finds nothing more.
    expect(store.purge(nowMs, horizonMs)).toBe(0);
  });

  it('leaves contiguous versions alone: a purged version stays accounted for', () => {
    const store = memoryStore();
    store.put(rec({ key: 'expired', version: 1, expiresAtMs: nowMs - 1 }));
    store.setOriginVersion('cloud-a/n1', 1);
    expect(store.purge(nowMs, dayMs)).toBe(1);
    expect(store.loadOriginVersions()).toEqual(new Map([['cloud-a/n1', 1]]));
  });
});

describe('RecordStore durability', () => {
  it('finds its records and origin versions again after the database file is closed and reopened', () => {
    const dir = mkdtempSync(join(tmpdir(), 'alliance-mesh-store-'));
    dirs.push(dir);
    const path = join(dir, 'alliance.db');

    const first = openDatabase(path);
    databases.push(first);
    const store = new RecordStore(first);
    const live = rec({ key: 'live', version: 1, expiresAtMs: nowMs + dayMs });
    const tombstone = rec({ key: 'gone', version: 2, deleted: true });
    const remote = rec({ key: 'k', version: 9, origin: 'cloud-b/n1', topic: 'other' });
    store.transaction(() => {
      store.put(live);
      store.put(tombstone);
      store.put(remote);
      store.setOriginVersion('cloud-a/n1', 2);
      store.setOriginVersion('cloud-b/n1', 7);
    });
    first.close();

    const second = openDatabase(path);
    databases.push(second);
    // Migrations already applied are not applied twice.
    const reopened = new RecordStore(second);
    expect(reopened.get('cloud-a/n1', 'test', 'live')).toEqual(live);
    expect(reopened.get('cloud-a/n1', 'test', 'gone')).toEqual(tombstone);
    expect(reopened.get('cloud-b/n1', 'other', 'k')).toEqual(remote);
    expect(reopened.loadOriginVersions()).toEqual(
      new Map([
        ['cloud-a/n1', 2],
        ['cloud-b/n1', 7],
      ]),
    );
    // And it still refuses to go back.
    expect(reopened.put(rec({ key: 'k', version: 8, origin: 'cloud-b/n1', topic: 'other' }))).toBe(false);
    reopened.setOriginVersion('cloud-a/n1', 1);
    expect(reopened.loadOriginVersions().get('cloud-a/n1')).toBe(2);
  });

  it('rolls back every change of a transaction that throws', () => {
    const store = memoryStore();
    expect(() =>
      store.transaction(() => {
        store.put(rec({ key: 'k', version: 1 }));
        store.setOriginVersion('cloud-a/n1', 1);
        throw new Error('crash mid-write');
      }),
    ).toThrow('crash mid-write');
    expect(store.get('cloud-a/n1', 'test', 'k')).toBeUndefined();
    expect(store.loadOriginVersions()).toEqual(new Map());
  });
});
