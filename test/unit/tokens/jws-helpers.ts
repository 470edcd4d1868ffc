/**
 * Test-only: JWS tokens built by hand, exactly as Keystone's jws provider makes them (header
 * {"alg":"ES256","typ":"JWT"}, no kid; integer-second iat/exp; a raw r||s signature), plus the
 * forgeries a verifier must refuse. Shared by the token tests of this folder.
 */
import { createHash, createHmac, generateKeyPairSync, sign } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { expect } from 'vitest';
import type { TokenIdentity } from '../../../src/identity/types.js';
import type { JwsParts } from '../../../src/tokens/token-format.js';
import { parseToken } from '../../../src/tokens/token-format.js';
import { keyId } from '../../../src/tokens/token-keys.js';
import type { VerificationKey } from '../../../src/tokens/token-keys.js';

/** Keystone's own header: no kid, no x5c. */
export const keystoneHeader = { alg: 'ES256', typ: 'JWT' } as const;

/** A fixed instant, in whole seconds (the iat of the sample in keystone/README.md §5). */
export const fixedNowMs = 1_795_411_691_000;

/** Clock skew the pipeline allows (tokens/index.ts); verifiers here are built with the same. */
export const clockSkewMs = 5 * 60 * 1000;

export const auditId = 'maLW2yXnRnKT_esdd6myfg';
export const userId = '839a75190fb64b5dbd24b79fafba1ba8';
export const projectId = 'b176a6382d4241618996b84d8bd36e48';

export function b64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

export interface Es256Pair {
  publicKey: KeyObject;
  privateKey: KeyObject;
  publicPem: string;
}

export function es256Pair(): Es256Pair {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { publicKey, privateKey, publicPem: publicKey.export({ type: 'spki', format: 'pem' }).toString() };
}

/** The kid token-keys.ts gives a public key: its SPKI thumbprint. */
export function kidOf(publicKey: KeyObject): string {
  return keyId(publicKey.export({ type: 'spki', format: 'der' }));
}

/** A published key of `cloud`, as token-keys.ts holds it. */
export function verificationKey(
  cloud: string,
  publicKey: KeyObject,
  kid = kidOf(publicKey),
): VerificationKey {
  return { kid, cloud, key: publicKey };
}

/** Keystone's payload of a project-scoped password token, issued at `nowMs`, for an hour. */
export function keystoneClaims(
  nowMs: number,
  overrides: Record<string, unknown> = {},
): Record<string, unknown> {
  const nowS = Math.floor(nowMs / 1000);
  return {
    sub: userId,
    iat: nowS,
    exp: nowS + 3600,
    openstack_methods: ['password'],
    openstack_audit_ids: [auditId],
    openstack_project_id: projectId,
    ...overrides,
  };
}

/** `header.payload.signature` with an ES256 signature in JWS form (raw r||s, 64 bytes). */
export function signEs256(header: unknown, payload: unknown, privateKey: KeyObject): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key: privateKey, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** The classic confusion attack: HS256 with a public key's PEM as the HMAC secret. */
export function signHs256WithPublicPem(header: unknown, payload: unknown, publicPem: string): string {
  const input = `${b64url(header)}.${b64url(payload)}`;
  return `${input}.${createHmac('sha256', publicPem).update(input).digest('base64url')}`;
}

/** The token with its payload replaced and the original signature kept. */
export function withPayload(token: string, payload: unknown): string {
  const [header, , signature] = token.split('.');
  return `${header}.${b64url(payload)}.${signature}`;
}

/** The token with its header replaced and the original signature kept. */
export function withHeader(token: string, header: unknown): string {
  const [, payload, signature] = token.split('.');
  return `${b64url(header)}.${payload}.${signature}`;
}

/** The decoded JSON of one part of a JWS. */
export function partOf(token: string, index: 0 | 1): Record<string, unknown> {
  return JSON.parse(Buffer.from(token.split('.')[index] ?? '', 'base64url').toString('utf8')) as Record<
    string,
    unknown
  >;
}

/** The parsed parts of a token the parser must see as `kind`. */
export function partsOf(token: string, kind: 'jws' | 'federation'): JwsParts {
  const parsed = parseToken(token);
  expect(parsed.kind).toBe(kind);
  if (parsed.kind !== kind) throw new Error(`not a ${kind} token`);
  return parsed.jws;
}

/** The full SHA-256 of a token, as tokens/index.ts keys its caches. */
export function fingerprintOf(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

/** An identity as a cloud's identity source reports it; `overrides` change any field. */
export function identityOf(originCloud: string, overrides: Partial<TokenIdentity> = {}): TokenIdentity {
  return {
    userId,
    userName: 'alice',
    domainId: 'default',
    projectId,
    projectName: 'demo',
    projectDomainId: 'default',
    roles: ['member', 'reader'],
    originCloud,
    auditIds: [auditId],
    issuedAtMs: fixedNowMs - 60_000,
    expiresAtMs: fixedNowMs + 3_600_000,
    tokenFormat: 'opaque',
    ...overrides,
  };
}
