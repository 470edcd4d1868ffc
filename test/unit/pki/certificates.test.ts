import { spawnSync } from 'node:child_process';
import { createPrivateKey, X509Certificate } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createFederationCa,
  issueNodeCertificate,
  parseNodeIdentity,
  readCaFederation,
} from '../../../src/pki/index.js';
import { allianceErrorOf, useTempDirs } from './test-helpers.js';

const dayMs = 24 * 3600 * 1000;
const skewMs = 5 * 60 * 1000;
const nowMs = Date.UTC(2030, 0, 1, 12, 0, 0);
const tempDir = useTempDirs();

function openssl(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync('openssl', args, { encoding: 'utf8' });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('createFederationCa', () => {
  it('makes a self-signed EC P-256 CA that names its federation', () => {
    const ca = createFederationCa({ federation: 'acme', nowMs });
    const cert = new X509Certificate(ca.certPem);
    expect({
      subject: cert.subject,
      issuer: cert.issuer,
      isCa: cert.ca,
      subjectAltName: cert.subjectAltName,
      validFromMs: Date.parse(cert.validFrom),
      validToMs: Date.parse(cert.validTo),
      selfSigned: cert.verify(cert.publicKey),
      curve: createPrivateKey(ca.keyPem).asymmetricKeyDetails,
      keyMatches: cert.checkPrivateKey(createPrivateKey(ca.keyPem)),
      federation: readCaFederation(cert),
    }).toEqual({
      subject: 'CN=Alliance federation acme CA',
      issuer: 'CN=Alliance federation acme CA',
      isCa: true,
      subjectAltName: 'URI:spiffe://acme',
      validFromMs: nowMs - skewMs,
      validToMs: nowMs + 3650 * dayMs,
      selfSigned: true,
      curve: { namedCurve: 'prime256v1' },
      keyMatches: true,
      federation: 'acme',
    });
  });

  it('marks the CA critical CA:true for certificate and CRL signing, as openssl reads it', () => {
    const file = join(tempDir(), 'ca.pem');
    writeFileSync(file, createFederationCa({ federation: 'acme' }).certPem);
    const text = openssl(['x509', '-noout', '-text', '-in', file]);
    expect(text.status).toBe(0);
    expect(text.stdout).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:TRUE, pathlen:0\n/);
    expect(text.stdout).toMatch(/X509v3 Key Usage: critical\n\s+Certificate Sign, CRL Sign\n/);
    expect(text.stdout).toContain('Signature Algorithm: ecdsa-with-SHA256');
    expect(openssl(['verify', '-x509_strict', '-CAfile', file, file])).toEqual({
      status: 0,
      stdout: `${file}: OK\n`,
      stderr: '',
    });
  });

  it('rejects an invalid federation name and an out-of-range validity', () => {
    expect(allianceErrorOf(() => createFederationCa({ federation: 'Acme' }))).toEqual({
      code: 'INVALID_ARGUMENT',
      message:
        'invalid federation id "Acme": use 1-63 lowercase letters, digits or \'-\', starting with a letter or digit',
    });
    expect(allianceErrorOf(() => createFederationCa({ federation: 'acme', validDays: 0 }))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'invalid validity 0 days: use a whole number from 1 to 36500',
    });
    expect(allianceErrorOf(() => createFederationCa({ federation: 'acme', validDays: 1.5 })).code).toBe(
      'INVALID_ARGUMENT',
    );
  });

  it('encodes dates from 2050 on as GeneralizedTime that Node parses back exactly', () => {
    const ca = createFederationCa({ federation: 'acme', nowMs, validDays: 36_500 });
    expect(Date.parse(new X509Certificate(ca.certPem).validTo)).toBe(nowMs + 36_500 * dayMs);
  });
});

describe('issueNodeCertificate', () => {
  const ca = createFederationCa({ federation: 'acme', nowMs });
  const caCert = new X509Certificate(ca.certPem);

  it('issues a certificate with the SPIFFE identity and loopback names, signed by the CA', () => {
    const issued = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: 'cloud-a',
      node: 'n1',
      nowMs,
    });
    const cert = new X509Certificate(issued.certPem);
    expect({
      subject: cert.subject,
      issuer: cert.issuer,
      isCa: cert.ca,
      subjectAltName: cert.subjectAltName,
      extendedKeyUsage: cert.keyUsage,
      validFromMs: Date.parse(cert.validFrom),
      validToMs: Date.parse(cert.validTo),
      signedByCa: cert.verify(caCert.publicKey),
      issuedByCa: cert.checkIssued(caCert),
      keyMatches: cert.checkPrivateKey(createPrivateKey(issued.keyPem)),
      curve: createPrivateKey(issued.keyPem).asymmetricKeyDetails,
      identity: parseNodeIdentity(cert.raw),
    }).toEqual({
      subject: 'O=Alliance federation acme\nCN=cloud-a/n1',
      issuer: 'CN=Alliance federation acme CA',
      isCa: false,
      subjectAltName: 'URI:spiffe://acme/cloud/cloud-a/node/n1, DNS:localhost, IP Address:127.0.0.1',
      extendedKeyUsage: ['1.3.6.1.5.5.7.3.1', '1.3.6.1.5.5.7.3.2'],
      validFromMs: nowMs - skewMs,
      validToMs: nowMs + 365 * dayMs,
      signedByCa: true,
      issuedByCa: true,
      keyMatches: true,
      curve: { namedCurve: 'prime256v1' },
      identity: { federation: 'acme', cloud: 'cloud-a', node: 'n1', nodeId: 'cloud-a/n1' },
    });
  });

  it('uses exactly the DNS names and IP addresses given, IPv6 included', () => {
    const issued = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: 'c1',
      node: 'n1',
      dnsNames: ['node1.example.org', '*.nodes.example.org'],
      ipAddresses: ['10.0.0.7', '2001:db8::1', '::ffff:192.0.2.1', '::'],
      nowMs,
    });
    expect(new X509Certificate(issued.certPem).subjectAltName).toBe(
      'URI:spiffe://acme/cloud/c1/node/n1, DNS:node1.example.org, DNS:*.nodes.example.org, ' +
        'IP Address:10.0.0.7, IP Address:2001:DB8:0:0:0:0:0:1, IP Address:0:0:0:0:0:FFFF:C000:201, ' +
        'IP Address:0:0:0:0:0:0:0:0',
    );
  });

  it('gives a certificate only the names asked for when some are given', () => {
    const issued = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: 'c1',
      node: 'n1',
      ipAddresses: ['10.0.0.7'],
      nowMs,
    });
    expect(new X509Certificate(issued.certPem).subjectAltName).toBe(
      'URI:spiffe://acme/cloud/c1/node/n1, IP Address:10.0.0.7',
    );
  });

  it('is parsed by openssl and verified against the CA for both TLS client and server use', () => {
    const dir = tempDir();
    const liveCa = createFederationCa({ federation: 'acme' });
    const issued = issueNodeCertificate({
      caCertPem: liveCa.certPem,
      caKeyPem: liveCa.keyPem,
      cloud: 'c1',
      node: 'n1',
    });
    const caFile = join(dir, 'ca.pem');
    const certFile = join(dir, 'node.pem');
    writeFileSync(caFile, liveCa.certPem);
    writeFileSync(certFile, issued.certPem);

    const text = openssl(['x509', '-noout', '-text', '-in', certFile]);
    expect(text.status).toBe(0);
    expect(text.stdout).toContain('Issuer: CN = Alliance federation acme CA');
    expect(text.stdout).toContain('Subject: O = Alliance federation acme, CN = c1/n1');
    expect(text.stdout).toMatch(/X509v3 Basic Constraints: critical\n\s+CA:FALSE\n/);
    expect(text.stdout).toMatch(/X509v3 Key Usage: critical\n\s+Digital Signature\n/);
    expect(text.stdout).toMatch(
      /X509v3 Extended Key Usage: \n\s+TLS Web Server Authentication, TLS Web Client Authentication\n/,
    );
    expect(text.stdout).toMatch(
      /X509v3 Subject Alternative Name: \n\s+URI:spiffe:\/\/acme\/cloud\/c1\/node\/n1, DNS:localhost, IP Address:127.0.0.1\n/,
    );
    expect(text.stdout).toContain('ASN1 OID: prime256v1');

    for (const purpose of ['sslserver', 'sslclient']) {
      expect(openssl(['verify', '-x509_strict', '-purpose', purpose, '-CAfile', caFile, certFile])).toEqual({
        status: 0,
        stdout: `${certFile}: OK\n`,
        stderr: '',
      });
    }
  });

  it('is refused by openssl verify against another CA', () => {
    const dir = tempDir();
    const otherCaFile = join(dir, 'other-ca.pem');
    const certFile = join(dir, 'node.pem');
    writeFileSync(otherCaFile, createFederationCa({ federation: 'acme' }).certPem);
    const liveCa = createFederationCa({ federation: 'acme' });
    writeFileSync(
      certFile,
      issueNodeCertificate({ caCertPem: liveCa.certPem, caKeyPem: liveCa.keyPem, cloud: 'c1', node: 'n1' })
        .certPem,
    );
    const result = openssl(['verify', '-CAfile', otherCaFile, certFile]);
    expect(result.status).not.toBe(0);
    expect(result.stderr).toContain('unable to get local issuer certificate');
  });

  it('never outlives the CA', () => {
    const shortCa = createFederationCa({ federation: 'acme', nowMs, validDays: 30 });
    const issued = issueNodeCertificate({
      caCertPem: shortCa.certPem,
      caKeyPem: shortCa.keyPem,
      cloud: 'c1',
      node: 'n1',
      nowMs,
    });
    expect(Date.parse(new X509Certificate(issued.certPem).validTo)).toBe(nowMs + 30 * dayMs);
  });

  it('gives every certificate its own key and serial number', () => {
    const issue = () =>
      issueNodeCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, cloud: 'c1', node: 'n1', nowMs });
    const [a, b] = [issue(), issue()];
    expect(a.keyPem).not.toBe(b.keyPem);
    expect(new X509Certificate(a.certPem).serialNumber).not.toBe(new X509Certificate(b.certPem).serialNumber);
  });

  it.each([
    ['cloud', { cloud: '', node: 'n1' }, 'invalid cloud id ""'],
    ['cloud', { cloud: 'Cloud', node: 'n1' }, 'invalid cloud id "Cloud"'],
    ['cloud', { cloud: '-cloud', node: 'n1' }, 'invalid cloud id "-cloud"'],
    ['cloud', { cloud: 'a/b', node: 'n1' }, 'invalid cloud id "a/b"'],
    ['cloud', { cloud: 'a'.repeat(64), node: 'n1' }, `invalid cloud id "${'a'.repeat(64)}"`],
    ['node', { cloud: 'c1', node: 'n_1' }, 'invalid node id "n_1"'],
    ['node', { cloud: 'c1', node: 'n1.example' }, 'invalid node id "n1.example"'],
    ['node', { cloud: 'c1', node: 'nœud' }, 'invalid node id "nœud"'],
  ])('rejects an invalid %s id: %j', (_kind, ids, message) => {
    expect(
      allianceErrorOf(() =>
        issueNodeCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, ...ids, nowMs }),
      ),
    ).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `${message}: use 1-63 lowercase letters, digits or '-', starting with a letter or digit`,
    });
  });

  it('accepts ids of 1 and 63 characters, digits first', () => {
    const issued = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: '9',
      node: `n${'-'.repeat(62)}`,
      nowMs,
    });
    expect(parseNodeIdentity(issued.certPem).nodeId).toBe(`9/n${'-'.repeat(62)}`);
  });

  it.each([
    [{ dnsNames: ['bad name'] }, 'invalid DNS name "bad name"'],
    [{ dnsNames: ['-x.example'] }, 'invalid DNS name "-x.example"'],
    [{ ipAddresses: ['10.0.0'] }, 'invalid IP address "10.0.0"'],
    [{ ipAddresses: ['fe80::1%eth0'] }, 'invalid IP address "fe80::1%eth0"'],
    [{ ipAddresses: ['localhost'] }, 'invalid IP address "localhost"'],
  ])('rejects an invalid subject alternative name: %j', (names, message) => {
    expect(
      allianceErrorOf(() =>
        issueNodeCertificate({
          caCertPem: ca.certPem,
          caKeyPem: ca.keyPem,
          cloud: 'c1',
          node: 'n1',
          ...names,
          nowMs,
        }),
      ),
    ).toEqual({ code: 'INVALID_ARGUMENT', message });
  });

  it('refuses a CA key that is not the CA certificate key', () => {
    const other = createFederationCa({ federation: 'acme', nowMs });
    expect(
      allianceErrorOf(() =>
        issueNodeCertificate({
          caCertPem: ca.certPem,
          caKeyPem: other.keyPem,
          cloud: 'c1',
          node: 'n1',
          nowMs,
        }),
      ),
    ).toEqual({ code: 'INVALID_ARGUMENT', message: 'CA key does not match the CA certificate' });
  });

  it('refuses to issue from a certificate that is not a federation CA', () => {
    const node = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: 'c1',
      node: 'n1',
      nowMs,
    });
    expect(
      allianceErrorOf(() =>
        issueNodeCertificate({
          caCertPem: node.certPem,
          caKeyPem: node.keyPem,
          cloud: 'c1',
          node: 'n2',
          nowMs,
        }),
      ),
    ).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'CA certificate is not a CA (basicConstraints CA:false)',
    });
    expect(
      allianceErrorOf(() =>
        issueNodeCertificate({ caCertPem: 'not a pem', caKeyPem: ca.keyPem, cloud: 'c1', node: 'n2', nowMs }),
      ).code,
    ).toBe('INVALID_ARGUMENT');
  });

  it('refuses to issue once the CA has expired', () => {
    const shortCa = createFederationCa({ federation: 'acme', nowMs, validDays: 1 });
    expect(
      allianceErrorOf(() =>
        issueNodeCertificate({
          caCertPem: shortCa.certPem,
          caKeyPem: shortCa.keyPem,
          cloud: 'c1',
          node: 'n1',
          nowMs: nowMs + 2 * dayMs,
        }),
      ).code,
    ).toBe('FAILED_PRECONDITION');
  });
});
