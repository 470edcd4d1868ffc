/**
 * Durable record storage in SQLite: one row per (origin, topic, key) holding the
 * newest version, plus, per origin, the highest version held with no gap before it
 * (the "contiguous" version a digest announces). For this node's own origin the
 * contiguous version is also the counter of versions issued, so a restart never
 * reuses one: both change in the same transaction as the record.
 */
import type { Migration, SqliteDatabase } from '../store/database.js';
import { migrate } from '../store/database.js';
import type { NodeId, StoredRecord } from './types.js';

export const meshMigrations: Migration[] = [
  {
    id: 'mesh-001-records',
    sql: `
      CREATE TABLE mesh_records (
        origin TEXT NOT NULL,
        topic TEXT NOT NULL,
        key TEXT NOT NULL,
        version INTEGER NOT NULL,
        deleted INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        created_at_ms INTEGER NOT NULL,
        payload BLOB NOT NULL,
        body BLOB NOT NULL,
        signature BLOB NOT NULL,
        PRIMARY KEY (origin, topic, key)
      ) WITHOUT ROWID;
      CREATE INDEX mesh_records_origin_version ON mesh_records (origin, version);
      CREATE INDEX mesh_records_topic ON mesh_records (topic);
      CREATE TABLE mesh_origins (
        origin TEXT PRIMARY KEY,
        version INTEGER NOT NULL
      ) WITHOUT ROWID;
    `,
  },
  {
    // Records published together share one signature; each keeps its proof (batch-signature.ts).
    id: 'mesh-002-batch-proofs',
    sql: `ALTER TABLE mesh_records ADD COLUMN batch_proof BLOB NOT NULL DEFAULT x''`,
  },
];

interface RecordRow {
  origin: string;
  topic: string;
  key: string;
  version: number;
  deleted: number;
  expires_at_ms: number;
  created_at_ms: number;
  payload: Buffer;
  body: Buffer;
  signature: Buffer;
  batch_proof: Buffer;
}

function fromRow(row: RecordRow): StoredRecord {
  return {
    origin: row.origin,
    topic: row.topic,
    key: row.key,
    version: row.version,
    deleted: row.deleted === 1,
    expiresAtMs: row.expires_at_ms,
    createdAtMs: row.created_at_ms,
    payload: row.payload,
    body: row.body,
    signature: row.signature,
    ...(row.batch_proof.length > 0 ? { batchProof: row.batch_proof } : {}),
  };
}

export class RecordStore {
  private readonly statements;

  constructor(private readonly db: SqliteDatabase) {
    migrate(db, meshMigrations);
    this.statements = {
      get: db.prepare<[string, string, string], RecordRow>(
        'SELECT * FROM mesh_records WHERE origin = ? AND topic = ? AND key = ?',
      ),
      upsert: db.prepare(
        `INSERT INTO mesh_records (origin, topic, key, version, deleted, expires_at_ms, created_at_ms, payload, body, signature, batch_proof)
         VALUES (@origin, @topic, @key, @version, @deleted, @expiresAtMs, @createdAtMs, @payload, @body, @signature, @batchProof)
         ON CONFLICT (origin, topic, key) DO UPDATE SET
           version = excluded.version, deleted = excluded.deleted, expires_at_ms = excluded.expires_at_ms,
           created_at_ms = excluded.created_at_ms, payload = excluded.payload, body = excluded.body,
           signature = excluded.signature, batch_proof = excluded.batch_proof
         WHERE excluded.version > mesh_records.version`,
      ),
      listTopic: db.prepare<[string, number], RecordRow>(
        'SELECT * FROM mesh_records WHERE topic = ? AND deleted = 0 AND (expires_at_ms = 0 OR expires_at_ms > ?)',
      ),
      above: db.prepare<[string, number, number], RecordRow>(
        'SELECT * FROM mesh_records WHERE origin = ? AND version > ? ORDER BY version LIMIT ?',
      ),
      origins: db.prepare<[], { origin: string; version: number }>(
        'SELECT origin, version FROM mesh_origins',
      ),
      setOrigin: db.prepare(
        `INSERT INTO mesh_origins (origin, version) VALUES (?, ?)
         ON CONFLICT (origin) DO UPDATE SET version = excluded.version WHERE excluded.version > mesh_origins.version`,
      ),
      maxStored: db.prepare<[], { origin: string; version: number; count: number }>(
        'SELECT origin, MAX(version) AS version, COUNT(*) AS count FROM mesh_records GROUP BY origin',
      ),
      purge: db.prepare(
        `DELETE FROM mesh_records WHERE (expires_at_ms != 0 AND expires_at_ms <= ?)
           OR (deleted = 1 AND created_at_ms <= ?)`,
      ),
      deleteOlder: db.prepare(
        'DELETE FROM mesh_records WHERE origin = ? AND topic = ? AND key = ? AND version < ?',
      ),
      maxVersion: db.prepare<[string], { version: number | null }>(
        'SELECT MAX(version) AS version FROM mesh_records WHERE origin = ?',
      ),
      versionsAbove: db.prepare<[string, number], { version: number }>(
        'SELECT version FROM mesh_records WHERE origin = ? AND version > ? ORDER BY version',
      ),
    };
  }

  get(origin: NodeId, topic: string, key: string): StoredRecord | undefined {
    const row = this.statements.get.get(origin, topic, key);
    return row ? fromRow(row) : undefined;
  }

  /** Stores the record if it is newer than what is held for its key; true if it was. */
  put(record: StoredRecord): boolean {
    const result = this.statements.upsert.run({
      ...record,
      deleted: record.deleted ? 1 : 0,
      payload: Buffer.from(record.payload),
      body: Buffer.from(record.body),
      signature: Buffer.from(record.signature),
      batchProof: Buffer.from(record.batchProof ?? new Uint8Array()),
    });
    return result.changes > 0;
  }

  /** Drops what is held for (origin, topic, key) below `version`: a newer version replaced it. */
  deleteOlder(origin: NodeId, topic: string, key: string, version: number): void {
    this.statements.deleteOlder.run(origin, topic, key, version);
  }

  maxVersion(origin: NodeId): number {
    return this.statements.maxVersion.get(origin)?.version ?? 0;
  }

  listTopic(topic: string, nowMs: number): StoredRecord[] {
    return this.statements.listTopic.all(topic, nowMs).map(fromRow);
  }

  /** Records of `origin` with a version above `version`, oldest first. */
  recordsAbove(origin: NodeId, version: number, limit: number): StoredRecord[] {
    return this.statements.above.all(origin, version, limit).map(fromRow);
  }

  versionsAbove(origin: NodeId, version: number): number[] {
    return this.statements.versionsAbove.all(origin, version).map((row) => row.version);
  }

  /** The contiguous version of every origin held. */
  loadOriginVersions(): Map<NodeId, number> {
    return new Map(this.statements.origins.all().map((row) => [row.origin, row.version]));
  }

  /** Raises (never lowers) the contiguous version of `origin`. */
  setOriginVersion(origin: NodeId, version: number): void {
    this.statements.setOrigin.run(origin, version);
  }

  /** Per origin: highest stored version and number of stored records. */
  storedSummary(): Map<NodeId, { maxVersion: number; count: number }> {
    return new Map(
      this.statements.maxStored
        .all()
        .map((row) => [row.origin, { maxVersion: row.version, count: row.count }]),
    );
  }

  /** Drops expired records and tombstones older than the horizon; returns how many. */
  purge(nowMs: number, tombstoneHorizonMs: number): number {
    return this.statements.purge.run(nowMs, nowMs - tombstoneHorizonMs).changes;
  }

  transaction<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }
}
