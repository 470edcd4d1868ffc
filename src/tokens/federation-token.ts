/**
 * Federation ("PKI") tokens: a home cloud's node turns a validated home token into a JWT
 * signed with the key of its own node certificate, and puts that certificate in the header
 * (x5c). Any node of the federation verifies it offline: the certificate must chain to the
 * federation CA and name the issuing node, the signature must verify with it, and the token
 * never outlives the home token, whose audit ids it carries so revoking one revokes both.
 */
import { X509Certificate, randomUUID, sign, verify } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { InvalidReasonCode, TokenIdentity, TokenVerdict } from '../identity/types.js';
import type { JwsParts } from './token-format.js';
import { federationTokenType } from './token-format.js';

export interface FederationSigner {
  federation: string;
  cloud: string;
  nodeId: string;
  /** The node certificate, DER. */
  certificateDer: Uint8Array;
  /** Its EC P-256 private key. */
  privateKey: KeyObject;
}

export interface IssuerIdentity {
  federation: string;
  cloud: string;
  node: string;
  nodeId: string;
}

/** Claims Alliance adds under one name, so they never collide with registered ones. */
interface AllianceClaims {
  user_name: string;
  domain_id: string;
  project_id: string;
  project_name: string;
  project_domain_id: string;
  roles: string[];
  origin_cloud: string;
  audit_ids: string[];
  /** The home token's issue time in ms: revocations compare against it. */
  home_issued_at_ms: number;
  home_format: string;
}

export function audienceOf(federation: string): string {
  return `alliance:${federation}`;
}

export function issuerUri(id: IssuerIdentity): string {
  return `spiffe://${id.federation}/cloud/${id.cloud}/node/${id.node}`;
}

export function issueFederationToken(
  signer: FederationSigner,
  identity: TokenIdentity,
  options: { nowMs: number; ttlMaxMs: number },
): { token: string; expiresAtMs: number } {
  const nowS = Math.floor(options.nowMs / 1000);
  // Never beyond the home token; whole seconds, as JWT wants them, rounding down.
  const expiresAtS = Math.floor(Math.min(identity.expiresAtMs, options.nowMs + options.ttlMaxMs) / 1000);
  const [federation, node] = [signer.federation, signer.nodeId.slice(signer.nodeId.indexOf('/') + 1)];
  const header = {
    alg: 'ES256',
    typ: federationTokenType,
    x5c: [Buffer.from(signer.certificateDer).toString('base64')],
  };
  const alliance: AllianceClaims = {
    user_name: identity.userName,
    domain_id: identity.domainId,
    project_id: identity.projectId,
    project_name: identity.projectName,
    project_domain_id: identity.projectDomainId,
    roles: identity.roles,
    origin_cloud: identity.originCloud,
    audit_ids: identity.auditIds,
    home_issued_at_ms: identity.issuedAtMs,
    home_format: identity.tokenFormat,
  };
  const payload = {
    iss: issuerUri({ federation, cloud: signer.cloud, node, nodeId: signer.nodeId }),
    sub: identity.userId,
    aud: audienceOf(federation),
    iat: nowS,
    nbf: nowS,
    exp: expiresAtS,
    jti: randomUUID(),
    alliance,
  };
  const signingInput = `${base64url(header)}.${base64url(payload)}`;
  const signature = sign('sha256', Buffer.from(signingInput), {
    key: signer.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return { token: `${signingInput}.${signature.toString('base64url')}`, expiresAtMs: expiresAtS * 1000 };
}

function base64url(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

interface Issuer {
  identity: IssuerIdentity;
  key: KeyObject;
  notAfterMs: number;
}

export interface FederationVerifier {
  verify(jws: JwsParts, nowMs: number): TokenVerdict;
}

/**
 * `verifyIssuer` checks a certificate against the federation CA (pki's verifyNodeCertificate)
 * and throws when it does not chain, is expired or is of another federation.
 */
export function createFederationVerifier(options: {
  federation: string;
  clockSkewMs: number;
  issuersMax: number;
  verifyIssuer: (certificateDer: Uint8Array, nowMs: number) => IssuerIdentity;
}): FederationVerifier {
  /** Certificates already checked, by their base64 as the header carries them. */
  const issuers = new Map<string, Issuer>();

  const invalid = (reason: InvalidReasonCode, detail: string): TokenVerdict => ({
    valid: false,
    reason,
    detail,
  });

  function issuerOf(x5c: string, nowMs: number): Issuer {
    const known = issuers.get(x5c);
    if (known && known.notAfterMs > nowMs) return known;
    const der = Buffer.from(x5c, 'base64');
    const identity = options.verifyIssuer(der, nowMs);
    const certificate = new X509Certificate(der);
    const issuer = { identity, key: certificate.publicKey, notAfterMs: Date.parse(certificate.validTo) };
    if (issuers.size >= options.issuersMax) issuers.delete(issuers.keys().next().value as string);
    issuers.set(x5c, issuer);
    return issuer;
  }

  return {
    verify(jws, nowMs) {
      const { header, payload } = jws;
      if (header.alg !== 'ES256')
        return invalid('bad-signature', `algorithm ${String(header.alg)} is not accepted (ES256 only)`);
      const chain = header.x5c;
      if (!Array.isArray(chain) || chain.length !== 1 || typeof chain[0] !== 'string') {
        return invalid('malformed', 'x5c must hold exactly the issuing node certificate');
      }
      let issuer: Issuer;
      try {
        issuer = issuerOf(chain[0], nowMs);
      } catch (err) {
        return invalid(
          'unknown-issuer',
          `the issuing certificate is not of this federation: ${(err as Error).message}`,
        );
      }
      const signatureOk = verify(
        'sha256',
        Buffer.from(jws.signingInput),
        { key: issuer.key, dsaEncoding: 'ieee-p1363' },
        jws.signature,
      );
      if (!signatureOk)
        return invalid('bad-signature', 'the signature does not verify with the issuing certificate');

      if (payload.iss !== issuerUri(issuer.identity)) {
        return invalid('unknown-issuer', 'the issuer claim does not name the certificate’s node');
      }
      if (payload.aud !== audienceOf(options.federation)) {
        return invalid(
          'unknown-issuer',
          `the token is for audience ${String(payload.aud)}, not this federation`,
        );
      }
      const claims = payload.alliance as Partial<AllianceClaims> | undefined;
      const { sub, iat, nbf, exp } = payload;
      const wellFormed =
        typeof sub === 'string' &&
        typeof iat === 'number' &&
        typeof exp === 'number' &&
        (nbf === undefined || typeof nbf === 'number') &&
        claims !== undefined &&
        typeof claims.origin_cloud === 'string' &&
        Array.isArray(claims.roles) &&
        claims.roles.every((r) => typeof r === 'string') &&
        Array.isArray(claims.audit_ids) &&
        claims.audit_ids.every((a) => typeof a === 'string') &&
        typeof claims.home_issued_at_ms === 'number';
      if (!wellFormed) return invalid('malformed', 'the claims are incomplete');
      if (claims.origin_cloud !== issuer.identity.cloud) {
        return invalid(
          'unknown-issuer',
          `a node of ${issuer.identity.cloud} may not vouch for ${String(claims.origin_cloud)}`,
        );
      }
      if (exp * 1000 <= nowMs) return invalid('expired', 'the federation token has expired');
      const notBeforeS = typeof nbf === 'number' ? nbf : iat;
      if (notBeforeS * 1000 > nowMs + options.clockSkewMs)
        return invalid('not-yet-valid', 'the federation token is not valid yet');

      const identity: TokenIdentity = {
        userId: sub,
        userName: String(claims.user_name ?? ''),
        domainId: String(claims.domain_id ?? ''),
        projectId: String(claims.project_id ?? ''),
        projectName: String(claims.project_name ?? ''),
        projectDomainId: String(claims.project_domain_id ?? ''),
        roles: claims.roles as string[],
        originCloud: claims.origin_cloud,
        auditIds: claims.audit_ids as string[],
        issuedAtMs: claims.home_issued_at_ms as number,
        expiresAtMs: exp * 1000,
        tokenFormat: 'federation',
      };
      return { valid: true, identity };
    },
  };
}
