/**
 * Keystone's JWS token format (provider = jws), signed and checked with node:crypto only.
 *
 * A token is a compact JWS: header `{"alg":"ES256","typ":"JWT"}` (no `kid`: Keystone tries every
 * key in its repository), payload `{"sub","iat","exp","openstack_methods","openstack_audit_ids",
 * "openstack_project_id"}` with integer-second times, and a 64-byte raw r||s ES256 signature
 * (hence `dsaEncoding: 'ieee-p1363'`). See /work/shared/keystone/README.md §5.
 *
 * Verification trusts nothing it has not checked: the algorithm must be ES256 before any key is
 * used (no `none`, no HMAC with the public key as secret), the signature is checked before the
 * payload is interpreted, and every claim must have Keystone's type. Pure: no I/O.
 */
import { sign, verify, type KeyObject } from 'node:crypto';

export interface KeystoneJwsClaims {
  /** The user id. */
  sub: string;
  /** Integer seconds. */
  iat: number;
  /** Integer seconds. */
  exp: number;
  openstack_methods: string[];
  /** [the token's own audit id, the chain's first] (the second only for rescoped tokens). */
  openstack_audit_ids: string[];
  openstack_project_id: string;
}

export type JwsCheck =
  | { ok: true; claims: KeystoneJwsClaims }
  | { ok: false; reason: 'malformed' | 'bad-signature' | 'expired' | 'not-yet-valid'; detail: string };

export interface JwsCheckOptions {
  nowMs: number;
  /** How far in the future `iat` may be (clock skew) before the token is not yet valid. */
  issuedAtFutureMaxMs: number;
}

/** Keystone's audit ids: 16 random bytes, urlsafe base64 without padding. */
export const auditIdPattern = /^[A-Za-z0-9_-]{22}$/;

const header = { alg: 'ES256', typ: 'JWT' } as const;
const encodedHeader = Buffer.from(JSON.stringify(header)).toString('base64url');
const segmentPattern = /^[A-Za-z0-9_-]+$/;
const es256SignatureBytes = 64;

export function signKeystoneJws(claims: KeystoneJwsClaims, privateKey: KeyObject): string {
  // Keystone's claim order, so a token reads the same as one of Keystone's.
  const payload = {
    sub: claims.sub,
    iat: claims.iat,
    exp: claims.exp,
    openstack_methods: claims.openstack_methods,
    openstack_audit_ids: claims.openstack_audit_ids,
    openstack_project_id: claims.openstack_project_id,
  };
  const signingInput = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  const signature = sign('sha256', Buffer.from(signingInput), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${signingInput}.${signature.toString('base64url')}`;
}

/** Verifies the signature with `publicKey`, then the claims and times. Never throws. */
export function verifyKeystoneJws(token: string, publicKey: KeyObject, options: JwsCheckOptions): JwsCheck {
  const parts = token.split('.');
  const [encodedHeaderPart, encodedPayload, encodedSignature] = parts;
  if (
    parts.length !== 3 ||
    encodedHeaderPart === undefined ||
    encodedPayload === undefined ||
    encodedSignature === undefined ||
    !isBase64Url(encodedHeaderPart) ||
    !isBase64Url(encodedPayload) ||
    // An empty signature (alg "none") parses here, to be refused for its algorithm below.
    (encodedSignature !== '' && !isBase64Url(encodedSignature))
  ) {
    return malformed('not a compact JWS (three base64url segments)');
  }

  const headerValue = parseJsonObject(encodedHeaderPart);
  if (headerValue === undefined) return malformed('the JWS header is not a JSON object');
  if (headerValue.alg !== 'ES256') {
    return {
      ok: false,
      reason: 'bad-signature',
      detail: `algorithm ${JSON.stringify(headerValue.alg ?? null)} is not accepted; only ES256`,
    };
  }
  const extraHeaderKeys = Object.keys(headerValue).filter((key) => key !== 'alg' && key !== 'typ');
  if (extraHeaderKeys.length > 0 || (headerValue.typ !== undefined && headerValue.typ !== 'JWT')) {
    return malformed('the JWS header has parameters Keystone tokens never carry');
  }

  const signature = Buffer.from(encodedSignature, 'base64url');
  if (
    signature.length !== es256SignatureBytes ||
    !verifiesWith(publicKey, encodedHeaderPart, encodedPayload, signature)
  ) {
    return {
      ok: false,
      reason: 'bad-signature',
      detail: 'the signature does not verify with this cloud’s key',
    };
  }

  const payload = parseJsonObject(encodedPayload);
  if (payload === undefined) return malformed('the JWS payload is not a JSON object');
  const claims = keystoneClaims(payload);
  if (typeof claims === 'string') return malformed(claims);

  const issuedAtMs = claims.iat * 1000;
  const expiresAtMs = claims.exp * 1000;
  if (issuedAtMs > options.nowMs + options.issuedAtFutureMaxMs) {
    return {
      ok: false,
      reason: 'not-yet-valid',
      detail: `issued in the future (${new Date(issuedAtMs).toISOString()})`,
    };
  }
  if (expiresAtMs <= options.nowMs) {
    return { ok: false, reason: 'expired', detail: `expired at ${new Date(expiresAtMs).toISOString()}` };
  }
  return { ok: true, claims };
}

function malformed(detail: string): JwsCheck {
  return { ok: false, reason: 'malformed', detail };
}

function isBase64Url(segment: string): boolean {
  // A length of 1 mod 4 cannot come from any byte string; Buffer would silently drop it.
  return segmentPattern.test(segment) && segment.length % 4 !== 1;
}

function verifiesWith(
  publicKey: KeyObject,
  encodedHeaderPart: string,
  encodedPayload: string,
  signature: Buffer,
): boolean {
  try {
    return verify(
      'sha256',
      Buffer.from(`${encodedHeaderPart}.${encodedPayload}`),
      { key: publicKey, dsaEncoding: 'ieee-p1363' },
      signature,
    );
  } catch {
    // A signature node:crypto cannot even parse is a bad signature, not a fault of ours.
    return false;
  }
}

function parseJsonObject(segment: string): Record<string, unknown> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(segment, 'base64url').toString('utf8'));
  } catch {
    return undefined;
  }
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;
const isStringArray = (value: unknown): value is string[] =>
  Array.isArray(value) && value.every((item) => typeof item === 'string');

/** The claims with Keystone's types, or why not. */
function keystoneClaims(payload: Record<string, unknown>): KeystoneJwsClaims | string {
  const {
    sub,
    iat,
    exp,
    openstack_methods: methods,
    openstack_audit_ids: auditIds,
    openstack_project_id: projectId,
  } = payload;
  if (!isNonEmptyString(sub)) return 'the token has no user (sub)';
  if (!Number.isSafeInteger(iat) || !Number.isSafeInteger(exp)) return 'iat and exp must be integer seconds';
  if ((exp as number) <= (iat as number)) return 'the token expires before it is issued';
  if (!isStringArray(methods) || methods.length === 0) return 'openstack_methods must be a list of methods';
  if (
    !isStringArray(auditIds) ||
    auditIds.length < 1 ||
    auditIds.length > 2 ||
    !auditIds.every((id) => auditIdPattern.test(id))
  ) {
    return 'openstack_audit_ids must hold one or two audit ids';
  }
  if (!isNonEmptyString(projectId)) return 'the token is not project-scoped (no openstack_project_id)';
  return {
    sub,
    iat: iat as number,
    exp: exp as number,
    openstack_methods: methods,
    openstack_audit_ids: auditIds,
    openstack_project_id: projectId,
  };
}
