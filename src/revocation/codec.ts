/**
 * Revocation patterns on the wire, as alliance.v1.Revocation: the payload of a federated
 * record (topic "revocation", key = pattern id) and the shape ListRevocations answers with.
 *
 * The message has no field for the comparison granularity or the source. Granularity needs none:
 * patterns compared at whole seconds hold the last millisecond of their second as issued_before
 * (pattern.ts), where comparing milliseconds gives the same answer, so a decoded pattern whose
 * issued_before ends in 999 ms is whole-second, exactly. The source stays with the node that made
 * the pattern; a decoded one is named after the record's origin.
 */
import { Revocation } from '../gen/alliance/v1/tokens.js';
import { errorMessage } from '../lib/errors.js';
import { InvalidRevocationError } from './errors.js';
import { isSet, targetFields } from './match.js';
import type { RevocationPattern } from './model.js';
import { validatePattern } from './pattern.js';

export function revocationToProto(pattern: RevocationPattern): Revocation {
  return {
    id: pattern.id,
    originCloud: pattern.originCloud,
    localOnly: pattern.localOnly,
    tokenFingerprint: pattern.tokenFingerprint ?? '',
    auditId: pattern.auditId ?? '',
    auditChainId: pattern.auditChainId ?? '',
    userId: pattern.userId ?? '',
    projectId: pattern.projectId ?? '',
    domainId: pattern.domainId ?? '',
    issuedBefore: new Date(pattern.issuedBeforeMs),
    revokedAt: new Date(pattern.revokedAtMs),
    expiresAt: new Date(pattern.expiresAtMs),
    reason: pattern.reason,
  };
}

/** The pattern a message describes; `source` says where it came from. Not validated here. */
export function revocationFromProto(message: Revocation, source: string): RevocationPattern {
  const issuedBeforeMs = timeMs(message.issuedBefore, 'issued_before');
  const pattern: RevocationPattern = {
    id: message.id,
    originCloud: message.originCloud,
    localOnly: message.localOnly,
    issuedBeforeMs,
    secondGranularity: issuedBeforeMs % 1000 === 999,
    revokedAtMs: timeMs(message.revokedAt, 'revoked_at'),
    expiresAtMs: timeMs(message.expiresAt, 'expires_at'),
    reason: message.reason,
    source,
  };
  for (const field of targetFields) {
    const value = message[field];
    if (isSet(value)) pattern[field] = value;
  }
  return pattern;
}

export function encodeRevocation(pattern: RevocationPattern): Uint8Array {
  return Revocation.encode(revocationToProto(pattern)).finish();
}

/** Decodes and validates; throws InvalidRevocationError ('malformed', or what validation finds). */
export function decodeRevocation(payload: Uint8Array, source: string): RevocationPattern {
  let message: Revocation;
  try {
    message = Revocation.decode(payload);
  } catch (err) {
    throw new InvalidRevocationError('malformed', `not an alliance.v1.Revocation: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  const pattern = revocationFromProto(message, source);
  validatePattern(pattern);
  return pattern;
}

import { cloudOfNode } from '../lib/node-id.js';

export { cloudOfNode };

/** The source given to a pattern decoded from a federated record of `origin`. */
export function meshSource(origin: string): string {
  return `mesh:${origin}`;
}

/**
 * The pattern a federated record carries, checked for what the mesh cannot know: it decodes, it
 * is a valid pattern keyed by its own id, it is not local-only, and it revokes only tokens of
 * the publishing node's cloud. A cloud can revoke its own tokens federation-wide, and nothing else.
 */
export function decodePublishedRevocation(record: {
  origin: string;
  key: string;
  payload: Uint8Array;
}): RevocationPattern {
  const pattern = decodeRevocation(record.payload, meshSource(record.origin));
  if (pattern.id !== record.key) {
    throw new InvalidRevocationError(
      'key-mismatch',
      `record key ${record.key} is not the pattern id ${pattern.id}`,
    );
  }
  if (pattern.localOnly) {
    throw new InvalidRevocationError('local-only-published', 'a local-only denial is never published');
  }
  const publisherCloud = cloudOfNode(record.origin);
  if (pattern.originCloud !== publisherCloud) {
    throw new InvalidRevocationError(
      'wrong-origin-cloud',
      `${record.origin} may revoke only tokens of ${publisherCloud}, not of ${pattern.originCloud}`,
    );
  }
  return pattern;
}

function timeMs(value: Date | undefined, field: string): number {
  const ms = value?.getTime();
  if (ms === undefined || !Number.isFinite(ms)) {
    throw new InvalidRevocationError('bad-time', `${field} is missing`);
  }
  return ms;
}
