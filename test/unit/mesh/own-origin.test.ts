/**
 * A node's own version counter: it survives a restart with its database; a fresh database
 * starts it from the clock (start time in ms x 1000), above what an earlier incarnation
 * issued; it skips past what peers hold when two incarnations share a start millisecond;
 * it can be moved by nothing a peer forges. A new record key re-signs the node's records.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { catalogTopic } from '../../../src/catalog/index.js';
import { memberTopic } from '../../../src/mesh/mesh.js';
import { RecordStore } from '../../../src/mesh/record-store.js';
import type { StoredRecord } from '../../../src/mesh/types.js';
import { openDatabase } from '../../../src/store/database.js';
import {
  FakePeer,
  TestCluster,
  catalogOf,
  contents,
  freshVersionsPerMs,
  identity,
  intervalMs,
  text,
  withNewRecordKey,
} from './mesh-harness.js';

let cluster: TestCluster;

afterEach(async () => {
  await cluster.stop();
});

function endpointUrls(node: { catalog: { listEndpoints(f: object): { url: string }[] } | null }): string[] {
  return (node.catalog?.listEndpoints({}) ?? []).map((e) => e.url).sort();
}

describe('restarts', () => {
  it('continue from the stored counter when the database survives', async () => {
    cluster = new TestCluster();
    const idA = identity('cloud-a');
    const store = new RecordStore(openDatabase(':memory:'));
    const a = await cluster.start(idA, { store });
    a.topic.publish('k', text('v'));
    await cluster.stopNode(a);
    // Later: a fresh database would start from a new, higher base. A kept one does not.
    await cluster.advance(intervalMs);

    const again = await cluster.start(idA, { store });
    // Member record re-published at base + 3: base + 1 and base + 2 are never issued twice.
    expect(again.mesh.versions()).toEqual(new Map([['cloud-a/n1', a.base + 3]]));
    expect(contents(again.topic.list())).toEqual([`cloud-a/n1 k@${a.base + 2}=v`]);
    expect(again.topic.publish('j', text('w')).version).toBe(a.base + 4);
  });

  it('after a wiped database restart later above every version issued before, so peers take the new member record and catalog at once', async () => {
    cluster = new TestCluster();
    const idA = identity('cloud-a');
    const idB = identity('cloud-b');
    const a = await cluster.start(idA, { catalog: catalogOf('cloud-a', 0) });
    const b = await cluster.start(idB, { seeds: [idA.address], catalog: catalogOf('cloud-b', 0) });
    a.catalog?.publish(catalogOf('cloud-a', 1));
    a.catalog?.publish(catalogOf('cloud-a', 2));
    a.topic.publish('old', text('from before the wipe'));
    await cluster.network.idle();
    // member base + 1, catalog + 2, + 3, + 4, test record + 5.
    expect(b.mesh.versions().get('cloud-a/n1')).toBe(a.base + 5);
    expect(endpointUrls(b)).toEqual(['https://cloud-a.test/g2', 'https://cloud-b.test/g0']);
    await cluster.stopNode(a);
    await cluster.advance(intervalMs);

    // Same certificate and record key, empty database, one interval later.
    const wiped = cluster.create(idA, { seeds: [idB.address], catalog: catalogOf('cloud-a', 9) });
    expect(wiped.base).toBe(a.base + intervalMs * freshVersionsPerMs);
    await wiped.mesh.start();
    expect(wiped.mesh.versions()).toEqual(new Map([['cloud-a/n1', wiped.base + 1]]));
    wiped.catalog?.start();
    expect(wiped.mesh.versions()).toEqual(new Map([['cloud-a/n1', wiped.base + 2]]));

    // No anti-entropy round passes: the first exchange on connecting carries it all.
    await cluster.network.idle();
    expect(wiped.mesh.connectedPeers()).toEqual(['cloud-b/n1']);
    expect(b.mesh.versions().get('cloud-a/n1')).toBe(wiped.base + 2);
    expect(endpointUrls(b)).toEqual(['https://cloud-a.test/g9', 'https://cloud-b.test/g0']);
    expect(endpointUrls(wiped)).toEqual(['https://cloud-a.test/g9', 'https://cloud-b.test/g0']);
    const member = b.mesh.members().find((m) => m.nodeId === 'cloud-a/n1');
    expect(member && { address: member.address, startedAtMs: member.startedAtMs }).toEqual({
      address: 'mem://cloud-a',
      startedAtMs: cluster.clock.nowMs(),
    });
    expect(b.mesh.status().rejections).toEqual([]);

    // Nothing had to be skipped or signed again, then or later.
    await cluster.advance(intervalMs, 2);
    expect(wiped.mesh.versions().get('cloud-a/n1')).toBe(wiped.base + 2);
    expect(b.mesh.versions().get('cloud-a/n1')).toBe(wiped.base + 2);
    expect(wiped.store.loadOriginVersions().get('cloud-a/n1')).toBe(wiped.base + 2);
  });

  it('after a wiped database restarted in the same millisecond, skip above what peers hold, and peers take the new catalog', async () => {
    cluster = new TestCluster();
    const idA = identity('cloud-a');
    const idB = identity('cloud-b');
    const a = await cluster.start(idA, { catalog: catalogOf('cloud-a', 0) });
    const b = await cluster.start(idB, { seeds: [idA.address], catalog: catalogOf('cloud-b', 0) });
    a.catalog?.publish(catalogOf('cloud-a', 1));
    a.catalog?.publish(catalogOf('cloud-a', 2));
    a.topic.publish('old', text('from before the wipe'));
    await cluster.network.idle();
    // member base + 1, catalog + 2, + 3, + 4, test record + 5.
    expect(b.mesh.versions().get('cloud-a/n1')).toBe(a.base + 5);
    expect(endpointUrls(b)).toEqual(['https://cloud-a.test/g2', 'https://cloud-b.test/g0']);
    await cluster.stopNode(a);

    // Same certificate and record key, empty database, and the clock has not moved: the
    // counter starts from the same base, below what b holds.
    const wiped = cluster.create(idA, { seeds: [idB.address], catalog: catalogOf('cloud-a', 9) });
    expect(wiped.base).toBe(a.base);
    await wiped.mesh.start();
    expect(wiped.mesh.versions()).toEqual(new Map([['cloud-a/n1', a.base + 1]]));
    wiped.catalog?.start();
    expect(wiped.mesh.versions()).toEqual(new Map([['cloud-a/n1', a.base + 2]]));

    await cluster.network.idle();
    await cluster.advance(intervalMs, 2);
    expect(wiped.mesh.connectedPeers()).toEqual(['cloud-b/n1']);
    // b's digest said base + 5: the member record and the catalog are signed again as
    // base + 6 and base + 7.
    expect(wiped.mesh.versions().get('cloud-a/n1')).toBe(a.base + 7);
    expect(b.mesh.versions().get('cloud-a/n1')).toBe(a.base + 7);
    expect(endpointUrls(b)).toEqual(['https://cloud-a.test/g9', 'https://cloud-b.test/g0']);
    expect(endpointUrls(wiped)).toEqual(['https://cloud-a.test/g9', 'https://cloud-b.test/g0']);
    expect(b.mesh.members().find((m) => m.nodeId === 'cloud-a/n1')?.address).toBe('mem://cloud-a');
    // The counter is durable at once: a crash now would not reuse base + 6 or base + 7.
    expect(wiped.store.loadOriginVersions().get('cloud-a/n1')).toBe(a.base + 7);
  });

  it('after a wiped database, the node and its peers agree on what the node publishes', async () => {
    cluster = new TestCluster();
    const idA = identity('cloud-a');
    const a = await cluster.start(idA);
    const b = await cluster.start(identity('cloud-b'), { seeds: [idA.address] });
    a.topic.publish('old', text('from before the wipe'));
    await cluster.network.idle();
    await cluster.stopNode(a);

    const wiped = await cluster.start(idA, { seeds: [b.address] });
    wiped.topic.publish('new', text('after the wipe'));
    await cluster.advance(intervalMs, 2);
    // The old incarnation's record is still held by b, signed with the same key: either the
    // node takes it back or it is gone everywhere, but both sides must list the same thing.
    expect(contents(b.topic.list()).filter((r) => r.startsWith('cloud-a/n1'))).toEqual(
      contents(wiped.topic.list()),
    );
  });
});

describe('a new record key', () => {
  it('re-signs every record the node holds, so a node joining later accepts them all under the new member record', async () => {
    cluster = new TestCluster();
    const idA = identity('cloud-a');
    const store = new RecordStore(openDatabase(':memory:'));
    const a = await cluster.start(idA, { store, catalog: catalogOf('cloud-a', 0) });
    const b = await cluster.start(identity('cloud-b'), { seeds: [idA.address] });
    a.topic.publish('k', text('v'));
    a.topic.publish('gone', text('x'));
    a.topic.remove('gone');
    await cluster.network.idle();
    // member base + 1, catalog + 2, k + 3, gone + 4, its tombstone + 5: all under the first key.
    expect(b.mesh.versions().get('cloud-a/n1')).toBe(a.base + 5);
    await cluster.stopNode(a);
    await cluster.advance(intervalMs);

    // Same certificate and database, new record key.
    const idA2 = withNewRecordKey(idA);
    const again = await cluster.start(idA2, { store, seeds: [b.address], catalog: catalogOf('cloud-a', 0) });
    // The member record (new key) at + 6, then everything held is signed again in version
    // order: catalog + 7, k + 8, the tombstone + 9, the member record itself + 10.
    expect(again.mesh.versions().get('cloud-a/n1')).toBe(a.base + 10);
    // What it holds of its own: every record but the member one verifies with the new key.
    const signedWith = (record: StoredRecord): string => {
      if (record.topic === memberTopic) return 'certificate';
      const { body, signature } = record;
      if (idA2.crypto.verifyRecord(idA2.crypto.recordPublicKey, body, signature)) return 'new key';
      return idA.crypto.verifyRecord(idA.crypto.recordPublicKey, body, signature) ? 'old key' : 'nothing';
    };
    expect(
      store
        .recordsAbove('cloud-a/n1', 0, 100)
        .map((r) => [`${r.topic}/${r.key}`, r.version - a.base, signedWith(r)]),
    ).toEqual([
      [`${catalogTopic}/catalog`, 7, 'new key'],
      ['test/k', 8, 'new key'],
      ['test/gone', 9, 'new key'],
      [`${memberTopic}/cloud-a/n1`, 10, 'certificate'],
    ]);
    expect(contents(again.topic.list())).toEqual([`cloud-a/n1 k@${a.base + 8}=v`]);
    expect(again.topic.get('cloud-a/n1', 'gone')).toMatchObject({ version: a.base + 9, deleted: true });

    await cluster.network.idle();
    expect(b.mesh.versions().get('cloud-a/n1')).toBe(a.base + 10);
    expect(
      Buffer.from(b.mesh.members().find((m) => m.nodeId === 'cloud-a/n1')?.recordPublicKey ?? []),
    ).toEqual(Buffer.from(idA2.crypto.recordPublicKey));
    expect(contents(b.topic.list())).toEqual([`cloud-a/n1 k@${a.base + 8}=v`]);
    expect(b.topic.get('cloud-a/n1', 'gone')).toMatchObject({ version: a.base + 9, deleted: true });
    expect(b.mesh.status().rejections).toEqual([]);

    // c only ever hears of a's new member record: what b relays must verify with its key.
    const c = await cluster.start(identity('cloud-c'), {
      seeds: [b.address],
      catalog: catalogOf('cloud-c', 0),
    });
    await cluster.advance(intervalMs, 2);
    expect(c.mesh.connectedPeers()).toEqual(['cloud-a/n1', 'cloud-b/n1']);
    expect(c.mesh.versions().get('cloud-a/n1')).toBe(a.base + 10);
    expect(contents(c.topic.list())).toEqual([`cloud-a/n1 k@${a.base + 8}=v`]);
    expect(c.topic.get('cloud-a/n1', 'gone')).toMatchObject({ version: a.base + 9, deleted: true });
    expect(endpointUrls(c)).toEqual(['https://cloud-a.test/g0', 'https://cloud-c.test/g0']);
    expect(c.mesh.status().rejections).toEqual([]);
    expect(c.events.filter((e) => e.kind === 'record-rejected')).toEqual([]);
  });
});

describe("this node's own origin", () => {
  it('cannot be forged: a record claiming it, signed by someone else, is rejected and moves nothing', async () => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'));
    const fake = new FakePeer(cluster, identity('cloud-f'), node.address);
    fake.hello();
    // Far above the node's counter: a genuine copy this new would make the node skip past it.
    fake.push([fake.member(1), fake.record({ origin: 'cloud-b/n1', key: 'k', version: node.base + 1_000 })]);
    await cluster.network.idle();
    expect(node.mesh.versions().get('cloud-b/n1')).toBe(node.base + 1);
    expect(node.mesh.status().rejections).toEqual([{ reason: 'forged-own-origin', count: 1n }]);
    expect(node.topic.publish('next', text('v')).version).toBe(node.base + 2);
  });

  it('cannot be pushed to the end of the safe integers by a peer repeating digests', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    const node = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
    const fake = new FakePeer(cluster, identity('cloud-f'), node.address);
    fake.hello();
    await cluster.network.idle();
    // Each digest claims the node is 2^40 further ahead of the counter it started with:
    // never "implausible" alone.
    const stepsMax = Math.ceil(2 ** 53 / 2 ** 40) + 1;
    for (let step = 1; step <= stepsMax; step++) fake.digest([['cloud-b/n1', node.base + step * 2 ** 40]]);
    await cluster.network.idle();

    // Past 2^53 - 1 every peer refuses the node's records as malformed, for good: the
    // counter is durable and never goes back.
    const own = node.mesh.versions().get('cloud-b/n1') ?? 0;
    expect(own).toBeLessThanOrEqual(Number.MAX_SAFE_INTEGER);
    // The node can still publish records its peers accept.
    node.topic.publish('after', text('still heard'));
    await cluster.network.idle();
    expect(contents(a.topic.list())).toEqual([`cloud-b/n1 after@${own + 1}=still heard`]);
    expect(a.mesh.status().rejections).toEqual([]);
  }, 60_000);
});
