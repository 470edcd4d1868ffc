/**
 * Real federations for integration tests: every node a full createNode() with its own
 * certificate, SQLite file, mTLS peer port and local gRPC API on 127.0.0.1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { prepareDevFederation } from '../../src/dev/index.js';
import type { DevCloud, DevCloudPorts } from '../../src/dev/index.js';
import { connectLocalApi } from '../../src/cli/client.js';
import type { LocalApiConnection } from '../../src/cli/client.js';
import { silentLogger } from '../../src/lib/logger.js';
import { createNode } from '../../src/node.js';
import type { AllianceNode } from '../../src/node.js';

/** Free TCP ports on loopback: bound all at once (so distinct), then released. */
export async function allocatePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<ReturnType<typeof createServer>>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}

/** Whether `port` can be bound on 127.0.0.1 right now. */
function isPortFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/**
 * A base port P for `alliance dev` such that P+10i, P+10i+1 and P+10i+2 are all free for
 * `clouds` clouds; tries random bases in a high range.
 */
export async function findDevBasePort(clouds: number): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = 20_000 + 10 * Math.floor(Math.random() * 3_000);
    const ports = Array.from({ length: clouds }, (_, i) => [
      base + 10 * i,
      base + 10 * i + 1,
      base + 10 * i + 2,
    ]).flat();
    const free = await Promise.all(ports.map(isPortFree));
    if (free.every(Boolean)) return base;
  }
  throw new Error('no free range of ports for a dev federation');
}

/**
 * Resolves when `check()` holds, re-checking whenever `subscribe` signals a change;
 * rejects after `timeoutMs` with `what` in the message. Waits on events, never polls.
 */
export function waitFor(
  what: string,
  check: () => boolean,
  subscribe: (onChange: () => void) => () => void,
  timeoutMs = 10_000,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (check()) return resolve();
    const unsubscribers: (() => void)[] = [];
    const finish = (err?: Error): void => {
      clearTimeout(timer);
      for (const unsubscribe of unsubscribers) unsubscribe();
      if (err) reject(err);
      else resolve();
    };
    const timer = setTimeout(
      () => finish(new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)),
      timeoutMs,
    );
    unsubscribers.push(
      subscribe(() => {
        if (check()) finish();
      }),
    );
  });
}

/** Signals on any catalog change or peer event of any of `nodes`. */
export function onFederationChange(nodes: readonly AllianceNode[]): (onChange: () => void) => () => void {
  return (onChange) => {
    const unsubscribers = nodes.flatMap((node) => [
      node.catalog.watch(onChange),
      node.mesh.onEvent(onChange),
    ]);
    return () => unsubscribers.forEach((unsubscribe) => unsubscribe());
  };
}

export class TestFederation {
  readonly nodes: (AllianceNode | null)[] = [];

  private constructor(
    readonly dir: string,
    readonly clouds: DevCloud[],
  ) {}

  static async start(options: { clouds: number; antiEntropyIntervalMs?: number }): Promise<TestFederation> {
    const dir = mkdtempSync(join(tmpdir(), 'alliance-it-'));
    const ports = await allocatePorts(options.clouds * 3);
    const portsOf = (i: number): DevCloudPorts => ({
      local: ports[3 * i] ?? 0,
      peer: ports[3 * i + 1] ?? 0,
      http: ports[3 * i + 2] ?? 0,
    });
    const clouds = prepareDevFederation({
      dir,
      clouds: options.clouds,
      portsOf,
      logLevel: 'silent',
      antiEntropyIntervalMs: options.antiEntropyIntervalMs ?? 500,
    });
    const federation = new TestFederation(dir, clouds);
    for (let i = 0; i < clouds.length; i++) await federation.startNode(i);
    return federation;
  }

  node(index: number): AllianceNode {
    const node = this.nodes[index];
    if (!node) throw new Error(`node ${index} is not running`);
    return node;
  }

  running(): AllianceNode[] {
    return this.nodes.filter((n): n is AllianceNode => n !== null);
  }

  async startNode(index: number): Promise<AllianceNode> {
    const cloud = this.clouds[index];
    if (!cloud) throw new Error(`no cloud ${index}`);
    const node = createNode(cloud.config, { log: silentLogger() });
    this.nodes[index] = node;
    await node.start();
    return node;
  }

  async stopNode(index: number): Promise<void> {
    await this.nodes[index]?.stop();
    this.nodes[index] = null;
  }

  /** Waits until every running node is connected to every other running node. */
  async fullyConnected(timeoutMs = 15_000): Promise<void> {
    const running = this.running();
    await waitFor(
      'every node connected to every other',
      () => running.every((n) => n.mesh.connectedPeers().length === running.length - 1),
      onFederationChange(running),
      timeoutMs,
    );
  }

  /**
   * Waits until every running node holds every running cloud's "subscribers" record: until then a
   * node refuses events and provisioning requests for a cloud it has not heard of.
   */
  async subscribersKnownEverywhere(timeoutMs = 15_000): Promise<void> {
    const running = this.running();
    await waitFor(
      'every node to hold the subscribers of every cloud',
      () => running.every((node) => node.events.expectations().size === running.length),
      (onChange) => {
        const unsubscribers = running.map((node) => node.events.onChange(onChange));
        return () => unsubscribers.forEach((unsubscribe) => unsubscribe());
      },
      timeoutMs,
    );
  }

  localAddress(index: number): string {
    const ports = this.clouds[index]?.ports;
    return `127.0.0.1:${ports?.local ?? 0}`;
  }

  /** A typed, promise-based connection to node `index`'s local API (the CLI's own client). */
  localApi(index: number): LocalApiConnection {
    return connectLocalApi({ address: this.localAddress(index), timeoutMs: 5_000 });
  }

  async stop(): Promise<void> {
    await Promise.all(this.running().map((n) => n.stop()));
    rmSync(this.dir, { recursive: true, force: true });
  }
}
