/**
 * One signature for many records: records published together are the leaves of a hash tree, the
 * origin signs the tree's root once, and each record carries the root's signature plus the
 * sibling hashes from its leaf up (a BatchProof). A receiver recomputes the root from the record's
 * own body and checks the signature once per batch, remembering roots it has checked. Signing and
 * verifying Ed25519 per record was most of the mesh's CPU under an event burst; a hash is ~1 µs.
 *
 * Each record stays independently verifiable (anti-entropy serves any record on its own, to any
 * node), which is why this is a tree rather than one signature over a frame.
 *
 * Hashing (SHA-256, with domain separation so a leaf can never pass for an inner node and a root
 * message can never pass for a record body):
 * - leaf  = H(0x00 || body)
 * - inner = H(0x01 || left || right); an odd node out at a level is carried up unchanged
 * - the signed message is 0xff || "alliance-record-batch-v1" || root. A single record's signature
 *   covers its encoded RecordBody, whose first byte is a protobuf tag (0x0a for field 1), never 0xff.
 */
import { hash } from 'node:crypto';
import { BatchProof } from '../gen/alliance/peer/v1/mesh.js';

const hashBytes = 32;
const leafPrefix = Buffer.from([0x00]);
const innerPrefix = Buffer.from([0x01]);
const rootMessagePrefix = Buffer.concat([Buffer.from([0xff]), Buffer.from('alliance-record-batch-v1')]);
/** A 32-bit mask: trees of at most 2^32 leaves, far above limits.recordsPerSignatureMax. */
const depthMax = 32;

// One-shot hashing: a receiver hashes log2(batch) + 1 times per record, and making a Hash
// object per step cost more than the hashing.
const leafHash = (body: Uint8Array): Buffer => hash('sha256', Buffer.concat([leafPrefix, body]), 'buffer');

const innerHash = (left: Uint8Array, right: Uint8Array): Buffer =>
  hash('sha256', Buffer.concat([innerPrefix, left, right]), 'buffer');

/** The bytes the origin signs for a batch with this root. */
export const batchRootMessage = (root: Uint8Array): Buffer => Buffer.concat([rootMessagePrefix, root]);

export interface BatchTree {
  root: Buffer;
  /** One encoded BatchProof per body, in the order given. */
  proofs: Uint8Array[];
}

/** The tree over `bodies` (at least two): its root and each body's proof. */
export function buildBatchTree(bodies: readonly Uint8Array[]): BatchTree {
  if (bodies.length < 2) throw new Error('a batch signature needs at least two records');
  const siblings: Buffer[][] = bodies.map(() => []);
  const masks: number[] = bodies.map(() => 0);
  // Which leaves sit under each node of the current level.
  let level: { hash: Buffer; leaves: number[] }[] = bodies.map((body, i) => ({
    hash: leafHash(body),
    leaves: [i],
  }));
  let depth = 0;
  while (level.length > 1) {
    const next: typeof level = [];
    for (let i = 0; i < level.length; i += 2) {
      const left = level[i]!;
      const right = level[i + 1];
      if (!right) {
        next.push(left);
        continue;
      }
      for (const leaf of left.leaves) siblings[leaf]!.push(right.hash);
      for (const leaf of right.leaves) {
        siblings[leaf]!.push(left.hash);
        masks[leaf]! |= 1 << (siblings[leaf]!.length - 1);
      }
      next.push({ hash: innerHash(left.hash, right.hash), leaves: [...left.leaves, ...right.leaves] });
    }
    level = next;
    depth++;
  }
  if (depth > depthMax) throw new Error('batch too large for a batch signature');
  return {
    root: level[0]!.hash,
    proofs: bodies.map((_, i) =>
      BatchProof.encode({ siblings: siblings[i]!, leftMask: masks[i]! >>> 0 }).finish(),
    ),
  };
}

/** A record's way up its batch tree: what batchPathOf computed, reusable for the next record. */
export interface BatchPath {
  /** nodes[0] is the leaf, nodes[i + 1] the node above it after siblings[i]; the last is the root. */
  nodes: Buffer[];
  siblings: Uint8Array[];
  leftMask: number;
}

export const rootOfPath = (path: BatchPath): Buffer => path.nodes[path.nodes.length - 1]!;

/**
 * The path (and so the root) that `proof` (an encoded BatchProof) links `body` to, or null when
 * the proof is malformed (it arrives from the network: never throws).
 *
 * `previous`, the path of the record before it, saves hashing: records of a batch arrive in
 * order, and two neighbours' paths meet a level or two up. Once this path reaches a node of
 * `previous` at the same level, with the same siblings and sides from there up, the rest is the
 * same computation with the same result, so it is taken from `previous` instead of redone.
 */
export function batchPathOf(body: Uint8Array, proof: Uint8Array, previous?: BatchPath): BatchPath | null {
  let decoded: BatchProof;
  try {
    decoded = BatchProof.decode(proof);
  } catch {
    return null;
  }
  const { siblings, leftMask } = decoded;
  if (siblings.length === 0 || siblings.length > depthMax) return null;
  const nodes = [leafHash(body)];
  for (const [i, sibling] of siblings.entries()) {
    if (sibling.length !== hashBytes) return null;
    if (previous && sameFrom(i, nodes[i]!, siblings, leftMask, previous)) {
      return { nodes: [...nodes, ...previous.nodes.slice(i + 1)], siblings, leftMask };
    }
    const node = nodes[i]!;
    nodes.push((leftMask >>> i) & 1 ? innerHash(sibling, node) : innerHash(node, sibling));
  }
  return { nodes, siblings, leftMask };
}

/** True when from level `level` up, this path would compute exactly what `previous` did. */
function sameFrom(
  level: number,
  node: Buffer,
  siblings: readonly Uint8Array[],
  leftMask: number,
  previous: BatchPath,
): boolean {
  if (previous.siblings.length !== siblings.length) return false;
  if (previous.leftMask >>> level !== leftMask >>> level) return false;
  if (!node.equals(previous.nodes[level]!)) return false;
  for (let j = level; j < siblings.length; j++) {
    if (Buffer.compare(siblings[j]!, previous.siblings[j]!) !== 0) return false;
  }
  return true;
}
