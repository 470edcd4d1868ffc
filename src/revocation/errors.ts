/**
 * Why a revocation pattern was refused. Each reason is a stable string a caller (or a test)
 * can branch on; the AllianceError code beneath it decides the gRPC status (INVALID_ARGUMENT).
 */
import { AllianceError } from '../lib/errors.js';

export type InvalidRevocationReason =
  /** No fingerprint, audit id, chain, user, project or domain: it would match every token. */
  | 'no-target'
  /** issued_before lies further in the future than clock skew explains. */
  | 'issued-before-in-future'
  /** A time that is not a whole, non-negative number of milliseconds, or is missing. */
  | 'bad-time'
  /** A field longer than its limit (limits.revocationFieldBytesMax, revocationReasonBytesMax). */
  | 'field-too-long'
  /** The payload is not an alliance.v1.Revocation. */
  | 'malformed'
  /** A federated record whose pattern names a cloud other than its publisher's. */
  | 'wrong-origin-cloud'
  /** A federated record flagged local-only: that would deny every cloud's tokens everywhere. */
  | 'local-only-published'
  /** A federated record whose key is not its pattern's id. */
  | 'key-mismatch';

export class InvalidRevocationError extends AllianceError {
  readonly reason: InvalidRevocationReason;

  constructor(reason: InvalidRevocationReason, message: string, options?: { cause?: unknown }) {
    super('INVALID_ARGUMENT', message, options);
    this.name = 'InvalidRevocationError';
    this.reason = reason;
  }
}
