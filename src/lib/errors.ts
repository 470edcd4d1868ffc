/**
 * Expected operating failures carry a stable string `code`; the local API maps codes
 * to gRPC status in one place (src/api/status.ts). Broken invariants use assert and crash.
 */
export type ErrorCode =
  | 'INVALID_ARGUMENT'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'PERMISSION_DENIED'
  | 'UNAUTHENTICATED'
  | 'RESOURCE_EXHAUSTED'
  | 'FAILED_PRECONDITION'
  | 'ABORTED'
  | 'UNAVAILABLE'
  | 'UNIMPLEMENTED'
  | 'DEADLINE_EXCEEDED'
  | 'INTERNAL';

export class AllianceError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'AllianceError';
    this.code = code;
  }
}

export const invalidArgument = (message: string): AllianceError =>
  new AllianceError('INVALID_ARGUMENT', message);
export const notFound = (message: string): AllianceError => new AllianceError('NOT_FOUND', message);
export const unimplemented = (message: string): AllianceError => new AllianceError('UNIMPLEMENTED', message);

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
