/**
 * The token pipeline (createTokens) on a few in-memory meshes (test/unit/mesh/mesh-harness.ts:
 * real certificates and record signatures, one ManualClock), each node with the real revocation
 * capability and a FakeIdentity: a test double of the IdentitySource port whose answers, call
 * counts and timing (a held answer is released by the test) are the test's to choose.
 */
import { X509Certificate, createPrivateKey } from 'node:crypto';
import { expect } from 'vitest';
import type { MappingRule, TokensConfig } from '../../../src/config/types.js';
import { InvalidReason, ValidateTokenResponse } from '../../../src/gen/alliance/v1/tokens.js';
import type {
  IdentitySource,
  InvalidReasonCode,
  IssuedToken,
  TokenIdentity,
  TokenVerdict,
} from '../../../src/identity/types.js';
import { AllianceError } from '../../../src/lib/errors.js';
import { silentLogger } from '../../../src/lib/logger.js';
import { RecordStore } from '../../../src/mesh/record-store.js';
import { parseNodeIdentity } from '../../../src/pki/index.js';
import { createRevocations } from '../../../src/revocation/index.js';
import type { Revocations } from '../../../src/revocation/index.js';
import { openDatabase } from '../../../src/store/database.js';
import { createTokens } from '../../../src/tokens/index.js';
import type { Tokens } from '../../../src/tokens/index.js';
import { TestCluster, federation, identity } from '../mesh/mesh-harness.js';
import type { Identity, TestNode } from '../mesh/mesh-harness.js';

export const tokensConfig: TokensConfig = {
  federationTokenTtlMaxMs: 15 * 60 * 1000,
  negativeCacheMs: 30_000,
  originTimeoutMs: 5_000,
  revocationRetentionMs: 2 * 3600 * 1000,
};

/** Remote identities get `member` in project fed-<their cloud>; a cloud's own get nothing. */
export const remoteMembers: MappingRule = {
  name: 'remote-members',
  match: { clouds: [], domains: [], projects: [], roles: [] },
  grant: { project: 'fed-{cloud}', roles: ['member'] },
};

/** An IdentitySource whose answers the test sets, token by token. */
export class FakeIdentity implements IdentitySource {
  readonly kind = 'static' as const;
  readonly projects = null;
  /** Every token asked of validateToken, in order. */
  readonly asked: string[] = [];
  /** PEM public keys this cloud publishes for its JWS tokens. */
  jwsKeys: string[] = [];
  private readonly replies = new Map<string, TokenVerdict | AllianceError>();
  private readonly gates = new Map<string, Promise<void>>();

  constructor(readonly cloud: string) {}

  /** This cloud issued `token` for `identity`. */
  knows(token: string, identity: TokenIdentity): void {
    this.replies.set(token, { valid: true, identity });
  }

  /** This cloud answers `token` with a refusal, or fails with `error` (e.g. its Keystone is down). */
  answer(token: string, reply: TokenVerdict | AllianceError): void {
    this.replies.set(token, reply);
  }

  /** Questions about `token` wait until the returned function is called. */
  hold(token: string): () => void {
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    this.gates.set(token, gate);
    return () => {
      this.gates.delete(token);
      release();
    };
  }

  timesAsked(token: string): number {
    return this.asked.filter((t) => t === token).length;
  }

  async validateToken(token: string): Promise<TokenVerdict> {
    this.asked.push(token);
    const gate = this.gates.get(token);
    if (gate) await gate;
    const reply = this.replies.get(token) ?? {
      valid: false,
      reason: 'unknown-token',
      detail: `${this.cloud} did not issue this token`,
    };
    if (reply instanceof Error) throw reply;
    // A copy, as a real source builds a fresh verdict each time (the pipeline may annotate it).
    return structuredClone(reply);
  }

  issueToken(): Promise<IssuedToken> {
    return Promise.reject(new AllianceError('FAILED_PRECONDITION', 'the fake issues no tokens'));
  }

  async jwsPublicKeys(): Promise<string[]> {
    return this.jwsKeys;
  }

  async catalog(): Promise<null> {
    return null;
  }

  onAccountEvent(): () => void {
    return () => undefined;
  }

  onRevocation(): () => void {
    return () => undefined;
  }

  async start(): Promise<void> {}
  async stop(): Promise<void> {}
}

export interface TokenNode {
  cloud: string;
  id: Identity;
  mesh: TestNode;
  identity: FakeIdentity;
  revocations: Revocations;
  tokens: Tokens;
}

/** One node (`<cloud>/n1`) per cloud, the first the seed of the others, on one ManualClock. */
export class TokenFederation {
  readonly cluster = new TestCluster();
  readonly nodes: TokenNode[] = [];

  get clock(): TestCluster['clock'] {
    return this.cluster.clock;
  }

  /** Starts one node per cloud; `jwsKeys` are the PEM keys each cloud publishes from the start. */
  static async start(
    clouds: string[],
    options: { mapping?: MappingRule[]; jwsKeys?: Record<string, string[]> } = {},
  ): Promise<TokenFederation> {
    const fed = new TokenFederation();
    for (const [i, cloud] of clouds.entries()) {
      const node = fed.create(
        cloud,
        i === 0 ? [] : [`mem://${clouds[0]}`],
        options.mapping ?? [remoteMembers],
      );
      node.identity.jwsKeys = options.jwsKeys?.[cloud] ?? [];
      fed.nodes.push(node);
    }
    for (const node of fed.nodes) {
      await node.mesh.mesh.start();
      node.revocations.start();
      await node.tokens.start();
      await fed.idle();
    }
    await fed.idle();
    for (const node of fed.nodes) {
      expect(
        node.mesh.mesh
          .members()
          .map((m) => m.cloud)
          .sort(),
      ).toEqual([...clouds].sort());
    }
    return fed;
  }

  private create(cloud: string, seeds: string[], mapping: MappingRule[]): TokenNode {
    const id = identity(cloud);
    const db = openDatabase(':memory:');
    const mesh = this.cluster.create(id, { seeds, store: new RecordStore(db) });
    const fake = new FakeIdentity(cloud);
    let next = 0;
    const revocations = createRevocations(
      {
        mesh: mesh.mesh,
        db,
        clock: this.clock,
        log: silentLogger(),
        randomId: () => `rev-${cloud}-${++next}`,
      },
      { cloud, nodeId: id.nodeId, retentionMs: tokensConfig.revocationRetentionMs },
    );
    const tokens = createTokens(
      {
        mesh: mesh.mesh,
        identity: fake,
        revocations,
        signer: {
          federation,
          cloud,
          nodeId: id.nodeId,
          certificateDer: new X509Certificate(id.certificate.certPem).raw,
          privateKey: createPrivateKey(id.certificate.keyPem),
        },
        verifyIssuer: (der, nowMs) => {
          id.crypto.verifyCertificate(der, nowMs);
          return parseNodeIdentity(der);
        },
        clock: this.clock,
        log: silentLogger(),
      },
      { cloud, nodeId: id.nodeId, federation, mapping, tokens: tokensConfig, keyRefreshMs: 3600 * 1000 },
    );
    return { cloud, id, mesh, identity: fake, revocations, tokens };
  }

  node(cloud: string): TokenNode {
    const found = this.nodes.find((n) => n.cloud === cloud);
    if (!found) throw new Error(`no node of ${cloud}`);
    return found;
  }

  /** Lets every frame and peer call in flight be delivered. */
  idle(): Promise<void> {
    return this.cluster.network.idle();
  }

  /** Moves the clock, letting the network settle. */
  advance(ms: number): Promise<void> {
    return this.cluster.advance(ms);
  }

  /** Cuts `cloud` off from every other node until heal(). */
  isolate(cloud: string): void {
    const others = this.nodes.filter((n) => n.cloud !== cloud).map((n) => n.id.address);
    this.cluster.network.partition([this.node(cloud).id.address], others);
  }

  heal(): void {
    this.cluster.network.heal();
  }

  async stop(): Promise<void> {
    for (const node of this.nodes) {
      node.tokens.stop();
      node.revocations.stop();
    }
    await this.cluster.stop();
  }
}

const reasons: Record<InvalidReasonCode, InvalidReason> = {
  malformed: InvalidReason.INVALID_REASON_MALFORMED,
  'bad-signature': InvalidReason.INVALID_REASON_BAD_SIGNATURE,
  'unknown-issuer': InvalidReason.INVALID_REASON_UNKNOWN_ISSUER,
  expired: InvalidReason.INVALID_REASON_EXPIRED,
  'not-yet-valid': InvalidReason.INVALID_REASON_NOT_YET_VALID,
  revoked: InvalidReason.INVALID_REASON_REVOKED,
  'unknown-token': InvalidReason.INVALID_REASON_UNKNOWN_TOKEN,
  'origin-unreachable': InvalidReason.INVALID_REASON_ORIGIN_UNREACHABLE,
};

/** The whole answer for a refused token. */
export function refusedResponse(reason: InvalidReasonCode, detail: string): ValidateTokenResponse {
  return ValidateTokenResponse.fromPartial({ valid: false, reason: reasons[reason], detail });
}

/** The whole answer for a valid token: the identity as its cloud knows it, and the local grant. */
export function validResponse(
  identity: TokenIdentity,
  local: { projectId: string; roles: string[]; rule: string } | null,
  detail = local ? '' : 'valid identity; no mapping rule of this cloud grants it anything here',
): ValidateTokenResponse {
  return ValidateTokenResponse.fromPartial({
    valid: true,
    reason: InvalidReason.INVALID_REASON_UNSPECIFIED,
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
    local: local
      ? { mapped: true, projectId: local.projectId, roles: local.roles, groups: [], rule: local.rule }
      : { mapped: false, projectId: '', roles: [], groups: [], rule: '' },
  });
}

/** The grant `remoteMembers` gives an identity of `cloud`. */
export function memberOf(cloud: string): { projectId: string; roles: string[]; rule: string } {
  return { projectId: `fed-${cloud}`, roles: ['member'], rule: remoteMembers.name };
}

/** The AllianceError `promise` rejects with, as { code, message }. */
export async function rejectionOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AllianceError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a rejection');
}
