/**
 * gRPC credentials for the peer port (DESIGN.md §3): mutual TLS where both ends present a node
 * certificate from the federation CA, and the SPIFFE identity in the certificate, not a
 * hostname, is what each side checks.
 */
import type { PeerCertificate } from 'node:tls';
import * as grpc from '@grpc/grpc-js';
import { AllianceError, errorMessage } from '../lib/errors.js';
import type { NodeTls } from './load-node-tls.js';
import { parseNodeIdentity, readCaFederation, type NodeIdentity } from './node-identity.js';

/** Server credentials that require a client certificate chaining to the federation CA. */
export function peerServerCredentials(tls: NodeTls): grpc.ServerCredentials {
  return grpc.ServerCredentials.createSsl(
    Buffer.from(tls.caPem),
    [{ cert_chain: Buffer.from(tls.certPem), private_key: Buffer.from(tls.keyPem) }],
    // true: the handshake fails unless the client presents a certificate the CA signed.
    true,
  );
}

export interface PeerChannelOptions {
  /** Refuse the server unless its certificate names this node (`cloud/node`). */
  expectedNodeId?: string;
  /** Told the node id the server's certificate names, once the handshake accepts it. */
  onServerIdentity?: (nodeId: string) => void;
}

/**
 * Channel credentials that present our node certificate and trust only the federation CA.
 *
 * Peers are dialed by whatever address membership advertises (often a bare IP), so standard
 * hostname checking would either fail or force every address into every certificate. What a
 * peer connection needs to know is which node answered, so hostname checking is replaced by
 * identity checking: the server's certificate (already verified against the CA by TLS) must
 * carry a node identity in our federation and, when `expectedNodeId` is given, be that node.
 * The second argument is the expected node id, or options.
 */
export function peerChannelCredentials(
  tls: NodeTls,
  expected?: string | PeerChannelOptions,
): grpc.ChannelCredentials {
  const options: PeerChannelOptions =
    typeof expected === 'string' ? { expectedNodeId: expected } : (expected ?? {});
  const federation = readCaFederation(tls.ca);
  const checkServerIdentity = (_hostname: string, cert: PeerCertificate): Error | undefined => {
    let identity: NodeIdentity;
    try {
      identity = parseNodeIdentity(cert.raw);
    } catch (err) {
      return new Error(`peer certificate has no node identity: ${errorMessage(err)}`);
    }
    if (identity.federation !== federation) {
      return new Error(`peer is in federation ${identity.federation}, not ${federation}`);
    }
    if (options.expectedNodeId !== undefined && identity.nodeId !== options.expectedNodeId) {
      return new Error(`peer is node ${identity.nodeId}, expected ${options.expectedNodeId}`);
    }
    options.onServerIdentity?.(identity.nodeId);
    return undefined;
  };
  return grpc.credentials.createSsl(
    Buffer.from(tls.caPem),
    Buffer.from(tls.keyPem),
    Buffer.from(tls.certPem),
    {
      checkServerIdentity,
    },
  );
}

/**
 * Channel options to use with peerChannelCredentials. grpc-js sends the dialed host as the TLS
 * server name (SNI), and Node warns (DEP0123) when that is an IP address, as peer addresses often
 * are (RFC 6066 forbids IP addresses there). Since the server's identity, not its name, is
 * checked, a fixed server name costs nothing and keeps the warning away.
 */
export const peerTlsChannelOptions: grpc.ChannelOptions = {
  'grpc.ssl_target_name_override': 'alliance-peer',
};

/** The part of a grpc-js server call this module reads; every server call type has it. */
export interface CallWithAuthContext {
  getAuthContext(): { sslPeerCertificate?: Pick<PeerCertificate, 'raw'> } | null;
}

/**
 * The identity of the client on a peer call. The TLS handshake already verified the client
 * certificate against the federation CA (peerServerCredentials requires one); this reads who it
 * is, and checks the federation when `federation` is given.
 */
/**
 * Identities of the few certificates peers present, by their bytes: parsing X.509 on every
 * peer call cost more than the token verification the call was for.
 */
const identitiesByCertificate = new Map<string, NodeIdentity>();
const identitiesByCertificateMax = 1_024;

function identityOfCertificate(raw: Buffer): NodeIdentity {
  const key = raw.toString('base64');
  const known = identitiesByCertificate.get(key);
  if (known) return known;
  const identity = parseNodeIdentity(raw);
  if (identitiesByCertificate.size >= identitiesByCertificateMax) identitiesByCertificate.clear();
  identitiesByCertificate.set(key, identity);
  return identity;
}

export function peerIdentityFromCall(call: CallWithAuthContext, federation?: string): NodeIdentity {
  const raw = call.getAuthContext()?.sslPeerCertificate?.raw;
  if (!raw || raw.length === 0) {
    throw new AllianceError('PERMISSION_DENIED', 'peer presented no client certificate');
  }
  const identity = identityOfCertificate(raw);
  if (federation !== undefined && identity.federation !== federation) {
    throw new AllianceError(
      'PERMISSION_DENIED',
      `peer is in federation ${identity.federation}, not ${federation}`,
    );
  }
  return identity;
}
