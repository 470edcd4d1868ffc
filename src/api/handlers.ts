/**
 * Adapters that let every local API handler be a plain async function (after nice-grpc):
 * a unary handler returns its response or throws; a server-streaming handler awaits `send()` for
 * each message and returns (or throws) when done. Thrown errors become a status through
 * toGrpcStatus, the one mapping; undecodable requests (malformed-request.ts) are answered
 * INVALID_ARGUMENT before the handler runs; `signal` aborts when the client cancels, the deadline
 * passes, or (streams) the server stops, which ends the stream with UNAVAILABLE.
 *
 * grpc-js emits 'cancelled' whenever a call ends, including after the server sent its status
 * (server-interceptors.js, notifyOnCancel), so cleanup hung on the signal always runs.
 */
import {
  status,
  type handleServerStreamingCall,
  type handleUnaryCall,
  type Metadata,
  type ServerErrorResponse,
  type StatusObject,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import type { Logger } from '../lib/logger.js';
import { MalformedRequest, malformedRequestDetails } from './malformed-request.js';
import { toGrpcStatus, type GrpcStatus } from './status.js';

/** What a unary callback or a stream's 'error' event accepts as a status (not exported by grpc-js). */
type ServerStatusResponse = Partial<StatusObject>;

export interface UnaryContext {
  /** Aborts when the client cancels or its deadline passes. */
  signal: AbortSignal;
  metadata: Metadata;
}

export interface ServerStreamContext<Res> {
  /** Aborts when the client cancels, its deadline passes, or the server stops. */
  signal: AbortSignal;
  metadata: Metadata;
  /**
   * Queues one message. Resolves at once while the stream's buffer has room, otherwise when it
   * drains (the client reads); rejects once the call is gone, or if the server stops while
   * waiting for room.
   */
  send(response: Res): Promise<void>;
}

export type UnaryHandler<Req, Res> = (request: Req, ctx: UnaryContext) => Promise<Res> | Res;
export type ServerStreamHandler<Req, Res> = (request: Req, ctx: ServerStreamContext<Res>) => Promise<void>;

export interface ServerStreamOptions {
  /** Aborted by the server's stop(): open streams end with UNAVAILABLE so shutdown can finish. */
  stopSignal?: AbortSignal;
}

export const shuttingDownDetails = 'the node is shutting down';

export function unary<Req, Res>(log: Logger, handler: UnaryHandler<Req, Res>): handleUnaryCall<Req, Res> {
  return (call: ServerUnaryCall<Req, Res>, callback) => {
    const request: unknown = call.request;
    if (request instanceof MalformedRequest) {
      callback(asServiceError({ code: status.INVALID_ARGUMENT, details: malformedRequestDetails(request) }));
      return;
    }
    // The signal is made only when a handler asks for it: most never do, and an
    // AbortController per call is a measurable share of a cached validation's cost.
    let controller: AbortController | undefined;
    let cancelled = false;
    call.once('cancelled', () => {
      cancelled = true;
      controller?.abort();
    });
    const ctx: UnaryContext = {
      get signal() {
        if (!controller) {
          controller = new AbortController();
          if (cancelled) controller.abort();
        }
        return controller.signal;
      },
      metadata: call.metadata,
    };
    run(() => handler(call.request, ctx)).then(
      (response) => callback(null, response),
      (err: unknown) => callback(asServiceError(statusFor(log, call.getPath(), err))),
    );
  };
}

export function serverStream<Req, Res>(
  log: Logger,
  handler: ServerStreamHandler<Req, Res>,
  options: ServerStreamOptions = {},
): handleServerStreamingCall<Req, Res> {
  return (call: ServerWritableStream<Req, Res>) => {
    const request: unknown = call.request;
    if (request instanceof MalformedRequest) {
      endWithStatus(call, { code: status.INVALID_ARGUMENT, details: malformedRequestDetails(request) });
      return;
    }
    const { stopSignal } = options;
    const path = call.getPath();
    const controller = new AbortController();
    let isCallGone = call.cancelled;
    const onStop = (): void => controller.abort();
    const onGone = (): void => {
      isCallGone = true;
      controller.abort();
    };
    call.once('cancelled', onGone);
    stopSignal?.addEventListener('abort', onStop, { once: true });
    if (isCallGone || stopSignal?.aborted) controller.abort();
    const { signal } = controller;

    const send = (response: Res): Promise<void> =>
      new Promise<void>((resolve, reject) => {
        if (isCallGone) {
          reject(signal.reason);
          return;
        }
        if (call.write(response)) {
          resolve();
          return;
        }
        const settle = (outcome: () => void): void => {
          call.off('drain', onDrain);
          signal.removeEventListener('abort', onAbort);
          outcome();
        };
        const onDrain = (): void => settle(resolve);
        const onAbort = (): void => settle(() => reject(signal.reason));
        call.once('drain', onDrain);
        signal.addEventListener('abort', onAbort, { once: true });
      });

    const ctx: ServerStreamContext<Res> = { signal, metadata: call.metadata, send };
    run(() => handler(call.request, ctx))
      .then(
        () => {
          if (isCallGone) return;
          // A stream handler returns early when the server stops; the client should reconnect
          // elsewhere, which OK would not tell it.
          if (stopSignal?.aborted) {
            endWithStatus(call, { code: status.UNAVAILABLE, details: shuttingDownDetails });
          } else {
            call.end();
          }
        },
        (err: unknown) => {
          // A handler interrupted by a cancelled call throws the abort reason: nobody to tell.
          if (isCallGone) return;
          if (stopSignal?.aborted) {
            endWithStatus(call, { code: status.UNAVAILABLE, details: shuttingDownDetails });
            return;
          }
          endWithStatus(call, statusFor(log, path, err));
        },
      )
      .finally(() => stopSignal?.removeEventListener('abort', onStop));
  };
}

/** Makes a synchronous throw and a rejection the same thing. */
async function run<T>(fn: () => Promise<T> | T): Promise<T> {
  return fn();
}

function statusFor(log: Logger, path: string, err: unknown): GrpcStatus {
  const grpcStatus = toGrpcStatus(err);
  if (grpcStatus.code === status.INTERNAL) {
    log.error({ err, path }, 'local api call failed');
  } else {
    log.debug({ path, code: status[grpcStatus.code], details: grpcStatus.details }, 'local api call refused');
  }
  return grpcStatus;
}

function asServiceError(grpcStatus: GrpcStatus): ServerErrorResponse | ServerStatusResponse {
  return { code: grpcStatus.code, details: grpcStatus.details };
}

/**
 * Ends a server stream with a status after the messages already written. grpc-js's own 'error'
 * listener on the stream records the status and calls end(); destroy() would drop the status.
 */
export function endWithStatus(
  call: { emit(event: 'error', err: unknown): boolean },
  grpcStatus: GrpcStatus,
): void {
  call.emit('error', asServiceError(grpcStatus));
}

/** Handles a unary or a server-streaming call alike: grpc-js passes a callback only to the former. */
export type UnimplementedHandler = (
  call: { emit(event: 'error', err: unknown): boolean },
  callback?: (error: ServerErrorResponse | ServerStatusResponse | null) => void,
) => void;

/** Answers UNIMPLEMENTED, naming the method, e.g. "alliance.v1.Tokens/ValidateToken". */
export function unimplemented(service: string, method: string): UnimplementedHandler {
  const grpcStatus: GrpcStatus = {
    code: status.UNIMPLEMENTED,
    details: `${service}/${method} is not implemented yet on this node`,
  };
  return (call, callback) => {
    if (callback) callback(asServiceError(grpcStatus));
    else endWithStatus(call, grpcStatus);
  };
}
