/**
 * Records published together share one signature over a hash tree's root; each carries its proof.
 * The tree itself, then the mesh: a batch published at one node arrives whole at another, and
 * every way of abusing a shared signature is refused and counted.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { limits } from '../../../src/config/limits.js';
import { BatchProof } from '../../../src/gen/alliance/peer/v1/mesh.js';
import { batchPathOf, buildBatchTree, rootOfPath } from '../../../src/mesh/batch-signature.js';
import type { BatchPath } from '../../../src/mesh/batch-signature.js';
import { FakePeer, TestCluster, contents, identity, nodeWithFakePeerIn, text } from './mesh-harness.js';
import type { TestNode } from './mesh-harness.js';

/** The root `proof` links `body` to, or null for a malformed proof. */
function batchRootOf(body: Uint8Array, proof: Uint8Array): Buffer | null {
  const path = batchPathOf(body, proof);
  return path && rootOfPath(path);
}

const bodiesOf = (count: number): Buffer[] =>
  Array.from({ length: count }, (_, i) => Buffer.from(`record body ${i}`));

describe('buildBatchTree and batchPathOf', () => {
  it.each([2, 3, 4, 5, 7, 8, 9, 33])('link each of %i bodies to the one root', (count) => {
    const bodies = bodiesOf(count);
    const tree = buildBatchTree(bodies);
    for (const [i, body] of bodies.entries()) {
      expect(batchRootOf(body, tree.proofs[i]!)?.equals(tree.root)).toBe(true);
      // Siblings grow with log2 of the batch, never with its size.
      expect(BatchProof.decode(tree.proofs[i]!).siblings.length).toBeLessThanOrEqual(
        Math.ceil(Math.log2(count)),
      );
    }
  });

  it('link no other body, nor a body with another record’s proof, to the root', () => {
    const bodies = bodiesOf(5);
    const tree = buildBatchTree(bodies);
    expect(batchRootOf(Buffer.from('record body 9'), tree.proofs[0]!)?.equals(tree.root)).toBe(false);
    expect(batchRootOf(bodies[1]!, tree.proofs[0]!)?.equals(tree.root)).toBe(false);
  });

  it('give no root for a malformed, empty, too deep or wrongly sized proof', () => {
    const body = Buffer.from('x');
    expect(batchRootOf(body, Buffer.from([0xff, 0xff, 0xff]))).toBeNull();
    expect(batchRootOf(body, BatchProof.encode({ siblings: [], leftMask: 0 }).finish())).toBeNull();
    const tooDeep = Array.from({ length: 33 }, () => Buffer.alloc(32));
    expect(batchRootOf(body, BatchProof.encode({ siblings: tooDeep, leftMask: 0 }).finish())).toBeNull();
    expect(
      batchRootOf(body, BatchProof.encode({ siblings: [Buffer.alloc(31)], leftMask: 0 }).finish()),
    ).toBeNull();
  });

  it('reach the same root when reusing the previous record’s path, and never reuse it for a different way up', () => {
    const bodies = bodiesOf(13);
    const tree = buildBatchTree(bodies);
    let previous: BatchPath | undefined;
    for (const order of [bodies.keys(), [...bodies.keys()].reverse()]) {
      for (const i of order) {
        const path = batchPathOf(bodies[i]!, tree.proofs[i]!, previous);
        expect(path && rootOfPath(path).equals(tree.root)).toBe(true);
        expect(path).toEqual(batchPathOf(bodies[i]!, tree.proofs[i]!));
        previous = path ?? undefined;
      }
    }
    // Leaf 1 after leaf 0: they meet one level up, but a sibling altered above that must be hashed.
    const first = batchPathOf(bodies[0]!, tree.proofs[0]!)!;
    const proof = BatchProof.decode(tree.proofs[1]!);
    proof.siblings[2] = Buffer.alloc(32, 9);
    const altered = batchPathOf(bodies[1]!, BatchProof.encode(proof).finish(), first)!;
    expect(rootOfPath(altered).equals(tree.root)).toBe(false);
  });

  it('refuse a batch of one: a single record is signed on its own', () => {
    expect(() => buildBatchTree(bodiesOf(1))).toThrow(/at least two/);
  });
});

let cluster: TestCluster;

afterEach(async () => {
  await cluster?.stop();
});

async function nodeWithFakePeer(): Promise<{ node: TestNode; fake: FakePeer }> {
  cluster = new TestCluster();
  return nodeWithFakePeerIn(cluster);
}

describe('a mesh receiving batch-signed records', () => {
  it('stores a whole batch published with publishMany at another node, in order, durably', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    const b = await cluster.start(identity('cloud-b'), { seeds: [a.address] });
    const published = a.topic.publishMany(
      Array.from({ length: 6 }, (_, i) => ({ key: `k${i}`, payload: text(`v${i}`) })),
    );
    expect(published.map((r) => r.version - published[0]!.version)).toEqual([0, 1, 2, 3, 4, 5]);
    await cluster.network.idle();
    expect(contents(b.topic.list()).sort()).toEqual(contents(a.topic.list()).sort());
    expect(b.changes.map((r) => r.key)).toEqual(['k0', 'k1', 'k2', 'k3', 'k4', 'k5']);
    expect(b.mesh.status().rejections).toEqual([]);
    // The stored copy keeps its proof, so b can serve it on to a third node that verifies it alone.
    expect(b.store.get(a.nodeId, 'test', 'k3')?.batchProof?.length).toBeGreaterThan(0);
    const c = await cluster.start(identity('cloud-c'), { seeds: [b.address] });
    await cluster.advance(1_000);
    expect(contents(c.topic.list()).sort()).toEqual(contents(a.topic.list()).sort());
    expect(c.mesh.status().rejections).toEqual([]);
  });

  it('accepts a batch received record by record, across frames', async () => {
    const { node, fake } = await nodeWithFakePeer();
    const batch = fake.batch([
      { key: 'a', version: 2, payload: 'one' },
      { key: 'b', version: 3, payload: 'two' },
      { key: 'c', version: 4, payload: 'three' },
    ]);
    fake.push([batch[2]!]);
    fake.push([batch[0]!, batch[1]!]);
    await cluster.network.idle();
    expect(contents(node.topic.list()).sort()).toEqual([
      'cloud-f/n1 a@2=one',
      'cloud-f/n1 b@3=two',
      'cloud-f/n1 c@4=three',
    ]);
    expect(node.mesh.status().rejections).toEqual([]);
  });

  it('refuses a body altered under a valid proof and signature, and one given another record’s proof', async () => {
    const { node, fake } = await nodeWithFakePeer();
    const [first, second] = fake.batch([
      { key: 'a', version: 2, payload: 'one' },
      { key: 'b', version: 3, payload: 'two' },
    ]);
    const altered = fake.record({ key: 'a', version: 2, payload: 'forged' });
    fake.push([
      { ...altered, signature: first!.signature, batchProof: first!.batchProof },
      { ...second!, batchProof: first!.batchProof },
    ]);
    await cluster.network.idle();
    expect(contents(node.topic.list())).toEqual([]);
    expect(node.mesh.status().rejections).toEqual([{ reason: 'bad-signature', count: 2n }]);
  });

  it('refuses a batch signed by another node’s key, and a garbage signature on a root it checked before', async () => {
    const { node, fake } = await nodeWithFakePeer();
    const [good, unsent] = fake.batch([
      { key: 'a', version: 2, payload: 'one' },
      { key: 'b', version: 3, payload: 'two' },
    ]);
    fake.push([good!]);
    await cluster.network.idle();
    const impostor = new FakePeer(cluster, identity('cloud-x'), node.address);
    const [foreign] = impostor.batch([
      { key: 'c', version: 4, payload: 'three' },
      { key: 'd', version: 5, payload: 'four' },
    ]);
    // Signed by cloud-x's key, claimed under cloud-f's origin: rewrite the body's origin.
    const claimed = fake.batch([
      { key: 'c', version: 4, payload: 'three' },
      { key: 'd', version: 5, payload: 'four' },
    ])[0]!;
    fake.push([
      { ...claimed, signature: foreign!.signature },
      // The other record of a batch whose root checked out: the cached root does not spare it.
      { ...unsent!, signature: Buffer.alloc(64, 7) },
    ]);
    await cluster.network.idle();
    expect(contents(node.topic.list())).toEqual(['cloud-f/n1 a@2=one']);
    expect(node.mesh.status().rejections).toEqual([{ reason: 'bad-signature', count: 2n }]);
  });

  it('refuses to publish more records at once than one signature may cover', async () => {
    cluster = new TestCluster();
    const a = await cluster.start(identity('cloud-a'));
    const entries = Array.from({ length: limits.recordsPerSignatureMax + 1 }, (_, i) => ({
      key: `k${i}`,
      payload: text('v'),
    }));
    expect(() => a.topic.publishMany(entries)).toThrow(/recordsPerSignatureMax/);
    expect(a.topic.list()).toEqual([]);
  });
});
