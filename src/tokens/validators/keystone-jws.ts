/**
 * Keystone JWS tokens (ES256), verified offline. They carry no kid, no issuer and no roles
 * (claims: sub, iat, exp, openstack_methods, openstack_audit_ids, and openstack_project_id
 * or a system scope), so the issuing cloud is found by trying the federation's published
 * keys; the key that verified a token is remembered by the token's fingerprint, so a repeat
 * after a cache eviction costs one verification, not one per key. Names and roles are not
 * in the token: the caller asks the issuing cloud for them (see tokens/index.ts).
 */
import { verify } from 'node:crypto';
import type { InvalidReasonCode } from '../../identity/types.js';
import type { JwsParts } from '../token-format.js';
import type { VerificationKey } from '../token-keys.js';

export interface JwsClaims {
  userId: string;
  projectId: string;
  /** Keystone's openstack_domain_id for a domain-scoped token. */
  domainScopeId: string;
  auditIds: string[];
  issuedAtMs: number;
  expiresAtMs: number;
}

export type JwsVerdict =
  | { valid: true; cloud: string; claims: JwsClaims }
  | { valid: false; reason: InvalidReasonCode; detail: string };

export interface KeystoneJwsVerifier {
  verify(jws: JwsParts, fingerprint: string, nowMs: number): JwsVerdict;
}

function claimsOf(payload: Record<string, unknown>): JwsClaims | null {
  const { sub, iat, exp } = payload;
  const auditIds = payload.openstack_audit_ids;
  const projectId = payload.openstack_project_id;
  const domainId = payload.openstack_domain_id;
  const ok =
    typeof sub === 'string' &&
    sub.length > 0 &&
    typeof iat === 'number' &&
    typeof exp === 'number' &&
    Array.isArray(auditIds) &&
    auditIds.every((a) => typeof a === 'string') &&
    (projectId === undefined || typeof projectId === 'string') &&
    (domainId === undefined || typeof domainId === 'string');
  if (!ok) return null;
  return {
    userId: sub,
    projectId: projectId ?? '',
    domainScopeId: domainId ?? '',
    auditIds: auditIds as string[],
    issuedAtMs: iat * 1000,
    expiresAtMs: exp * 1000,
  };
}

export function createKeystoneJwsVerifier(options: {
  keys: () => readonly VerificationKey[];
  byKid: (kid: string) => VerificationKey | undefined;
  clockSkewMs: number;
  hintsMax: number;
}): KeystoneJwsVerifier {
  /** fingerprint → kid of the key that verified it. */
  const hints = new Map<string, string>();
  /**
   * user id (`sub`) → kid of the key that last verified one of its tokens: a user's tokens
   * come from one cloud, so a fresh token of a known user costs one verification, not one
   * per published key.
   */
  const userHints = new Map<string, string>();

  const remember = (map: Map<string, string>, key: string, kid: string): void => {
    if (map.size >= options.hintsMax) map.delete(map.keys().next().value as string);
    map.set(key, kid);
  };

  const verifies = (jws: JwsParts, key: VerificationKey): boolean =>
    verify(
      'sha256',
      Buffer.from(jws.signingInput),
      { key: key.key, dsaEncoding: 'ieee-p1363' },
      jws.signature,
    );

  function findKey(jws: JwsParts, fingerprint: string): VerificationKey | undefined {
    const user = typeof jws.payload.sub === 'string' ? jws.payload.sub : '';
    const tried = new Set<string>();
    for (const kid of [hints.get(fingerprint), userHints.get(user)]) {
      const hinted = kid === undefined || tried.has(kid) ? undefined : options.byKid(kid);
      if (!hinted) continue;
      tried.add(hinted.kid);
      if (verifies(jws, hinted)) {
        remember(hints, fingerprint, hinted.kid);
        return hinted;
      }
    }
    const found = options.keys().find((key) => !tried.has(key.kid) && verifies(jws, key));
    if (found) {
      remember(hints, fingerprint, found.kid);
      if (user) remember(userHints, user, found.kid);
    }
    return found;
  }

  return {
    verify(jws, fingerprint, nowMs) {
      if (jws.header.alg !== 'ES256') {
        return {
          valid: false,
          reason: 'bad-signature',
          detail: `algorithm ${String(jws.header.alg)} is not accepted (ES256 only)`,
        };
      }
      // A raw ECDSA P-256 signature is r||s, 64 bytes; anything else cannot verify.
      if (jws.signature.length !== 64) {
        return { valid: false, reason: 'bad-signature', detail: 'the signature is not an ES256 signature' };
      }
      if (options.keys().length === 0) {
        return {
          valid: false,
          reason: 'unknown-issuer',
          detail: 'no cloud of the federation has published JWS keys',
        };
      }
      const key = findKey(jws, fingerprint);
      if (!key) {
        return {
          valid: false,
          reason: 'bad-signature',
          detail:
            'no key published in the federation verifies this token (altered, or signed by an unknown key)',
        };
      }
      const claims = claimsOf(jws.payload);
      if (!claims)
        return {
          valid: false,
          reason: 'malformed',
          detail: 'the claims are not those of a Keystone JWS token',
        };
      if (claims.expiresAtMs <= nowMs)
        return { valid: false, reason: 'expired', detail: 'the token has expired' };
      if (claims.issuedAtMs > nowMs + options.clockSkewMs) {
        return { valid: false, reason: 'not-yet-valid', detail: 'the token is issued in the future' };
      }
      return { valid: true, cloud: key.cloud, claims };
    },
  };
}
