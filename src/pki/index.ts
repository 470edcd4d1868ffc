/** Federation PKI: CA and node certificates, node identity, peer gRPC credentials and record-signing keys. */
export {
  caValidDaysDefault,
  createFederationCa,
  type CertificateAndKeyPem,
  type CreateFederationCaOptions,
} from './create-federation-ca.js';
export {
  issueNodeCertificate,
  nodeValidDaysDefault,
  type IssueNodeCertificateOptions,
} from './issue-node-certificate.js';
export { validDaysMax } from './build-certificate.js';
export {
  assertValidId,
  isValidId,
  nodeSpiffeUri,
  parseNodeIdentity,
  readCaFederation,
  type CertificateInput,
  type IdKind,
  type NodeIdentity,
} from './node-identity.js';
export { verifyNodeCertificate } from './verify-node-certificate.js';
export { loadNodeTls, type NodeTls, type NodeTlsFiles } from './load-node-tls.js';
export {
  peerChannelCredentials,
  peerIdentityFromCall,
  peerServerCredentials,
  peerTlsChannelOptions,
  type CallWithAuthContext,
  type PeerChannelOptions,
} from './peer-credentials.js';
export { signWithCertificateKey, verifyWithCertificate } from './certificate-signature.js';
export { loadOrCreateRecordKey, signRecord, verifyRecord, type RecordKey } from './record-key.js';
export { loadOrCreateKeyFile } from './key-file.js';
export {
  certificateFileMode,
  keyFileMode,
  writeCertificateFile,
  writeCertificateFiles,
  type CertificateFileOptions,
  type WrittenCertificateFiles,
} from './write-certificate-files.js';
