/**
 * The mesh at federation scale, in one process: 50 nodes over the in-memory transport,
 * each seeded with a single peer. Rounds are anti-entropy intervals on a manual clock.
 * Figures are printed as JSON lines (SIM …) so the closing note can quote them.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { SimFederation, simCatalog } from './sim-federation.js';

let sim: SimFederation | undefined;

afterEach(async () => {
  await sim?.stop();
  sim = undefined;
});

function report(name: string, figures: Record<string, number>): void {
  console.log(`SIM ${JSON.stringify({ name, ...figures })}`);
}

describe('a simulated federation of 50 nodes', () => {
  it('converges on every catalog when each node is seeded with one peer', async () => {
    sim = await SimFederation.start({ nodes: 50 });
    const rounds = await sim.roundsUntilConverged(20);
    report('join-50-eager', { nodes: 50, rounds, frames: sim.network.deliveredFrames });

    const expected = sim.nodes.map((n) => `https://${n.cloud}.example.test:8774/v2.1/g0`).sort();
    for (const node of sim.nodes) {
      expect(SimFederation.endpointUrls(node)).toEqual(expected);
      expect(node.mesh.connectedPeers()).toHaveLength(49);
    }
  });

  it('converges by anti-entropy alone, with eager push off', async () => {
    sim = await SimFederation.start({ nodes: 50, eagerPush: false });
    const rounds = await sim.roundsUntilConverged(10);
    report('join-50-anti-entropy-only', { nodes: 50, rounds, frames: sim.network.deliveredFrames });
    expect(sim.converged()).toBe(true);
  });

  it('converges in a logarithmic number of rounds when each node links to only 4 peers', async () => {
    // No eager push and a peer budget of 4: news crosses the federation hop by hop, one
    // anti-entropy exchange per hop, so the rounds measure gossip over the link graph.
    sim = await SimFederation.start({ nodes: 50, eagerPush: false, peersMax: 4 });
    const joinRounds = await sim.roundsUntilConverged(60);
    // Joining leaves a lattice (everyone linked to its join-order neighbours); let link
    // rotation mix it for a while before measuring.
    const mixingRounds = 60;
    for (let round = 0; round < mixingRounds; round++) {
      sim.clock.advance(sim.intervalMs);
      await sim.network.idle();
    }
    for (const node of sim.nodes) expect(node.mesh.connectedPeers().length).toBeLessThanOrEqual(8);
    for (const node of sim.nodes) node.catalog.publish(simCatalog(node.cloud, 1));
    const rounds = await sim.roundsUntilConverged(30);
    report('update-50-degree-4-anti-entropy-only', {
      nodes: 50,
      peersMax: 4,
      joinRounds,
      mixingRounds,
      rounds,
    });
    expect(rounds).toBeLessThanOrEqual(2 * Math.ceil(Math.log2(50)));
    const expected = sim.nodes.map((n) => `https://${n.cloud}.example.test:8774/v2.1/g1`).sort();
    for (const node of sim.nodes) expect(SimFederation.endpointUrls(node)).toEqual(expected);
  });

  it('heals a partition of 10 nodes and converges on what both sides changed meanwhile', async () => {
    sim = await SimFederation.start({ nodes: 50 });
    await sim.roundsUntilConverged(20);

    const minority = sim.nodes.slice(40);
    const majority = sim.nodes.slice(0, 40);
    sim.network.partition(
      minority.map((n) => n.address),
      majority.map((n) => n.address),
    );
    await sim.network.idle();
    for (const node of minority) expect(node.mesh.connectedPeers()).toHaveLength(9);

    // Both sides change their catalogs while cut off from each other.
    for (const node of [...minority.slice(0, 3), ...majority.slice(0, 3)]) {
      node.catalog.publish(simCatalog(node.cloud, 1));
    }
    const roundsDuring = await sim.roundsUntilConverged(10, minority);
    expect(sim.converged(minority)).toBe(true);
    expect(sim.converged()).toBe(false);

    sim.network.heal();
    const rounds = await sim.roundsUntilConverged(30);
    report('partition-10-of-50-heal', { nodes: 50, partitioned: 10, roundsDuring, roundsAfterHeal: rounds });

    const changed = new Set([...minority.slice(0, 3), ...majority.slice(0, 3)].map((n) => n.cloud));
    const expected = sim.nodes
      .map((n) => `https://${n.cloud}.example.test:8774/v2.1/g${changed.has(n.cloud) ? 1 : 0}`)
      .sort();
    for (const node of sim.nodes) expect(SimFederation.endpointUrls(node)).toEqual(expected);
  });
});
