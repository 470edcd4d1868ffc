import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { toGrpcStatus } from '../../../src/api/status.js';
import { AllianceError, type ErrorCode } from '../../../src/lib/errors.js';

const codes: ErrorCode[] = [
  'INVALID_ARGUMENT',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'UNAUTHENTICATED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'UNAVAILABLE',
  'UNIMPLEMENTED',
  'DEADLINE_EXCEEDED',
  'INTERNAL',
];

describe('toGrpcStatus', () => {
  it.each(codes)(
    'maps an AllianceError with code %s to the gRPC status of that name and its message',
    (code) => {
      expect(toGrpcStatus(new AllianceError(code, 'what went wrong'))).toEqual({
        code: status[code],
        details: 'what went wrong',
      });
    },
  );

  it.each([
    ['a plain Error', new Error('SQLITE_CORRUPT at /var/lib/alliance/node.db')],
    ['a TypeError', new TypeError("Cannot read properties of undefined (reading 'x')")],
    ['a thrown string', 'secret detail'],
    ['undefined', undefined],
  ])('maps %s to INTERNAL with a generic message that leaks nothing', (_name, err) => {
    expect(toGrpcStatus(err)).toEqual({
      code: status.INTERNAL,
      details: 'internal error (the node logged the cause)',
    });
  });
});
