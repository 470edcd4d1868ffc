/**
 * A few meshes over the in-memory transport for the mesh's unit tests: real certificates
 * from one federation CA, real Ed25519 record keys, an in-memory SQLite store each, one
 * ManualClock and fixed randomness, so every run is the same. A FakePeer speaks the peer
 * protocol by hand, with its own (valid) certificate and record key, to send frames no
 * real node would: records out of order, the same record twice, no hello at all.
 */
import { generateKeyPairSync } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { createCatalog } from '../../../src/catalog/index.js';
import type { Catalog } from '../../../src/catalog/index.js';
import type { CatalogConfig } from '../../../src/config/types.js';
import { MemberPayload } from '../../../src/gen/alliance/peer/v1/mesh.js';
import type { Coverage, Digest, Frame, Hello, SignedRecord } from '../../../src/gen/alliance/peer/v1/mesh.js';
import { ManualClock } from '../../../src/lib/clock.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { batchRootMessage, buildBatchTree } from '../../../src/mesh/batch-signature.js';
import { createCertifiedCrypto, rawEd25519PublicKey } from '../../../src/mesh/certified-crypto.js';
import { createMesh, memberTopic } from '../../../src/mesh/mesh.js';
import type { Mesh, MeshEvent, MeshOptions } from '../../../src/mesh/mesh.js';
import { MemoryNetwork } from '../../../src/mesh/memory-transport.js';
import { encodeRecordBody } from '../../../src/mesh/record-codec.js';
import { RecordStore } from '../../../src/mesh/record-store.js';
import type { Connection, MeshCrypto, MeshRecord, Topic } from '../../../src/mesh/types.js';
import { createFederationCa, issueNodeCertificate } from '../../../src/pki/index.js';
import { openDatabase } from '../../../src/store/database.js';

export const federation = 'unit';
export const testTopic = 'test';
export const intervalMs = 1_000;
export const backoffMinMs = 100;
export const backoffMaxMs = 1_000;
/** The first redial delay: with random() = 0.5, backoff waits 3/4 of the minimum. */
export const firstBackoffMs = backoffMinMs * 0.75;
/**
 * A node starting with a fresh database sets its own version counter to (its start time in
 * ms) x this, so its first record (the member record) has version base + 1 (see start()).
 */
export const freshVersionsPerMs = 1_000;

let ca: { certPem: string; keyPem: string } | undefined;

/** One CA per test file: issuing certificates is cheap, creating a CA less so. */
function federationCa(): { certPem: string; keyPem: string } {
  ca ??= createFederationCa({ federation });
  return ca;
}

export interface Identity {
  cloud: string;
  nodeId: string;
  address: string;
  crypto: MeshCrypto;
  /** The node certificate and its key, kept so the record key can be replaced alone. */
  certificate: { certPem: string; keyPem: string };
}

/** A node identity `<cloud>/n1` at `mem://<cloud>`, with a certificate and a record key. */
export function identity(cloud: string): Identity {
  const authority = federationCa();
  const cert = issueNodeCertificate({
    caCertPem: authority.certPem,
    caKeyPem: authority.keyPem,
    cloud,
    node: 'n1',
  });
  return withRecordKey(cloud, { certPem: cert.certPem, keyPem: cert.keyPem });
}

/** The same node, with the same certificate, but a new record-signing key. */
export function withNewRecordKey(id: Identity): Identity {
  return withRecordKey(id.cloud, id.certificate);
}

function withRecordKey(cloud: string, certificate: { certPem: string; keyPem: string }): Identity {
  const recordKey: { publicKey: KeyObject; privateKey: KeyObject } = generateKeyPairSync('ed25519');
  const crypto = createCertifiedCrypto({
    federation,
    caCertPem: federationCa().certPem,
    certPem: certificate.certPem,
    keyPem: certificate.keyPem,
    recordPrivateKey: recordKey.privateKey,
    recordPublicKey: rawEd25519PublicKey(recordKey.publicKey),
  });
  return { cloud, nodeId: `${cloud}/n1`, address: `mem://${cloud}`, crypto, certificate };
}

export interface TestNode {
  id: Identity;
  nodeId: string;
  address: string;
  store: RecordStore;
  mesh: Mesh;
  topic: Topic;
  /** Every event the mesh emitted, in order. */
  events: MeshEvent[];
  /** Every record the test topic's onChange listener saw, in order. */
  changes: MeshRecord[];
  /** The catalog capability, when the node was created with a catalog. */
  catalog: Catalog | null;
  /**
   * The counter a fresh database starts from: the clock at creation x freshVersionsPerMs.
   * Meaningful when the node starts fresh at the clock time it was created at; a node
   * restarted with its database kept continues from its stored counter instead.
   */
  base: number;
}

export interface NodeOptions {
  seeds?: string[];
  /** Defaults to a fresh in-memory store. */
  store?: RecordStore;
  peersMax?: number;
  eagerPush?: boolean;
  /** Runs the catalog capability on the node, publishing this catalog at start. */
  catalog?: CatalogConfig;
}

/** Several nodes on one network and one clock. */
export class TestCluster {
  readonly clock = new ManualClock(Date.now());
  readonly network = new MemoryNetwork();
  readonly nodes: TestNode[] = [];

  /** Creates (without starting) a mesh for `id`, with the test topic registered and watched. */
  create(id: Identity, options: NodeOptions = {}): TestNode {
    const store = options.store ?? new RecordStore(openDatabase(':memory:'));
    const meshOptions: MeshOptions = {
      nodeId: id.nodeId,
      cloud: id.cloud,
      node: 'n1',
      federation,
      advertiseAddress: id.address,
      seeds: options.seeds ?? [],
      antiEntropyIntervalMs: intervalMs,
      reconnectBackoffMinMs: backoffMinMs,
      reconnectBackoffMaxMs: backoffMaxMs,
      peersMax: options.peersMax ?? 8,
      eagerFanoutMax: 8,
      eagerPush: options.eagerPush ?? true,
    };
    const mesh = createMesh(meshOptions, {
      store,
      transport: this.network.transport(id.address, id.nodeId),
      crypto: id.crypto,
      clock: this.clock,
      log: silentLogger(),
      // The middle of every jitter range: anti-entropy every intervalMs, backoff 3/4 of its delay.
      random: () => 0.5,
    });
    const topic = mesh.registerTopic({ name: testTopic });
    const catalog = options.catalog
      ? createCatalog(
          { mesh, clock: this.clock, log: silentLogger() },
          { cloud: id.cloud, nodeId: id.nodeId, catalog: options.catalog },
        )
      : null;
    const node: TestNode = {
      id,
      nodeId: id.nodeId,
      address: id.address,
      store,
      mesh,
      topic,
      events: [],
      changes: [],
      catalog,
      base: this.clock.nowMs() * freshVersionsPerMs,
    };
    mesh.onEvent((event) => node.events.push(event));
    topic.onChange((record) => node.changes.push(record));
    this.nodes.push(node);
    return node;
  }

  /** Creates and starts a node, and lets the network settle. */
  async start(id: Identity, options: NodeOptions = {}): Promise<TestNode> {
    const node = this.create(id, options);
    await node.mesh.start();
    node.catalog?.start();
    await this.network.idle();
    return node;
  }

  /** Moves the clock `steps` times by `stepMs`, letting the network settle after each step. */
  async advance(stepMs: number, steps = 1): Promise<void> {
    for (let i = 0; i < steps; i++) {
      this.clock.advance(stepMs);
      await this.network.idle();
    }
  }

  /** Stops one node for good (a restart creates a new one) and lets the network settle. */
  async stopNode(node: TestNode): Promise<void> {
    this.nodes.splice(this.nodes.indexOf(node), 1);
    node.catalog?.stop();
    await node.mesh.stop();
    await this.network.idle();
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) {
      node.catalog?.stop();
      await node.mesh.stop();
    }
    await this.network.idle();
  }
}

/** What a topic holds, as comparable strings: `origin key@version=payload`, sorted. */
/** A node of cloud-b with a FakePeer of cloud-f that has said hello and sent its member record. */
export async function nodeWithFakePeerIn(cluster: TestCluster): Promise<{ node: TestNode; fake: FakePeer }> {
  const node = await cluster.start(identity('cloud-b'));
  const fake = new FakePeer(cluster, identity('cloud-f'), node.address);
  fake.hello();
  await cluster.network.idle();
  fake.push([fake.member(1)]);
  await cluster.network.idle();
  return { node, fake };
}

export function contents(records: readonly MeshRecord[]): string[] {
  return records.map(describeRecord).sort();
}

export function describeRecord(record: MeshRecord): string {
  const payload = record.deleted ? '<deleted>' : Buffer.from(record.payload).toString();
  return `${record.origin} ${record.key}@${record.version}=${payload}`;
}

export function text(value: string): Uint8Array {
  return Buffer.from(value);
}

export interface RecordFields {
  topic?: string;
  key: string;
  version: number;
  payload?: string;
  deleted?: boolean;
  expiresAtMs?: number;
  createdAtMs?: number;
}

/**
 * A peer driven by hand. It dials a node over the memory network with its own identity,
 * records every frame the node sends, and signs records of its own origin with its own
 * keys, so it can send them in any order it likes.
 */
export class FakePeer {
  readonly frames: Frame[] = [];
  closedWith: string | null = null;
  readonly connection: Connection;

  constructor(
    private readonly cluster: TestCluster,
    readonly id: Identity,
    target: string,
  ) {
    this.connection = cluster.network.transport(id.address, id.nodeId).dial(target);
    this.connection.onFrame((frame) => this.frames.push(frame));
    this.connection.onClose((reason) => (this.closedWith = reason));
  }

  send(frame: Frame): void {
    this.connection.send(frame);
  }

  /** A hello claiming this peer's identity, with `digest` (origin, version) and any field overridden. */
  hello(digest: [string, number][] = [], overrides: Partial<Hello> = {}): void {
    this.send({
      kind: {
        $case: 'hello',
        value: {
          nodeId: this.id.nodeId,
          federation,
          protocolVersion: 1,
          advertiseAddress: this.id.address,
          digest: digestOf(digest),
          ...overrides,
        },
      },
    });
  }

  digest(entries: [string, number][]): void {
    this.send({ kind: { $case: 'digest', value: digestOf(entries) } });
  }

  push(records: SignedRecord[]): void {
    this.send({ kind: { $case: 'push', value: { records, coverage: [] } } });
  }

  /** A delta with coverage (after, through] for this peer's origin, or for `origin`. */
  delta(records: SignedRecord[], coverage: [number, number][], origin = this.id.nodeId): void {
    this.send({
      kind: {
        $case: 'delta',
        value: {
          records,
          coverage: coverage.map(([after, through]): Coverage => ({
            origin,
            afterVersion: BigInt(after),
            throughVersion: BigInt(through),
          })),
        },
      },
    });
  }

  /** A record of this peer's origin (or of `origin`), signed with this peer's record key. */
  record(fields: RecordFields & { origin?: string }): SignedRecord {
    const body = encodeRecordBody({
      origin: fields.origin ?? this.id.nodeId,
      topic: fields.topic ?? testTopic,
      key: fields.key,
      version: fields.version,
      deleted: fields.deleted ?? false,
      expiresAtMs: fields.expiresAtMs ?? 0,
      createdAtMs: fields.createdAtMs ?? this.cluster.clock.nowMs(),
      payload: text(fields.payload ?? ''),
    });
    return {
      body: Buffer.from(body),
      signature: Buffer.from(this.id.crypto.signRecord(body)),
      batchProof: Buffer.alloc(0),
    };
  }

  /** Records of this peer's origin sharing one signature over their batch root, as publishMany makes them. */
  batch(fields: readonly RecordFields[]): SignedRecord[] {
    const bodies = fields.map((f) =>
      encodeRecordBody({
        origin: this.id.nodeId,
        topic: f.topic ?? testTopic,
        key: f.key,
        version: f.version,
        deleted: f.deleted ?? false,
        expiresAtMs: f.expiresAtMs ?? 0,
        createdAtMs: f.createdAtMs ?? this.cluster.clock.nowMs(),
        payload: text(f.payload ?? ''),
      }),
    );
    const tree = buildBatchTree(bodies);
    const signature = Buffer.from(this.id.crypto.signRecord(batchRootMessage(tree.root)));
    return bodies.map((body, i) => ({
      body: Buffer.from(body),
      signature,
      batchProof: Buffer.from(tree.proofs[i]!),
    }));
  }

  /** This peer's member record at `version`, signed with its certificate key. */
  member(version: number): SignedRecord {
    const payload = MemberPayload.encode({
      nodeId: this.id.nodeId,
      cloud: this.id.cloud,
      node: 'n1',
      federation,
      peerAddress: this.id.address,
      certificateDer: Buffer.from(this.id.crypto.certificateDer),
      recordPublicKey: Buffer.from(this.id.crypto.recordPublicKey),
      startedAtMs: BigInt(this.cluster.clock.nowMs()),
    }).finish();
    const body = encodeRecordBody({
      origin: this.id.nodeId,
      topic: memberTopic,
      key: this.id.nodeId,
      version,
      deleted: false,
      expiresAtMs: 0,
      createdAtMs: this.cluster.clock.nowMs(),
      payload,
    });
    return {
      body: Buffer.from(body),
      signature: Buffer.from(this.id.crypto.signWithCertificate(body)),
      batchProof: Buffer.alloc(0),
    };
  }

  /** The kinds of the frames received so far, e.g. ['hello', 'delta']. */
  frameKinds(): string[] {
    return this.frames.map((frame) => frame.kind?.$case ?? 'none');
  }
}

function digestOf(entries: [string, number][]): Digest {
  return { entries: entries.map(([origin, version]) => ({ origin, version: BigInt(version) })) };
}

/** A one-endpoint catalog for `cloud`; `generation` shows in the URL, so a change is visible. */
export function catalogOf(cloud: string, generation: number): CatalogConfig {
  return {
    regions: [{ id: `${cloud}-region`, description: '', parentRegionId: '' }],
    services: [{ id: 'nova', type: 'compute', name: 'nova', description: '', enabled: true }],
    endpoints: [
      {
        id: 'nova-public',
        region: `${cloud}-region`,
        serviceId: 'nova',
        interface: 'public',
        url: `https://${cloud}.test/g${generation}`,
        enabled: true,
      },
    ],
  };
}
