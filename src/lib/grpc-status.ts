/**
 * The one place where an outcome becomes a gRPC status, for the local API and the peer API alike (STYLE.md: "gRPC status is decided in
 * one function"). Expected failures are AllianceErrors whose stable `code` is the name of a gRPC
 * status; anything else is a bug or an unexpected operating failure: the caller logs it, the
 * client sees INTERNAL with a generic message and never a stack trace or internal detail.
 */
import { status } from '@grpc/grpc-js';
import { AllianceError, type ErrorCode } from './errors.js';

export interface GrpcStatus {
  code: status;
  details: string;
}

/** Spelled out so that adding an ErrorCode without a gRPC status fails to compile. */
const statusByCode: Record<ErrorCode, status> = {
  INVALID_ARGUMENT: status.INVALID_ARGUMENT,
  NOT_FOUND: status.NOT_FOUND,
  ALREADY_EXISTS: status.ALREADY_EXISTS,
  PERMISSION_DENIED: status.PERMISSION_DENIED,
  UNAUTHENTICATED: status.UNAUTHENTICATED,
  RESOURCE_EXHAUSTED: status.RESOURCE_EXHAUSTED,
  FAILED_PRECONDITION: status.FAILED_PRECONDITION,
  ABORTED: status.ABORTED,
  UNAVAILABLE: status.UNAVAILABLE,
  UNIMPLEMENTED: status.UNIMPLEMENTED,
  DEADLINE_EXCEEDED: status.DEADLINE_EXCEEDED,
  INTERNAL: status.INTERNAL,
};

export const internalErrorDetails = 'internal error (the node logged the cause)';

export function toGrpcStatus(err: unknown): GrpcStatus {
  if (err instanceof AllianceError) {
    return { code: statusByCode[err.code], details: err.message };
  }
  return { code: status.INTERNAL, details: internalErrorDetails };
}

const codeByStatus = new Map<number, ErrorCode>(
  (Object.entries(statusByCode) as [ErrorCode, status][]).map(([code, grpcStatus]) => [grpcStatus, code]),
);

/**
 * The reverse, for a caller: a failed gRPC call as an AllianceError with the same-named code
 * (a status with no ErrorCode, such as CANCELLED, becomes UNAVAILABLE: the answer is unknown).
 */
export function fromGrpcError(
  err: { code?: number; details?: string; message?: string },
  what: string,
): AllianceError {
  const code = (err.code !== undefined && codeByStatus.get(err.code)) || 'UNAVAILABLE';
  return new AllianceError(code, `${what}: ${err.details || err.message || 'call failed'}`, { cause: err });
}
