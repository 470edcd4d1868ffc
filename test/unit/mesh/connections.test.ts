/**
 * Links between nodes: the hello handshake and its refusals, simultaneous dials, the
 * peer limit, what peers() and status() report, and redialing with backoff after a
 * peer goes away or the network is cut.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { limits } from '../../../src/config/limits.js';
import type { Frame } from '../../../src/gen/alliance/peer/v1/mesh.js';
import { PeerInfo_State } from '../../../src/gen/alliance/v1/admin.js';
import type { PeerInfo } from '../../../src/gen/alliance/v1/admin.js';
import type { Connection } from '../../../src/mesh/types.js';
import {
  FakePeer,
  TestCluster,
  backoffMaxMs,
  contents,
  firstBackoffMs,
  federation,
  identity,
  intervalMs,
  text,
} from './mesh-harness.js';
import type { TestNode } from './mesh-harness.js';

let cluster: TestCluster;

afterEach(async () => {
  await cluster.stop();
});

/** The fields of a PeerInfo that do not depend on when the test ran. */
function peerState(info: PeerInfo): Omit<PeerInfo, 'lastContact' | 'connectedSince'> {
  const { lastContact: _lastContact, connectedSince: _connectedSince, ...rest } = info;
  return rest;
}

/** Two connected nodes: b is seeded with a, so b dialed. */
async function pair(): Promise<{ a: TestNode; b: TestNode }> {
  cluster = new TestCluster();
  const a = await cluster.start(identity('cloud-a'));
  const b = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
  return { a, b };
}

describe('simultaneous dials', () => {
  async function startTogether(): Promise<{ a: TestNode; b: TestNode }> {
    cluster = new TestCluster();
    const idA = identity('cloud-a');
    const idB = identity('cloud-b');
    const a = cluster.create(idA, { seeds: [idB.address] });
    const b = cluster.create(idB, { seeds: [idA.address] });
    // Both listen before either dials, so each dials the other at once.
    await Promise.all([a.mesh.start(), b.mesh.start()]);
    await cluster.network.idle();
    return { a, b };
  }

  it('end with exactly one session on each side and no failed dial reported', async () => {
    const { a, b } = await startTogether();
    expect(a.mesh.connectedPeers()).toEqual(['cloud-b/n1']);
    expect(b.mesh.connectedPeers()).toEqual(['cloud-a/n1']);
    // The link cloud-a (the lower id) opened is the one both sides keep.
    expect(a.mesh.peers().map(peerState)).toEqual([
      {
        nodeId: 'cloud-b/n1',
        cloud: 'cloud-b',
        address: 'mem://cloud-b',
        state: PeerInfo_State.STATE_CONNECTED,
        lag: 0n,
        lastError: '',
        outbound: true,
        failedDials: 0,
      },
    ]);
    expect(b.mesh.peers().map(peerState)).toEqual([
      {
        nodeId: 'cloud-a/n1',
        cloud: 'cloud-a',
        address: 'mem://cloud-a',
        state: PeerInfo_State.STATE_CONNECTED,
        lag: 0n,
        lastError: '',
        outbound: false,
        failedDials: 0,
      },
    ]);
    // And the one link carries records both ways.
    a.topic.publish('k', text('from a'));
    b.topic.publish('k', text('from b'));
    await cluster.network.idle();
    expect(contents(a.topic.list())).toEqual(contents(b.topic.list()));
    expect(contents(a.topic.list())).toEqual([
      `cloud-a/n1 k@${a.base + 2}=from a`,
      `cloud-b/n1 k@${b.base + 2}=from b`,
    ]);
  });

  it('tell listeners of one connection per side, with no disconnection in between', async () => {
    const { a, b } = await startTogether();
    // Dropping the duplicate link is bookkeeping: the peer never stopped being connected.
    expect(a.events).toEqual([{ kind: 'peer-connected', peerId: 'cloud-b/n1' }]);
    expect(b.events).toEqual([{ kind: 'peer-connected', peerId: 'cloud-a/n1' }]);
  });
});

describe('the hello', () => {
  it('must arrive within helloTimeoutMs, or the node closes the connection', async () => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'));
    const silent = new FakePeer(cluster, identity('cloud-f'), node.address);
    await cluster.network.idle();
    // The node said hello first, as every side does.
    expect(silent.frameKinds()).toEqual(['hello']);

    await cluster.advance(limits.helloTimeoutMs - 1);
    expect(silent.closedWith).toBeNull();
    await cluster.advance(1);
    expect(silent.closedWith).toBe('closed by peer: no hello in time');
    expect(node.mesh.connectedPeers()).toEqual([]);
    expect(node.events).toEqual([]);
  });

  it('from a dialed seed must arrive in time too, or the dial counts as failed and backs off', async () => {
    cluster = new TestCluster();
    const accepted: Connection[] = [];
    await cluster.network.transport('mem://silent', 'cloud-s/n1').listen(
      (c) => {
        accepted.push(c);
      },
      () => Promise.reject(new Error('this peer answers no calls')),
    );
    const node = await cluster.start(identity('cloud-b'), { seeds: ['mem://silent'] });
    expect(accepted).toHaveLength(1);

    await cluster.advance(limits.helloTimeoutMs);
    const seed = {
      nodeId: '',
      cloud: '',
      address: 'mem://silent',
      lastContact: undefined,
      connectedSince: undefined,
      lag: 0n,
      lastError: 'no hello in time',
      outbound: true,
      failedDials: 1,
    };
    expect(node.mesh.peers()).toEqual([{ ...seed, state: PeerInfo_State.STATE_BACKOFF }]);
    await cluster.advance(firstBackoffMs - 1);
    expect(accepted).toHaveLength(1);
    // The backoff runs out and it dials again.
    await cluster.advance(1);
    expect(accepted).toHaveLength(2);
    expect(node.mesh.peers()).toEqual([{ ...seed, state: PeerInfo_State.STATE_CONNECTING }]);
  });

  const hello = (fields: Record<string, unknown>): Frame =>
    ({
      kind: {
        $case: 'hello',
        value: {
          nodeId: 'cloud-f/n1',
          federation,
          protocolVersion: 1,
          advertiseAddress: 'mem://cloud-f',
          digest: { entries: [] },
          ...fields,
        },
      },
    }) as Frame;

  it.each<[string, Frame, string]>([
    [
      'a first frame that is not a hello',
      { kind: { $case: 'push', value: { records: [], coverage: [] } } },
      'first frame was not a hello',
    ],
    ['a first frame with nothing in it', { kind: undefined }, 'first frame was not a hello'],
    [
      'a hello from another federation',
      hello({ federation: 'other' }),
      'peer is in federation other, not unit',
    ],
    ['a hello speaking another protocol', hello({ protocolVersion: 2 }), 'peer speaks protocol 2, not 1'],
    [
      'a hello claiming another identity than the transport authenticated',
      hello({ nodeId: 'cloud-z/n1' }),
      'hello claims cloud-z/n1 but the certificate says cloud-f/n1',
    ],
  ])('refuses %s', async (_name, frame, reason) => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'));
    const fake = new FakePeer(cluster, identity('cloud-f'), node.address);
    fake.send(frame);
    await cluster.network.idle();
    expect(node.events).toEqual([{ kind: 'connection-refused', reason }]);
    expect(fake.closedWith).toBe(`closed by peer: ${reason}`);
    expect(node.mesh.connectedPeers()).toEqual([]);
    expect(node.mesh.members().map((m) => m.nodeId)).toEqual(['cloud-b/n1']);
  });

  it('refuses a malformed node id, even when the transport vouches for it', async () => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'));
    const connection = cluster.network.transport('mem://odd', 'Not A Node').dial(node.address);
    let closedWith = '';
    connection.onClose((reason) => (closedWith = reason));
    connection.send(hello({ nodeId: 'Not A Node' }));
    await cluster.network.idle();
    expect(node.events).toEqual([
      { kind: 'connection-refused', reason: 'hello carries a malformed node id' },
    ]);
    expect(closedWith).toBe('closed by peer: hello carries a malformed node id');
  });

  it('comes once: a second hello on an established link is refused and ends it', async () => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'));
    const fake = new FakePeer(cluster, identity('cloud-f'), node.address);
    fake.hello();
    await cluster.network.idle();
    fake.hello();
    await cluster.network.idle();
    expect(node.events).toEqual([
      { kind: 'peer-connected', peerId: 'cloud-f/n1' },
      { kind: 'connection-refused', reason: 'second hello on one stream' },
      { kind: 'peer-disconnected', peerId: 'cloud-f/n1', reason: 'second hello on one stream' },
    ]);
    expect(fake.closedWith).toBe('closed by peer: second hello on one stream');
  });

  it('is answered with the node hello and a delta of everything above the digest', async () => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'));
    node.topic.publish('k', text('v'));
    const fake = new FakePeer(cluster, identity('cloud-f'), node.address);
    // The peer holds the node's member record, not the record published after it.
    fake.hello([['cloud-b/n1', node.base + 1]]);
    await cluster.network.idle();
    expect(fake.frameKinds()).toEqual(['hello', 'delta']);
    const delta = fake.frames[1]?.kind;
    expect(delta?.$case === 'delta' && delta.value.coverage).toEqual([
      { origin: 'cloud-b/n1', afterVersion: BigInt(node.base + 1), throughVersion: BigInt(node.base + 2) },
    ]);
    expect(delta?.$case === 'delta' && delta.value.records.length).toBe(1);
  });
});

describe('the peer limit', () => {
  it('refuses inbound connections beyond twice peersMax, counting links still handshaking', async () => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'), { peersMax: 1 });
    const fakes = ['cloud-f', 'cloud-g', 'cloud-h'].map(
      (cloud) => new FakePeer(cluster, identity(cloud), node.address),
    );
    await cluster.network.idle();
    expect(fakes.map((f) => f.closedWith)).toEqual([null, null, 'closed by peer: too many peers']);
  });
});

describe('peers() and status()', () => {
  it('describe a connected peer from both ends of the link', async () => {
    const { a, b } = await pair();
    const now = new Date(cluster.clock.nowMs());
    // Each node holds the other's member record, its only record.
    const aMember = BigInt(a.base + 1);
    const bMember = BigInt(b.base + 1);
    const connected = {
      state: PeerInfo_State.STATE_CONNECTED,
      lastContact: now,
      connectedSince: now,
      lag: 0n,
      lastError: '',
      failedDials: 0,
    };
    expect(a.mesh.peers()).toEqual([
      { nodeId: 'cloud-b/n1', cloud: 'cloud-b', address: 'mem://cloud-b', outbound: false, ...connected },
    ]);
    expect(b.mesh.status()).toEqual({
      nodeId: 'cloud-b/n1',
      cloud: 'cloud-b',
      node: 'n1',
      federation,
      startedAtMs: cluster.clock.nowMs(),
      peers: [
        { nodeId: 'cloud-a/n1', cloud: 'cloud-a', address: 'mem://cloud-a', outbound: true, ...connected },
      ],
      origins: [
        { origin: 'cloud-a/n1', version: aMember, bestKnownVersion: aMember, lag: 0n, recordCount: 1n },
        { origin: 'cloud-b/n1', version: bMember, bestKnownVersion: bMember, lag: 0n, recordCount: 1n },
      ],
      rejections: [],
    });
  });

  it('report how far behind a peer says this node is, from its digest', async () => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'));
    const fake = new FakePeer(cluster, identity('cloud-f'), node.address);
    fake.hello([['cloud-f/n1', 9]]);
    fake.push([fake.member(1)]);
    await cluster.network.idle();
    const own = BigInt(node.base + 1);
    expect(node.mesh.status().origins).toEqual([
      { origin: 'cloud-b/n1', version: own, bestKnownVersion: own, lag: 0n, recordCount: 1n },
      { origin: 'cloud-f/n1', version: 1n, bestKnownVersion: 9n, lag: 8n, recordCount: 1n },
    ]);
  });

  it('count each rejected record by reason', async () => {
    cluster = new TestCluster();
    const node = await cluster.start(identity('cloud-b'));
    const fake = new FakePeer(cluster, identity('cloud-f'), node.address);
    fake.hello();
    const good = fake.record({ key: 'k', version: 2, payload: 'good' });
    fake.push([
      fake.member(1),
      good,
      { body: Buffer.from([0xff, 0xff, 0xff]), signature: Buffer.alloc(0), batchProof: Buffer.alloc(0) },
      { ...fake.record({ key: 'j', version: 3 }), signature: good.signature },
      fake.record({ origin: 'cloud-z/n1', key: 'k', version: 1 }),
      fake.record({ origin: 'cloud-y/n1', key: 'k', version: 1 }),
      fake.record({ key: 'x'.repeat(limits.recordKeyBytesMax + 1), version: 4 }),
    ]);
    await cluster.network.idle();
    const rejections = node.mesh.status().rejections.sort((x, y) => x.reason.localeCompare(y.reason));
    expect(rejections).toEqual([
      { reason: 'bad-signature', count: 1n },
      { reason: 'malformed', count: 1n },
      { reason: 'oversized', count: 1n },
      { reason: 'unknown-origin', count: 2n },
    ]);
    // What verified was kept.
    expect(contents(node.topic.list())).toEqual(['cloud-f/n1 k@2=good']);
    expect(node.events.filter((e) => e.kind === 'record-rejected')).toHaveLength(5);
  });

  it('show a peer that stopped in backoff, with the reason and the failed dials', async () => {
    const { a, b } = await pair();
    await cluster.stopNode(b);
    const base = {
      nodeId: 'cloud-b/n1',
      cloud: 'cloud-b',
      address: 'mem://cloud-b',
      connectedSince: undefined,
      lag: 0n,
      outbound: true,
    };
    const lastContact = new Date(cluster.clock.nowMs());
    // a had not dialed b (b dialed in), so it dials b's member address at once, and fails.
    expect(a.mesh.peers()).toEqual([
      {
        ...base,
        lastContact,
        state: PeerInfo_State.STATE_BACKOFF,
        lastError: 'no node listens at mem://cloud-b',
        failedDials: 1,
      },
    ]);
    // The first backoff (3/4 of the minimum with this randomness) runs out: one more failure.
    await cluster.advance(firstBackoffMs);
    expect(a.mesh.peers()).toEqual([
      {
        ...base,
        lastContact,
        state: PeerInfo_State.STATE_BACKOFF,
        lastError: 'no node listens at mem://cloud-b',
        failedDials: 2,
      },
    ]);
  });
});

describe('reconnecting', () => {
  it('connects to a seed that starts listening only after the node started', async () => {
    cluster = new TestCluster();
    const idA = identity('cloud-a');
    const b = await cluster.start(identity('cloud-b'), { seeds: [idA.address] });
    expect(b.mesh.connectedPeers()).toEqual([]);
    await cluster.advance(intervalMs, 3);

    // a knows nobody: only b's redials can bring them together.
    const a = await cluster.start(idA);
    await cluster.advance(backoffMaxMs, 2);
    expect(b.mesh.connectedPeers()).toEqual(['cloud-a/n1']);
    expect(a.mesh.connectedPeers()).toEqual(['cloud-b/n1']);
  });

  it('catches up on its own when a short partition heals', async () => {
    const { a, b } = await pair();
    cluster.network.partition([a.address], [b.address]);
    await cluster.network.idle();
    expect([a.mesh.connectedPeers(), b.mesh.connectedPeers()]).toEqual([[], []]);
    a.topic.publish('during', text('partition'));

    cluster.network.heal();
    await cluster.advance(intervalMs, 2);
    expect([a.mesh.connectedPeers(), b.mesh.connectedPeers()]).toEqual([['cloud-b/n1'], ['cloud-a/n1']]);
    expect(contents(b.topic.list())).toEqual([`cloud-a/n1 during@${a.base + 2}=partition`]);
  });

  it('backs off while the network is cut, then redials on its own and catches up once it heals', async () => {
    const { a, b } = await pair();
    cluster.network.partition([a.address], [b.address]);
    a.topic.publish('during', text('partition'));
    // Several redials fail while the partition lasts.
    await cluster.advance(intervalMs, 5);
    for (const [node, peer] of [
      [a, 'cloud-b/n1'],
      [b, 'cloud-a/n1'],
    ] as const) {
      const info = node.mesh.peers().find((p) => p.nodeId === peer);
      expect(info && { state: info.state, lastError: info.lastError }).toEqual({
        state: PeerInfo_State.STATE_BACKOFF,
        lastError: 'network partition',
      });
      expect(info?.failedDials).toBeGreaterThan(1);
    }

    cluster.network.heal();
    await cluster.advance(intervalMs, 3);
    expect([a.mesh.connectedPeers(), b.mesh.connectedPeers()]).toEqual([['cloud-b/n1'], ['cloud-a/n1']]);
    expect(contents(b.topic.list())).toEqual([`cloud-a/n1 during@${a.base + 2}=partition`]);
    expect(b.mesh.peers().map((p) => [p.state, p.failedDials, p.lastError])).toEqual([
      [PeerInfo_State.STATE_CONNECTED, 0, ''],
    ]);
  });
});
