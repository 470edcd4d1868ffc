/**
 * mesh-convergence: how long a federation of real node processes takes to agree on the catalog.
 *
 * A dev federation of N clouds (prepareDevFederation: one node per cloud, each seeded with one
 * peer only, default anti-entropy interval) is started as N `alliance serve` processes. For each
 * node, as soon as its local API answers Health/Check SERVING, a WatchCatalog stream is opened
 * and the clouds it reports are tracked (SNAPSHOT and UPDATED add a cloud, REMOVED drops it);
 * the node has converged when it lists all N. Nothing polls: the times are those of the stream
 * messages.
 *
 * - cold start: from the moment every process is spawned until the last node lists N clouds,
 *   also reported from the moment the last node became healthy (which separates process start-up
 *   on a small machine from the mesh's own work). Repeated (fresh directories each time); each
 *   run is reported and then the median.
 * - restart catch-up (once per N, after the first cold start): one node (the last: seeded with
 *   cloud-a, not itself anyone's seed) gets SIGTERM, is restarted from the same config, and is
 *   timed from its new spawn until its WatchCatalog lists N clouds. Done twice: with its data
 *   directory kept (the catalog is already in its SQLite store) and with it deleted (everything
 *   comes back over the mesh).
 */
import { status as GrpcStatus, Metadata, type Client } from '@grpc/grpc-js';
import { rmSync } from 'node:fs';
import { prepareDevFederation, type DevCloud } from '../src/dev/index.js';
import {
  CatalogService,
  WatchCatalogRequest,
  WatchCatalogResponse,
  WatchCatalogResponse_Kind,
} from '../src/gen/alliance/v1/catalog.js';
import { localAddressOf, spawnAllianceNode, waitUntilServing } from './lib/alliance-process.js';
import type { BenchContext, Benchmark } from './lib/benchmark.js';
import { stopAll, type BenchChild } from './lib/child-process.js';
import { median, round3 } from './lib/latency-summary.js';
import { isServiceError, openChannel } from './lib/local-channel.js';
import { allocatePorts } from './lib/ports.js';
import { makeTempDir, removeTempDir } from './lib/temp-dir.js';

/** Everything from spawn to convergence of one federation must fit in this. */
const convergenceTimeoutMs = 30_000;

export const meshConvergenceBenchmark: Benchmark = {
  name: 'mesh-convergence',
  description: 'N node processes: cold start and restart until every WatchCatalog lists N clouds',
  run: runMeshConvergence,
};

async function runMeshConvergence(context: BenchContext): Promise<void> {
  const sizes = [3, 10];
  const runs = context.quick ? 1 : 3;
  for (const clouds of sizes) {
    const fromSpawn: number[] = [];
    const fromLastHealthy: number[] = [];
    for (let run = 1; run <= runs; run++) {
      context.progress(`mesh-convergence: cold start of ${clouds} nodes, run ${run}/${runs}`);
      const federation = await ProcessFederation.prepare(clouds);
      try {
        const cold = await federation.coldStart();
        fromSpawn.push(cold.fromSpawnMs);
        fromLastHealthy.push(cold.fromLastHealthyMs);
        context.emit({
          bench: 'mesh-convergence',
          scenario: 'cold-start',
          clouds,
          run,
          fromSpawnMs: round3(cold.fromSpawnMs),
          fromLastHealthyMs: round3(cold.fromLastHealthyMs),
          firstHealthyMs: round3(cold.firstHealthyMs),
          lastHealthyMs: round3(cold.lastHealthyMs),
          spawnAllMs: round3(cold.spawnAllMs),
          lastConvergedCloud: cold.lastConvergedCloud,
        });
        if (run === 1) {
          for (const state of ['kept', 'wiped'] as const) {
            context.progress(`mesh-convergence: restart of one of ${clouds} nodes, data ${state}`);
            const restart = await federation.restartLast(state);
            context.emit({
              bench: 'mesh-convergence',
              scenario: 'restart',
              clouds,
              dataDir: state,
              stopMs: round3(restart.stopMs),
              healthyMs: round3(restart.healthyMs),
              convergedMs: round3(restart.convergedMs),
              afterHealthyMs: round3(restart.convergedMs - restart.healthyMs),
            });
          }
        }
      } finally {
        await federation.close();
      }
    }
    context.emit({
      bench: 'mesh-convergence',
      scenario: 'cold-start-median',
      clouds,
      runs,
      fromSpawnMs: round3(median(fromSpawn)),
      fromLastHealthyMs: round3(median(fromLastHealthy)),
    });
  }
}

interface ColdStart {
  /** hrtime differences in ms, from the moment the last process was spawned. */
  fromSpawnMs: number;
  fromLastHealthyMs: number;
  firstHealthyMs: number;
  lastHealthyMs: number;
  /** How long spawning every process took (spawn() calls only). */
  spawnAllMs: number;
  /** The cloud whose node converged last. */
  lastConvergedCloud: string;
}

interface Restart {
  /** SIGTERM to exit. */
  stopMs: number;
  /** From the new spawn. */
  healthyMs: number;
  convergedMs: number;
}

/** N `alliance serve` processes over one temp dir; close() always cleans up both. */
class ProcessFederation {
  private readonly children: (BenchChild | null)[];
  private readonly channels = new Set<Client>();

  private constructor(
    private readonly dir: string,
    private readonly clouds: DevCloud[],
  ) {
    this.children = clouds.map(() => null);
  }

  static async prepare(count: number): Promise<ProcessFederation> {
    const dir = makeTempDir('alliance-bench-mesh-');
    try {
      const ports = await allocatePorts(count * 3);
      const clouds = prepareDevFederation({
        dir,
        clouds: count,
        portsOf: (i) => ({
          local: ports[3 * i] ?? 0,
          peer: ports[3 * i + 1] ?? 0,
          http: ports[3 * i + 2] ?? 0,
        }),
        logLevel: 'warn',
      });
      return new ProcessFederation(dir, clouds);
    } catch (err) {
      removeTempDir(dir);
      throw err;
    }
  }

  async coldStart(): Promise<ColdStart> {
    const spawnStartNs = process.hrtime.bigint();
    this.clouds.forEach((cloud, index) => {
      this.children[index] = spawnAllianceNode(cloud);
    });
    const spawnedNs = process.hrtime.bigint();
    const deadline = Date.now() + convergenceTimeoutMs;
    const nodes = await Promise.all(
      this.clouds.map((_cloud, index) => this.healthyThenConverged(index, deadline)),
    );
    const ms = (ns: bigint): number => Number(ns - spawnedNs) / 1e6;
    const healthy = nodes.map((n) => ms(n.healthyNs));
    const converged = nodes.map((n) => ms(n.convergedNs));
    const lastConverged = Math.max(...converged);
    const lastIndex = converged.indexOf(lastConverged);
    return {
      lastConvergedCloud: this.clouds[lastIndex]?.cloud ?? '',
      fromSpawnMs: lastConverged,
      fromLastHealthyMs: lastConverged - Math.max(...healthy),
      firstHealthyMs: Math.min(...healthy),
      lastHealthyMs: Math.max(...healthy),
      spawnAllMs: Number(spawnedNs - spawnStartNs) / 1e6,
    };
  }

  /** Stops the last node, optionally deletes its data, restarts it and times its catch-up. */
  async restartLast(dataDir: 'kept' | 'wiped'): Promise<Restart> {
    const index = this.clouds.length - 1;
    const cloud = this.clouds[index];
    const child = this.children[index];
    if (!cloud || !child) throw new Error(`node ${index} is not running`);
    const stopMs = await child.stop();
    this.children[index] = null;
    if (dataDir === 'wiped') rmSync(cloud.config.dataDir, { recursive: true, force: true });
    const restarted = spawnAllianceNode(cloud);
    this.children[index] = restarted;
    const node = await this.healthyThenConverged(index, Date.now() + convergenceTimeoutMs);
    return {
      stopMs,
      healthyMs: Number(node.healthyNs - restarted.spawnedAtNs) / 1e6,
      convergedMs: Number(node.convergedNs - restarted.spawnedAtNs) / 1e6,
    };
  }

  private async healthyThenConverged(
    index: number,
    deadline: number,
  ): Promise<{ healthyNs: bigint; convergedNs: bigint }> {
    const cloud = this.clouds[index];
    const child = this.children[index];
    if (!cloud || !child) throw new Error(`node ${index} is not running`);
    // A fresh channel per process: one that saw the previous process die would be in backoff.
    const channel = openChannel(localAddressOf(cloud));
    this.channels.add(channel);
    try {
      const healthyNs = await waitUntilServing(channel, child, Math.max(1, deadline - Date.now()));
      const convergedNs = await untilCloudsListed(channel, child, this.clouds.length, deadline);
      return { healthyNs, convergedNs };
    } finally {
      channel.close();
      this.channels.delete(channel);
    }
  }

  async close(): Promise<void> {
    for (const channel of this.channels) channel.close();
    await stopAll(this.children);
    removeTempDir(this.dir);
  }
}

/**
 * Opens WatchCatalog on `channel` and resolves with the hrtime of the message after which the
 * node lists `count` clouds; the stream is then cancelled. Rejects at `deadline` (naming the
 * clouds seen) or if the stream fails or the process exits.
 */
function untilCloudsListed(
  channel: Client,
  child: BenchChild,
  count: number,
  deadline: number,
): Promise<bigint> {
  return new Promise((resolve, reject) => {
    const listed = new Set<string>();
    const request = Buffer.from(WatchCatalogRequest.encode({ cloud: '' }).finish());
    const call = channel.makeServerStreamRequest(
      CatalogService.watchCatalog.path,
      (bytes: Buffer) => bytes,
      (bytes: Buffer) => WatchCatalogResponse.decode(bytes),
      request,
      new Metadata(),
    );
    let done = false;
    const finish = (outcome: { at: bigint } | { err: Error }): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      call.cancel();
      if ('at' in outcome) resolve(outcome.at);
      else reject(outcome.err);
    };
    const timer = setTimeout(
      () =>
        finish({
          err: new Error(
            `${child.name} listed ${listed.size} of ${count} clouds (${[...listed].sort().join(', ')}) ` +
              `by the deadline:\n${child.outputTail()}`,
          ),
        }),
      Math.max(1, deadline - Date.now()),
    );
    call.on('data', (message: WatchCatalogResponse) => {
      const cloud = message.catalog?.cloud;
      if (cloud === undefined) return;
      if (message.kind === WatchCatalogResponse_Kind.KIND_REMOVED) listed.delete(cloud);
      else listed.add(cloud);
      if (listed.size >= count) finish({ at: process.hrtime.bigint() });
    });
    call.on('error', (err: unknown) => {
      // Our own cancel after success also surfaces as CANCELLED; `done` is set by then.
      if (isServiceError(err) && err.code === GrpcStatus.CANCELLED && done) return;
      finish({ err: new Error(`WatchCatalog on ${child.name} failed: ${String(err)}`) });
    });
    call.on('end', () => finish({ err: new Error(`WatchCatalog on ${child.name} ended early`) }));
    void child.exited.then((code) =>
      finish({ err: new Error(`${child.name} exited (${code}):\n${child.outputTail()}`) }),
    );
  });
}
