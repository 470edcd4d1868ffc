import { chmodSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createFederationCa,
  issueNodeCertificate,
  loadNodeTls,
  writeCertificateFiles,
  type CertificateAndKeyPem,
} from '../../../src/pki/index.js';
import { craftCertificate } from './craft-certificate.js';
import { allianceErrorOf, useTempDirs } from './test-helpers.js';

const tempDir = useTempDirs();
const names = { certName: 'node.pem', keyName: 'node.key.pem' };
const pems = { certPem: 'CERT 1\n', keyPem: 'KEY 1\n' };

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

describe('writeCertificateFiles', () => {
  it('writes the key with mode 0600 and the certificate with 0644, creating the directory', () => {
    const dir = join(tempDir(), 'new', 'dir');
    const written = writeCertificateFiles(dir, pems, names);
    expect(written).toEqual({ certPath: join(dir, 'node.pem'), keyPath: join(dir, 'node.key.pem') });
    expect({
      files: readdirSync(dir).sort(),
      keyMode: modeOf(written.keyPath),
      certMode: modeOf(written.certPath),
      key: readFileSync(written.keyPath, 'utf8'),
      cert: readFileSync(written.certPath, 'utf8'),
    }).toEqual({
      files: ['node.key.pem', 'node.pem'],
      keyMode: 0o600,
      certMode: 0o644,
      key: 'KEY 1\n',
      cert: 'CERT 1\n',
    });
  });

  it('refuses to overwrite an existing key without force, writing nothing', () => {
    const dir = tempDir();
    writeCertificateFiles(dir, pems, names);
    expect(
      allianceErrorOf(() => writeCertificateFiles(dir, { certPem: 'CERT 2\n', keyPem: 'KEY 2\n' }, names)),
    ).toEqual({
      code: 'ALREADY_EXISTS',
      message: `${join(dir, 'node.key.pem')} already exists; refusing to overwrite it without --force`,
    });
    expect({
      files: readdirSync(dir).sort(),
      key: readFileSync(join(dir, 'node.key.pem'), 'utf8'),
      cert: readFileSync(join(dir, 'node.pem'), 'utf8'),
    }).toEqual({ files: ['node.key.pem', 'node.pem'], key: 'KEY 1\n', cert: 'CERT 1\n' });
  });

  it('overwrites with force, and an existing key file that was readable by others ends up 0600', () => {
    const dir = tempDir();
    const keyPath = join(dir, 'node.key.pem');
    const certPath = join(dir, 'node.pem');
    writeFileSync(keyPath, 'OLD KEY\n', { mode: 0o644 });
    chmodSync(keyPath, 0o644);
    writeFileSync(certPath, 'OLD CERT\n', { mode: 0o600 });
    chmodSync(certPath, 0o600);
    writeCertificateFiles(dir, pems, { ...names, force: true });
    expect({
      files: readdirSync(dir).sort(),
      keyMode: modeOf(keyPath),
      certMode: modeOf(certPath),
      key: readFileSync(keyPath, 'utf8'),
      cert: readFileSync(certPath, 'utf8'),
    }).toEqual({
      files: ['node.key.pem', 'node.pem'],
      keyMode: 0o600,
      certMode: 0o644,
      key: 'KEY 1\n',
      cert: 'CERT 1\n',
    });
  });
});

describe('loadNodeTls', () => {
  const ca = createFederationCa({ federation: 'acme' });
  const node = issueNodeCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, cloud: 'c1', node: 'n1' });

  function writeTls(files: { ca?: string; cert?: CertificateAndKeyPem }): {
    caFile: string;
    certFile: string;
    keyFile: string;
  } {
    const dir = tempDir();
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, files.ca ?? ca.certPem);
    const written = writeCertificateFiles(dir, files.cert ?? node, names);
    return { caFile, certFile: written.certPath, keyFile: written.keyPath };
  }

  it('loads matching CA, certificate and key, with the node identity', () => {
    const files = writeTls({});
    const tls = loadNodeTls(files);
    expect({
      caPem: tls.caPem,
      certPem: tls.certPem,
      keyPem: tls.keyPem,
      caSubject: tls.ca.subject,
      certSubject: tls.cert.subject,
      identity: tls.identity,
    }).toEqual({
      caPem: ca.certPem,
      certPem: node.certPem,
      keyPem: node.keyPem,
      caSubject: 'CN=Alliance federation acme CA',
      certSubject: 'O=Alliance federation acme\nCN=c1/n1',
      identity: { federation: 'acme', cloud: 'c1', node: 'n1', nodeId: 'c1/n1' },
    });
  });

  it('names the missing file', () => {
    const files = writeTls({});
    const missing = { ...files, keyFile: join(tempDir(), 'absent.key.pem') };
    expect(allianceErrorOf(() => loadNodeTls(missing))).toEqual({
      code: 'NOT_FOUND',
      message: `cannot read node key ${missing.keyFile}: ENOENT: no such file or directory, open '${missing.keyFile}'`,
    });
  });

  it('names the key file when the key is not the certificate key', () => {
    const other = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: 'c1',
      node: 'n1',
    });
    const files = writeTls({ cert: { certPem: node.certPem, keyPem: other.keyPem } });
    expect(allianceErrorOf(() => loadNodeTls(files))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `node key ${files.keyFile}: does not match the certificate ${files.certFile}`,
    });
  });

  it('names the certificate file when the certificate has no node identity', () => {
    const files = writeTls({ cert: ca });
    expect(allianceErrorOf(() => loadNodeTls(files))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `node certificate ${files.certFile}: a CA certificate is not a node certificate`,
    });
    const nowMs = Date.now();
    const anonymous = craftCertificate(ca, {
      uris: [],
      notBeforeMs: nowMs - 60_000,
      notAfterMs: nowMs + 60_000,
    });
    const anonymousFiles = writeTls({ cert: anonymous });
    expect(allianceErrorOf(() => loadNodeTls(anonymousFiles))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `node certificate ${anonymousFiles.certFile}: certificate has no URI SAN identity`,
    });
  });

  it('names the certificate file when the certificate is from another CA', () => {
    const files = writeTls({ ca: createFederationCa({ federation: 'acme' }).certPem });
    expect(allianceErrorOf(() => loadNodeTls(files))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `node certificate ${files.certFile}: certificate is not signed by the federation CA`,
    });
  });

  it('names the CA file when it is not a federation CA', () => {
    const files = writeTls({ ca: node.certPem });
    expect(allianceErrorOf(() => loadNodeTls(files))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `CA certificate ${files.caFile}: not an Alliance federation CA: URI SAN "spiffe://acme/cloud/c1/node/n1" is not spiffe://<federation>`,
    });
    const garbage = writeTls({ ca: 'garbage' });
    expect(allianceErrorOf(() => loadNodeTls(garbage)).message).toMatch(
      new RegExp(`^CA certificate ${garbage.caFile}: `),
    );
  });

  it('refuses a certificate that has expired at load time', () => {
    const files = writeTls({});
    expect(
      allianceErrorOf(() => loadNodeTls({ ...files, nowMs: Date.now() + 400 * 24 * 3600 * 1000 })).code,
    ).toBe('INVALID_ARGUMENT');
  });
});
