/**
 * The Keystone JWS validator with real ES256 keys and tokens in Keystone's exact shape: the
 * issuing cloud is the owner of the published key that verifies the token; every forgery,
 * corruption and timing case is a verdict with its reason and detail; and the key that verified
 * a token is remembered, so a repeat tries it first instead of every key.
 */
import { sign } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import type { VerificationKey } from '../../../src/tokens/token-keys.js';
import { createKeystoneJwsVerifier } from '../../../src/tokens/validators/keystone-jws.js';
import type { JwsVerdict, KeystoneJwsVerifier } from '../../../src/tokens/validators/keystone-jws.js';
import { parseToken } from '../../../src/tokens/token-format.js';
import {
  auditId,
  b64url,
  clockSkewMs,
  es256Pair,
  fingerprintOf,
  fixedNowMs,
  keystoneClaims,
  keystoneHeader,
  partsOf,
  projectId,
  signEs256,
  signHs256WithPublicPem,
  userId,
  verificationKey,
  withPayload,
} from './jws-helpers.js';

const nowMs = fixedNowMs;
const cloudA = es256Pair();
const cloudB = es256Pair();
const stranger = es256Pair();

/** A verifier over a fixed list of published keys. */
function verifierOver(keys: readonly VerificationKey[], hintsMax = 100): KeystoneJwsVerifier {
  return createKeystoneJwsVerifier({
    keys: () => keys,
    byKid: (kid) => keys.find((k) => k.kid === kid),
    clockSkewMs,
    hintsMax,
  });
}

const federationKeys = [
  verificationKey('cloud-a', cloudA.publicKey),
  verificationKey('cloud-b', cloudB.publicKey),
];

function verify(token: string, keys: readonly VerificationKey[] = federationKeys, atMs = nowMs): JwsVerdict {
  return verifierOver(keys).verify(partsOf(token, 'jws'), fingerprintOf(token), atMs);
}

const refused = (reason: string, detail: string): JwsVerdict =>
  ({ valid: false, reason, detail }) as JwsVerdict;
const unknownKey = refused(
  'bad-signature',
  'no key published in the federation verifies this token (altered, or signed by an unknown key)',
);
const notEs256 = refused('bad-signature', 'the signature is not an ES256 signature');
const notKeystoneClaims = refused('malformed', 'the claims are not those of a Keystone JWS token');

describe('Keystone JWS: authentic tokens', () => {
  it('names the cloud whose published key verifies the token, with the claims in milliseconds', () => {
    const token = signEs256(keystoneHeader, keystoneClaims(nowMs), cloudB.privateKey);
    expect(verify(token)).toEqual({
      valid: true,
      cloud: 'cloud-b',
      claims: {
        userId,
        projectId,
        domainScopeId: '',
        auditIds: [auditId],
        issuedAtMs: nowMs,
        expiresAtMs: nowMs + 3_600_000,
      },
    });
  });

  it('reads a domain-scoped token: no project, the domain as domainScopeId', () => {
    const claims = keystoneClaims(nowMs, { openstack_project_id: undefined, openstack_domain_id: 'default' });
    const token = signEs256(keystoneHeader, claims, cloudA.privateKey);
    expect(verify(token)).toMatchObject({ valid: true, claims: { projectId: '', domainScopeId: 'default' } });
  });

  it('reads a system-scoped token ("openstack_system":"all") as having no project', () => {
    const claims = keystoneClaims(nowMs, { openstack_project_id: undefined, openstack_system: 'all' });
    const token = signEs256(keystoneHeader, claims, cloudA.privateKey);
    expect(verify(token)).toMatchObject({ valid: true, cloud: 'cloud-a', claims: { projectId: '' } });
  });

  it('keeps both audit ids of a rescoped token, in order', () => {
    const claims = keystoneClaims(nowMs, { openstack_audit_ids: ['own-id', auditId] });
    const token = signEs256(keystoneHeader, claims, cloudA.privateKey);
    expect(verify(token)).toMatchObject({ valid: true, claims: { auditIds: ['own-id', auditId] } });
  });
});

describe('Keystone JWS: time', () => {
  const nowS = nowMs / 1000;

  it('refuses a token at its exp instant', () => {
    const token = signEs256(keystoneHeader, keystoneClaims(nowMs, { exp: nowS }), cloudA.privateKey);
    expect(verify(token)).toEqual(refused('expired', 'the token has expired'));
  });

  it('accepts a token a millisecond before its exp instant', () => {
    const token = signEs256(keystoneHeader, keystoneClaims(nowMs, { exp: nowS + 1 }), cloudA.privateKey);
    expect(verify(token, federationKeys, nowMs + 999)).toMatchObject({ valid: true });
  });

  it('refuses a token issued further in the future than the clock skew allows', () => {
    const iat = nowS + clockSkewMs / 1000 + 1;
    const token = signEs256(
      keystoneHeader,
      keystoneClaims(nowMs, { iat, exp: iat + 3600 }),
      cloudA.privateKey,
    );
    expect(verify(token)).toEqual(refused('not-yet-valid', 'the token is issued in the future'));
  });

  it('accepts a token issued exactly the clock skew ahead (another cloud’s clock runs fast)', () => {
    const iat = nowS + clockSkewMs / 1000;
    const token = signEs256(
      keystoneHeader,
      keystoneClaims(nowMs, { iat, exp: iat + 3600 }),
      cloudA.privateKey,
    );
    expect(verify(token)).toMatchObject({ valid: true, claims: { issuedAtMs: nowMs + clockSkewMs } });
  });
});

describe('Keystone JWS: forgeries and corruption', () => {
  const good = signEs256(keystoneHeader, keystoneClaims(nowMs), cloudA.privateKey);

  it('refuses a token whose payload changed after signing (one character of the user id)', () => {
    const forged = withPayload(good, keystoneClaims(nowMs, { sub: `${userId.slice(0, -1)}9` }));
    expect(verify(forged)).toEqual(unknownKey);
  });

  it('refuses alg "none" with an empty signature', () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(keystoneClaims(nowMs))}.`;
    expect(verify(token)).toEqual(refused('bad-signature', 'algorithm none is not accepted (ES256 only)'));
  });

  it('refuses HS256 signed with the public key’s PEM as the HMAC secret', () => {
    const token = signHs256WithPublicPem(
      { alg: 'HS256', typ: 'JWT' },
      keystoneClaims(nowMs),
      cloudA.publicPem,
    );
    expect(verify(token)).toEqual(refused('bad-signature', 'algorithm HS256 is not accepted (ES256 only)'));
  });

  it('refuses an HMAC made with the public key’s PEM under an ES256 header', () => {
    const token = signHs256WithPublicPem(keystoneHeader, keystoneClaims(nowMs), cloudA.publicPem);
    expect(verify(token)).toEqual(notEs256);
  });

  it('refuses a token signed by a key nobody published, as a bad signature', () => {
    const token = signEs256(keystoneHeader, keystoneClaims(nowMs), stranger.privateKey);
    expect(verify(token)).toEqual(unknownKey);
  });

  it('refuses any token when no cloud of the federation has published keys, as an unknown issuer', () => {
    expect(verify(good, [])).toEqual(
      refused('unknown-issuer', 'no cloud of the federation has published JWS keys'),
    );
  });

  it('refuses a truncated signature', () => {
    const truncated = good.slice(0, -4);
    expect(partsOf(truncated, 'jws').signature.length).toBeLessThan(64);
    expect(verify(truncated)).toEqual(notEs256);
  });

  it('refuses a DER-encoded ECDSA signature (not the raw r||s a JWS carries)', () => {
    const input = `${b64url(keystoneHeader)}.${b64url(keystoneClaims(nowMs))}`;
    const der = sign('sha256', Buffer.from(input), cloudA.privateKey);
    expect(verify(`${input}.${der.toString('base64url')}`)).toEqual(notEs256);
  });

  it('refuses a zeroed signature of the right length', () => {
    const [header, payload] = good.split('.');
    expect(verify(`${header}.${payload}.${Buffer.alloc(64).toString('base64url')}`)).toEqual(unknownKey);
  });

  it('never reaches the validator with a 1 MiB token: the parser refuses it by size', () => {
    const huge = signEs256(
      keystoneHeader,
      keystoneClaims(nowMs, { pad: 'x'.repeat(1024 * 1024) }),
      cloudA.privateKey,
    );
    expect(parseToken(huge)).toEqual({ kind: 'malformed', detail: 'the token is longer than 8192 bytes' });
  });
});

describe('Keystone JWS: claims, checked once the signature verifies', () => {
  it.each<[string, Record<string, unknown>]>([
    ['sub missing', { sub: undefined }],
    ['sub empty', { sub: '' }],
    ['sub a number', { sub: 42 }],
    ['iat missing', { iat: undefined }],
    ['iat a string', { iat: String(nowMs / 1000) }],
    ['exp missing', { exp: undefined }],
    ['exp a string', { exp: '2026-11-23T00:00:00Z' }],
    ['audit ids missing', { openstack_audit_ids: undefined }],
    ['audit ids a string', { openstack_audit_ids: auditId }],
    ['an audit id a number', { openstack_audit_ids: [auditId, 7] }],
    ['project id a number', { openstack_project_id: 7 }],
    ['domain id an object', { openstack_domain_id: { id: 'default' } }],
  ])('refuses a signed token with %s as malformed', (_name, overrides) => {
    const token = signEs256(keystoneHeader, keystoneClaims(nowMs, overrides), cloudA.privateKey);
    expect(verify(token)).toEqual(notKeystoneClaims);
  });
});

describe('Keystone JWS: the key hint', () => {
  /** A published key whose uses are recorded in `tried`, in order. */
  function watchedKey(
    cloud: string,
    pair: ReturnType<typeof es256Pair>,
    kid: string,
    tried: string[],
  ): VerificationKey {
    return {
      kid,
      cloud,
      get key() {
        tried.push(kid);
        return pair.publicKey;
      },
    };
  }

  it('tries the key that verified a token first when the same token comes again', () => {
    const tried: string[] = [];
    const decoys = [1, 2, 3, 4].map((i) => watchedKey(`cloud-${i}`, es256Pair(), `decoy-${i}`, tried));
    const keys = [...decoys, watchedKey('cloud-b', cloudB, 'kid-b', tried)];
    const verifier = verifierOver(keys);
    const token = signEs256(keystoneHeader, keystoneClaims(nowMs), cloudB.privateKey);
    const parts = partsOf(token, 'jws');

    expect(verifier.verify(parts, fingerprintOf(token), nowMs)).toMatchObject({
      valid: true,
      cloud: 'cloud-b',
    });
    expect(tried).toEqual(['decoy-1', 'decoy-2', 'decoy-3', 'decoy-4', 'kid-b']);

    tried.length = 0;
    expect(verifier.verify(parts, fingerprintOf(token), nowMs)).toMatchObject({
      valid: true,
      cloud: 'cloud-b',
    });
    expect(tried).toEqual(['kid-b']);
  });

  it('answers with the hinted key’s cloud even when a key earlier in the list would also verify', () => {
    // The same public key published under two kids: the scan alone would pick the first.
    const late = verificationKey('cloud-b', cloudB.publicKey, 'kid-late');
    const early = verificationKey('cloud-x', cloudB.publicKey, 'kid-early');
    let keys: VerificationKey[] = [late];
    const verifier = createKeystoneJwsVerifier({
      keys: () => keys,
      byKid: (kid) => keys.find((k) => k.kid === kid),
      clockSkewMs,
      hintsMax: 100,
    });
    const token = signEs256(keystoneHeader, keystoneClaims(nowMs), cloudB.privateKey);
    expect(verifier.verify(partsOf(token, 'jws'), fingerprintOf(token), nowMs)).toMatchObject({
      cloud: 'cloud-b',
    });

    keys = [early, late];
    expect(verifier.verify(partsOf(token, 'jws'), fingerprintOf(token), nowMs)).toMatchObject({
      cloud: 'cloud-b',
    });
    const other = signEs256(
      keystoneHeader,
      keystoneClaims(nowMs, { sub: 'another-user' }),
      cloudB.privateKey,
    );
    expect(verifier.verify(partsOf(other, 'jws'), fingerprintOf(other), nowMs)).toMatchObject({
      cloud: 'cloud-x',
    });
  });

  it('scans every key again when the hinted key is no longer published', () => {
    const tried: string[] = [];
    let keys = [watchedKey('cloud-b', cloudB, 'kid-b', tried)];
    const verifier = createKeystoneJwsVerifier({
      keys: () => keys,
      byKid: (kid) => keys.find((k) => k.kid === kid),
      clockSkewMs,
      hintsMax: 100,
    });
    const token = signEs256(keystoneHeader, keystoneClaims(nowMs), cloudB.privateKey);
    verifier.verify(partsOf(token, 'jws'), fingerprintOf(token), nowMs);

    // Rotated: the same key republished under a new kid.
    keys = [watchedKey('cloud-a', cloudA, 'kid-a', tried), watchedKey('cloud-b', cloudB, 'kid-b2', tried)];
    tried.length = 0;
    expect(verifier.verify(partsOf(token, 'jws'), fingerprintOf(token), nowMs)).toMatchObject({
      valid: true,
    });
    expect(tried).toEqual(['kid-a', 'kid-b2']);
  });

  it('remembers at most hintsMax tokens, forgetting the oldest first', () => {
    const tried: string[] = [];
    const keys = [
      watchedKey('cloud-a', cloudA, 'kid-a', tried),
      watchedKey('cloud-b', cloudB, 'kid-b', tried),
    ];
    const verifier = verifierOver(keys, 1);
    const first = signEs256(keystoneHeader, keystoneClaims(nowMs, { sub: 'first' }), cloudB.privateKey);
    const second = signEs256(keystoneHeader, keystoneClaims(nowMs, { sub: 'second' }), cloudB.privateKey);
    verifier.verify(partsOf(first, 'jws'), fingerprintOf(first), nowMs);
    verifier.verify(partsOf(second, 'jws'), fingerprintOf(second), nowMs);

    tried.length = 0;
    verifier.verify(partsOf(second, 'jws'), fingerprintOf(second), nowMs);
    expect(tried).toEqual(['kid-b']);
    tried.length = 0;
    verifier.verify(partsOf(first, 'jws'), fingerprintOf(first), nowMs);
    expect(tried).toEqual(['kid-a', 'kid-b']);
  });
});
