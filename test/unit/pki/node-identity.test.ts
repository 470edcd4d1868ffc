import { X509Certificate } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import {
  createFederationCa,
  isValidId,
  issueNodeCertificate,
  parseNodeIdentity,
  readCaFederation,
  verifyNodeCertificate,
} from '../../../src/pki/index.js';
import { craftCertificate } from './craft-certificate.js';
import { allianceErrorOf } from './test-helpers.js';

const dayMs = 24 * 3600 * 1000;
const nowMs = Date.UTC(2030, 0, 1, 12, 0, 0);
const acme = createFederationCa({ federation: 'acme', nowMs });
const acmeCa = new X509Certificate(acme.certPem);

function issue(ca = acme, options: { validDays?: number; issuedAtMs?: number } = {}): X509Certificate {
  const { certPem } = issueNodeCertificate({
    caCertPem: ca.certPem,
    caKeyPem: ca.keyPem,
    cloud: 'c1',
    node: 'n1',
    nowMs: options.issuedAtMs ?? nowMs,
    ...(options.validDays === undefined ? {} : { validDays: options.validDays }),
  });
  return new X509Certificate(certPem);
}

function crafted(uris: string[], options: { isCa?: boolean } = {}): X509Certificate {
  return new X509Certificate(
    craftCertificate(acme, { uris, notBeforeMs: nowMs - dayMs, notAfterMs: nowMs + dayMs, ...options })
      .certPem,
  );
}

describe('isValidId', () => {
  it.each([
    ['a', true],
    ['0', true],
    ['cloud-a', true],
    ['a'.repeat(63), true],
    ['', false],
    ['a'.repeat(64), false],
    ['-a', false],
    ['A', false],
    ['a_b', false],
    ['a.b', false],
    ['a/b', false],
    ['a b', false],
    ['a\n', false],
  ])('%j is valid: %s', (id, valid) => {
    expect(isValidId(id)).toBe(valid);
  });
});

describe('parseNodeIdentity', () => {
  it('reads the identity from DER, PEM or a parsed certificate alike', () => {
    const cert = issue();
    const expected = { federation: 'acme', cloud: 'c1', node: 'n1', nodeId: 'c1/n1' };
    expect([
      parseNodeIdentity(cert.raw),
      parseNodeIdentity(cert.toString()),
      parseNodeIdentity(cert),
    ]).toEqual([expected, expected, expected]);
  });

  it.each([
    [[], 'certificate has no URI SAN identity'],
    [['spiffe://acme'], 'certificate URI SAN "spiffe://acme" is not a node identity'],
    [
      ['https://acme/cloud/c1/node/n1'],
      'certificate URI SAN "https://acme/cloud/c1/node/n1" is not a node identity',
    ],
    [
      ['spiffe://acme/cloud/c1/node/n1/extra'],
      'certificate URI SAN "spiffe://acme/cloud/c1/node/n1/extra" is not a node identity',
    ],
    [
      ['spiffe://acme/cloud/C1/node/n1'],
      'certificate URI SAN "spiffe://acme/cloud/C1/node/n1" is not a node identity',
    ],
    [
      ['spiffe://acme/cloud/c1/node/n1', 'spiffe://acme/cloud/c1/node/n2'],
      'certificate has 2 URI SANs; exactly one is allowed',
    ],
    // Node quotes a value holding ", " so it cannot pose as a second entry; the pattern refuses it.
    [
      ['x, URI:spiffe://acme/cloud/c1/node/n1'],
      'certificate URI SAN "x, URI:spiffe://acme/cloud/c1/node/n1" is not a node identity',
    ],
  ])('refuses a certificate with URI SANs %j', (uris, message) => {
    expect(allianceErrorOf(() => parseNodeIdentity(crafted(uris)))).toEqual({
      code: 'PERMISSION_DENIED',
      message,
    });
  });

  it('refuses bytes that are not a certificate', () => {
    expect(
      allianceErrorOf(() => parseNodeIdentity(new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]))).code,
    ).toBe('INVALID_ARGUMENT');
  });
});

describe('readCaFederation', () => {
  it('reads the federation of a CA and refuses a node certificate', () => {
    expect(readCaFederation(acme.certPem)).toBe('acme');
    expect(allianceErrorOf(() => readCaFederation(issue()))).toEqual({
      code: 'INVALID_ARGUMENT',
      message:
        'not an Alliance federation CA: URI SAN "spiffe://acme/cloud/c1/node/n1" is not spiffe://<federation>',
    });
  });
});

describe('verifyNodeCertificate', () => {
  it('returns the identity of a certificate the CA issued, inside its validity', () => {
    expect(verifyNodeCertificate(issue().raw, acmeCa, nowMs)).toEqual({
      federation: 'acme',
      cloud: 'c1',
      node: 'n1',
      nodeId: 'c1/n1',
    });
  });

  it('accepts a certificate at the first and last second of its validity', () => {
    const cert = issue(acme, { validDays: 1 });
    expect(verifyNodeCertificate(cert.raw, acmeCa, Date.parse(cert.validFrom)).nodeId).toBe('c1/n1');
    expect(verifyNodeCertificate(cert.raw, acmeCa, Date.parse(cert.validTo)).nodeId).toBe('c1/n1');
  });

  it('refuses a certificate from another CA, even of the same federation name', () => {
    const impostor = createFederationCa({ federation: 'acme', nowMs });
    expect(allianceErrorOf(() => verifyNodeCertificate(issue(impostor).raw, acmeCa, nowMs))).toEqual({
      code: 'PERMISSION_DENIED',
      message: 'certificate is not signed by the federation CA',
    });
  });

  it('refuses an expired certificate', () => {
    const cert = issue(acme, { validDays: 1 });
    const afterMs = Date.parse(cert.validTo) + 1000;
    expect(allianceErrorOf(() => verifyNodeCertificate(cert.raw, acmeCa, afterMs))).toEqual({
      code: 'PERMISSION_DENIED',
      message: `certificate is not valid at ${new Date(afterMs).toISOString()} (valid ${cert.validFrom} to ${cert.validTo})`,
    });
  });

  it('refuses a certificate that is not valid yet', () => {
    const cert = issue(acme, { issuedAtMs: nowMs + 10 * dayMs });
    expect(allianceErrorOf(() => verifyNodeCertificate(cert.raw, acmeCa, nowMs)).code).toBe(
      'PERMISSION_DENIED',
    );
  });

  it('refuses a certificate whose identity names another federation', () => {
    const cert = crafted(['spiffe://globex/cloud/c1/node/n1']);
    expect(allianceErrorOf(() => verifyNodeCertificate(cert.raw, acmeCa, nowMs))).toEqual({
      code: 'PERMISSION_DENIED',
      message: 'certificate names federation globex, not acme',
    });
  });

  it('refuses a CA certificate, even one the federation CA signed', () => {
    const cert = crafted(['spiffe://acme/cloud/c1/node/n1'], { isCa: true });
    expect(allianceErrorOf(() => verifyNodeCertificate(cert.raw, acmeCa, nowMs))).toEqual({
      code: 'PERMISSION_DENIED',
      message: 'a CA certificate is not a node certificate',
    });
  });

  it('refuses the CA certificate itself', () => {
    expect(allianceErrorOf(() => verifyNodeCertificate(acmeCa.raw, acmeCa, nowMs)).code).toBe(
      'PERMISSION_DENIED',
    );
  });

  it('refuses a certificate whose signature was tampered with', () => {
    const der = Buffer.from(issue().raw);
    der[der.length - 5] = (der[der.length - 5] ?? 0) ^ 0x01;
    expect(allianceErrorOf(() => verifyNodeCertificate(der, acmeCa, nowMs)).code).toBe('PERMISSION_DENIED');
  });

  it('refuses bytes that are not a certificate', () => {
    expect(allianceErrorOf(() => verifyNodeCertificate(new Uint8Array(16), acmeCa, nowMs)).code).toBe(
      'PERMISSION_DENIED',
    );
  });

  it('refuses every certificate once the CA itself has expired', () => {
    const shortCa = createFederationCa({ federation: 'acme', nowMs, validDays: 1 });
    const shortCaCert = new X509Certificate(shortCa.certPem);
    const cert = issue(shortCa);
    const laterMs = Date.parse(shortCaCert.validTo) + 1000;
    expect(allianceErrorOf(() => verifyNodeCertificate(cert.raw, shortCaCert, laterMs)).code).toBe(
      'PERMISSION_DENIED',
    );
  });
});
