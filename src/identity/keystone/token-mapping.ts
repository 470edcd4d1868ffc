/**
 * Pure mapping between Keystone's token validation API and Alliance's TokenIdentity: the shape
 * check done before Keystone is asked, the token format, and the 200 body of
 * GET /v3/auth/tokens. No I/O here.
 */
import type { TokenFormat, TokenIdentity } from '../types.js';
import { parseKeystoneTimeMs } from './keystone-time.js';

/**
 * Longest token sent to Keystone. Fernet tokens are ~183 characters, JWS ~413 (more with group
 * ids or federation claims); 8 KiB is far above both and below uWSGI's 64 KiB header buffer.
 */
export const tokenLengthMax = 8192;

/** base64url, '=' padding and the dots of a JWS; UUID tokens are hex. */
const tokenCharsPattern = /^[A-Za-z0-9_\-.=]+$/;
const base64urlPattern = /^[A-Za-z0-9_-]+$/;

/** Why `token` cannot be a Keystone token (so Keystone is not asked), or null when it may be one. */
export function malformedTokenDetail(token: string): string | null {
  if (token.length === 0) return 'empty token';
  if (token.length > tokenLengthMax) return `token longer than ${tokenLengthMax} characters`;
  if (!tokenCharsPattern.test(token)) return 'token has characters outside base64url, "." and "="';
  return null;
}

/** 'jws' for three base64url parts whose header says ES256, 'fernet' for "gAAAAA…", else 'uuid'. */
export function detectTokenFormat(token: string): TokenFormat {
  if (isKeystoneJws(token)) return 'jws';
  // Fernet's version byte 0x80 and a 64-bit timestamp whose high bytes are still zero.
  if (token.startsWith('gAAAAA')) return 'fernet';
  return 'uuid';
}

function isKeystoneJws(token: string): boolean {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((p) => base64urlPattern.test(p))) return false;
  try {
    const header: unknown = JSON.parse(Buffer.from(parts[0] ?? '', 'base64url').toString('utf8'));
    return isObject(header) && header['alg'] === 'ES256';
  } catch {
    return false;
  }
}

/** A 200 body that does not look like Keystone's: the answer is unknown, not "invalid". */
export class UnexpectedKeystoneResponse extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnexpectedKeystoneResponse';
  }
}

/**
 * The identity in the body of a 200 from GET /v3/auth/tokens (v3 token format):
 * `{"token": {"user": {id, name, domain: {id}}, "project": {id, name, domain: {id}}?,
 * "roles": [{id, name}]?, "audit_ids": [...], "issued_at", "expires_at", ...}}`.
 * Unscoped, domain- and system-scoped tokens have no project: its fields are empty.
 */
export function mapValidatedToken(body: unknown, cloud: string, token: string): TokenIdentity {
  const t = isObject(body) ? body['token'] : undefined;
  if (!isObject(t)) throw new UnexpectedKeystoneResponse('no "token" object in the validation response');
  const user = t['user'];
  if (!isObject(user) || typeof user['id'] !== 'string' || user['id'] === '')
    throw new UnexpectedKeystoneResponse('token without user id');
  const userDomain = isObject(user['domain']) ? user['domain'] : {};
  const project = isObject(t['project']) ? t['project'] : null;
  const projectDomain = project && isObject(project['domain']) ? project['domain'] : {};
  const issuedAtMs = parseKeystoneTimeMs(t['issued_at']);
  const expiresAtMs = parseKeystoneTimeMs(t['expires_at']);
  if (issuedAtMs === null || expiresAtMs === null)
    throw new UnexpectedKeystoneResponse('token without valid issued_at/expires_at');
  const roles = Array.isArray(t['roles'])
    ? t['roles'].flatMap((r) => (isObject(r) && typeof r['name'] === 'string' ? [r['name']] : []))
    : [];
  const auditIds = Array.isArray(t['audit_ids'])
    ? t['audit_ids'].filter((a): a is string => typeof a === 'string')
    : [];
  return {
    userId: user['id'],
    userName: str(user['name']),
    domainId: str(userDomain['id']),
    projectId: project ? str(project['id']) : '',
    projectName: project ? str(project['name']) : '',
    projectDomainId: project ? str(projectDomain['id']) : '',
    roles,
    originCloud: cloud,
    auditIds,
    issuedAtMs,
    expiresAtMs,
    tokenFormat: detectTokenFormat(token),
  };
}

export function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
