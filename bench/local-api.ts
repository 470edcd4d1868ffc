/**
 * local-api: unary throughput and latency of a node's local gRPC API, next to the grpc-js
 * ceiling, measured in the same run.
 *
 * Two server processes are started, each with its own event loop, apart from the load generator
 * (this process): the bare echo server (bench/echo-server.ts, the ceiling) and a real node
 * (`alliance serve`) of a one-cloud dev federation. Three targets are driven in turn at each
 * concurrency (so noise on the machine hits them alike): echo, alliance.v1.Catalog/ListRegions
 * (one region: a small response) and alliance.v1.Admin/GetStatus. Each target is one channel
 * (one HTTP/2 connection) from one client process; requests are pre-encoded and responses left
 * encoded, so the client's cost is the same for every target. The echo request is as large as
 * the ListRegions response, so both move the same bytes.
 *
 * Each result reports rps and latency, the CPU used by client and server during the window
 * (to show which side saturated: the machine has few cores), and for node targets the ratio
 * of their rps to the echo's at the same concurrency.
 */
import type { Client } from '@grpc/grpc-js';
import { prepareDevFederation } from '../src/dev/index.js';
import { AdminService, GetStatusRequest, GetStatusResponse } from '../src/gen/alliance/v1/admin.js';
import { CatalogService, ListRegionsRequest, ListRegionsResponse } from '../src/gen/alliance/v1/catalog.js';
import { localAddressOf, spawnAllianceNode, waitUntilServing } from './lib/alliance-process.js';
import type { BenchContext, Benchmark, BenchResult } from './lib/benchmark.js';
import { processCpuMs, stopAll, type BenchChild } from './lib/child-process.js';
import { runClosedLoop } from './lib/closed-loop.js';
import { startEchoServer } from './lib/echo-server-process.js';
import { echoPath } from './lib/echo-service.js';
import { round3 } from './lib/latency-summary.js';
import { openChannel, rawUnary } from './lib/local-channel.js';
import { allocatePorts } from './lib/ports.js';
import { makeTempDir, removeTempDir } from './lib/temp-dir.js';

const concurrencies = [1, 16, 64, 256];
/** Per-call deadline: far above any latency seen here, so a timeout means a stuck call. */
const callDeadlineMs = 10_000;
const serverStartTimeoutMs = 20_000;

interface Timing {
  warmupMs: number;
  durationMs: number;
}
const fullTiming: Timing = { warmupMs: 1_000, durationMs: 5_000 };
const quickTiming: Timing = { warmupMs: 200, durationMs: 1_000 };

interface Target {
  name: 'echo' | 'node-list-regions' | 'node-get-status';
  server: BenchChild;
  channel: Client;
  path: string;
  request: Buffer;
  responseBytes: number;
}

export const localApiBenchmark: Benchmark = {
  name: 'local-api',
  description: 'unary rps and latency of a node (ListRegions, GetStatus) next to a bare grpc-js echo ceiling',
  run: runLocalApi,
};

async function runLocalApi(context: BenchContext): Promise<void> {
  const timing = context.quick ? quickTiming : fullTiming;
  const dir = makeTempDir('alliance-bench-local-api-');
  const children: BenchChild[] = [];
  const channels: Client[] = [];
  const failures: string[] = [];
  try {
    context.progress('local-api: starting the echo server and a one-cloud node');
    const echo = await startEchoServer();
    children.push(echo.child);

    const [local, peer, http] = await allocatePorts(3);
    if (local === undefined || peer === undefined || http === undefined) throw new Error('no free ports');
    const [cloud] = prepareDevFederation({
      dir,
      clouds: 1,
      portsOf: () => ({ local, peer, http }),
      logLevel: 'warn',
    });
    if (!cloud) throw new Error('prepareDevFederation returned no cloud');
    const node = spawnAllianceNode(cloud);
    children.push(node);

    const open = (address: string): Client => {
      const channel = openChannel(address);
      channels.push(channel);
      return channel;
    };
    const regionsChannel = open(localAddressOf(cloud));
    const statusChannel = open(localAddressOf(cloud));
    const echoChannel = open(`127.0.0.1:${echo.port}`);
    await waitUntilServing(regionsChannel, node, serverStartTimeoutMs);

    // One checked call per node target: the right method answers with what we expect.
    const regionsRequest = Buffer.from(ListRegionsRequest.encode({ cloud: '' }).finish());
    const regionsBytes = await rawUnary(regionsChannel, CatalogService.listRegions.path, regionsRequest, {
      deadlineMs: callDeadlineMs,
    });
    const regions = ListRegionsResponse.decode(regionsBytes).regions;
    if (regions.length !== 1) throw new Error(`ListRegions answered ${regions.length} regions, expected 1`);
    const statusRequest = Buffer.from(GetStatusRequest.encode({}).finish());
    const statusBytes = await rawUnary(statusChannel, AdminService.getStatus.path, statusRequest, {
      deadlineMs: callDeadlineMs,
    });
    const status = GetStatusResponse.decode(statusBytes);
    if (status.cloud !== cloud.cloud) throw new Error(`GetStatus answered cloud '${status.cloud}'`);
    const echoRequest = Buffer.alloc(regionsBytes.length, 0x61);
    await rawUnary(echoChannel, echoPath, echoRequest, { deadlineMs: callDeadlineMs, waitForReady: true });

    const targets: Target[] = [
      {
        name: 'echo',
        server: echo.child,
        channel: echoChannel,
        path: echoPath,
        request: echoRequest,
        responseBytes: echoRequest.length,
      },
      {
        name: 'node-list-regions',
        server: node,
        channel: regionsChannel,
        path: CatalogService.listRegions.path,
        request: regionsRequest,
        responseBytes: regionsBytes.length,
      },
      {
        name: 'node-get-status',
        server: node,
        channel: statusChannel,
        path: AdminService.getStatus.path,
        request: statusRequest,
        responseBytes: statusBytes.length,
      },
    ];

    for (const concurrency of concurrencies) {
      let echoRps: number | null = null;
      for (const target of targets) {
        const result = await measure(context, target, concurrency, timing);
        if (target.name === 'echo') echoRps = result.rps;
        else result.ratioToEcho = echoRps ? round3(result.rps / echoRps) : null;
        context.emit(result);
        if (result.errors !== 0)
          failures.push(`${target.name} at concurrency ${concurrency}: ${result.errorKinds}`);
        if (target.server.hasExited()) {
          throw new Error(`${target.server.name} exited during the run:\n${target.server.outputTail()}`);
        }
      }
    }
  } finally {
    for (const channel of channels) channel.close();
    await stopAll(children);
    removeTempDir(dir);
  }
  if (failures.length > 0) throw new Error(`calls failed under load: ${failures.join('; ')}`);
}

async function measure(
  context: BenchContext,
  target: Target,
  concurrency: number,
  timing: Timing,
): Promise<BenchResult & { rps: number; errors: number; errorKinds: string }> {
  context.progress(`local-api: ${target.name} at concurrency ${concurrency}`);
  let serverCpuStartMs: number | null = null;
  let clientCpuStart = process.cpuUsage();
  const result = await runClosedLoop({
    concurrency,
    durationMs: timing.durationMs,
    warmupMs: timing.warmupMs,
    call: () => rawUnary(target.channel, target.path, target.request, { deadlineMs: callDeadlineMs }),
    onMeasureStart: () => {
      serverCpuStartMs = processCpuMs(target.server.pid);
      clientCpuStart = process.cpuUsage();
    },
  });
  const serverCpuEndMs = processCpuMs(target.server.pid);
  const clientCpu = process.cpuUsage(clientCpuStart);
  const clientCpuMs = (clientCpu.user + clientCpu.system) / 1000;
  const serverCpuMs =
    serverCpuStartMs === null || serverCpuEndMs === null ? null : serverCpuEndMs - serverCpuStartMs;
  const successes = result.requests - result.errors;
  return {
    bench: 'local-api',
    target: target.name,
    method: target.path,
    concurrency,
    channels: 1,
    clientProcesses: 1,
    requests: result.requests,
    errors: result.errors,
    errorKinds: result.errors === 0 ? '' : JSON.stringify(result.errorKinds),
    durationMs: round3(result.durationMs),
    rps: Math.round(result.rps),
    meanMs: round3(result.latency.meanMs),
    p50Ms: round3(result.latency.p50Ms),
    p90Ms: round3(result.latency.p90Ms),
    p99Ms: round3(result.latency.p99Ms),
    maxMs: round3(result.latency.maxMs),
    requestBytes: target.request.length,
    responseBytes: target.responseBytes,
    // CPU over the window as % of one core; /proc ticks are 10 ms, so ±10 ms per reading.
    clientCpuPct: Math.round((100 * clientCpuMs) / result.durationMs),
    serverCpuPct: serverCpuMs === null ? null : Math.round((100 * serverCpuMs) / result.durationMs),
    serverCpuUsPerCall:
      serverCpuMs === null || successes === 0 ? null : round3((1000 * serverCpuMs) / successes),
  };
}
