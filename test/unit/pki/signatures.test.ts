import { createPrivateKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  createFederationCa,
  issueNodeCertificate,
  loadOrCreateRecordKey,
  signRecord,
  signWithCertificateKey,
  verifyRecord,
  verifyWithCertificate,
  type RecordKey,
} from '../../../src/pki/index.js';
import { allianceErrorOf, useTempDirs } from './test-helpers.js';

const tempDir = useTempDirs();
const data = new TextEncoder().encode('catalog record: cloud-a v42');

function flipBit(bytes: Uint8Array, index: number): Uint8Array {
  const copy = new Uint8Array(bytes);
  copy[index] = (copy[index] ?? 0) ^ 0x01;
  return copy;
}

describe('loadOrCreateRecordKey', () => {
  it('creates an Ed25519 key as PKCS #8 PEM with mode 0600, creating the directory', () => {
    const path = join(tempDir(), 'data', 'nested', 'record-key.pem');
    const key = loadOrCreateRecordKey(path);
    const pem = readFileSync(path, 'utf8');
    expect({
      type: key.privateKey.asymmetricKeyType,
      publicKeyBytes: key.publicKeyRaw.length,
      mode: statSync(path).mode & 0o777,
      pemHeader: pem.split('\n')[0],
      fileKeyType: createPrivateKey(pem).asymmetricKeyType,
    }).toEqual({
      type: 'ed25519',
      publicKeyBytes: 32,
      mode: 0o600,
      pemHeader: '-----BEGIN PRIVATE KEY-----',
      fileKeyType: 'ed25519',
    });
  });

  it('reloads the same key on the next call', () => {
    const path = join(tempDir(), 'record-key.pem');
    const first = loadOrCreateRecordKey(path);
    const second = loadOrCreateRecordKey(path);
    expect(Buffer.from(second.publicKeyRaw)).toEqual(Buffer.from(first.publicKeyRaw));
    expect(second.privateKey.equals(first.privateKey)).toBe(true);
    // What one load signs, the other's public key verifies.
    expect(verifyRecord(first.publicKeyRaw, data, signRecord(second.privateKey, data))).toBe(true);
  });

  it('refuses a key file that is not an Ed25519 key, and one that is not a key at all', () => {
    const dir = tempDir();
    const ecPath = join(dir, 'ec.pem');
    writeFileSync(
      ecPath,
      generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }),
    );
    expect(allianceErrorOf(() => loadOrCreateRecordKey(ecPath))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `record key ${ecPath} is not an Ed25519 key`,
    });
    const junkPath = join(dir, 'junk.pem');
    writeFileSync(junkPath, 'not a key');
    expect(allianceErrorOf(() => loadOrCreateRecordKey(junkPath)).code).toBe('INVALID_ARGUMENT');
  });

  it('reports a path it cannot read, rather than replacing it', () => {
    const path = join(tempDir(), 'a-directory');
    mkdirSync(path);
    expect(allianceErrorOf(() => loadOrCreateRecordKey(path)).code).toBe('FAILED_PRECONDITION');
  });
});

describe('signRecord and verifyRecord (Ed25519)', () => {
  function signedByFreshKey(): { key: RecordKey; signature: Uint8Array } {
    const key = loadOrCreateRecordKey(join(tempDir(), 'record-key.pem'));
    return { key, signature: signRecord(key.privateKey, data) };
  }

  it('verifies a signature over the same data with the same key', () => {
    const { key, signature } = signedByFreshKey();
    expect(signature.length).toBe(64);
    expect(verifyRecord(key.publicKeyRaw, data, signature)).toBe(true);
    // Twice: the second verify uses the cached public key.
    expect(verifyRecord(key.publicKeyRaw, data, signature)).toBe(true);
  });

  it('fails for a flipped bit in the data, the signature or the key', () => {
    const { key, signature } = signedByFreshKey();
    expect(verifyRecord(key.publicKeyRaw, flipBit(data, 3), signature)).toBe(false);
    expect(verifyRecord(key.publicKeyRaw, data, flipBit(signature, 10))).toBe(false);
    expect(verifyRecord(flipBit(key.publicKeyRaw, 0), data, signature)).toBe(false);
  });

  it('fails, without throwing, for a key or signature of the wrong length', () => {
    const { key, signature } = signedByFreshKey();
    expect(verifyRecord(key.publicKeyRaw.subarray(0, 31), data, signature)).toBe(false);
    expect(verifyRecord(new Uint8Array(33), data, signature)).toBe(false);
    expect(verifyRecord(key.publicKeyRaw, data, signature.subarray(0, 63))).toBe(false);
    expect(verifyRecord(key.publicKeyRaw, data, new Uint8Array(0))).toBe(false);
  });

  it("fails for another node's key", () => {
    const { signature } = signedByFreshKey();
    const other = loadOrCreateRecordKey(join(tempDir(), 'other.pem'));
    expect(verifyRecord(other.publicKeyRaw, data, signature)).toBe(false);
  });
});

describe('signWithCertificateKey and verifyWithCertificate (ECDSA P-256)', () => {
  const ca = createFederationCa({ federation: 'acme' });
  const node = issueNodeCertificate({ caCertPem: ca.certPem, caKeyPem: ca.keyPem, cloud: 'c1', node: 'n1' });
  const certDer = new X509Certificate(node.certPem).raw;
  const signature = signWithCertificateKey(node.keyPem, data);

  it('verifies a signature made with the certificate key, from PEM or a KeyObject', () => {
    expect(verifyWithCertificate(certDer, data, signature)).toBe(true);
    expect(
      verifyWithCertificate(certDer, data, signWithCertificateKey(createPrivateKey(node.keyPem), data)),
    ).toBe(true);
  });

  it('fails for a flipped bit in the data or the signature', () => {
    expect(verifyWithCertificate(certDer, flipBit(data, 0), signature)).toBe(false);
    expect(verifyWithCertificate(certDer, data, flipBit(signature, signature.length - 1))).toBe(false);
  });

  it("fails for another node's certificate and for bytes that are not a certificate", () => {
    const other = issueNodeCertificate({
      caCertPem: ca.certPem,
      caKeyPem: ca.keyPem,
      cloud: 'c1',
      node: 'n2',
    });
    expect(verifyWithCertificate(new X509Certificate(other.certPem).raw, data, signature)).toBe(false);
    expect(verifyWithCertificate(new Uint8Array(40), data, signature)).toBe(false);
  });
});
