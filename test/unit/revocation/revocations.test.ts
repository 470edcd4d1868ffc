/**
 * The revocation capability over real meshes (test/unit/mesh/mesh-harness.ts: real certificates
 * and signatures, SQLite, one ManualClock, an in-memory network): federated revocations reach
 * every node, forged ones are rejected and counted, local-only denials stay home and survive a
 * restart, Keystone events are idempotent, and expired patterns go away.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { Revocation } from '../../../src/gen/alliance/v1/tokens.js';
import type { RevocationInput } from '../../../src/identity/types.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { RecordStore } from '../../../src/mesh/record-store.js';
import {
  InvalidRevocationError,
  createRevocations,
  defaultPurgeIntervalMs,
  encodeRevocation,
  revocationTopic,
} from '../../../src/revocation/index.js';
import type { RevocationPattern, Revocations, TokenFacts } from '../../../src/revocation/index.js';
import { openDatabase } from '../../../src/store/database.js';
import type { SqliteDatabase } from '../../../src/store/database.js';
import { TestCluster, identity } from '../mesh/mesh-harness.js';
import type { Identity, TestNode } from '../mesh/mesh-harness.js';

const retentionMs = 10 * 60 * 1000;

interface RevocationNode {
  node: TestNode;
  db: SqliteDatabase;
  revocations: Revocations;
  /** Every pattern onApplied reported, in order. */
  applied: RevocationPattern[];
}

let cluster: TestCluster;
let running: RevocationNode[] = [];
let tempDirs: string[] = [];

afterEach(async () => {
  for (const r of running) r.revocations.stop();
  running = [];
  await cluster.stop();
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  tempDirs = [];
});

/**
 * A node running the revocation capability on its mesh's database, registered before the mesh
 * starts (as node.ts must), with ids rev-<cloud>-1, -2, ...
 */
async function startNode(
  id: Identity,
  options: { seeds?: string[]; db?: SqliteDatabase; revocationsPerCloudMax?: number } = {},
): Promise<RevocationNode> {
  const db = options.db ?? openDatabase(':memory:');
  const node = cluster.create(id, { seeds: options.seeds ?? [], store: new RecordStore(db) });
  let next = 0;
  const revocations = createRevocations(
    {
      mesh: node.mesh,
      db,
      clock: cluster.clock,
      log: silentLogger(),
      randomId: () => `rev-${id.cloud}-${++next}`,
    },
    {
      cloud: id.cloud,
      nodeId: id.nodeId,
      retentionMs,
      revocationsPerCloudMax: options.revocationsPerCloudMax,
    },
  );
  const applied: RevocationPattern[] = [];
  revocations.onApplied((pattern) => applied.push(pattern));
  await node.mesh.start();
  revocations.start();
  await cluster.network.idle();
  const started = { node, db, revocations, applied };
  running.push(started);
  return started;
}

async function stopNode(r: RevocationNode): Promise<void> {
  r.revocations.stop();
  running.splice(running.indexOf(r), 1);
  await cluster.stopNode(r.node);
}

/** Three clouds, b and c seeded with a. */
async function threeClouds(): Promise<RevocationNode[]> {
  cluster = new TestCluster();
  const a = await startNode(identity('cloud-a'));
  const b = await startNode(identity('cloud-b'), { seeds: [a.node.address] });
  const c = await startNode(identity('cloud-c'), { seeds: [a.node.address] });
  return [a, b, c];
}

/** A token of `cloud` for user-1, issued at `issuedAtMs`. */
function tokenOf(cloud: string, issuedAtMs: number, overrides: Partial<TokenFacts> = {}): TokenFacts {
  return {
    originCloud: cloud,
    fingerprint: `fp-${cloud}`,
    auditIds: [`audit-${cloud}`],
    userId: 'user-1',
    projectId: 'project-1',
    domainIds: ['default', 'default'],
    issuedAtMs,
    ...overrides,
  };
}

function userInput(issuedBeforeMs: number, overrides: Partial<RevocationInput> = {}): RevocationInput {
  return { userId: 'user-1', issuedBeforeMs, reason: 'user disabled', source: 'static', ...overrides };
}

function revocationRecords(r: RevocationNode): string[] {
  return r.node.store
    .listTopic(revocationTopic, cluster.clock.nowMs())
    .map((record) => `${record.origin} ${record.key}`)
    .sort();
}

describe('federated revocations', () => {
  it('made at one node, are found at every node once the network settles, and reported by onApplied at each', async () => {
    const [a, b, c] = await threeClouds();
    const nowMs = cluster.clock.nowMs();

    const made = a!.revocations.revoke(userInput(nowMs), { localOnly: false });
    await cluster.network.idle();

    const expected: RevocationPattern = {
      id: 'rev-cloud-a-1',
      originCloud: 'cloud-a',
      localOnly: false,
      userId: 'user-1',
      issuedBeforeMs: nowMs,
      secondGranularity: false,
      revokedAtMs: nowMs,
      expiresAtMs: nowMs + retentionMs,
      reason: 'user disabled',
      source: 'static',
    };
    const received = { ...expected, source: 'mesh:cloud-a/n1' };
    expect(made).toEqual(expected);
    expect(a!.applied).toEqual([expected]);
    expect(b!.applied).toEqual([received]);
    expect(c!.applied).toEqual([received]);
    const token = tokenOf('cloud-a', nowMs);
    expect([a, b, c].map((r) => r!.revocations.isRevoked(token))).toEqual([expected, received, received]);
    expect([a, b, c].map((r) => r!.revocations.list())).toEqual([[expected], [received], [received]]);
    expect(revocationRecords(c!)).toEqual(['cloud-a/n1 rev-cloud-a-1']);
  });

  it("apply only to the revoking cloud's tokens, issued at or before issued_before", async () => {
    const [a, b] = await threeClouds();
    const nowMs = cluster.clock.nowMs();
    a!.revocations.revoke(userInput(nowMs), { localOnly: false });
    await cluster.network.idle();

    expect(b!.revocations.isRevoked(tokenOf('cloud-b', nowMs))).toBeNull();
    expect(b!.revocations.isRevoked(tokenOf('cloud-a', nowMs + 1))).toBeNull();
    expect(b!.revocations.isRevoked(tokenOf('cloud-a', nowMs, { userId: 'user-2' }))).toBeNull();
    expect(b!.revocations.list({ originCloud: 'cloud-b' })).toEqual([]);
    expect(b!.revocations.list({ originCloud: 'cloud-a' }).map((p) => p.id)).toEqual(['rev-cloud-a-1']);
  });

  it("from a node claiming another cloud's tokens, or flagged local-only, are rejected and counted as invalid-payload", async () => {
    const [a, b] = await threeClouds();
    // A node of cloud-m running software that publishes whatever it likes on the topic.
    const rogue = cluster.create(identity('cloud-m'), { seeds: [a!.node.address, b!.node.address] });
    const rawTopic = rogue.mesh.registerTopic({ name: revocationTopic });
    await rogue.mesh.start();
    await cluster.network.idle();
    const nowMs = cluster.clock.nowMs();
    const base: RevocationPattern = {
      id: 'forged',
      originCloud: 'cloud-a',
      localOnly: false,
      userId: 'user-1',
      issuedBeforeMs: nowMs,
      secondGranularity: false,
      revokedAtMs: nowMs,
      expiresAtMs: nowMs + retentionMs,
      reason: 'forged',
      source: 'rogue',
    };

    rawTopic.publish('forged', encodeRevocation(base), { expiresAtMs: base.expiresAtMs });
    const everyone = { ...base, id: 'everyone', originCloud: 'cloud-m', localOnly: true };
    rawTopic.publish('everyone', encodeRevocation(everyone), { expiresAtMs: base.expiresAtMs });
    const garbage = Revocation.encode({
      ...Revocation.fromPartial({ id: 'garbage', originCloud: 'cloud-m' }),
    });
    rawTopic.publish('garbage', garbage.finish());
    // Its own cloud's tokens it may revoke.
    const own = { ...base, id: 'own', originCloud: 'cloud-m' };
    rawTopic.publish('own', encodeRevocation(own), { expiresAtMs: base.expiresAtMs });
    await cluster.network.idle();

    for (const r of [a!, b!]) {
      expect(r.node.mesh.status().rejections).toEqual([{ reason: 'invalid-payload', count: 3n }]);
      expect(r.revocations.isRevoked(tokenOf('cloud-a', nowMs))).toBeNull();
      expect(r.revocations.isRevoked(tokenOf('cloud-b', nowMs))).toBeNull();
      expect(r.revocations.list()).toEqual([{ ...own, source: 'mesh:cloud-m/n1' }]);
      expect(revocationRecords(r)).toEqual(['cloud-m/n1 own']);
    }
  });

  it('with issued_before more than 5 minutes ahead are refused before anything is published', async () => {
    const [a, b] = await threeClouds();
    const nowMs = cluster.clock.nowMs();

    let caught: unknown;
    try {
      a!.revocations.revoke(userInput(nowMs + 5 * 60 * 1000 + 1), { localOnly: false });
    } catch (err) {
      caught = err;
    }
    await cluster.network.idle();

    expect(caught).toBeInstanceOf(InvalidRevocationError);
    expect((caught as InvalidRevocationError).reason).toBe('issued-before-in-future');
    expect([revocationRecords(a!), revocationRecords(b!), a!.applied]).toEqual([[], [], []]);
  });
});

describe('local-only denials', () => {
  it("deny every cloud's matching tokens at their node and are never replicated", async () => {
    const [a, b, c] = await threeClouds();
    const nowMs = cluster.clock.nowMs();

    const denial = a!.revocations.revoke(userInput(nowMs, { reason: 'abuse' }), { localOnly: true });
    await cluster.network.idle();

    expect(denial).toEqual({
      id: 'rev-cloud-a-1',
      originCloud: 'cloud-a',
      localOnly: true,
      userId: 'user-1',
      issuedBeforeMs: nowMs,
      secondGranularity: false,
      revokedAtMs: nowMs,
      expiresAtMs: nowMs + retentionMs,
      reason: 'abuse',
      source: 'static',
    });
    expect(a!.revocations.isRevoked(tokenOf('cloud-b', nowMs))).toEqual(denial);
    expect(a!.revocations.isRevoked(tokenOf('cloud-a', nowMs))).toEqual(denial);
    expect(a!.applied).toEqual([denial]);
    for (const r of [b!, c!]) {
      expect(r.revocations.isRevoked(tokenOf('cloud-b', nowMs))).toBeNull();
      expect(r.revocations.list()).toEqual([]);
      expect(r.applied).toEqual([]);
    }
    expect([a, b, c].map((r) => revocationRecords(r!))).toEqual([[], [], []]);
  });

  it('survive a restart of their node, as do the federated revocations it made', async () => {
    cluster = new TestCluster();
    const dir = mkdtempSync(join(tmpdir(), 'alliance-revocation-'));
    tempDirs.push(dir);
    const path = join(dir, 'node.db');
    const idA = identity('cloud-a');
    const a = await startNode(idA, { db: openDatabase(path) });
    const b = await startNode(identity('cloud-b'), { seeds: [a.node.address] });
    const nowMs = cluster.clock.nowMs();
    const denial = a.revocations.revoke(userInput(nowMs, { reason: 'abuse' }), { localOnly: true });
    const federated = a.revocations.revoke(userInput(nowMs, { userId: 'user-2' }), { localOnly: false });
    await cluster.network.idle();

    await stopNode(a);
    a.db.close();
    await cluster.advance(1_000);
    const again = await startNode(idA, { db: openDatabase(path), seeds: [b.node.address] });

    const reloadedFederated = { ...federated, source: 'mesh:cloud-a/n1' };
    expect(again.revocations.list()).toEqual([denial, reloadedFederated]);
    expect(again.applied).toEqual([denial, reloadedFederated]);
    expect(again.revocations.isRevoked(tokenOf('cloud-c', nowMs))).toEqual(denial);
    expect(again.revocations.isRevoked(tokenOf('cloud-a', nowMs, { userId: 'user-2' }))).toEqual(
      reloadedFederated,
    );
    expect(b.revocations.isRevoked(tokenOf('cloud-b', nowMs))).toBeNull();
  });
});

describe('revocations from Keystone', () => {
  it('are made once however often the same event is reported, federated or local-only', async () => {
    const [a, b] = await threeClouds();
    // Keystone's OS-REVOKE times are whole seconds.
    const issuedBeforeMs = Math.floor(cluster.clock.nowMs() / 1000) * 1000;
    const event: RevocationInput = {
      auditId: 'q26SqLO0SKujBxzDia6-tQ',
      issuedBeforeMs,
      reason: 'token revoked',
      source: 'keystone-os-revoke',
    };

    const first = a!.revocations.revoke(event, { localOnly: false });
    await cluster.advance(1_000);
    const polledAgain = a!.revocations.revoke(event, { localOnly: false });
    const notified = a!.revocations.revoke(
      { ...event, source: 'keystone-notification' },
      { localOnly: false },
    );
    const localFirst = a!.revocations.revoke(event, { localOnly: true });
    const localAgain = a!.revocations.revoke(event, { localOnly: true });
    await cluster.network.idle();

    expect(first.id).toMatch(/^keystone-[0-9a-f]{32}$/);
    expect([polledAgain, notified]).toEqual([first, first]);
    expect(localAgain).toEqual(localFirst);
    expect(localFirst.id).not.toBe(first.id);
    expect(first).toMatchObject({ issuedBeforeMs: issuedBeforeMs + 999, secondGranularity: true });
    expect(a!.applied.map((p) => p.id)).toEqual([first.id, localFirst.id]);
    expect(b!.applied.map((p) => p.id)).toEqual([first.id]);
    expect(revocationRecords(b!)).toEqual([`cloud-a/n1 ${first.id}`]);
    expect(a!.db.prepare('SELECT id FROM revocation_local_denials').all()).toEqual([{ id: localFirst.id }]);
    // A token of that audit id issued later in the same second is revoked too (README §6).
    const sameSecond = tokenOf('cloud-a', issuedBeforeMs + 999, { auditIds: ['q26SqLO0SKujBxzDia6-tQ'] });
    expect(b!.revocations.isRevoked(sameSecond)?.id).toBe(first.id);
    expect(b!.revocations.isRevoked({ ...sameSecond, issuedAtMs: issuedBeforeMs + 1000 })).toBeNull();
  });

  it('already expired when reported again are neither held nor published', async () => {
    const [a, b] = await threeClouds();
    const longAgoMs = Math.floor(cluster.clock.nowMs() / 1000) * 1000 - retentionMs - 1000;

    const stale = a!.revocations.revoke(
      {
        userId: 'user-1',
        issuedBeforeMs: longAgoMs,
        reason: 'password changed',
        source: 'keystone-os-revoke',
      },
      { localOnly: false },
    );
    await cluster.network.idle();

    expect(stale.expiresAtMs).toBeLessThanOrEqual(cluster.clock.nowMs());
    expect([a!.revocations.list(), a!.applied, revocationRecords(a!), revocationRecords(b!)]).toEqual([
      [],
      [],
      [],
      [],
    ]);
  });
});

describe('the per-cloud limit', () => {
  it('refuses a revocation beyond it with RESOURCE_EXHAUSTED here, and rejects and counts one from a peer', async () => {
    cluster = new TestCluster();
    const a = await startNode(identity('cloud-a'));
    const b = await startNode(identity('cloud-b'), { seeds: [a.node.address], revocationsPerCloudMax: 2 });
    const nowMs = cluster.clock.nowMs();
    for (const user of ['user-1', 'user-2', 'user-3']) {
      a.revocations.revoke(userInput(nowMs, { userId: user }), { localOnly: false });
    }
    await cluster.network.idle();

    expect(b.revocations.list().map((p) => p.userId)).toEqual(['user-1', 'user-2']);
    expect(b.node.mesh.status().rejections).toEqual([{ reason: 'invalid-payload', count: 1n }]);
    // Cloud-b's own allowance is separate from cloud-a's, and is enforced on its own revocations.
    b.revocations.revoke(userInput(nowMs, { userId: 'user-1' }), { localOnly: false });
    b.revocations.revoke(userInput(nowMs, { userId: 'user-2' }), { localOnly: true });
    expect(() => b.revocations.revoke(userInput(nowMs, { userId: 'user-3' }), { localOnly: true })).toThrow(
      expect.objectContaining({ code: 'RESOURCE_EXHAUSTED' }),
    );
    expect(b.revocations.list({ originCloud: 'cloud-b' }).map((p) => p.id)).toEqual([
      'rev-cloud-b-1',
      'rev-cloud-b-2',
    ]);
  });
});

describe('expiry', () => {
  it('ends matching at expires_at everywhere, and the purge then drops patterns and local rows', async () => {
    const [a, b] = await threeClouds();
    const nowMs = cluster.clock.nowMs();
    a!.revocations.revoke(userInput(nowMs), { localOnly: false });
    a!.revocations.revoke(userInput(nowMs, { userId: 'user-2' }), { localOnly: true });
    await cluster.network.idle();
    const countRows = () => a!.db.prepare('SELECT COUNT(*) AS n FROM revocation_local_denials').get();

    await cluster.advance(retentionMs - 1);
    expect([a!.revocations.list().length, b!.revocations.list().length]).toEqual([2, 1]);
    expect(b!.revocations.isRevoked(tokenOf('cloud-a', nowMs))?.id).toBe('rev-cloud-a-1');

    await cluster.advance(1);
    expect([a!.revocations.list(), b!.revocations.list()]).toEqual([[], []]);
    expect(b!.revocations.isRevoked(tokenOf('cloud-a', nowMs))).toBeNull();
    expect(a!.revocations.isRevoked(tokenOf('cloud-a', nowMs, { userId: 'user-2' }))).toBeNull();

    await cluster.advance(defaultPurgeIntervalMs);
    expect([a!.revocations.size(), b!.revocations.size(), countRows()]).toEqual([0, 0, { n: 0 }]);
    expect([revocationRecords(a!), revocationRecords(b!)]).toEqual([[], []]);
  });
});
