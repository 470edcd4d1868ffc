/**
 * Shared SQLite plumbing: open a database file with the pragmas every store wants
 * (WAL so readers never block the writer, synchronous=NORMAL which is durable under
 * WAL against process crashes), and run each capability's migrations once.
 * Capabilities own their tables; this file knows none of them.
 */
import Database from 'better-sqlite3';
import type { Database as SqliteDatabase } from 'better-sqlite3';

export type { SqliteDatabase };

export interface Migration {
  /** Unique across the whole database, e.g. "mesh-001-records". */
  id: string;
  sql: string;
}

export function openDatabase(path: string): SqliteDatabase {
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  db.exec('CREATE TABLE IF NOT EXISTS migrations (id TEXT PRIMARY KEY, applied_at_ms INTEGER NOT NULL)');
  return db;
}

/** Applies the migrations not applied yet, each in its own transaction, in the given order. */
export function migrate(db: SqliteDatabase, migrations: readonly Migration[]): void {
  const applied = new Set(
    (db.prepare('SELECT id FROM migrations').all() as { id: string }[]).map((row) => row.id),
  );
  const record = db.prepare('INSERT INTO migrations (id, applied_at_ms) VALUES (?, ?)');
  for (const migration of migrations) {
    if (applied.has(migration.id)) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      record.run(migration.id, Date.now());
    })();
  }
}
