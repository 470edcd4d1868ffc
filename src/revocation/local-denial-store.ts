/**
 * Local-only denials in SQLite: patterns this node applies to every cloud's tokens and never
 * publishes, kept in a table of their own so they survive a restart without entering the mesh.
 * A write is durable when it returns (better-sqlite3 is synchronous; WAL, see store/database.ts).
 */
import type { Migration, SqliteDatabase } from '../store/database.js';
import { migrate } from '../store/database.js';
import type { RevocationPattern } from './model.js';

export const revocationMigrations: Migration[] = [
  {
    id: 'revocation-001-local-denials',
    sql: `
      CREATE TABLE revocation_local_denials (
        id TEXT PRIMARY KEY,
        origin_cloud TEXT NOT NULL,
        token_fingerprint TEXT,
        audit_id TEXT,
        audit_chain_id TEXT,
        user_id TEXT,
        project_id TEXT,
        domain_id TEXT,
        issued_before_ms INTEGER NOT NULL,
        second_granularity INTEGER NOT NULL,
        revoked_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL,
        reason TEXT NOT NULL,
        source TEXT NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX revocation_local_denials_expiry ON revocation_local_denials (expires_at_ms);
    `,
  },
];

interface DenialRow {
  id: string;
  origin_cloud: string;
  token_fingerprint: string | null;
  audit_id: string | null;
  audit_chain_id: string | null;
  user_id: string | null;
  project_id: string | null;
  domain_id: string | null;
  issued_before_ms: number;
  second_granularity: number;
  revoked_at_ms: number;
  expires_at_ms: number;
  reason: string;
  source: string;
}

export interface LocalDenialStore {
  /** Stores `pattern` unless its id is stored; true when it was new. */
  insert(pattern: RevocationPattern): boolean;
  get(id: string): RevocationPattern | undefined;
  /** The denials not expired at `nowMs`. */
  listLive(nowMs: number): RevocationPattern[];
  /** Deletes the denials expired at `nowMs`; returns how many. */
  purge(nowMs: number): number;
}

export function createLocalDenialStore(db: SqliteDatabase): LocalDenialStore {
  migrate(db, revocationMigrations);
  const statements = {
    insert: db.prepare(
      `INSERT OR IGNORE INTO revocation_local_denials
         (id, origin_cloud, token_fingerprint, audit_id, audit_chain_id, user_id, project_id, domain_id,
          issued_before_ms, second_granularity, revoked_at_ms, expires_at_ms, reason, source)
       VALUES (@id, @origin_cloud, @token_fingerprint, @audit_id, @audit_chain_id, @user_id, @project_id,
          @domain_id, @issued_before_ms, @second_granularity, @revoked_at_ms, @expires_at_ms, @reason, @source)`,
    ),
    get: db.prepare('SELECT * FROM revocation_local_denials WHERE id = ?'),
    listLive: db.prepare('SELECT * FROM revocation_local_denials WHERE expires_at_ms > ? ORDER BY id'),
    purge: db.prepare('DELETE FROM revocation_local_denials WHERE expires_at_ms <= ?'),
  };
  return {
    insert: (pattern) => statements.insert.run(toRow(pattern)).changes === 1,
    get(id) {
      const row = statements.get.get(id) as DenialRow | undefined;
      return row ? fromRow(row) : undefined;
    },
    listLive: (nowMs) => (statements.listLive.all(nowMs) as DenialRow[]).map(fromRow),
    purge: (nowMs) => statements.purge.run(nowMs).changes,
  };
}

function toRow(pattern: RevocationPattern): DenialRow {
  return {
    id: pattern.id,
    origin_cloud: pattern.originCloud,
    token_fingerprint: pattern.tokenFingerprint ?? null,
    audit_id: pattern.auditId ?? null,
    audit_chain_id: pattern.auditChainId ?? null,
    user_id: pattern.userId ?? null,
    project_id: pattern.projectId ?? null,
    domain_id: pattern.domainId ?? null,
    issued_before_ms: pattern.issuedBeforeMs,
    second_granularity: pattern.secondGranularity ? 1 : 0,
    revoked_at_ms: pattern.revokedAtMs,
    expires_at_ms: pattern.expiresAtMs,
    reason: pattern.reason,
    source: pattern.source,
  };
}

function fromRow(row: DenialRow): RevocationPattern {
  const pattern: RevocationPattern = {
    id: row.id,
    originCloud: row.origin_cloud,
    localOnly: true,
    issuedBeforeMs: row.issued_before_ms,
    secondGranularity: row.second_granularity === 1,
    revokedAtMs: row.revoked_at_ms,
    expiresAtMs: row.expires_at_ms,
    reason: row.reason,
    source: row.source,
  };
  if (row.token_fingerprint !== null) pattern.tokenFingerprint = row.token_fingerprint;
  if (row.audit_id !== null) pattern.auditId = row.audit_id;
  if (row.audit_chain_id !== null) pattern.auditChainId = row.audit_chain_id;
  if (row.user_id !== null) pattern.userId = row.user_id;
  if (row.project_id !== null) pattern.projectId = row.project_id;
  if (row.domain_id !== null) pattern.domainId = row.domain_id;
  return pattern;
}
