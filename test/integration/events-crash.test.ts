/**
 * Crashes lose no event: three real node processes (`alliance serve`, the built dist/), killed
 * with SIGKILL (kill -9) at the worst moments.
 *
 * (a) cloud-b's node is killed in the middle of a 10,000-event burst published at cloud-a, and
 *     restarted: its subscribers nova and neutron (in this process, over the local API) get every
 *     event, and none is delivered again after its ack succeeded. A subscriber opens a new channel
 *     per stream, so an ack never outlives the stream (and node) that sent its event.
 * (b) a subscriber, `alliance tail nova` in its own process, is killed mid-stream and started
 *     again: it resumes after its last ack. tail acks each event after printing it and before
 *     reading the next, so everything it printed except perhaps the last line was acked.
 *
 * Every wait is on an event (a log line, a received event, a process exit), never a sleep.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectLocalApi } from '../../src/cli/client.js';
import type { LocalApiConnection } from '../../src/cli/client.js';
import { prepareDevFederation } from '../../src/dev/index.js';
import type { DevCloud } from '../../src/dev/index.js';
import { EventsService, Outcome } from '../../src/gen/alliance/v1/events.js';
import { allocatePorts } from './harness.js';

const root = fileURLToPath(new URL('../../', import.meta.url));
const main = join(root, 'dist/src/main.js');
const burstSize = 10_000;

/** The dist/ that `pretest` builds; rebuilt here when older than the sources (a bare `vitest run`). */
function ensureBuilt(): void {
  const newest = (dir: string): number =>
    readdirSync(dir, { withFileTypes: true }).reduce((latest, entry) => {
      const path = join(dir, entry.name);
      return Math.max(latest, entry.isDirectory() ? newest(path) : statSync(path).mtimeMs);
    }, 0);
  const built = (): number => {
    try {
      return statSync(main).mtimeMs;
    } catch {
      return 0;
    }
  };
  if (built() >= newest(join(root, 'src'))) return;
  // Emits even when unrelated files (bench/) fail to type-check: only src/ matters here.
  spawnSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'], {
    cwd: root,
    stdio: 'ignore',
  });
  if (built() === 0) throw new Error('dist/src/main.js could not be built');
}

interface Proc {
  child: ChildProcess;
  lines: string[];
  /** Resolves with the first stdout line `match` accepts, including lines already seen. */
  line(match: (line: string) => boolean): Promise<string>;
  onLine(listener: (line: string) => void): void;
  exited: Promise<number | null>;
}

const children = new Set<ChildProcess>();

function spawnAlliance(args: string[]): Proc {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const lines: string[] = [];
  const listeners: ((line: string) => void)[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const listener of [...listeners]) listener(line);
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<number | null>((resolve) =>
    child.once('close', (code) => {
      children.delete(child);
      resolve(code);
    }),
  );
  return {
    child,
    lines,
    exited,
    onLine: (listener) => listeners.push(listener),
    line: (match) =>
      new Promise((resolve, reject) => {
        const found = lines.find(match);
        if (found !== undefined) return resolve(found);
        listeners.push((line) => {
          if (match(line)) resolve(line);
        });
        void exited.then((code) =>
          reject(
            new Error(
              `alliance ${args.join(' ')} exited with ${code}:\n${lines.slice(-20).join('\n')}\n${stderr}`,
            ),
          ),
        );
      }),
  };
}

function isLog(line: string, message: string): boolean {
  return line.includes(`"msg":"${message}"`);
}

let dir: string;
let clouds: DevCloud[];
const nodes: (Proc | null)[] = [null, null, null];
/** Resolves when node `i` (its latest incarnation) logged "node started". */
const ready: Promise<void>[] = [];

async function startNode(index: number): Promise<Proc> {
  const cloud = clouds[index];
  if (!cloud) throw new Error(`no cloud ${index}`);
  const proc = spawnAlliance(['serve', '--config', cloud.configPath]);
  nodes[index] = proc;
  ready[index] = proc.line((line) => isLog(line, 'node started')).then(() => undefined);
  await ready[index];
  return proc;
}

function localAddress(index: number): string {
  return `127.0.0.1:${clouds[index]?.ports.local ?? 0}`;
}

function connect(index: number): LocalApiConnection {
  return connectLocalApi({ address: localAddress(index), timeoutMs: 10_000 });
}

beforeAll(async () => {
  ensureBuilt();
  dir = mkdtempSync(join(tmpdir(), 'alliance-crash-'));
  const ports = await allocatePorts(9);
  clouds = prepareDevFederation({
    dir,
    clouds: 3,
    portsOf: (i) => ({ local: ports[3 * i] ?? 0, peer: ports[3 * i + 1] ?? 0, http: ports[3 * i + 2] ?? 0 }),
    logLevel: 'info',
    antiEntropyIntervalMs: 500,
  });
  await Promise.all([0, 1, 2].map(startNode));
}, 60_000);

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  rmSync(dir, { recursive: true, force: true });
});

/**
 * A service consuming events at node `at` over the local API, acking each done. After its stream
 * fails (the node died) it waits for the node to be ready again and subscribes anew. It records
 * every delivery, and every delivery of an event whose ack had already succeeded.
 */
class ResilientSubscriber {
  readonly received = new Set<string>();
  readonly acked = new Set<string>();
  deliveries = 0;
  readonly redeliveredAfterAck: string[] = [];
  streams = 0;
  private readonly stopping = new AbortController();
  private readonly watchers = new Set<() => void>();
  readonly done: Promise<void>;

  constructor(
    readonly at: number,
    readonly name: string,
  ) {
    this.done = this.run();
  }

  private notify(): void {
    for (const watcher of this.watchers) watcher();
  }

  /** Resolves when `check()` holds, re-checked on every delivery and ack. */
  until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      if (check()) return resolve();
      const watcher = (): void => {
        if (!check()) return;
        this.watchers.delete(watcher);
        resolve();
      };
      this.watchers.add(watcher);
    });
  }

  private async run(): Promise<void> {
    while (!this.stopping.signal.aborted) {
      await ready[this.at];
      const connection = connect(this.at);
      const client = connection.client(EventsService);
      this.streams++;
      const acks: Promise<void>[] = [];
      try {
        for await (const event of client.subscribe(
          { subscriber: this.name, types: [] },
          { signal: this.stopping.signal },
        )) {
          this.deliveries++;
          if (this.acked.has(event.id)) this.redeliveredAfterAck.push(event.id);
          this.received.add(event.id);
          this.notify();
          acks.push(
            client
              .ack({ subscriber: this.name, eventId: event.id, outcome: Outcome.OUTCOME_DONE, detail: '' })
              .then(
                () => {
                  this.acked.add(event.id);
                  this.notify();
                },
                // Lost with the node (or the channel): the event comes again, which is allowed.
                () => undefined,
              ),
          );
        }
      } catch {
        // The node went away: its acks in flight are lost with this channel, never resent.
      } finally {
        connection.close();
        await Promise.allSettled(acks);
      }
    }
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.done;
  }
}

/**
 * Resolves once `subscriber` received every event of the burst and each is acked: by an ack that
 * succeeded, or (an ack the node committed just before it died, whose answer was lost) as the
 * node's own record says. Re-checked whenever the subscriber gets or acks an event.
 */
async function settled(subscriber: ResilientSubscriber, connection: LocalApiConnection): Promise<void> {
  await subscriber.until(() => subscriber.received.size >= burstSize);
  const client = connection.client(EventsService);
  for (;;) {
    const acksBefore = subscriber.acked.size;
    const unconfirmed = [...subscriber.received].filter((id) => !subscriber.acked.has(id));
    const statuses = await Promise.all(unconfirmed.map((id) => client.getEventStatus({ id })));
    const open = unconfirmed.filter((_, i) => {
      const mine = statuses[i]?.clouds[0]?.subscribers.find((s) => s.name === subscriber.name);
      return mine?.outcome !== Outcome.OUTCOME_DONE;
    });
    if (open.length === 0) return;
    await subscriber.until(() => subscriber.acked.size > acksBefore);
  }
}

describe('crashes lose no event', () => {
  it('kill -9 of a receiving node in the middle of a 10,000-event burst: every event arrives, none again after its ack', async () => {
    const subscribers = [new ResilientSubscriber(1, 'nova'), new ResilientSubscriber(1, 'neutron')];
    const [nova] = subscribers;
    if (!nova) throw new Error('no subscriber');
    const published: string[] = [];
    let killedAfterPublishing = -1;
    const startedMs = Date.now();

    // The kill: once nova at cloud-b has 1,000 events, cloud-b dies and comes back at once.
    const killed = (async () => {
      await nova.until(() => nova.received.size >= 1_000);
      const victim = nodes[1];
      if (!victim) throw new Error('cloud-b is not running');
      killedAfterPublishing = published.length;
      // Subscribers whose stream fails wait for the new incarnation, not the dead one.
      let backUp!: () => void;
      ready[1] = new Promise((resolve) => (backUp = resolve));
      victim.child.kill('SIGKILL');
      await victim.exited;
      return backUp;
    })();
    const restarted = killed.then(async (backUp) => {
      await startNode(1);
      backUp();
    });

    // The burst, in concurrent batches over cloud-a's local API; it waits at 3,000 for the kill,
    // so the kill always falls in the middle of it.
    const publisher = connect(0);
    const client = publisher.client(EventsService);
    const batchSize = 250;
    for (let offset = 0; offset < burstSize; offset += batchSize) {
      if (offset >= 3_000) await killed;
      const batch = await Promise.all(
        Array.from({ length: Math.min(batchSize, burstSize - offset) }, (_, i) =>
          client.publish({
            type: 'identity.project.deleted',
            subject: `project-${offset + i}`,
            data: { project_id: `project-${offset + i}` },
            targetCloud: 'cloud-b',
          }),
        ),
      );
      published.push(...batch.map((response) => response.id));
    }
    publisher.close();
    const publishedMs = Date.now() - startedMs;
    await restarted;

    const status = connect(1);
    for (const subscriber of subscribers) await settled(subscriber, status);
    status.close();
    const deliveredMs = Date.now() - startedMs;

    for (const subscriber of subscribers) await subscriber.stop();

    const all = new Set(published);
    expect(all.size).toBe(burstSize);
    expect(killedAfterPublishing).toBeGreaterThan(0);
    expect(killedAfterPublishing).toBeLessThan(burstSize);
    for (const subscriber of subscribers) {
      expect([...subscriber.received].filter((id) => !all.has(id))).toEqual([]);
      expect(published.filter((id) => !subscriber.received.has(id))).toEqual([]);
      expect(subscriber.redeliveredAfterAck).toEqual([]);
      expect(subscriber.streams).toBeGreaterThanOrEqual(2);
    }
    console.log(
      `FED ${JSON.stringify({
        name: 'events crash: 10k burst, receiving node killed -9 and restarted',
        events: burstSize,
        killedAfterPublishing,
        publishedMs,
        deliveredAndAckedMs: deliveredMs,
        redeliveriesBeforeAck: subscribers.map((s) => s.deliveries - burstSize),
        acksLostWithTheNode: subscribers.map((s) => burstSize - s.acked.size),
      })}`,
    );
  }, 90_000);

  it('kill -9 of a subscriber (alliance tail) mid-stream: started again, it resumes after its last ack', async () => {
    const count = 1_000;
    const publisher = connect(0);
    const client = publisher.client(EventsService);
    const ids: string[] = [];
    for (let i = 0; i < count; i++) {
      const { id } = await client.publish({
        type: 'identity.user.deleted',
        subject: `user-${i}`,
        data: {},
        targetCloud: 'cloud-b',
      });
      ids.push(id);
    }
    publisher.close();

    const tail = (): Proc => spawnAlliance(['--address', localAddress(1), 'tail', 'nova', '--json']);
    const idOf = (line: string): string => (JSON.parse(line) as { id: string }).id;

    const first = tail();
    await first.line(() => first.lines.length >= 300);
    first.child.kill('SIGKILL');
    await first.exited;
    const printedBefore = first.lines.map(idOf);

    const second = tail();
    const lastId = ids.at(-1);
    await second.line((line) => idOf(line) === lastId);
    second.child.kill('SIGINT');
    await second.exited;
    const printedAfter = second.lines.map(idOf);

    // tail prints, then acks, then reads the next: all it printed but the last line was acked.
    const surelyAcked = new Set(printedBefore.slice(0, -1));
    const lastPrinted = printedBefore.at(-1);
    expect(printedBefore).toEqual(ids.slice(0, printedBefore.length));
    expect(printedAfter.filter((id) => surelyAcked.has(id))).toEqual([]);
    const resumedAt = printedAfter[0] === lastPrinted ? printedBefore.length - 1 : printedBefore.length;
    expect(printedAfter).toEqual(ids.slice(resumedAt));
    console.log(
      `FED ${JSON.stringify({
        name: 'events crash: subscriber killed -9 mid-stream and restarted',
        events: count,
        printedBeforeKill: printedBefore.length,
        lastPrintedAgain: printedAfter[0] === lastPrinted,
      })}`,
    );
  }, 60_000);
});
