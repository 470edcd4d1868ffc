/**
 * Projects the static identity source created at runtime for remote provisioning (a user of
 * another cloud asked for a project here), each with the one role assignment it was made for.
 * Kept in SQLite, one row per provisioning request, so a repeated or resumed request finds the
 * project it already made instead of making a second one.
 *
 * These projects are listed (listProvisionedProjects) but are not part of the configured
 * directory: the static source issues no tokens scoped to them (the user is another cloud's).
 */
import { randomUUID } from 'node:crypto';
import type { Migration, SqliteDatabase } from '../../store/database.js';
import { migrate } from '../../store/database.js';

export const provisionedProjectMigrations: readonly Migration[] = [
  {
    id: 'identity-static-003-provisioned-projects',
    sql: `
      CREATE TABLE identity_static_provisioned_projects (
        request_id TEXT PRIMARY KEY,
        project_id TEXT NOT NULL UNIQUE,
        name TEXT NOT NULL,
        domain_id TEXT NOT NULL,
        user_id TEXT NOT NULL,
        role TEXT NOT NULL,
        created_at_ms INTEGER NOT NULL,
        UNIQUE (domain_id, name)
      ) WITHOUT ROWID;
    `,
  },
];

export interface ProvisionedProject {
  requestId: string;
  projectId: string;
  name: string;
  domainId: string;
  /** The (remote) user the role is assigned to. */
  userId: string;
  role: string;
  createdAtMs: number;
}

interface Row {
  request_id: string;
  project_id: string;
  name: string;
  domain_id: string;
  user_id: string;
  role: string;
  created_at_ms: number;
}

const fromRow = (row: Row): ProvisionedProject => ({
  requestId: row.request_id,
  projectId: row.project_id,
  name: row.name,
  domainId: row.domain_id,
  userId: row.user_id,
  role: row.role,
  createdAtMs: row.created_at_ms,
});

export interface ProvisionedProjectStore {
  byRequest(requestId: string): ProvisionedProject | undefined;
  byName(domainId: string, name: string): ProvisionedProject | undefined;
  /** Inserts a new project (a fresh hex id, as Keystone's); durable when it returns. */
  insert(input: Omit<ProvisionedProject, 'projectId'>): ProvisionedProject;
  /** Deletes the project of `requestId`; false when there was none. */
  remove(requestId: string): boolean;
  list(): ProvisionedProject[];
}

export function createProvisionedProjectStore(db: SqliteDatabase): ProvisionedProjectStore {
  migrate(db, provisionedProjectMigrations);
  const columns = 'request_id, project_id, name, domain_id, user_id, role, created_at_ms';
  const statements = {
    byRequest: db.prepare<[string], Row>(
      `SELECT ${columns} FROM identity_static_provisioned_projects WHERE request_id = ?`,
    ),
    byName: db.prepare<[string, string], Row>(
      `SELECT ${columns} FROM identity_static_provisioned_projects WHERE domain_id = ? AND name = ?`,
    ),
    insert: db.prepare<[string, string, string, string, string, string, number]>(
      `INSERT INTO identity_static_provisioned_projects (${columns}) VALUES (?, ?, ?, ?, ?, ?, ?)`,
    ),
    remove: db.prepare<[string]>('DELETE FROM identity_static_provisioned_projects WHERE request_id = ?'),
    list: db.prepare<[], Row>(
      `SELECT ${columns} FROM identity_static_provisioned_projects ORDER BY created_at_ms, request_id`,
    ),
  };
  return {
    byRequest(requestId) {
      const row = statements.byRequest.get(requestId);
      return row && fromRow(row);
    },
    byName(domainId, name) {
      const row = statements.byName.get(domainId, name);
      return row && fromRow(row);
    },
    insert(input) {
      const project: ProvisionedProject = { ...input, projectId: randomUUID().replaceAll('-', '') };
      statements.insert.run(
        project.requestId,
        project.projectId,
        project.name,
        project.domainId,
        project.userId,
        project.role,
        project.createdAtMs,
      );
      return project;
    },
    remove: (requestId) => statements.remove.run(requestId).changes > 0,
    list: () => statements.list.all().map(fromRow),
  };
}
