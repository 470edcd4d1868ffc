/**
 * An in-memory network for simulations: many nodes in one process, the same mesh
 * code as over gRPC. Frames are encoded and decoded on the way, as on the wire,
 * and delivered asynchronously in order. Partitions cut links and refuse dials.
 */
import { Frame } from '../gen/alliance/peer/v1/mesh.js';
import { AllianceError } from '../lib/errors.js';
import { peerMethodCodecs } from './peer-methods.js';
import type { Connection, NodeId, PeerCallDispatcher, PeerMethod, PeerMethods, Transport } from './types.js';

type Listener = (connection: Connection) => void;

class MemoryConnection implements Connection {
  other: MemoryConnection | undefined;
  private frameListeners: ((frame: Frame) => void)[] = [];
  private closeListeners: ((reason: string) => void)[] = [];
  private closed = false;

  constructor(
    private readonly network: MemoryNetwork,
    readonly outbound: boolean,
    readonly remoteAddress: string,
    readonly peerIdentity: NodeId | null,
    readonly localAddress: string,
  ) {}

  send(frame: Frame): boolean {
    if (this.closed || !this.other) return false;
    const bytes = Frame.encode(frame).finish();
    const target = this.other;
    this.network.schedule(() => target.deliver(bytes));
    return true;
  }

  deliver(bytes: Uint8Array): void {
    if (this.closed) return;
    const frame = Frame.decode(bytes);
    for (const listener of this.frameListeners) listener(frame);
  }

  close(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.network.forget(this);
    const other = this.other;
    this.network.schedule(() => {
      for (const listener of this.closeListeners) listener(reason);
      if (other && !other.closed) other.close(`closed by peer: ${reason}`);
    });
  }

  onFrame(listener: (frame: Frame) => void): void {
    this.frameListeners.push(listener);
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }

  isClosed(): boolean {
    return this.closed;
  }
}

export class MemoryNetwork {
  private readonly listeners = new Map<
    string,
    { identity: NodeId; onConnection: Listener; onCall: PeerCallDispatcher }
  >();
  private readonly connections = new Set<MemoryConnection>();
  private readonly cut = new Set<string>();
  private inFlight = 0;
  /** Frames delivered since creation, for reports. */
  deliveredFrames = 0;

  /** A transport for the node `identity` listening at `address`. */
  transport(address: string, identity: NodeId): Transport {
    return {
      listen: async (onConnection, onCall) => {
        this.listeners.set(address, { identity, onConnection, onCall });
        return address;
      },
      dial: (target) => this.dial(address, identity, target),
      call: (target, nodeId, method, request) =>
        this.call(address, identity, target, nodeId, method, request),
      close: async () => {
        this.listeners.delete(address);
        for (const connection of [...this.connections]) {
          if (connection.localAddress === address) connection.close('transport closed');
        }
      },
    };
  }

  /** Cuts every link between the two sets of addresses until heal(). */
  partition(sideA: readonly string[], sideB: readonly string[]): void {
    for (const a of sideA) for (const b of sideB) this.cut.add(linkKey(a, b));
    for (const connection of [...this.connections]) {
      if (this.cut.has(linkKey(connection.localAddress, connection.remoteAddress))) {
        connection.close('network partition');
      }
    }
  }

  heal(): void {
    this.cut.clear();
  }

  /**
   * Resolves once nothing is in flight across a whole turn of the event loop: frames
   * delivered may make nodes queue more (pushes are flushed on setImmediate), so one
   * quiet moment is not enough.
   */
  async idle(): Promise<void> {
    const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
    for (;;) {
      await turn();
      if (this.inFlight > 0) continue;
      await turn();
      if (this.inFlight === 0) return;
    }
  }

  schedule(task: () => void): void {
    this.inFlight++;
    setImmediate(() => {
      try {
        task();
        this.deliveredFrames++;
      } finally {
        this.inFlight--;
      }
    });
  }

  forget(connection: MemoryConnection): void {
    this.connections.delete(connection);
  }

  /** A unary call, encoded and decoded as on the wire, answered on a later turn. */
  private async call<M extends PeerMethod>(
    fromAddress: string,
    fromIdentity: NodeId,
    toAddress: string,
    nodeId: NodeId,
    method: M,
    request: PeerMethods[M]['request'],
  ): Promise<PeerMethods[M]['response']> {
    const codec = peerMethodCodecs[method];
    const requestBytes = codec.request.encode(request).finish();
    await new Promise<void>((resolve) => this.schedule(resolve));
    const target = this.listeners.get(toAddress);
    if (!target || this.cut.has(linkKey(fromAddress, toAddress))) {
      throw new AllianceError('UNAVAILABLE', `no node answers at ${toAddress}`);
    }
    if (target.identity !== nodeId) {
      throw new AllianceError('UNAVAILABLE', `${toAddress} is ${target.identity}, not ${nodeId}`);
    }
    const response = await target.onCall(method, codec.request.decode(requestBytes), fromIdentity);
    return codec.response.decode(codec.response.encode(response).finish());
  }

  private dial(fromAddress: string, fromIdentity: NodeId, toAddress: string): Connection {
    const target = this.listeners.get(toAddress);
    const outbound = new MemoryConnection(this, true, toAddress, target?.identity ?? null, fromAddress);
    if (!target || this.cut.has(linkKey(fromAddress, toAddress))) {
      outbound.close(target ? 'network partition' : `no node listens at ${toAddress}`);
      return outbound;
    }
    const inbound = new MemoryConnection(this, false, fromAddress, fromIdentity, toAddress);
    outbound.other = inbound;
    inbound.other = outbound;
    this.connections.add(outbound);
    this.connections.add(inbound);
    this.schedule(() => target.onConnection(inbound));
    return outbound;
  }
}

function linkKey(a: string, b: string): string {
  return a < b ? `${a}|${b}` : `${b}|${a}`;
}
