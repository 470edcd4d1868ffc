/**
 * A simulated federation: N nodes in one process over the in-memory transport, with
 * real certificates, real signatures and a real SQLite store each (in memory), on a
 * manual clock. One "round" is one anti-entropy interval.
 */
import { generateKeyPairSync } from 'node:crypto';
import { createCatalog } from '../../src/catalog/index.js';
import type { Catalog } from '../../src/catalog/index.js';
import type { CatalogConfig } from '../../src/config/types.js';
import { ManualClock } from '../../src/lib/clock.js';
import { silentLogger } from '../../src/lib/logger.js';
import { MemoryNetwork, RecordStore, createMesh } from '../../src/mesh/index.js';
import type { Mesh } from '../../src/mesh/index.js';
import { createCertifiedCrypto, rawEd25519PublicKey } from '../../src/mesh/certified-crypto.js';
import { createFederationCa, issueNodeCertificate } from '../../src/pki/index.js';
import { openDatabase } from '../../src/store/database.js';

export interface SimNode {
  index: number;
  cloud: string;
  nodeId: string;
  address: string;
  mesh: Mesh;
  catalog: Catalog;
}

export interface SimOptions {
  nodes: number;
  /** Which earlier node each node is seeded with (node 0 has no seed). */
  seedOf?: (index: number) => number;
  eagerPush?: boolean;
  /** Peers each node keeps links to; below the federation size, news must travel hops. */
  peersMax?: number;
  antiEntropyIntervalMs?: number;
  /** Deterministic randomness per node. */
  seed?: number;
}

export function simCatalog(cloud: string, generation: number): CatalogConfig {
  return {
    regions: [{ id: `${cloud}-region`, description: '', parentRegionId: '' }],
    services: [{ id: 'nova', type: 'compute', name: 'nova', description: '', enabled: true }],
    endpoints: [
      {
        id: `nova-public-${generation}`,
        region: `${cloud}-region`,
        serviceId: 'nova',
        interface: 'public',
        url: `https://${cloud}.example.test:8774/v2.1/g${generation}`,
        enabled: true,
      },
    ],
  };
}

/** A small linear congruential generator: repeatable, good enough for jitter and sampling. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

export class SimFederation {
  readonly clock = new ManualClock(Date.now());
  readonly network = new MemoryNetwork();
  readonly nodes: SimNode[] = [];
  readonly intervalMs: number;

  private constructor(intervalMs: number) {
    this.intervalMs = intervalMs;
  }

  static async start(options: SimOptions): Promise<SimFederation> {
    const intervalMs = options.antiEntropyIntervalMs ?? 1_000;
    const sim = new SimFederation(intervalMs);
    const federation = 'sim';
    const ca = createFederationCa({ federation });
    const seedOf = options.seedOf ?? ((i: number) => i - 1);
    for (let i = 0; i < options.nodes; i++) {
      const cloud = `c${String(i).padStart(3, '0')}`;
      const nodeId = `${cloud}/n1`;
      const address = `mem://${cloud}`;
      const cert = issueNodeCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, cloud, node: 'n1' });
      const recordKey = generateKeyPairSync('ed25519');
      const crypto = createCertifiedCrypto({
        federation,
        caCertPem: ca.certPem,
        certPem: cert.certPem,
        keyPem: cert.keyPem,
        recordPrivateKey: recordKey.privateKey,
        recordPublicKey: rawEd25519PublicKey(recordKey.publicKey),
      });
      const log = silentLogger();
      const mesh = createMesh(
        {
          nodeId,
          cloud,
          node: 'n1',
          federation,
          advertiseAddress: address,
          seeds: i === 0 ? [] : [`mem://c${String(seedOf(i)).padStart(3, '0')}`],
          antiEntropyIntervalMs: intervalMs,
          reconnectBackoffMinMs: intervalMs / 10,
          reconnectBackoffMaxMs: intervalMs,
          peersMax: options.peersMax ?? 64,
          eagerFanoutMax: 16,
          eagerPush: options.eagerPush ?? true,
        },
        {
          store: new RecordStore(openDatabase(':memory:')),
          transport: sim.network.transport(address, nodeId),
          crypto,
          clock: sim.clock,
          log,
          random: seededRandom((options.seed ?? 1) * 7919 + i),
        },
      );
      const catalog = createCatalog(
        { mesh, clock: sim.clock, log },
        { cloud, nodeId, catalog: simCatalog(cloud, 0) },
      );
      sim.nodes.push({ index: i, cloud, nodeId, address, mesh, catalog });
    }
    for (const node of sim.nodes) {
      await node.mesh.start();
      node.catalog.start();
    }
    await sim.network.idle();
    return sim;
  }

  /** True when every node holds every origin at that origin's own version. */
  converged(nodes: readonly SimNode[] = this.nodes): boolean {
    const own = new Map(nodes.map((n) => [n.nodeId, n.mesh.versions().get(n.nodeId) ?? 0]));
    return nodes.every((node) => {
      const held = node.mesh.versions();
      return [...own].every(([origin, version]) => (held.get(origin) ?? 0) >= version);
    });
  }

  /** Endpoint URLs a node lists, sorted: the catalog as a user sees it. */
  static endpointUrls(node: SimNode): string[] {
    return node.catalog
      .listEndpoints({})
      .map((e) => e.url)
      .sort();
  }

  /**
   * Runs anti-entropy rounds until `nodes` (default: all) have converged among
   * themselves; returns how many rounds that took.
   */
  async roundsUntilConverged(maxRounds: number, nodes: readonly SimNode[] = this.nodes): Promise<number> {
    await this.network.idle();
    let rounds = 0;
    while (!this.converged(nodes)) {
      if (rounds >= maxRounds) throw new Error(`not converged after ${maxRounds} rounds`);
      this.clock.advance(this.intervalMs);
      await this.network.idle();
      rounds++;
    }
    return rounds;
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) {
      node.catalog.stop();
      await node.mesh.stop();
    }
  }
}
