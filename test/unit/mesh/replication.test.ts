/**
 * How records travel: gap-free ("contiguous") versions under out-of-order delivery,
 * coverage closing gaps that superseded versions leave, tombstones, expiry and the
 * suppression of duplicates. Two or three real meshes, plus a hand-driven FakePeer where
 * a test needs frames no real node sends.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { RecordStore } from '../../../src/mesh/record-store.js';
import { openDatabase } from '../../../src/store/database.js';
import {
  FakePeer,
  TestCluster,
  contents,
  describeRecord,
  identity,
  intervalMs,
  nodeWithFakePeerIn,
  text,
} from './mesh-harness.js';
import type { TestNode } from './mesh-harness.js';

let cluster: TestCluster;

afterEach(async () => {
  await cluster.stop();
});

/** Versions a node holds gap-free, for the given origins (0 when none). */
function versionsOf(node: TestNode, origins: string[]): number[] {
  const held = node.mesh.versions();
  return origins.map((origin) => held.get(origin) ?? 0);
}

/** Two connected nodes: b is seeded with a. */
async function pair(): Promise<{ a: TestNode; b: TestNode }> {
  cluster = new TestCluster();
  const a = await cluster.start(identity('cloud-a'));
  const b = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
  return { a, b };
}

/** A node and a FakePeer that has said hello and introduced itself (member record, version 1). */
async function nodeWithFakePeer(): Promise<{ node: TestNode; fake: FakePeer }> {
  cluster = new TestCluster();
  const { node, fake } = await nodeWithFakePeerIn(cluster);
  expect(node.mesh.connectedPeers()).toEqual(['cloud-f/n1']);
  expect(versionsOf(node, ['cloud-f/n1'])).toEqual([1]);
  return { node, fake };
}

describe('out-of-order delivery', () => {
  it('stores a record that arrives early without jumping the gap, and closes it when the missing version is pushed', async () => {
    const { node, fake } = await nodeWithFakePeer();

    fake.push([fake.record({ key: 'k3', version: 3, payload: 'three' })]);
    await cluster.network.idle();
    expect(contents(node.topic.list())).toEqual(['cloud-f/n1 k3@3=three']);
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([1]);
    expect(node.mesh.status().origins.find((o) => o.origin === 'cloud-f/n1')).toEqual({
      origin: 'cloud-f/n1',
      version: 1n,
      bestKnownVersion: 3n,
      lag: 2n,
      recordCount: 2n,
    });

    fake.push([fake.record({ key: 'k2', version: 2, payload: 'two' })]);
    await cluster.network.idle();
    expect(contents(node.topic.list())).toEqual(['cloud-f/n1 k2@2=two', 'cloud-f/n1 k3@3=three']);
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([3]);
    expect(node.changes.map(describeRecord)).toEqual(['cloud-f/n1 k3@3=three', 'cloud-f/n1 k2@2=two']);
    // What it holds gap-free is persisted, so a restart starts from there.
    expect(node.store.loadOriginVersions().get('cloud-f/n1')).toBe(3);
  });

  it('closes several gaps at once when the last missing version arrives', async () => {
    const { node, fake } = await nodeWithFakePeer();
    fake.push([fake.record({ key: 'k5', version: 5 }), fake.record({ key: 'k3', version: 3 })]);
    await cluster.network.idle();
    fake.push([fake.record({ key: 'k4', version: 4 })]);
    await cluster.network.idle();
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([1]);

    fake.push([fake.record({ key: 'k2', version: 2 })]);
    await cluster.network.idle();
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([5]);
  });

  it('closes a gap left by a superseded version through delta coverage', async () => {
    const { node, fake } = await nodeWithFakePeer();
    // Version 2 was k's first value; version 3 replaced it, so no one will ever send version 2.
    fake.push([fake.record({ key: 'k', version: 3, payload: 'second' })]);
    await cluster.network.idle();
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([1]);

    // The origin answers a digest saying "1": everything it holds above 1, complete through 3.
    fake.delta([fake.record({ key: 'k', version: 3, payload: 'second' })], [[1, 3]]);
    await cluster.network.idle();
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([3]);
    expect(contents(node.topic.list())).toEqual(['cloud-f/n1 k@3=second']);
    expect(node.changes.map(describeRecord)).toEqual(['cloud-f/n1 k@3=second']);
  });

  it('ignores coverage that starts above the gap-free version it holds', async () => {
    const { node, fake } = await nodeWithFakePeer();
    fake.delta([fake.record({ key: 'k', version: 5 })], [[2, 5]]);
    await cluster.network.idle();
    // Nothing says versions 2 was held by anyone: the gap stays open.
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([1]);
  });

  it('trusts no coverage for an origin whose record in the same batch failed to verify', async () => {
    const { node, fake } = await nodeWithFakePeer();
    const good = fake.record({ key: 'k', version: 3, payload: 'good' });
    const tampered = { ...fake.record({ key: 'j', version: 2, payload: 'x' }), signature: good.signature };
    fake.delta([tampered, good], [[1, 3]]);
    await cluster.network.idle();
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([1]);
    expect(contents(node.topic.list())).toEqual(['cloud-f/n1 k@3=good']);
    expect(node.mesh.status().rejections).toEqual([{ reason: 'bad-signature', count: 1n }]);
  });

  it('leaves the gap of a superseded version pushed late to anti-entropy, and asks for it in the next digest', async () => {
    const { node, fake } = await nodeWithFakePeer();
    fake.push([fake.record({ key: 'k', version: 3, payload: 'second' })]);
    await cluster.network.idle();
    // Version 2 was k's older value, relayed around a slower path. The node holds k at 3,
    // so it drops version 2 unread: the gap before 3 stays open until coverage closes it.
    fake.push([fake.record({ key: 'k', version: 2, payload: 'first' })]);
    await cluster.network.idle();
    expect(contents(node.topic.list())).toEqual(['cloud-f/n1 k@3=second']);
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([1]);

    fake.frames.length = 0;
    await cluster.advance(intervalMs);
    expect(fake.frames).toEqual([
      {
        kind: {
          $case: 'digest',
          value: {
            entries: [
              { origin: 'cloud-b/n1', version: BigInt(node.base + 1) },
              { origin: 'cloud-f/n1', version: 1n },
            ],
          },
        },
      },
    ]);
  });
});

describe('coverage from a peer', () => {
  it('cannot silence another origin by claiming versions that origin never signed', async () => {
    const { a, b } = await pair();
    const fake = new FakePeer(cluster, identity('cloud-f'), b.address);
    fake.hello();
    await cluster.network.idle();
    // No record comes with it: nothing signed by cloud-a backs "complete from what b holds
    // (a's member record) through 10^12 versions beyond".
    fake.delta([], [[a.base + 1, a.base + 1e12]], 'cloud-a/n1');
    await cluster.network.idle();
    expect(versionsOf(b, ['cloud-a/n1'])).toEqual([a.base + 1]);

    a.topic.publish('k', text('still heard'));
    await cluster.network.idle();
    await cluster.advance(intervalMs);
    expect(contents(b.topic.list())).toEqual([`cloud-a/n1 k@${a.base + 2}=still heard`]);
    expect(versionsOf(b, ['cloud-a/n1'])).toEqual([a.base + 2]);
  });
});

describe('early records across a restart', () => {
  it('are still remembered, so the missing version closes the gap when it is pushed', async () => {
    cluster = new TestCluster();
    const idB = identity('cloud-b');
    const idF = identity('cloud-f');
    const store = new RecordStore(openDatabase(':memory:'));
    const node = await cluster.start(idB, { store });
    const before = new FakePeer(cluster, idF, node.address);
    before.hello();
    before.push([before.member(1), before.record({ key: 'k3', version: 3, payload: 'three' })]);
    await cluster.network.idle();
    expect(versionsOf(node, ['cloud-f/n1'])).toEqual([1]);
    await cluster.stopNode(node);

    const again = await cluster.start(idB, { store });
    const after = new FakePeer(cluster, idF, again.address);
    after.hello();
    after.push([after.record({ key: 'k2', version: 2, payload: 'two' })]);
    await cluster.network.idle();
    // Version 3 is in the store: holding 2 now means holding everything through 3.
    expect(versionsOf(again, ['cloud-f/n1'])).toEqual([3]);
  });
});

describe('eager push turned off', () => {
  it('leaves a new record to the next anti-entropy round', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'), { eagerPush: false });
    const b = await cluster.start(identity('cloud-b'), { seeds: [a.address], eagerPush: false });
    a.topic.publish('k', text('v'));
    await cluster.network.idle();
    expect(contents(b.topic.list())).toEqual([]);
    await cluster.advance(intervalMs);
    expect(contents(b.topic.list())).toEqual([`cloud-a/n1 k@${a.base + 2}=v`]);
  });
});

describe('superseded versions', () => {
  it('never block convergence: a peer that missed them reaches the origin version through coverage', async () => {
    const { a, b } = await pair();
    cluster.network.partition([a.address], [b.address]);
    await cluster.network.idle();
    expect(a.mesh.connectedPeers()).toEqual([]);

    // k is written twice while b is cut off: b will never see k's first version (base + 2).
    a.topic.publish('k', text('one'));
    a.topic.publish('other', text('x'));
    a.topic.publish('k', text('two'));
    expect(versionsOf(a, ['cloud-a/n1'])).toEqual([a.base + 4]);
    expect(versionsOf(b, ['cloud-a/n1'])).toEqual([a.base + 1]);

    cluster.network.heal();
    // Redials back off for at most backoffMaxMs; an anti-entropy round follows the hello.
    await cluster.advance(intervalMs, 3);
    expect(a.mesh.connectedPeers()).toEqual(['cloud-b/n1']);
    expect(versionsOf(b, ['cloud-a/n1', 'cloud-b/n1'])).toEqual([a.base + 4, b.base + 1]);
    expect(contents(b.topic.list())).toEqual([
      `cloud-a/n1 k@${a.base + 4}=two`,
      `cloud-a/n1 other@${a.base + 3}=x`,
    ]);
    const aVersion = BigInt(a.base + 4);
    const bVersion = BigInt(b.base + 1);
    expect(b.mesh.status().origins).toEqual([
      { origin: 'cloud-a/n1', version: aVersion, bestKnownVersion: aVersion, lag: 0n, recordCount: 3n },
      { origin: 'cloud-b/n1', version: bVersion, bestKnownVersion: bVersion, lag: 0n, recordCount: 1n },
    ]);
  });
});

describe('tombstones', () => {
  it('propagate a removal everywhere: the key leaves list() and listeners see deleted=true', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    const b = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
    const c = await cluster.start(identity('cloud-c'), { seeds: [b.address] });
    a.topic.publish('k', text('value'));
    a.topic.publish('kept', text('stays'));
    await cluster.network.idle();
    for (const node of [a, b, c]) {
      expect(contents(node.topic.list())).toEqual([
        `cloud-a/n1 k@${a.base + 2}=value`,
        `cloud-a/n1 kept@${a.base + 3}=stays`,
      ]);
    }

    const tombstone = a.topic.remove('k');
    expect(tombstone).toEqual({
      origin: 'cloud-a/n1',
      topic: 'test',
      key: 'k',
      version: a.base + 4,
      deleted: true,
      expiresAtMs: 0,
      createdAtMs: cluster.clock.nowMs(),
      payload: new Uint8Array(),
    });
    await cluster.network.idle();
    for (const node of [a, b, c]) {
      expect(contents(node.topic.list())).toEqual([`cloud-a/n1 kept@${a.base + 3}=stays`]);
      expect(node.changes.map(describeRecord)).toEqual([
        `cloud-a/n1 k@${a.base + 2}=value`,
        `cloud-a/n1 kept@${a.base + 3}=stays`,
        `cloud-a/n1 k@${a.base + 4}=<deleted>`,
      ]);
      expect(node.changes.at(-1)?.deleted).toBe(true);
      // get() still answers with the tombstone until the horizon.
      expect(node.topic.get('cloud-a/n1', 'k')).toMatchObject({ version: a.base + 4, deleted: true });
      expect(versionsOf(node, ['cloud-a/n1'])).toEqual([a.base + 4]);
    }
  });

  it('reach a node that was cut off when the key was removed', async () => {
    const { a, b } = await pair();
    a.topic.publish('k', text('value'));
    await cluster.network.idle();
    cluster.network.partition([a.address], [b.address]);
    a.topic.remove('k');
    cluster.network.heal();
    await cluster.advance(intervalMs, 3);
    expect(contents(b.topic.list())).toEqual([]);
    expect(b.topic.get('cloud-a/n1', 'k')).toMatchObject({ version: a.base + 3, deleted: true });
  });
});

describe('expiry', () => {
  it('does not store a record already expired on arrival, and does not let it block the gap-free version', async () => {
    const { a, b } = await pair();
    const nowMs = cluster.clock.nowMs();
    a.topic.publish('stale', text('old news'), { expiresAtMs: nowMs - 1 });
    a.topic.publish('fresh', text('news'), { expiresAtMs: nowMs + 60_000 });
    await cluster.network.idle();

    expect(b.topic.get('cloud-a/n1', 'stale')).toBeUndefined();
    expect(contents(b.topic.list())).toEqual([`cloud-a/n1 fresh@${a.base + 3}=news`]);
    expect(b.changes.map(describeRecord)).toEqual([`cloud-a/n1 fresh@${a.base + 3}=news`]);
    expect(versionsOf(b, ['cloud-a/n1'])).toEqual([a.base + 3]);
  });

  it('purges expired records on the purge timer, on the origin and on receivers', async () => {
    const { a, b } = await pair();
    a.topic.publish('short', text('soon gone'), { expiresAtMs: cluster.clock.nowMs() + 5_000 });
    a.topic.publish('long', text('stays'));
    await cluster.network.idle();
    expect(contents(b.topic.list())).toEqual([
      `cloud-a/n1 long@${a.base + 3}=stays`,
      `cloud-a/n1 short@${a.base + 2}=soon gone`,
    ]);

    await cluster.advance(intervalMs, 6);
    // Expired: no longer listed, but still held until the purge runs.
    for (const node of [a, b]) {
      expect(contents(node.topic.list())).toEqual([`cloud-a/n1 long@${a.base + 3}=stays`]);
      expect(node.topic.get('cloud-a/n1', 'short')).toMatchObject({ version: a.base + 2 });
    }

    await cluster.advance(intervalMs, 55); // past the first purge, 60 s after start
    for (const node of [a, b]) {
      expect(node.topic.get('cloud-a/n1', 'short')).toBeUndefined();
      expect(contents(node.topic.list())).toEqual([`cloud-a/n1 long@${a.base + 3}=stays`]);
      expect(versionsOf(node, ['cloud-a/n1'])).toEqual([a.base + 3]);
    }
  });

  it('a newer version of a key that expired before reaching a node still replaces the older version there', async () => {
    const { a, b } = await pair();
    a.topic.publish('k', text('first'));
    await cluster.network.idle();
    expect(contents(b.topic.list())).toEqual([`cloud-a/n1 k@${a.base + 2}=first`]);

    cluster.network.partition([a.address], [b.address]);
    a.topic.publish('k', text('second, short-lived'), { expiresAtMs: cluster.clock.nowMs() + 500 });
    await cluster.advance(1_000);
    cluster.network.heal();
    await cluster.advance(intervalMs, 3);

    expect(versionsOf(b, ['cloud-a/n1'])).toEqual([a.base + 3]);
    // The origin lists nothing under k: version base + 3 replaced base + 2, then expired.
    expect(contents(a.topic.list())).toEqual([]);
    expect(contents(b.topic.list())).toEqual([]);
  });
});

describe('duplicate suppression', () => {
  it('applies a record pushed twice once: one onChange, one stored copy', async () => {
    const { node, fake } = await nodeWithFakePeer();
    const record = fake.record({ key: 'k', version: 2, payload: 'once' });
    fake.push([record]);
    fake.push([record]);
    await cluster.network.idle();
    fake.push([record]);
    await cluster.network.idle();
    expect(node.changes.map(describeRecord)).toEqual(['cloud-f/n1 k@2=once']);
    expect(node.mesh.status().rejections).toEqual([]);
  });

  it('applies a record that arrived early once, however often it is pushed before the gap closes', async () => {
    const { node, fake } = await nodeWithFakePeer();
    const early = fake.record({ key: 'k', version: 3, payload: 'early' });
    fake.push([early]);
    fake.push([early]);
    await cluster.network.idle();
    fake.push([fake.record({ key: 'j', version: 2, payload: 'late' })]);
    fake.push([early]);
    await cluster.network.idle();
    expect(node.changes.map(describeRecord)).toEqual(['cloud-f/n1 k@3=early', 'cloud-f/n1 j@2=late']);
  });

  it('notifies each node once when three nodes relay the same record to each other', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    const b = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
    const c = await cluster.start(identity('cloud-c'), { seeds: [a.address] });
    await cluster.network.idle();
    expect([a, b, c].map((n) => n.mesh.connectedPeers())).toEqual([
      ['cloud-b/n1', 'cloud-c/n1'],
      ['cloud-a/n1', 'cloud-c/n1'],
      ['cloud-a/n1', 'cloud-b/n1'],
    ]);
    a.topic.publish('k', text('v'));
    await cluster.network.idle();
    await cluster.advance(intervalMs, 2);
    for (const node of [a, b, c]) {
      expect(node.changes.map(describeRecord)).toEqual([`cloud-a/n1 k@${a.base + 2}=v`]);
    }
  });
});
