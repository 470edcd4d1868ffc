/**
 * Typed, promise-based clients of the local API for the `alliance` commands.
 *
 * One plaintext channel per command (the local API listens on loopback or a unix socket), shared
 * by every service client made from it and closed when the command ends. Clients are derived from
 * the generated ts-proto service definitions, so a new service is one `connection.client(XService)`
 * call: unary methods become `(request) => Promise<response>` with a per-call deadline, server
 * streams become async iterables that end (instead of failing) when the caller's signal aborts.
 * gRPC failures are converted here, once, into `LocalApiError`s whose message is the one line the
 * operator sees (the shape follows nice-grpc's client, see STYLE.md).
 */
import {
  Client,
  type ClientReadableStream,
  credentials,
  Metadata,
  type ServiceError,
  status as GrpcStatus,
} from '@grpc/grpc-js';

/** The parts of a generated ts-proto (`outputServices=grpc-js`) method definition used here. */
export interface MethodDefinitionLike {
  readonly path: string;
  readonly requestStream: boolean;
  readonly responseStream: boolean;
  // `never` accepts every request type (parameters are contravariant) without `any`.
  readonly requestSerialize: (value: never) => Buffer;
  readonly responseDeserialize: (value: Buffer) => unknown;
}

export type ServiceDefinitionLike = Readonly<Record<string, MethodDefinitionLike>>;

type RequestOf<M extends MethodDefinitionLike> = Parameters<M['requestSerialize']>[0];
type ResponseOf<M extends MethodDefinitionLike> = ReturnType<M['responseDeserialize']>;

export interface CallOptionsLike {
  /** Aborting cancels the call: a unary call fails with CANCELLED, a stream just ends. */
  signal?: AbortSignal;
}

/** A promise-based client for one service; client- and bidi-streaming methods are not mapped (none exist). */
export type ApiClient<S extends ServiceDefinitionLike> = {
  readonly [K in keyof S]: S[K]['requestStream'] extends true
    ? never
    : S[K]['responseStream'] extends true
      ? (request: RequestOf<S[K]>, options?: CallOptionsLike) => AsyncIterable<ResponseOf<S[K]>>
      : (request: RequestOf<S[K]>, options?: CallOptionsLike) => Promise<ResponseOf<S[K]>>;
};

export interface LocalApiOptions {
  /** `host:port` or `unix:/path`. */
  address: string;
  /** Deadline of each unary call; streams have none (they run until the caller stops them). */
  timeoutMs: number;
}

export interface LocalApiConnection {
  readonly address: string;
  client<S extends ServiceDefinitionLike>(service: S): ApiClient<S>;
  /** Closes the channel; calls still running fail with CANCELLED. Idempotent. */
  close(): void;
}

export type LocalApiErrorCode = keyof typeof GrpcStatus | 'INVALID_ADDRESS';

/** A failed call to the local API; `message` is written for the operator, `code` is stable. */
export class LocalApiError extends Error {
  readonly code: LocalApiErrorCode;

  constructor(code: LocalApiErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'LocalApiError';
    this.code = code;
  }
}

export function connectLocalApi(options: LocalApiOptions): LocalApiConnection {
  const { address, timeoutMs } = options;
  let channel: Client;
  try {
    channel = new Client(address, credentials.createInsecure());
  } catch (err) {
    // grpc-js throws synchronously for a target it cannot parse (e.g. an empty string).
    throw new LocalApiError('INVALID_ADDRESS', `invalid local API address '${address}'`, { cause: err });
  }

  const toLocalApiError = (err: unknown): unknown =>
    isServiceError(err) ? describeServiceError(err, { address, timeoutMs }) : err;

  function unary(method: MethodDefinitionLike, request: unknown, callOptions?: CallOptionsLike) {
    return new Promise<unknown>((resolve, reject) => {
      const signal = callOptions?.signal;
      // grpc-js measures deadlines against the wall clock, so this one reads it directly.
      const call = channel.makeUnaryRequest(
        method.path,
        method.requestSerialize as (value: unknown) => Buffer,
        method.responseDeserialize,
        request,
        new Metadata(),
        { deadline: Date.now() + timeoutMs },
        (err, response) => {
          signal?.removeEventListener('abort', cancel);
          if (err) reject(toLocalApiError(err));
          else resolve(response);
        },
      );
      function cancel(): void {
        call.cancel();
      }
      if (signal?.aborted) cancel();
      else signal?.addEventListener('abort', cancel, { once: true });
    });
  }

  async function* serverStream(
    method: MethodDefinitionLike,
    request: unknown,
    callOptions?: CallOptionsLike,
  ): AsyncGenerator<unknown> {
    const signal = callOptions?.signal;
    const call: ClientReadableStream<unknown> = channel.makeServerStreamRequest(
      method.path,
      method.requestSerialize as (value: unknown) => Buffer,
      method.responseDeserialize,
      request,
      new Metadata(),
    );
    const cancel = (): void => call.cancel();
    if (signal?.aborted) cancel();
    else signal?.addEventListener('abort', cancel, { once: true });
    try {
      for await (const message of call) yield message;
    } catch (err) {
      // Our own cancellation is how a watch ends on Ctrl-C: not a failure.
      if (signal?.aborted && isServiceError(err) && err.code === GrpcStatus.CANCELLED) return;
      throw toLocalApiError(err);
    } finally {
      signal?.removeEventListener('abort', cancel);
      // Ends the call if the consumer stopped early; a no-op once the stream has finished.
      call.cancel();
    }
  }

  return {
    address,
    client<S extends ServiceDefinitionLike>(service: S): ApiClient<S> {
      const api: Record<string, unknown> = {};
      for (const [name, method] of Object.entries(service)) {
        if (method.requestStream) continue;
        api[name] = method.responseStream
          ? (request: unknown, o?: CallOptionsLike) => serverStream(method, request, o)
          : (request: unknown, o?: CallOptionsLike) => unary(method, request, o);
      }
      return api as ApiClient<S>;
    },
    close: () => channel.close(),
  };
}

/** The one place a gRPC status becomes an operator-facing sentence. */
export function describeServiceError(
  err: ServiceError,
  context: { address: string; timeoutMs: number },
): LocalApiError {
  const codeName = statusName(err.code);
  switch (err.code) {
    case GrpcStatus.UNAVAILABLE:
      return new LocalApiError(
        codeName,
        `cannot reach the local API at ${context.address} (is the node running?)`,
        { cause: err },
      );
    case GrpcStatus.DEADLINE_EXCEEDED:
      return new LocalApiError(
        codeName,
        `timed out after ${context.timeoutMs} ms waiting for the local API at ${context.address}`,
        { cause: err },
      );
    default: {
      const details = err.details.trim();
      return new LocalApiError(codeName, details === '' ? codeName : `${codeName}: ${details}`, {
        cause: err,
      });
    }
  }
}

function statusName(code: number): keyof typeof GrpcStatus {
  // A numeric TypeScript enum maps values back to names.
  return (GrpcStatus[code] as keyof typeof GrpcStatus | undefined) ?? 'UNKNOWN';
}

function isServiceError(err: unknown): err is ServiceError {
  return (
    err instanceof Error &&
    typeof (err as Partial<ServiceError>).code === 'number' &&
    typeof (err as Partial<ServiceError>).details === 'string'
  );
}
