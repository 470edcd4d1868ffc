/**
 * The mesh over gRPC: each link is one alliance.peer.v1.Mesh/Exchange bidirectional
 * stream on a mutually authenticated TLS connection. The peer's identity is whatever its
 * certificate says (server side: the client certificate; client side: the server
 * certificate seen during the handshake), never what it claims in a frame.
 */
import * as grpc from '@grpc/grpc-js';
import type { Logger } from 'pino';
import { MeshClient, MeshService } from '../gen/alliance/peer/v1/mesh.js';
import type {
  ExchangeRequest,
  ExchangeResponse,
  Frame,
  MeshServer,
  ValidateTokenRequest,
  ValidateTokenResponse,
  ExecuteProvisionRequest,
  ExecuteProvisionResponse,
} from '../gen/alliance/peer/v1/mesh.js';
import { limits } from '../config/limits.js';
import { errorMessage } from '../lib/errors.js';
import type { Connection, NodeId, Transport } from './types.js';

/** What a peer call offers for identification (grpc-js does not export its own name for it). */
export type PeerCall = Pick<grpc.ServerUnaryCall<unknown, unknown>, 'getAuthContext' | 'getPeer'>;

export interface PeerUnaryHandlers {
  validateToken?: (request: ValidateTokenRequest, peer: NodeId) => Promise<ValidateTokenResponse>;
  executeProvision?: (request: ExecuteProvisionRequest, peer: NodeId) => Promise<ExecuteProvisionResponse>;
}

export interface GrpcTransportOptions {
  host: string;
  port: number;
  serverCredentials: grpc.ServerCredentials;
  /** Credentials for one dial; `onServerIdentity` receives the node id the server's certificate names. */
  channelCredentials(onServerIdentity: (nodeId: NodeId) => void): grpc.ChannelCredentials;
  /** The node id in the client certificate of a call; throws when there is none. */
  identityOfCall(call: PeerCall): NodeId;
  unaryHandlers?: PeerUnaryHandlers;
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

function unimplemented(method: string): grpc.ServiceError {
  return Object.assign(new Error(`alliance.peer.v1.Mesh/${method} is not implemented yet on this node`), {
    code: grpc.status.UNIMPLEMENTED,
    details: `alliance.peer.v1.Mesh/${method} is not implemented yet on this node`,
    metadata: new grpc.Metadata(),
  });
}

export function createGrpcTransport(options: GrpcTransportOptions): Transport & { port(): number } {
  const log = options.log.child({ component: 'peer-transport' });
  const server = new grpc.Server(serverOptions);
  const clients = new Set<grpc.Client>();
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

  function unaryHandler<Req, Res>(
    name: string,
    handler: ((request: Req, peer: NodeId) => Promise<Res>) | undefined,
  ): grpc.handleUnaryCall<Req, Res> {
    return (call, callback) => {
      const peer = identityOf(call);
      if (!peer) return callback({ code: grpc.status.PERMISSION_DENIED, details: 'no peer identity' });
      if (!handler) return callback(unimplemented(name));
      handler(call.request, peer).then(
        (response) => callback(null, response),
        (err: unknown) => callback({ code: grpc.status.INTERNAL, details: errorMessage(err) }),
      );
    };
  }

  return {
    async listen(onConnection) {
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
        validateToken: unaryHandler('ValidateToken', options.unaryHandlers?.validateToken),
        executeProvision: unaryHandler('ExecuteProvision', options.unaryHandlers?.executeProvision),
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

    async close() {
      for (const connection of openConnections) connection.close('node stopping');
      for (const client of clients) client.close();
      clients.clear();
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

export type { ValidateTokenResponse, ExecuteProvisionResponse };
