/**
 * Making and checking revocation patterns: from what an identity source or an operator reports
 * (RevocationInput) to a RevocationPattern, with the checks every pattern passes before this node
 * holds it, and the deterministic id that makes a Keystone event seen twice one pattern.
 */
import { createHash } from 'node:crypto';
import { limits } from '../config/limits.js';
import type { RevocationInput } from '../identity/types.js';
import { InvalidRevocationError } from './errors.js';
import { hasTarget, isSet, targetFields } from './match.js';
import type { RevocationPattern } from './model.js';

export interface PatternContext {
  originCloud: string;
  localOnly: boolean;
  nowMs: number;
  /** How long past issued_before the pattern is kept: the longest token lifetime, plus a margin. */
  retentionMs: number;
  id: string;
}

/** Sources whose patterns follow Keystone's rules: whole-second times, idempotent ids. */
export function isKeystoneSource(source: string): boolean {
  return source.startsWith('keystone');
}

/**
 * The pattern for `input`. Empty target strings count as absent. Patterns compared at whole
 * seconds keep the last millisecond of their second as issued_before: for whole-millisecond
 * issue times that is the same rule, and it is what travels in alliance.v1.Revocation, which has
 * no granularity field, so every node holds the same pattern (see codec.ts). Whole-second
 * comparison is the default for Keystone sources (README §6: both times have 1 s resolution).
 */
export function patternFromInput(input: RevocationInput, ctx: PatternContext): RevocationPattern {
  const secondGranularity = input.secondGranularity ?? isKeystoneSource(input.source);
  const issuedBeforeMs = secondGranularity ? endOfSecondMs(input.issuedBeforeMs) : input.issuedBeforeMs;
  const pattern: RevocationPattern = {
    id: ctx.id,
    originCloud: ctx.originCloud,
    localOnly: ctx.localOnly,
    issuedBeforeMs,
    secondGranularity,
    revokedAtMs: ctx.nowMs,
    expiresAtMs: issuedBeforeMs + ctx.retentionMs,
    reason: input.reason,
    source: input.source,
  };
  for (const field of targetFields) {
    const value = input[field];
    if (isSet(value)) pattern[field] = value;
  }
  return pattern;
}

/** The last millisecond of the second `ms` falls in (floor toward minus infinity, as Keystone truncates). */
export function endOfSecondMs(ms: number): number {
  return Math.floor(ms / 1000) * 1000 + 999;
}

/**
 * The id of a pattern from Keystone: a hash of everything that decides what it matches (targets,
 * issued_before, granularity, cloud, local-only), so the same event polled twice, or reported by
 * both the OS-REVOKE poll and a notification, is the same pattern. Reason and source are left
 * out for that reason.
 */
export function keystoneRevocationId(pattern: RevocationPattern): string {
  const canonical = JSON.stringify([
    pattern.originCloud,
    pattern.localOnly,
    ...targetFields.map((field) => pattern[field] ?? ''),
    pattern.issuedBeforeMs,
    pattern.secondGranularity,
  ]);
  return `keystone-${createHash('sha256').update(canonical).digest('hex').slice(0, 32)}`;
}

/**
 * Checks what every held pattern must satisfy, wherever it came from: an id and a cloud, at least
 * one target (a pattern without one would match every token of its cloud, as Keystone's model
 * would), bounded fields and sane times. Throws InvalidRevocationError.
 */
export function validatePattern(pattern: RevocationPattern): void {
  if (!isSet(pattern.id) || !isSet(pattern.originCloud)) {
    throw new InvalidRevocationError('malformed', 'a revocation needs an id and an origin cloud');
  }
  if (!hasTarget(pattern)) {
    throw new InvalidRevocationError(
      'no-target',
      `a revocation must name at least one of ${targetFields.join(', ')}`,
    );
  }
  for (const field of ['id', 'originCloud', 'source', ...targetFields] as const) {
    checkLength(field, pattern[field], limits.revocationFieldBytesMax, 'revocationFieldBytesMax');
  }
  checkLength('reason', pattern.reason, limits.revocationReasonBytesMax, 'revocationReasonBytesMax');
  for (const field of ['issuedBeforeMs', 'revokedAtMs', 'expiresAtMs'] as const) {
    const value = pattern[field];
    if (!Number.isSafeInteger(value) || value < 0) {
      throw new InvalidRevocationError(
        'bad-time',
        `${field} must be whole milliseconds since 1970, not ${value}`,
      );
    }
  }
}

/**
 * validatePattern, plus the check for a pattern made here and now: issued_before no further ahead
 * of this node's clock than skew explains (limits.revocationClockSkewMs). Patterns from peers skip
 * this check: their origin's clock is not ours, and refusing them would let revoked tokens through.
 */
export function validateNewPattern(pattern: RevocationPattern, nowMs: number): void {
  validatePattern(pattern);
  if (pattern.issuedBeforeMs > nowMs + limits.revocationClockSkewMs) {
    throw new InvalidRevocationError(
      'issued-before-in-future',
      `issued_before is ${pattern.issuedBeforeMs - nowMs} ms ahead of this node's clock ` +
        `(limits.revocationClockSkewMs: ${limits.revocationClockSkewMs})`,
    );
  }
}

function checkLength(field: string, value: string | undefined, max: number, limitName: string): void {
  if (value !== undefined && Buffer.byteLength(value) > max) {
    throw new InvalidRevocationError(
      'field-too-long',
      `${field} is ${Buffer.byteLength(value)} bytes, above limits.${limitName} (${max})`,
    );
  }
}
