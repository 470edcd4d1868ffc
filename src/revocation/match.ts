/**
 * Whether a revocation pattern matches a token: Keystone's rule (keystone/models/revoke_model.py
 * `matches`, plus the filters its SQL backend applies first in `_list_token_events`), with
 * Alliance's two additions, the token fingerprint and the origin cloud. Pure: no I/O, no clock.
 *
 * - Every target field the pattern sets must match the token; unset fields match anything.
 * - `auditId` is the token's own audit id (Keystone's `audit_id`, audit_ids[0]); `auditChainId`
 *   is the chain's (Keystone's `audit_chain_id`, audit_ids[-1]): a rescoped token carries
 *   [own, original], an original token [own], whose own id is then also its chain id. So revoking
 *   an audit id revokes one token, and revoking a chain revokes the original and every token
 *   rescoped from it.
 * - `domainId` matches the user's domain or the project's domain (Keystone's identity_domain_id
 *   and assignment_domain_id).
 * - The token must be issued at or before `issuedBeforeMs` (Keystone: issued_before >= issued_at);
 *   Keystone's times are whole seconds, so a second-granularity pattern compares whole seconds and
 *   also catches a token issued later in the same second.
 * - A federated pattern applies only to its own cloud's tokens; a local-only denial applies to
 *   every cloud's tokens (at the node that holds it).
 * - An expired pattern matches nothing: every token it could match has expired too.
 */
import type { RevocationPattern, TokenFacts } from './model.js';

/** The fields that name what a pattern revokes; a pattern must set at least one. */
export const targetFields = [
  'tokenFingerprint',
  'auditId',
  'auditChainId',
  'userId',
  'projectId',
  'domainId',
] as const;

export type TargetField = (typeof targetFields)[number];

/** A target field counts as set when it is a non-empty string (proto3 has no "absent" string). */
export function isSet(value: string | undefined): value is string {
  return value !== undefined && value !== '';
}

export function hasTarget(pattern: Pick<RevocationPattern, TargetField>): boolean {
  return targetFields.some((field) => isSet(pattern[field]));
}

/** Keystone's `audit_id`: the token's own. */
export function ownAuditId(facts: TokenFacts): string | undefined {
  return facts.auditIds[0];
}

/** Keystone's `audit_chain_id`: the last audit id, the token's own when it was not rescoped. */
export function chainAuditId(facts: TokenFacts): string | undefined {
  return facts.auditIds[facts.auditIds.length - 1];
}

/** Keystone: issued_before >= issued_at, at whole seconds when the pattern came from Keystone. */
export function isIssuedInTime(pattern: RevocationPattern, issuedAtMs: number): boolean {
  if (pattern.secondGranularity) {
    return Math.floor(issuedAtMs / 1000) <= Math.floor(pattern.issuedBeforeMs / 1000);
  }
  return issuedAtMs <= pattern.issuedBeforeMs;
}

export function matchesToken(pattern: RevocationPattern, facts: TokenFacts, nowMs: number): boolean {
  if (pattern.expiresAtMs <= nowMs) return false;
  if (!pattern.localOnly && pattern.originCloud !== facts.originCloud) return false;
  if (!isIssuedInTime(pattern, facts.issuedAtMs)) return false;
  if (isSet(pattern.tokenFingerprint) && pattern.tokenFingerprint !== facts.fingerprint) return false;
  if (isSet(pattern.auditId) && pattern.auditId !== ownAuditId(facts)) return false;
  if (isSet(pattern.auditChainId) && pattern.auditChainId !== chainAuditId(facts)) return false;
  if (isSet(pattern.userId) && pattern.userId !== facts.userId) return false;
  if (isSet(pattern.projectId) && pattern.projectId !== facts.projectId) return false;
  if (isSet(pattern.domainId) && !facts.domainIds.includes(pattern.domainId)) return false;
  return true;
}
