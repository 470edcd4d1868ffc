/**
 * Single sign-on and sign-out: validates any cloud's tokens (one pipeline, one validator per
 * format), issues federation tokens, and turns revocations into answers everywhere.
 *
 * The pipeline, for ValidateToken:
 *   1. shape: malformed tokens are answered at once (an answer, not an RPC error);
 *   2. cache by fingerprint: a repeat is a map lookup plus the in-memory revocation check;
 *   3. the validator of its format: federation tokens and Keystone JWS are verified offline
 *      with keys the mesh distributes (a JWS's names and roles come from its issuing cloud,
 *      asked once); opaque tokens (UUID, Fernet) are asked of their issuing cloud;
 *   4. revocation: checked synchronously right before the answer is cached, so a revocation
 *      that arrived during an await is never missed; applied revocations also drop every
 *      cached answer they match (caches are invalidated by revocations, not by time);
 *   5. this cloud's mapping rules: the local authorization.
 * "No" (a reason) and "could not find out" (origin-unreachable) are different answers.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import type { MappingRule, TokensConfig } from '../config/types.js';
import { limits } from '../config/limits.js';
import { InvalidReason, ValidateTokenResponse } from '../gen/alliance/v1/tokens.js';
import type { RevokeTokenRequest } from '../gen/alliance/v1/tokens.js';
import type { Clock } from '../lib/clock.js';
import { AllianceError, errorMessage } from '../lib/errors.js';
import type {
  IdentitySource,
  InvalidReasonCode,
  IssueTokenInput,
  RevocationInput,
  TokenIdentity,
  TokenVerdict,
} from '../identity/types.js';
import type { Mesh } from '../mesh/index.js';
import { matchesToken } from '../revocation/index.js';
import type { RevocationPattern, Revocations, TokenFacts } from '../revocation/index.js';
import { createFederationVerifier, issueFederationToken } from './federation-token.js';
import type { FederationSigner, IssuerIdentity } from './federation-token.js';
import { mapIdentity } from './mapping.js';
import { parseToken } from './token-format.js';
import { createTokenKeys } from './token-keys.js';
import type { TokenKeys } from './token-keys.js';
import { RoleCache } from './role-cache.js';
import { ValidationCache } from './validation-cache.js';
import { createKeystoneJwsVerifier } from './validators/keystone-jws.js';
import type { JwsClaims } from './validators/keystone-jws.js';

export { tokenKeysTopic } from './token-keys.js';
export type { FederationSigner, IssuerIdentity } from './federation-token.js';

/** Clocks of two clouds may disagree by this much before a token looks issued in the future. */
const clockSkewMs = 5 * 60 * 1000;

export interface TokensOptions {
  cloud: string;
  nodeId: string;
  federation: string;
  mapping: MappingRule[];
  tokens: TokensConfig;
  /** How often this cloud's JWS keys are re-read from its identity source. */
  keyRefreshMs: number;
}

export interface TokensDeps {
  mesh: Pick<Mesh, 'registerTopic' | 'handlePeerCall' | 'callCloud' | 'members'>;
  identity: IdentitySource;
  revocations: Revocations;
  /** This node's certificate and key: it signs the federation tokens it issues. */
  signer: FederationSigner;
  /** Checks a federation token's issuing certificate against the federation CA. */
  verifyIssuer: (certificateDer: Uint8Array, nowMs: number) => IssuerIdentity;
  clock: Clock;
  log: Logger;
}

export interface Tokens {
  start(): Promise<void>;
  stop(): void;
  validate(token: string, originHint: string): Promise<ValidateTokenResponse>;
  issue(input: IssueTokenInput): Promise<{ token: string; expiresAtMs: number }>;
  exchange(token: string, originHint: string): Promise<{ token: string; expiresAtMs: number }>;
  revoke(request: RevokeTokenRequest): Promise<RevocationPattern>;
  listRevocations(originCloud: string): RevocationPattern[];
  /** Cached answers, for status and tests. */
  cacheSize(): number;
}

/** What one validation found: the answer, and for a valid token whom it speaks for. */
interface Evaluation {
  response: ValidateTokenResponse;
  identity: TokenIdentity | null;
  facts: TokenFacts | null;
  /** How long the answer may be reused; 0: not cached. */
  cacheUntilMs: number;
}

const reasonByCode: Record<InvalidReasonCode, InvalidReason> = {
  malformed: InvalidReason.INVALID_REASON_MALFORMED,
  'bad-signature': InvalidReason.INVALID_REASON_BAD_SIGNATURE,
  'unknown-issuer': InvalidReason.INVALID_REASON_UNKNOWN_ISSUER,
  expired: InvalidReason.INVALID_REASON_EXPIRED,
  'not-yet-valid': InvalidReason.INVALID_REASON_NOT_YET_VALID,
  revoked: InvalidReason.INVALID_REASON_REVOKED,
  'unknown-token': InvalidReason.INVALID_REASON_UNKNOWN_TOKEN,
  'origin-unreachable': InvalidReason.INVALID_REASON_ORIGIN_UNREACHABLE,
};
const codeByReason = new Map<InvalidReason, InvalidReasonCode>(
  (Object.entries(reasonByCode) as [InvalidReasonCode, InvalidReason][]).map(([code, reason]) => [
    reason,
    code,
  ]),
);

/** The full SHA-256 of a token: the cache key and what a revocation by token names. */
export function tokenFingerprint(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}

export function invalidResponse(reason: InvalidReasonCode, detail: string): ValidateTokenResponse {
  return ValidateTokenResponse.fromPartial({ valid: false, reason: reasonByCode[reason], detail });
}

/** The proto form of an identity (no local authorization). */
export function identityResponse(identity: TokenIdentity, detail = ''): ValidateTokenResponse {
  return ValidateTokenResponse.fromPartial({
    valid: true,
    detail,
    identity: {
      userId: identity.userId,
      userName: identity.userName,
      domainId: identity.domainId,
      projectId: identity.projectId,
      projectName: identity.projectName,
      projectDomainId: identity.projectDomainId,
      roles: identity.roles,
      originCloud: identity.originCloud,
      auditIds: identity.auditIds,
      issuedAt: new Date(identity.issuedAtMs),
      expiresAt: new Date(identity.expiresAtMs),
      tokenFormat: identity.tokenFormat,
    },
  });
}

/** An issuing cloud's answer (proto) back into a verdict; it may vouch only for its own tokens. */
export function verdictFromResponse(
  response: ValidateTokenResponse | undefined,
  cloud: string,
): TokenVerdict {
  if (!response) return { valid: false, reason: 'unknown-token', detail: `${cloud} gave no answer` };
  if (!response.valid) {
    return {
      valid: false,
      reason: codeByReason.get(response.reason) ?? 'unknown-token',
      detail: response.detail || `${cloud} does not know the token`,
    };
  }
  const id = response.identity;
  if (!id || id.originCloud !== cloud) {
    return { valid: false, reason: 'unknown-token', detail: `${cloud} vouched for a token of another cloud` };
  }
  return {
    valid: true,
    identity: {
      userId: id.userId,
      userName: id.userName,
      domainId: id.domainId,
      projectId: id.projectId,
      projectName: id.projectName,
      projectDomainId: id.projectDomainId,
      roles: id.roles,
      originCloud: id.originCloud,
      auditIds: id.auditIds,
      issuedAtMs: id.issuedAt?.getTime() ?? 0,
      expiresAtMs: id.expiresAt?.getTime() ?? 0,
      tokenFormat: (id.tokenFormat || 'opaque') as TokenIdentity['tokenFormat'],
    },
  };
}

/** Revocation facts of a verified Keystone JWS, before its issuer has filled in the rest. */
function claimFacts(cloud: string, claims: JwsClaims, fingerprint: string): TokenFacts {
  return {
    originCloud: cloud,
    fingerprint,
    auditIds: claims.auditIds,
    userId: claims.userId,
    projectId: claims.projectId,
    domainIds: claims.domainScopeId ? [claims.domainScopeId] : [],
    issuedAtMs: claims.issuedAtMs,
  };
}

function revokedResponse(pattern: RevocationPattern): ValidateTokenResponse {
  return invalidResponse('revoked', `revoked: ${pattern.reason || 'by its issuing cloud'}`);
}

export function factsOf(identity: TokenIdentity, fingerprint: string): TokenFacts {
  return {
    originCloud: identity.originCloud,
    fingerprint,
    auditIds: identity.auditIds,
    userId: identity.userId,
    projectId: identity.projectId,
    domainIds: [...new Set([identity.domainId, identity.projectDomainId].filter((d) => d !== ''))],
    issuedAtMs: identity.issuedAtMs,
  };
}

export function createTokens(deps: TokensDeps, options: TokensOptions): Tokens {
  const { identity: source, revocations, clock, mesh } = deps;
  const log = deps.log.child({ component: 'tokens' });
  const cache = new ValidationCache(limits.validationCacheEntriesMax);
  const roles = new RoleCache(limits.roleCacheEntriesMax, limits.roleCacheTtlMs);
  const inFlight = new Map<string, Promise<Evaluation>>();
  const keys: TokenKeys = createTokenKeys(
    { mesh, identity: source, clock, log },
    { cloud: options.cloud, nodeId: options.nodeId, refreshMs: options.keyRefreshMs },
  );
  const jwsVerifier = createKeystoneJwsVerifier({
    keys: () => keys.all(),
    byKid: (kid) => keys.byKid(kid),
    clockSkewMs,
    hintsMax: limits.validationCacheEntriesMax,
  });
  const federationVerifier = createFederationVerifier({
    federation: options.federation,
    clockSkewMs,
    issuersMax: limits.issuerCertificatesMax,
    verifyIssuer: deps.verifyIssuer,
  });
  const unsubscribers: (() => void)[] = [];

  // ---- asking issuing clouds ---------------------------------------------------------

  /** The issuing cloud's own verdict; throws AllianceError('UNAVAILABLE') when it cannot be asked. */
  async function askIssuer(cloud: string, token: string): Promise<TokenVerdict> {
    if (cloud === options.cloud) return source.validateToken(token);
    const answer = await mesh.callCloud(
      cloud,
      'validateToken',
      { token },
      { timeoutMs: options.tokens.originTimeoutMs },
    );
    return verdictFromResponse(answer.result, cloud);
  }

  function knownClouds(): string[] {
    return [...new Set([options.cloud, ...mesh.members().map((m) => m.cloud)])].sort();
  }

  const isUnreachable = (err: unknown): boolean =>
    err instanceof AllianceError && (err.code === 'UNAVAILABLE' || err.code === 'DEADLINE_EXCEEDED');

  /**
   * An opaque token: only its issuer can judge it. With a hint, ask that cloud; without,
   * ask every cloud at once and take the first "yes". No "yes" and someone unreachable is
   * "could not find out", not "no".
   */
  async function validateOpaque(token: string, originHint: string): Promise<TokenVerdict> {
    if (originHint) {
      if (!knownClouds().includes(originHint)) {
        return {
          valid: false,
          reason: 'unknown-issuer',
          detail: `no cloud named ${originHint} is in the federation`,
        };
      }
      try {
        return await askIssuer(originHint, token);
      } catch (err) {
        if (!isUnreachable(err)) throw err;
        return {
          valid: false,
          reason: 'origin-unreachable',
          detail: `could not ask ${originHint}: ${errorMessage(err)}`,
        };
      }
    }
    const clouds = knownClouds();
    const answers: TokenVerdict[] = [];
    const unreachable: string[] = [];
    const first = await new Promise<TokenVerdict | null>((resolve) => {
      let pending = clouds.length;
      for (const cloud of clouds) {
        askIssuer(cloud, token)
          .then(
            (verdict) => {
              answers.push(verdict);
              if (verdict.valid) resolve(verdict);
            },
            (err: unknown) => {
              unreachable.push(cloud);
              if (!isUnreachable(err))
                log.warn({ cloud, reason: errorMessage(err) }, 'issuer answered with an error');
            },
          )
          .finally(() => {
            if (--pending === 0) resolve(null);
          });
      }
    });
    if (first) return first;
    // An issuer that knows the token says why it is not valid; the others just do not know it.
    const specific = answers.find((a) => !a.valid && a.reason !== 'unknown-token');
    if (specific) return specific;
    if (unreachable.length > 0) {
      return {
        valid: false,
        reason: 'origin-unreachable',
        detail: `no cloud recognised the token, and ${unreachable.sort().join(', ')} could not be asked`,
      };
    }
    return { valid: false, reason: 'unknown-token', detail: 'no cloud of the federation issued this token' };
  }

  /**
   * A Keystone JWS, verified offline: authentic and unexpired. Its names and roles come from
   * the issuing cloud, asked once (the answer is cached with the token). When that cloud
   * cannot be asked, the token is still valid, with no roles, and the answer says so.
   */
  async function completeJws(
    cloud: string,
    token: string,
    claims: JwsClaims,
  ): Promise<{ verdict: TokenVerdict; partial: boolean }> {
    const known = roles.get(cloud, claims.userId, claims.projectId, clock.nowMs());
    if (known) {
      const identity: TokenIdentity = {
        ...known,
        roles: [...known.roles],
        userId: claims.userId,
        projectId: claims.projectId,
        originCloud: cloud,
        auditIds: claims.auditIds,
        issuedAtMs: claims.issuedAtMs,
        expiresAtMs: claims.expiresAtMs,
        tokenFormat: 'jws',
      };
      return { verdict: { valid: true, identity }, partial: false };
    }
    try {
      const verdict = await askIssuer(cloud, token);
      if (verdict.valid && verdict.identity.userId !== claims.userId) {
        return {
          verdict: { valid: false, reason: 'bad-signature', detail: `${cloud} describes another user` },
          partial: false,
        };
      }
      if (verdict.valid) {
        verdict.identity.tokenFormat = 'jws';
        roles.set(verdict.identity, clock.nowMs());
      }
      return { verdict, partial: false };
    } catch (err) {
      if (!isUnreachable(err)) throw err;
      const identity: TokenIdentity = {
        userId: claims.userId,
        userName: '',
        domainId: '',
        projectId: claims.projectId,
        projectName: '',
        projectDomainId: claims.domainScopeId,
        roles: [],
        originCloud: cloud,
        auditIds: claims.auditIds,
        issuedAtMs: claims.issuedAtMs,
        expiresAtMs: claims.expiresAtMs,
        tokenFormat: 'jws',
      };
      return { verdict: { valid: true, identity }, partial: true };
    }
  }

  // ---- the pipeline ------------------------------------------------------------------

  function invalid(reason: InvalidReasonCode, detail: string, cacheMs: number): Evaluation {
    const nowMs = clock.nowMs();
    return {
      response: invalidResponse(reason, detail),
      identity: null,
      facts: null,
      cacheUntilMs: cacheMs > 0 ? nowMs + cacheMs : 0,
    };
  }

  async function evaluate(token: string, fingerprint: string, originHint: string): Promise<Evaluation> {
    const nowMs = clock.nowMs();
    const parsed = parseToken(token);
    let verdict: TokenVerdict;
    let partial = false;
    switch (parsed.kind) {
      case 'malformed':
        return invalid('malformed', parsed.detail, 0);
      case 'federation':
        verdict = federationVerifier.verify(parsed.jws, nowMs);
        break;
      case 'jws': {
        const offline = jwsVerifier.verify(parsed.jws, fingerprint, nowMs);
        if (!offline.valid) {
          verdict = offline;
          break;
        }
        ({ verdict, partial } = await completeJws(offline.cloud, token, offline.claims));
        if (!verdict.valid) {
          // The issuer refuses a token whose signature we verified: a revocation we hold is the
          // more precise answer (Keystone says 404 for revoked and disabled alike).
          const pattern = revocations.isRevoked(claimFacts(offline.cloud, offline.claims, fingerprint));
          if (pattern) {
            return {
              response: revokedResponse(pattern),
              identity: null,
              facts: null,
              cacheUntilMs: offline.claims.expiresAtMs,
            };
          }
        }
        break;
      }
      case 'opaque':
        verdict = await validateOpaque(token, originHint);
        break;
    }
    const negativeMs = options.tokens.negativeCacheMs;
    if (!verdict.valid) {
      // "Could not find out" is never remembered: the next call asks again. Nor is "unknown"
      // from a hinted question: it only means "not that cloud's", and the next hint may be right.
      const forgettable =
        verdict.reason === 'origin-unreachable' || (verdict.reason === 'unknown-token' && originHint !== '');
      return invalid(verdict.reason, verdict.detail, forgettable ? 0 : negativeMs);
    }
    const identity = verdict.identity;
    const facts = factsOf(identity, fingerprint);
    // A revocation applied while this evaluation awaited is seen here; one applied after it
    // drops the cache entry, and every cache hit checks revocations again anyway.
    const pattern = revocations.isRevoked(facts);
    if (pattern)
      return {
        response: revokedResponse(pattern),
        identity: null,
        facts: null,
        cacheUntilMs: identity.expiresAtMs,
      };
    const local = mapIdentity(options.mapping, identity, options.cloud);
    const response = identityResponse(
      identity,
      partial
        ? `verified offline; names and roles unknown: ${identity.originCloud} could not be asked`
        : local.mapped
          ? ''
          : 'valid identity; no mapping rule of this cloud grants it anything here',
    );
    response.local = local.mapped
      ? { mapped: true, projectId: local.projectId, roles: local.roles, groups: [], rule: local.rule }
      : { mapped: false, projectId: '', roles: [], groups: [], rule: '' };
    const cacheUntilMs = partial
      ? Math.min(identity.expiresAtMs, clock.nowMs() + negativeMs)
      : identity.expiresAtMs;
    return { response, identity, facts, cacheUntilMs };
  }

  async function evaluateCached(token: string, originHint: string): Promise<Evaluation> {
    const fingerprint = tokenFingerprint(token);
    const nowMs = clock.nowMs();
    const cached = cache.get(fingerprint, nowMs);
    if (cached) {
      // Revocations drop cached answers; checking again costs a few map lookups and keeps
      // the guarantee independent of that bookkeeping.
      const pattern = cached.facts ? revocations.isRevoked(cached.facts) : null;
      if (!pattern)
        return {
          response: cached.response,
          identity: null,
          facts: cached.facts,
          cacheUntilMs: cached.expiresAtMs,
        };
    }
    // Shared per (token, hint): a wrong hint's "not mine" must not answer a caller with the right one.
    const flightKey = `${fingerprint}\n${originHint}`;
    let pending = inFlight.get(flightKey);
    if (!pending) {
      // Concurrent validations of one token share one evaluation (one question to its issuer).
      pending = evaluate(token, fingerprint, originHint).then((evaluation) => {
        if (evaluation.cacheUntilMs > clock.nowMs()) {
          cache.set(fingerprint, {
            response: evaluation.response,
            facts: evaluation.facts,
            expiresAtMs: evaluation.cacheUntilMs,
          });
        }
        return evaluation;
      });
      pending.finally(() => inFlight.delete(flightKey)).catch(() => undefined);
      inFlight.set(flightKey, pending);
    }
    return pending;
  }

  // ---- serving other clouds ------------------------------------------------------------

  /** A peer asks about a token: answer only for this cloud's own, as their authority. */
  async function answerPeer(token: string): Promise<ValidateTokenResponse> {
    const parsed = parseToken(token);
    if (parsed.kind === 'malformed') return invalidResponse('malformed', parsed.detail);
    const verdict = await source.validateToken(token);
    if (!verdict.valid) return invalidResponse(verdict.reason, verdict.detail);
    const pattern = revocations.isRevoked(factsOf(verdict.identity, tokenFingerprint(token)));
    if (pattern) return revokedResponse(pattern);
    return identityResponse(verdict.identity);
  }

  // ---- revocation --------------------------------------------------------------------

  async function revokeByToken(
    token: string,
    base: RevocationInput,
    localOnly: boolean,
    explicitTime: boolean,
  ): Promise<RevocationPattern> {
    const fingerprint = tokenFingerprint(token);
    const evaluation = await evaluateCached(token, '');
    const facts = evaluation.facts;
    // "Revoke this token" must reach it even when its issuer's clock runs ahead of ours.
    const covering = (input: RevocationInput): RevocationInput =>
      explicitTime || !facts
        ? input
        : { ...input, issuedBeforeMs: Math.max(input.issuedBeforeMs, facts.issuedAtMs) };
    if (localOnly)
      return revocations.revoke(covering({ ...base, tokenFingerprint: fingerprint }), { localOnly: true });
    if (!evaluation.response.valid || !facts) {
      throw new AllianceError(
        'FAILED_PRECONDITION',
        `the token is not valid here (${evaluation.response.detail || 'invalid'}); nothing to revoke federation-wide`,
      );
    }
    if (facts.originCloud !== options.cloud) {
      throw new AllianceError(
        'PERMISSION_DENIED',
        `only ${facts.originCloud} can revoke its tokens federation-wide; use local_only for a denial at this cloud`,
      );
    }
    // By audit id, as Keystone does: the federation tokens made from it carry the same id.
    const auditId = facts.auditIds[0];
    return revocations.revoke(
      covering(auditId ? { ...base, auditId } : { ...base, tokenFingerprint: fingerprint }),
      { localOnly: false },
    );
  }

  // Registered now, not at start: the mesh may be asked before this capability starts.
  mesh.handlePeerCall('validateToken', async (request) => ({ result: await answerPeer(request.token) }));

  return {
    async start() {
      unsubscribers.push(
        revocations.onApplied((pattern) => {
          const dropped = cache.invalidate(
            pattern,
            (p, f) => matchesToken(p, f, clock.nowMs()),
            (p) => revokedResponse(p),
          );
          const grants = roles.invalidate(pattern, (p, f) => matchesToken(p, f, clock.nowMs()));
          if (dropped + grants > 0) {
            log.debug({ revocation: pattern.id, dropped, grants }, 'cached validations revoked');
          }
        }),
      );
      await keys.start();
    },

    stop() {
      keys.stop();
      for (const unsubscribe of unsubscribers.splice(0)) unsubscribe();
    },

    async validate(token, originHint) {
      return (await evaluateCached(token, originHint)).response;
    },

    issue: (input) => source.issueToken(input),

    async exchange(token, originHint) {
      const parsed = parseToken(token);
      if (parsed.kind === 'federation')
        throw new AllianceError('INVALID_ARGUMENT', 'this is already a federation token');
      const fingerprint = tokenFingerprint(token);
      const evaluation = await evaluate(token, fingerprint, originHint);
      if (!evaluation.response.valid || !evaluation.identity) {
        throw new AllianceError(
          'FAILED_PRECONDITION',
          `the token is not valid: ${evaluation.response.detail}`,
        );
      }
      if (evaluation.identity.originCloud !== options.cloud) {
        throw new AllianceError(
          'FAILED_PRECONDITION',
          `a token of ${evaluation.identity.originCloud} is exchanged at a node of ${evaluation.identity.originCloud}`,
        );
      }
      if (
        evaluation.identity.roles.length === 0 &&
        evaluation.response.detail.startsWith('verified offline')
      ) {
        throw new AllianceError('UNAVAILABLE', 'the roles of this token could not be read; try again');
      }
      return issueFederationToken(deps.signer, evaluation.identity, {
        nowMs: clock.nowMs(),
        ttlMaxMs: options.tokens.federationTokenTtlMaxMs,
      });
    },

    async revoke(request) {
      const nowMs = clock.nowMs();
      const issuedBeforeMs = request.issuedBefore ? request.issuedBefore.getTime() : nowMs;
      const base = {
        issuedBeforeMs,
        reason: request.reason || 'revoked through the Alliance API',
        source: 'alliance-api',
      };
      const target = request.target;
      switch (target?.$case) {
        case 'token':
          return revokeByToken(target.value, base, request.localOnly, request.issuedBefore !== undefined);
        case 'auditId':
          return revocations.revoke({ ...base, auditId: target.value }, { localOnly: request.localOnly });
        case 'auditChainId':
          return revocations.revoke(
            { ...base, auditChainId: target.value },
            { localOnly: request.localOnly },
          );
        case 'userId':
          return revocations.revoke({ ...base, userId: target.value }, { localOnly: request.localOnly });
        case 'projectId':
          return revocations.revoke({ ...base, projectId: target.value }, { localOnly: request.localOnly });
        case 'domainId':
          return revocations.revoke({ ...base, domainId: target.value }, { localOnly: request.localOnly });
        default:
          throw new AllianceError(
            'INVALID_ARGUMENT',
            'name what to revoke: token, audit_id, audit_chain_id, user_id, project_id or domain_id',
          );
      }
    },

    listRevocations: (originCloud) => revocations.list(originCloud ? { originCloud } : {}),
    cacheSize: () => cache.size,
  };
}
