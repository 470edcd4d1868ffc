/**
 * Plaintext channels to a local API for benchmarks, and the raw calls made on them.
 *
 * Each channel has its own subchannel pool, so it is exactly one HTTP/2 connection that no other
 * channel shares (grpc-js otherwise shares connections between channels to the same target), and
 * a short reconnect backoff: grpc-js waits 1 s (growing to 2 min) before redialling a refused
 * address by default, which would round every "node is up" time to whole seconds. With at most
 * 50 ms between dials (plus grpc-js's 20% jitter), a server is seen within ~60 ms of listening;
 * a refused dial on loopback costs microseconds, so this adds no measurable load.
 */
import { Client, Metadata, credentials, type ChannelOptions, type ServiceError } from '@grpc/grpc-js';

export const benchChannelOptions: ChannelOptions = {
  'grpc.use_local_subchannel_pool': 1,
  'grpc.initial_reconnect_backoff_ms': 20,
  'grpc.max_reconnect_backoff_ms': 50,
};

export function openChannel(address: string): Client {
  return new Client(address, credentials.createInsecure(), benchChannelOptions);
}

const passthrough = (bytes: Buffer): Buffer => bytes;

export interface UnaryCallOptions {
  deadlineMs: number;
  /** Queue the call until the channel connects instead of failing fast with UNAVAILABLE. */
  waitForReady?: boolean;
}

/**
 * One unary call with the request already encoded and the response left encoded, so the client
 * does no protobuf work: every target costs the client the same, and differences are the
 * server's.
 */
export function rawUnary(
  channel: Client,
  path: string,
  request: Buffer,
  options: UnaryCallOptions,
): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    channel.makeUnaryRequest(
      path,
      passthrough,
      passthrough,
      request,
      // grpc-js takes wait-for-ready as a Metadata option, not a call option.
      new Metadata({ waitForReady: options.waitForReady ?? false }),
      { deadline: Date.now() + options.deadlineMs },
      (err: ServiceError | null, response?: Buffer) => {
        if (err) reject(err);
        else if (response === undefined) reject(new Error(`${path} answered without a message`));
        else resolve(response);
      },
    );
  });
}

export function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === 'number' &&
    typeof (err as Partial<ServiceError>).details === 'string'
  );
}
