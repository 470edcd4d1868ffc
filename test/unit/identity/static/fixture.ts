/**
 * A static identity source over a real SQLite file and key file in a temp directory, with a
 * ManualClock; reopening the same directory is a node restart.
 */
import { createPrivateKey, sign, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { StaticIdentityConfig } from '../../../../src/config/types.js';
import { createStaticIdentity, type StaticIdentity } from '../../../../src/identity/index.js';
import { ManualClock } from '../../../../src/lib/clock.js';
import { silentLogger } from '../../../../src/lib/logger.js';
import { openDatabase, type SqliteDatabase } from '../../../../src/store/database.js';

export const cloud = 'cloud-a';

/** Keystone-like 32-hex ids, readable in failure output. */
const hexId = (prefix: string): string => prefix.padEnd(32, '0');

export const ids = {
  alice: hexId('a11ce'),
  bob: hexId('b0b'),
  carol: hexId('ca701'),
  dave: hexId('da7e'),
  demo: hexId('de30'),
  ops: hexId('0b5'),
  archive: hexId('a7c'),
  lab: hexId('1ab'),
};

/** A small Keystone: two domains, three projects in the default one (one disabled), four users. */
export function fixtureConfig(): StaticIdentityConfig {
  return {
    kind: 'static',
    domains: [
      { id: 'default', name: 'Default' },
      { id: 'research', name: 'Research' },
    ],
    projects: [
      { id: ids.demo, name: 'demo', domainId: 'default', enabled: true },
      { id: ids.ops, name: 'ops', domainId: 'default', enabled: true },
      { id: ids.archive, name: 'archive', domainId: 'default', enabled: false },
      { id: ids.lab, name: 'lab', domainId: 'research', enabled: true },
    ],
    users: [
      {
        id: ids.alice,
        name: 'alice',
        domainId: 'default',
        password: 'alice-secret',
        enabled: true,
        roles: [
          { project: 'demo', role: 'member' },
          { project: 'demo', role: 'reader' },
          { project: 'archive', role: 'member' },
        ],
      },
      {
        id: ids.bob,
        name: 'bob',
        domainId: 'default',
        password: 'bob-secret',
        enabled: true,
        roles: [{ project: 'ops', role: 'admin' }],
      },
      {
        id: ids.carol,
        name: 'carol',
        domainId: 'default',
        password: 'carol-secret',
        enabled: false,
        roles: [{ project: 'demo', role: 'member' }],
      },
      {
        id: ids.dave,
        name: 'dave',
        domainId: 'research',
        password: 'dave-secret',
        enabled: true,
        roles: [{ project: 'lab', role: 'member' }],
      },
    ],
    tokenTtlMs: 3600 * 1000,
  };
}

export interface Harness {
  dir: string;
  clock: ManualClock;
  db: SqliteDatabase;
  identity: StaticIdentity;
  jwsKeyPath: string;
  dbPath: string;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), 'alliance-static-identity-'));
}

/** Opens (or reopens: a restart) the identity source whose files live in `dir`. */
export function openHarness(
  dir: string,
  options: { clock?: ManualClock; config?: StaticIdentityConfig } = {},
): Harness {
  const clock = options.clock ?? new ManualClock(Date.UTC(2026, 0, 15, 10, 0, 0, 250));
  const dbPath = join(dir, 'node.db');
  const jwsKeyPath = join(dir, 'keys', 'jws', 'private.pem');
  const db = openDatabase(dbPath);
  const identity = createStaticIdentity(
    { db, clock, log: silentLogger(), jwsKeyPath },
    { cloud, config: options.config ?? fixtureConfig() },
  );
  return { dir, clock, db, identity, jwsKeyPath, dbPath };
}

export async function closeHarness(harness: Harness): Promise<void> {
  await harness.identity.stop();
  harness.db.close();
}

export function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

/** The identity source's own private key, read from its file, to forge tokens with valid signatures. */
export function privateKeyOf(harness: Harness): KeyObject {
  return createPrivateKey(readFileSync(harness.jwsKeyPath, 'utf8'));
}

const b64url = (value: unknown): string =>
  Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

/** A compact ES256 JWS with any header and payload, signed with `key`. */
export function signEs256(header: unknown, payload: unknown, key: KeyObject): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

export function decodeSegment(token: string, index: number): unknown {
  return JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString('utf8'));
}
