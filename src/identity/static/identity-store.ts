/**
 * What the static identity source keeps in SQLite: the enabled state an operator set at runtime
 * (it wins over the config, and remembers the last disable so tokens revoked by it stay
 * revoked after a re-enable, as Keystone does for users), and one row per live opaque token.
 *
 * An opaque token is a bearer secret: only its SHA-256 is stored (as Keystone stores no
 * recoverable token for Fernet), so a copy of the database lets nobody act as anyone.
 *
 * Account events (a user or project disabled) wait in an outbox written in the same transaction
 * as the state change, until every onAccountEvent listener took them: a crash in between loses
 * nothing, it only offers the event again after the restart.
 */
import type { Migration, SqliteDatabase } from '../../store/database.js';
import type { AccountEvent } from '../types.js';
import { migrate } from '../../store/database.js';

export const staticIdentityMigrations: readonly Migration[] = [
  {
    id: 'identity-static-001-state',
    sql: `
      CREATE TABLE identity_static_enabled (
        kind TEXT NOT NULL CHECK (kind IN ('user', 'project')),
        id TEXT NOT NULL,
        enabled INTEGER NOT NULL CHECK (enabled IN (0, 1)),
        -- Tokens issued at or before this instant stay revoked: the last time it was disabled (0: never).
        revoked_before_ms INTEGER NOT NULL,
        changed_at_ms INTEGER NOT NULL,
        PRIMARY KEY (kind, id)
      ) WITHOUT ROWID;
      CREATE TABLE identity_static_tokens (
        token_sha256 TEXT PRIMARY KEY,
        user_id TEXT NOT NULL,
        project_id TEXT NOT NULL,
        audit_id TEXT NOT NULL,
        issued_at_ms INTEGER NOT NULL,
        expires_at_ms INTEGER NOT NULL
      ) WITHOUT ROWID;
      CREATE INDEX identity_static_tokens_expiry ON identity_static_tokens (expires_at_ms);
    `,
  },
  {
    id: 'identity-static-002-account-event-outbox',
    sql: `
      CREATE TABLE identity_static_account_events (
        seq INTEGER PRIMARY KEY AUTOINCREMENT,
        -- The AccountEvent, as JSON.
        event_json TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL
      );
    `,
  },
];

export type SubjectKind = 'user' | 'project';

export interface EnabledState {
  kind: SubjectKind;
  id: string;
  enabled: boolean;
  /** 0: never disabled at runtime. */
  revokedBeforeMs: number;
}

export interface OpaqueTokenRow {
  tokenSha256: string;
  userId: string;
  projectId: string;
  auditId: string;
  issuedAtMs: number;
  expiresAtMs: number;
}

interface EnabledRow {
  kind: SubjectKind;
  id: string;
  enabled: number;
  revoked_before_ms: number;
}

interface TokenRow {
  token_sha256: string;
  user_id: string;
  project_id: string;
  audit_id: string;
  issued_at_ms: number;
  expires_at_ms: number;
}

export interface PendingAccountEvent {
  seq: number;
  event: AccountEvent;
}

export interface StaticIdentityStore {
  enabledStates(): EnabledState[];
  /** The new state and, when given, the account event it caused, in one transaction; the event's seq. */
  setEnabled(state: EnabledState, changedAtMs: number, event?: AccountEvent): number | null;
  /** Account events not yet taken by the listeners, oldest first. */
  pendingAccountEvents(): PendingAccountEvent[];
  deleteAccountEvent(seq: number): void;
  insertToken(row: OpaqueTokenRow): void;
  findToken(tokenSha256: string): OpaqueTokenRow | undefined;
  /** Deletes the rows of tokens that expired at or before `expiredBeforeMs`; returns how many. */
  purgeExpired(expiredBeforeMs: number): number;
  countTokens(): number;
}

export function createStaticIdentityStore(db: SqliteDatabase): StaticIdentityStore {
  migrate(db, staticIdentityMigrations);
  const statements = {
    enabledStates: db.prepare<[], EnabledRow>(
      'SELECT kind, id, enabled, revoked_before_ms FROM identity_static_enabled',
    ),
    setEnabled: db.prepare(
      `INSERT INTO identity_static_enabled (kind, id, enabled, revoked_before_ms, changed_at_ms)
       VALUES (@kind, @id, @enabled, @revokedBeforeMs, @changedAtMs)
       ON CONFLICT (kind, id) DO UPDATE SET
         enabled = excluded.enabled, revoked_before_ms = excluded.revoked_before_ms,
         changed_at_ms = excluded.changed_at_ms`,
    ),
    insertToken: db.prepare(
      `INSERT INTO identity_static_tokens (token_sha256, user_id, project_id, audit_id, issued_at_ms, expires_at_ms)
       VALUES (@tokenSha256, @userId, @projectId, @auditId, @issuedAtMs, @expiresAtMs)`,
    ),
    findToken: db.prepare<[string], TokenRow>('SELECT * FROM identity_static_tokens WHERE token_sha256 = ?'),
    purgeExpired: db.prepare('DELETE FROM identity_static_tokens WHERE expires_at_ms <= ?'),
    countTokens: db.prepare<[], { count: number }>('SELECT COUNT(*) AS count FROM identity_static_tokens'),
    insertEvent: db.prepare<[string, number]>(
      'INSERT INTO identity_static_account_events (event_json, created_at_ms) VALUES (?, ?)',
    ),
    pendingEvents: db.prepare<[], { seq: number; event_json: string }>(
      'SELECT seq, event_json FROM identity_static_account_events ORDER BY seq',
    ),
    deleteEvent: db.prepare<[number]>('DELETE FROM identity_static_account_events WHERE seq = ?'),
  };
  const setEnabled = db.transaction((state: EnabledState, changedAtMs: number, event?: AccountEvent) => {
    statements.setEnabled.run({
      kind: state.kind,
      id: state.id,
      enabled: state.enabled ? 1 : 0,
      revokedBeforeMs: state.revokedBeforeMs,
      changedAtMs,
    });
    if (event === undefined) return null;
    return Number(statements.insertEvent.run(JSON.stringify(event), changedAtMs).lastInsertRowid);
  });

  return {
    enabledStates: () =>
      statements.enabledStates.all().map((row) => ({
        kind: row.kind,
        id: row.id,
        enabled: row.enabled === 1,
        revokedBeforeMs: row.revoked_before_ms,
      })),
    setEnabled: (state, changedAtMs, event) => setEnabled(state, changedAtMs, event),
    pendingAccountEvents: () =>
      statements.pendingEvents
        .all()
        .map((row) => ({ seq: row.seq, event: JSON.parse(row.event_json) as AccountEvent })),
    deleteAccountEvent(seq) {
      statements.deleteEvent.run(seq);
    },
    insertToken(row) {
      statements.insertToken.run(row);
    },
    findToken(tokenSha256) {
      const row = statements.findToken.get(tokenSha256);
      return row === undefined
        ? undefined
        : {
            tokenSha256: row.token_sha256,
            userId: row.user_id,
            projectId: row.project_id,
            auditId: row.audit_id,
            issuedAtMs: row.issued_at_ms,
            expiresAtMs: row.expires_at_ms,
          };
    },
    purgeExpired: (expiredBeforeMs) => statements.purgeExpired.run(expiredBeforeMs).changes,
    countTokens: () => statements.countTokens.get()?.count ?? 0,
  };
}
