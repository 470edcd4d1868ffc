/**
 * Federation tokens with real node certificates from a real federation CA (src/pki): issued by
 * a node of the home cloud, verified offline by any node. The round trip keeps the identity
 * exactly; the token never outlives its home token; every certificate that is not a node
 * certificate of this federation, every claim that does not match the certificate, and every
 * forgery is refused with its reason and detail.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import type { TokenIdentity, TokenVerdict } from '../../../src/identity/types.js';
import { createFederationCa, issueNodeCertificate, verifyNodeCertificate } from '../../../src/pki/index.js';
import type { CertificateAndKeyPem } from '../../../src/pki/index.js';
import {
  audienceOf,
  createFederationVerifier,
  issueFederationToken,
  issuerUri,
} from '../../../src/tokens/federation-token.js';
import type {
  FederationSigner,
  FederationVerifier,
  IssuerIdentity,
} from '../../../src/tokens/federation-token.js';
import { federationTokenType } from '../../../src/tokens/token-format.js';
import { craftCertificate } from '../pki/craft-certificate.js';
import {
  b64url,
  clockSkewMs,
  fixedNowMs,
  identityOf,
  partOf,
  partsOf,
  signEs256,
  signHs256WithPublicPem,
  withHeader,
  withPayload,
} from './jws-helpers.js';

const federation = 'unit';
/** Not a whole second: issued times round down to one. */
const nowMs = fixedNowMs + 500;
const ttlMaxMs = 15 * 60 * 1000;
const dayMs = 24 * 3600 * 1000;

let ca: CertificateAndKeyPem;
let caCert: X509Certificate;
/** cloud-a/n1, of this federation. */
let nodeA: CertificateAndKeyPem;

beforeAll(() => {
  ca = createFederationCa({ federation, nowMs: fixedNowMs - dayMs });
  caCert = new X509Certificate(ca.certPem);
  nodeA = issueNodeCertificate({
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    cloud: 'cloud-a',
    node: 'n1',
    nowMs: fixedNowMs - dayMs,
  });
});

function signerOf(cert: CertificateAndKeyPem, overrides: Partial<FederationSigner> = {}): FederationSigner {
  return {
    federation,
    cloud: 'cloud-a',
    nodeId: 'cloud-a/n1',
    certificateDer: new X509Certificate(cert.certPem).raw,
    privateKey: createPrivateKey(cert.keyPem),
    ...overrides,
  };
}

const verifyIssuer = (der: Uint8Array, atMs: number): IssuerIdentity =>
  verifyNodeCertificate(der, caCert, atMs);

function verifier(
  options: { verifyIssuer?: typeof verifyIssuer; federation?: string } = {},
): FederationVerifier {
  return createFederationVerifier({
    federation: options.federation ?? federation,
    clockSkewMs,
    issuersMax: 100,
    verifyIssuer: options.verifyIssuer ?? verifyIssuer,
  });
}

/** The home token's identity: a cloud-a opaque token issued a minute ago, valid for an hour. */
const home: TokenIdentity = identityOf('cloud-a', {
  issuedAtMs: fixedNowMs - 60_000,
  expiresAtMs: fixedNowMs + 3_600_000,
  auditIds: ['own-audit-id', 'chain-audit-id'],
});

function issue(
  identity: TokenIdentity = home,
  options: { signer?: FederationSigner; atMs?: number; ttlMaxMs?: number } = {},
): { token: string; expiresAtMs: number } {
  return issueFederationToken(options.signer ?? signerOf(nodeA), identity, {
    nowMs: options.atMs ?? nowMs,
    ttlMaxMs: options.ttlMaxMs ?? ttlMaxMs,
  });
}

function verify(token: string, atMs = nowMs, v: FederationVerifier = verifier()): TokenVerdict {
  return v.verify(partsOf(token, 'federation'), atMs);
}

const refused = (reason: string, detail: string): TokenVerdict =>
  ({ valid: false, reason, detail }) as TokenVerdict;

/** A token whose header and payload are chosen by the test, signed with cloud-a/n1's key. */
function craftToken(header: Record<string, unknown>, payload: Record<string, unknown>): string {
  return signEs256(header, payload, createPrivateKey(nodeA.keyPem));
}

function headerOf(cert: CertificateAndKeyPem): Record<string, unknown> {
  return {
    alg: 'ES256',
    typ: federationTokenType,
    x5c: [new X509Certificate(cert.certPem).raw.toString('base64')],
  };
}

describe('federation tokens: issue and verify', () => {
  it('verifies a token it issued back to the exact identity, as a federation token', () => {
    const { token, expiresAtMs } = issue();
    const expectedExpiresAtMs = Math.floor((nowMs + ttlMaxMs) / 1000) * 1000;
    expect(expiresAtMs).toBe(expectedExpiresAtMs);
    expect(verify(token)).toEqual({
      valid: true,
      identity: { ...home, expiresAtMs: expectedExpiresAtMs, tokenFormat: 'federation' },
    });
  });

  it('writes the header and claims: x5c of the node certificate, issuer, audience, whole seconds', () => {
    const { token } = issue();
    const nowS = Math.floor(nowMs / 1000);
    expect(partOf(token, 0)).toEqual(headerOf(nodeA));
    expect(partOf(token, 1)).toEqual({
      iss: 'spiffe://unit/cloud/cloud-a/node/n1',
      sub: home.userId,
      aud: 'alliance:unit',
      iat: nowS,
      nbf: nowS,
      exp: Math.floor((nowMs + ttlMaxMs) / 1000),
      jti: expect.stringMatching(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/),
      alliance: {
        user_name: 'alice',
        domain_id: 'default',
        project_id: home.projectId,
        project_name: 'demo',
        project_domain_id: 'default',
        roles: ['member', 'reader'],
        origin_cloud: 'cloud-a',
        audit_ids: ['own-audit-id', 'chain-audit-id'],
        home_issued_at_ms: home.issuedAtMs,
        home_format: 'opaque',
      },
    });
  });

  it('never outlives its home token: expiry is the home token’s, rounded down to a second', () => {
    const shortLived = { ...home, expiresAtMs: nowMs + 5 * 60_000 + 250 };
    const { token, expiresAtMs } = issue(shortLived);
    expect(expiresAtMs).toBe(Math.floor(shortLived.expiresAtMs / 1000) * 1000);
    expect(expiresAtMs).toBeLessThanOrEqual(shortLived.expiresAtMs);
    expect(verify(token)).toMatchObject({ valid: true, identity: { expiresAtMs } });
  });

  it('lives at most ttlMax when the home token lives longer', () => {
    const { expiresAtMs } = issue({ ...home, expiresAtMs: nowMs + 24 * 3_600_000 }, { ttlMaxMs: 60_000 });
    expect(expiresAtMs).toBe(Math.floor((nowMs + 60_000) / 1000) * 1000);
  });

  it('is refused at its expiry instant and accepted a millisecond before', () => {
    const { token, expiresAtMs } = issue();
    expect(verify(token, expiresAtMs - 1)).toMatchObject({ valid: true });
    expect(verify(token, expiresAtMs)).toEqual(refused('expired', 'the federation token has expired'));
  });

  it('is refused while its nbf lies further ahead than the clock skew, and accepted within it', () => {
    const { token } = issue(home, { atMs: nowMs + clockSkewMs + 1000 });
    expect(verify(token)).toEqual(refused('not-yet-valid', 'the federation token is not valid yet'));
    const { token: withinSkew } = issue(home, { atMs: fixedNowMs + clockSkewMs });
    expect(verify(withinSkew, fixedNowMs)).toMatchObject({ valid: true });
  });
});

describe('federation tokens: forgeries', () => {
  const badSignature = refused('bad-signature', 'the signature does not verify with the issuing certificate');

  it('refuses a token whose payload changed after signing (roles raised)', () => {
    const { token } = issue();
    const payload = partOf(token, 1);
    const forged = withPayload(token, {
      ...payload,
      alliance: { ...(payload.alliance as object), roles: ['admin'] },
    });
    expect(verify(forged)).toEqual(badSignature);
  });

  it('refuses a truncated signature', () => {
    expect(verify(issue().token.slice(0, -4))).toEqual(badSignature);
  });

  it('refuses alg "none" with an empty signature', () => {
    const { token } = issue();
    const [, payload] = token.split('.');
    const none = `${b64url({ ...partOf(token, 0), alg: 'none' })}.${payload}.`;
    expect(verify(none)).toEqual(refused('bad-signature', 'algorithm none is not accepted (ES256 only)'));
  });

  it('refuses HS256 signed with the certificate’s public key PEM as the HMAC secret', () => {
    const publicPem = new X509Certificate(nodeA.certPem).publicKey
      .export({ type: 'spki', format: 'pem' })
      .toString();
    const payload = partOf(issue().token, 1);
    const hs256 = signHs256WithPublicPem({ ...headerOf(nodeA), alg: 'HS256' }, payload, publicPem);
    expect(verify(hs256)).toEqual(refused('bad-signature', 'algorithm HS256 is not accepted (ES256 only)'));
    const underEs256 = signHs256WithPublicPem(headerOf(nodeA), payload, publicPem);
    expect(verify(underEs256)).toEqual(badSignature);
  });

  it.each<[string, unknown]>([
    ['two certificates', 'twice'],
    ['no certificate', []],
    ['a number instead of a certificate', [7]],
  ])('refuses an x5c with %s as malformed', (_name, x5c) => {
    const { token } = issue();
    const chain =
      x5c === 'twice' ? [...(partOf(token, 0).x5c as string[]), ...(partOf(token, 0).x5c as string[])] : x5c;
    expect(verify(withHeader(token, { ...partOf(token, 0), x5c: chain }))).toEqual(
      refused('malformed', 'x5c must hold exactly the issuing node certificate'),
    );
  });

  it('refuses a federation typ with no x5c at all as malformed', () => {
    const { token } = issue();
    expect(verify(withHeader(token, { alg: 'ES256', typ: federationTokenType }))).toEqual(
      refused('malformed', 'x5c must hold exactly the issuing node certificate'),
    );
  });

  it('refuses a token whose claims are incomplete (no alliance claims), though signed and addressed', () => {
    const payload = { ...partOf(issue().token, 1), alliance: undefined };
    expect(verify(craftToken(headerOf(nodeA), payload))).toEqual(
      refused('malformed', 'the claims are incomplete'),
    );
  });
});

describe('federation tokens: the issuer', () => {
  const notOfThisFederation = (why: string): TokenVerdict =>
    refused('unknown-issuer', `the issuing certificate is not of this federation: ${why}`);

  it('refuses a certificate from another CA of the same federation name', () => {
    const otherCa = createFederationCa({ federation, nowMs: fixedNowMs - dayMs });
    const impostor = issueNodeCertificate({
      caCertPem: otherCa.certPem,
      caKeyPem: otherCa.keyPem,
      cloud: 'cloud-a',
      node: 'n1',
      nowMs: fixedNowMs - dayMs,
    });
    const { token } = issue(home, { signer: signerOf(impostor) });
    expect(verify(token)).toEqual(notOfThisFederation('certificate is not signed by the federation CA'));
  });

  it('refuses a node certificate of another federation', () => {
    const otherCa = createFederationCa({ federation: 'other', nowMs: fixedNowMs - dayMs });
    const foreign = issueNodeCertificate({
      caCertPem: otherCa.certPem,
      caKeyPem: otherCa.keyPem,
      cloud: 'cloud-a',
      node: 'n1',
      nowMs: fixedNowMs - dayMs,
    });
    const { token } = issue(home, { signer: signerOf(foreign, { federation: 'other' }) });
    expect(verify(token)).toEqual(notOfThisFederation('certificate is not signed by the federation CA'));
  });

  it('refuses a certificate this CA signed that names another federation', () => {
    const crafted = craftCertificate(ca, {
      uris: ['spiffe://other/cloud/cloud-a/node/n1'],
      notBeforeMs: fixedNowMs - dayMs,
      notAfterMs: fixedNowMs + dayMs,
    });
    const { token } = issue(home, { signer: signerOf(crafted, { federation: 'other' }) });
    expect(verify(token)).toEqual(notOfThisFederation('certificate names federation other, not unit'));
  });

  it('refuses the federation CA’s own certificate as an issuer', () => {
    const { token } = issue(home, { signer: signerOf(ca) });
    expect(verify(token)).toEqual(notOfThisFederation('a CA certificate is not a node certificate'));
  });

  it('refuses a node certificate that has expired', () => {
    const expired = craftCertificate(ca, {
      uris: ['spiffe://unit/cloud/cloud-a/node/n1'],
      notBeforeMs: fixedNowMs - 2 * dayMs,
      notAfterMs: fixedNowMs - dayMs,
    });
    const { token } = issue(home, { signer: signerOf(expired) });
    expect(verify(token)).toMatchObject({
      valid: false,
      reason: 'unknown-issuer',
      detail: expect.stringMatching(
        /^the issuing certificate is not of this federation: certificate is not valid at /,
      ),
    });
  });

  it('refuses a token minted for federation "other" by a node of this one (its issuer names "other")', () => {
    const { token } = issue(home, { signer: signerOf(nodeA, { federation: 'other' }) });
    expect(partOf(token, 1)).toMatchObject({
      iss: 'spiffe://other/cloud/cloud-a/node/n1',
      aud: 'alliance:other',
    });
    expect(verify(token)).toEqual(
      refused('unknown-issuer', 'the issuer claim does not name the certificate’s node'),
    );
  });

  it('refuses a token addressed to another federation’s audience, all else right', () => {
    const payload = { ...partOf(issue().token, 1), aud: audienceOf('other') };
    expect(verify(craftToken(headerOf(nodeA), payload))).toEqual(
      refused('unknown-issuer', 'the token is for audience alliance:other, not this federation'),
    );
  });

  it('refuses this federation’s token at a verifier of another federation that trusts the same CA', () => {
    const { token } = issue();
    expect(verify(token, nowMs, verifier({ federation: 'other' }))).toEqual(
      refused('unknown-issuer', 'the token is for audience alliance:unit, not this federation'),
    );
  });

  it('refuses an issuer claim that names another node than the certificate', () => {
    const { token } = issue(home, { signer: signerOf(nodeA, { nodeId: 'cloud-a/n2' }) });
    expect(partOf(token, 1).iss).toBe(
      issuerUri({ federation, cloud: 'cloud-a', node: 'n2', nodeId: 'cloud-a/n2' }),
    );
    expect(verify(token)).toEqual(
      refused('unknown-issuer', 'the issuer claim does not name the certificate’s node'),
    );
  });

  it('refuses a node of cloud-a vouching for an identity of cloud-b', () => {
    const { token } = issue(identityOf('cloud-b'));
    expect(verify(token)).toEqual(refused('unknown-issuer', 'a node of cloud-a may not vouch for cloud-b'));
  });

  it('checks a certificate against the CA once, not at every token it signed', () => {
    const spy = vi.fn(verifyIssuer);
    const v = verifier({ verifyIssuer: spy });
    const first = issue().token;
    const second = issue(identityOf('cloud-a', { userId: 'bob' })).token;
    expect(verify(first, nowMs, v)).toMatchObject({ valid: true });
    expect(verify(first, nowMs, v)).toMatchObject({ valid: true });
    expect(verify(second, nowMs, v)).toMatchObject({ valid: true, identity: { userId: 'bob' } });
    expect(spy).toHaveBeenCalledTimes(1);
  });

  it('checks a remembered certificate again once it has expired', () => {
    const spy = vi.fn(verifyIssuer);
    const v = verifier({ verifyIssuer: spy });
    const { token } = issue();
    expect(verify(token, nowMs, v)).toMatchObject({ valid: true });
    const notAfterMs = Date.parse(new X509Certificate(nodeA.certPem).validTo);
    expect(verify(token, notAfterMs + 1000, v)).toMatchObject({ valid: false, reason: 'unknown-issuer' });
    expect(spy).toHaveBeenCalledTimes(2);
  });

  it('does not remember a certificate that failed the check', () => {
    const spy = vi.fn(verifyIssuer);
    const v = verifier({ verifyIssuer: spy });
    const { token } = issue(home, { signer: signerOf(ca) });
    verify(token, nowMs, v);
    verify(token, nowMs, v);
    expect(spy).toHaveBeenCalledTimes(2);
  });
});
