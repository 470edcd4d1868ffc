/**
 * The mesh over gRPC: each link is one alliance.peer.v1.Mesh/Exchange bidirectional
 * stream on a mutually authenticated TLS connection. The peer's identity is whatever its
 * certificate says (server side: the client certificate; client side: the server
 * certificate seen during the handshake), never what it claims in a frame.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MeshClient, MeshService } from '../gen/alliance/peer/v1/mesh.js';
import type { ExchangeRequest, ExchangeResponse, Frame, MeshServer } from '../gen/alliance/peer/v1/mesh.js';
import { limits } from '../config/limits.js';
import { errorMessage } from '../lib/errors.js';
import { fromGrpcError, toGrpcStatus } from '../lib/grpc-status.js';
import { peerMethodNames } from './peer-methods.js';
import type { Connection, NodeId, PeerCallDispatcher, PeerMethod, PeerMethods, Transport } from './types.js';

/** What a peer call offers for identification (grpc-js does not export its own name for it). */
export type PeerCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'getPeer'>;

export interface GrpcTransportOptions {
  host: string;
  port: number;
  serverCredentials: grpc.ServerCredentials;
  /**
   * Credentials for one dial; `onServerIdentity` receives the node id the server's
   * certificate names; with `expectedNodeId`, any other server is refused at the handshake.
   */
  channelCredentials(
    onServerIdentity: (nodeId: NodeId) => void,
    expectedNodeId?: NodeId,
  ): grpc.ChannelCredentials;
  /** The node id in the client certificate of a call; throws when there is none. */
  identityOfCall(call: PeerCall): NodeId;
  /** Added to the channel options of every dial (e.g. the TLS target-name override). */
  channelOptions?: grpc.ChannelOptions;
  log: Logger;
}

const channelOptions: grpc.ChannelOptions = {
  'grpc.max_receive_message_length': limits.peerMessageBytesMax,
  'grpc.max_send_message_length': limits.peerMessageBytesMax,
  // Notice a dead peer within seconds even when no frames flow.
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  // The mesh redials with its own backoff; a channel must not hide a dead link behind retries.
  'grpc.enable_retries': 0,
  'grpc.initial_reconnect_backoff_ms': 1_000,
};

const serverOptions: grpc.ServerOptions = {
  'grpc.max_receive_message_length': limits.peerMessageBytesMax,
  'grpc.max_send_message_length': limits.peerMessageBytesMax,
  'grpc.keepalive_time_ms': 10_000,
  'grpc.keepalive_timeout_ms': 5_000,
  'grpc.keepalive_permit_without_calls': 1,
  'grpc.http2.min_ping_interval_without_data_ms': 5_000,
};

/** Common shape of the two ends of an Exchange stream. */
interface ExchangeStream {
  write(message: ExchangeRequest | ExchangeResponse): boolean;
  readonly writableLength: number;
  on(event: string, listener: (...args: never[]) => void): unknown;
}

class GrpcConnection implements Connection {
  private frameListeners: ((frame: Frame) => void)[] = [];
  private closeListeners: ((reason: string) => void)[] = [];
  private closed = false;
  private identity: NodeId | null;

  constructor(
    private readonly stream: ExchangeStream,
    readonly outbound: boolean,
    readonly remoteAddress: string,
    identity: NodeId | null,
    private readonly onEnd: (reason: string) => void,
  ) {
    this.identity = identity;
    stream.on('data', ((message: ExchangeRequest | ExchangeResponse) => {
      if (this.closed || !message.frame) return;
      for (const listener of this.frameListeners) listener(message.frame);
    }) as never);
    stream.on('error', ((err: grpc.ServiceError) => this.finish(err.details || err.message)) as never);
    stream.on('end', (() => this.finish('stream ended by peer')) as never);
    stream.on('close', (() => this.finish('stream closed')) as never);
  }

  get peerIdentity(): NodeId | null {
    return this.identity;
  }

  setIdentity(identity: NodeId): void {
    this.identity = identity;
  }

  send(frame: Frame): boolean {
    if (this.closed) return false;
    if (this.stream.writableLength >= limits.peerSendQueueFramesMax) return false;
    this.stream.write({ frame });
    return true;
  }

  close(reason: string): void {
    if (this.closed) return;
    this.onEnd(reason);
    this.finish(reason);
  }

  isClosed(): boolean {
    return this.closed;
  }

  onFrame(listener: (frame: Frame) => void): void {
    this.frameListeners.push(listener);
  }

  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }

  private finish(reason: string): void {
    if (this.closed) return;
    this.closed = true;
    // Listeners run after the current frame's handling, as on any other transport.
    setImmediate(() => {
      for (const listener of this.closeListeners) listener(reason);
    });
  }
}

export function createGrpcTransport(options: GrpcTransportOptions): Transport & { port(): number } {
  const log = options.log.child({ component: 'peer-transport' });
  const server = new grpc.Server(serverOptions);
  const clients = new Set<grpc.Client>();
  /** One channel per peer for unary calls, kept open: calls are frequent and small. */
  const callClients = new Map<string, InstanceType<typeof MeshClient>>();
  const openConnections = new Set<GrpcConnection>();
  let boundPort = 0;

  function identityOf(call: PeerCall): NodeId | null {
    try {
      return options.identityOfCall(call);
    } catch (err) {
      log.warn({ reason: errorMessage(err), peer: call.getPeer() }, 'peer call without a usable identity');
      return null;
    }
  }

  function unaryHandler<M extends PeerMethod>(
    method: M,
    onCall: PeerCallDispatcher,
  ): grpc.handleUnaryCall<PeerMethods[M]['request'], PeerMethods[M]['response']> {
    return (call, callback) => {
      const peer = identityOf(call);
      if (!peer) return callback({ code: grpc.status.PERMISSION_DENIED, details: 'no peer identity' });
      onCall(method, call.request, peer).then(
        (response) => callback(null, response),
        (err: unknown) => {
          const status = toGrpcStatus(err);
          if (status.code === grpc.status.INTERNAL) log.error({ err, method, peer }, 'peer call failed');
          callback(status);
        },
      );
    };
  }

  function callClient(address: string, nodeId: NodeId): InstanceType<typeof MeshClient> {
    const key = `${nodeId}@${address}`;
    let client = callClients.get(key);
    if (!client) {
      client = new MeshClient(
        address,
        options.channelCredentials(() => undefined, nodeId),
        {
          ...channelOptions,
          ...options.channelOptions,
        },
      );
      callClients.set(key, client);
    }
    return client;
  }

  return {
    async listen(onConnection, onCall) {
      const implementation: MeshServer = {
        exchange(call) {
          const peer = identityOf(call);
          if (!peer) {
            call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: 'no peer identity' });
            return;
          }
          const connection = new GrpcConnection(call, false, call.getPeer(), peer, (reason) => {
            call.emit('error', { code: grpc.status.PERMISSION_DENIED, details: reason });
          });
          openConnections.add(connection);
          connection.onClose(() => openConnections.delete(connection));
          onConnection(connection);
        },
        validateToken: unaryHandler('validateToken', onCall),
        executeProvision: unaryHandler('executeProvision', onCall),
      };
      server.addService(MeshService, implementation);
      boundPort = await new Promise<number>((resolve, reject) =>
        server.bindAsync(
          `${formatHost(options.host)}:${options.port}`,
          options.serverCredentials,
          (err, port) => (err ? reject(err) : resolve(port)),
        ),
      );
      return `${formatHost(options.host)}:${boundPort}`;
    },

    dial(address) {
      let connection: GrpcConnection | null = null;
      const credentials = options.channelCredentials((nodeId) => connection?.setIdentity(nodeId));
      const client = new MeshClient(address, credentials, { ...channelOptions, ...options.channelOptions });
      clients.add(client);
      const call = client.exchange();
      // Until the TLS handshake names the server, the identity is one no hello can match.
      connection = new GrpcConnection(call, true, address, unverifiedServer, () => call.cancel());
      connection.onClose(() => {
        clients.delete(client);
        client.close();
      });
      return connection;
    },

    call(address, nodeId, method, request, callOptions) {
      const client = callClient(address, nodeId);
      const deadline = new Date(Date.now() + callOptions.timeoutMs);
      return new Promise((resolve, reject) => {
        const handle = (err: grpc.ServiceError | null, response: unknown): void => {
          callOptions.signal?.removeEventListener('abort', cancel);
          if (err) reject(fromGrpcError(err, `${peerMethodNames[method]} at ${nodeId}`));
          else resolve(response as PeerMethods[typeof method]['response']);
        };
        // The generated client has one method per peer method; dispatch by name.
        const invoke = client[method] as unknown as (
          request: unknown,
          metadata: grpc.Metadata,
          options: Partial<grpc.CallOptions>,
          callback: typeof handle,
        ) => grpc.ClientUnaryCall;
        const pending = invoke.call(client, request, new grpc.Metadata(), { deadline }, handle);
        const cancel = (): void => pending.cancel();
        callOptions.signal?.addEventListener('abort', cancel, { once: true });
      });
    },

    async close() {
      for (const connection of openConnections) connection.close('node stopping');
      for (const client of clients) client.close();
      clients.clear();
      for (const client of callClients.values()) client.close();
      callClients.clear();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, 2_000);
        server.tryShutdown(() => {
          clearTimeout(force);
          resolve();
        });
      });
    },

    port: () => boundPort,
  };
}

const unverifiedServer = 'unverified/server-identity';

function formatHost(host: string): string {
  return host.includes(':') && !host.startsWith('[') ? `[${host}]` : host;
}
