/**
 * A dev federation of N node processes for benchmarks that need a running mesh: the configs from
 * prepareDevFederation (one node per cloud, free ports, log level warn) in a temporary directory,
 * one `alliance serve` process per cloud, and the waits that make it usable:
 *
 * - serving: each local API answers Health/Check SERVING (alliance-process.ts);
 * - fully connected: each node's Admin/GetStatus lists every other cloud as a CONNECTED peer.
 *   Each node is asked with a call, retried after a backoff (10 ms doubling to 200 ms) until an
 *   overall deadline; no fixed sleep.
 *
 * close() stops every process and removes the directory, whatever state the start reached.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@grpc/grpc-js';
import { prepareDevFederation, type DevCloud } from '../../src/dev/index.js';
import {
  AdminService,
  GetStatusRequest,
  GetStatusResponse,
  PeerInfo_State,
} from '../../src/gen/alliance/v1/admin.js';
import { localAddressOf, spawnAllianceNode, waitUntilServing } from './alliance-process.js';
import { stopAll, type BenchChild } from './child-process.js';
import { openChannel, rawUnary } from './local-channel.js';
import { allocatePorts } from './ports.js';
import { makeTempDir, removeTempDir } from './temp-dir.js';

const statusDeadlineMs = 2_000;
const meshBackoffMinMs = 10;
const meshBackoffMaxMs = 200;

export interface NodeFederation {
  readonly clouds: readonly DevCloud[];
  readonly children: readonly BenchChild[];
  /** One bench channel (its own HTTP/2 connection) per node, for setup and checks. */
  readonly channels: readonly Client[];
  /** A new channel to node `index`'s local API, closed by close(). */
  openChannelTo(index: number): Client;
  /** Throws (with its output) if a node process has exited. */
  assertRunning(): void;
  close(): Promise<void>;
}

export interface StartedFederation {
  federation: NodeFederation;
  /** From the last spawn until every node answered SERVING. */
  serveMs: number;
  /** From every node SERVING until every node lists N-1 connected peers. */
  connectMs: number;
}

/**
 * Starts N node processes and waits until each is serving and connected to all the others.
 * On failure everything started is stopped and removed before the error is thrown.
 */
export async function startNodeFederation(options: {
  clouds: number;
  dirPrefix: string;
  timeoutMs: number;
}): Promise<StartedFederation> {
  const dir = makeTempDir(options.dirPrefix);
  const children: BenchChild[] = [];
  const channels: Client[] = [];
  const extraChannels: Client[] = [];
  let clouds: DevCloud[] = [];
  const close = async (): Promise<void> => {
    for (const channel of [...channels, ...extraChannels]) channel.close();
    await stopAll(children);
    removeTempDir(dir);
  };
  try {
    const ports = await allocatePorts(options.clouds * 3);
    clouds = prepareDevFederation({
      dir,
      clouds: options.clouds,
      portsOf: (i) => ({
        local: ports[3 * i] ?? 0,
        peer: ports[3 * i + 1] ?? 0,
        http: ports[3 * i + 2] ?? 0,
      }),
      logLevel: 'warn',
    });
    const deadline = Date.now() + options.timeoutMs;
    for (const cloud of clouds) children.push(spawnAllianceNode(cloud));
    const spawnedNs = process.hrtime.bigint();
    for (const cloud of clouds) channels.push(openChannel(localAddressOf(cloud)));
    await Promise.all(
      channels.map((channel, i) =>
        waitUntilServing(channel, children[i] ?? null, Math.max(1, deadline - Date.now())),
      ),
    );
    const servingNs = process.hrtime.bigint();
    await Promise.all(
      channels.map((channel, i) =>
        waitUntilConnected(channel, children[i] ?? null, options.clouds - 1, deadline),
      ),
    );
    const connectedNs = process.hrtime.bigint();
    const federation: NodeFederation = {
      clouds,
      children,
      channels,
      openChannelTo(index) {
        const cloud = clouds[index];
        if (!cloud) throw new Error(`no node ${index}`);
        const channel = openChannel(localAddressOf(cloud));
        extraChannels.push(channel);
        return channel;
      },
      assertRunning() {
        const dead = children.find((child) => child.hasExited());
        if (dead) throw new Error(`${dead.name} exited during the run:\n${dead.outputTail()}`);
      },
      close,
    };
    return {
      federation,
      serveMs: Number(servingNs - spawnedNs) / 1e6,
      connectMs: Number(connectedNs - servingNs) / 1e6,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

const statusRequest = Buffer.from(GetStatusRequest.encode({}).finish());

/** Other clouds this node has a CONNECTED session with, by its GetStatus. */
async function connectedClouds(channel: Client): Promise<Set<string>> {
  const bytes = await rawUnary(channel, AdminService.getStatus.path, statusRequest, {
    deadlineMs: statusDeadlineMs,
  });
  const status = GetStatusResponse.decode(bytes);
  return new Set(
    status.peers
      .filter((peer) => peer.state === PeerInfo_State.STATE_CONNECTED && peer.cloud !== status.cloud)
      .map((peer) => peer.cloud),
  );
}

async function waitUntilConnected(
  channel: Client,
  child: BenchChild | null,
  peersWanted: number,
  deadline: number,
): Promise<void> {
  let backoffMs = meshBackoffMinMs;
  let seen = new Set<string>();
  while (Date.now() < deadline) {
    if (child?.hasExited()) throw new Error(`${child.name} exited:\n${child.outputTail()}`);
    seen = await connectedClouds(channel);
    if (seen.size >= peersWanted) return;
    await sleep(backoffMs);
    backoffMs = Math.min(meshBackoffMaxMs, backoffMs * 2);
  }
  throw new Error(
    `${child?.name ?? 'a node'} had ${seen.size} of ${peersWanted} peers connected ` +
      `(${[...seen].sort().join(', ')}) by the deadline`,
  );
}
