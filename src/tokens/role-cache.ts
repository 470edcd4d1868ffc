/**
 * Names and roles of (cloud, user, project), as the issuing cloud last gave them for a Keystone
 * JWS: a fresh token of a user already seen then needs no question to its cloud, only the
 * offline signature check. A revocation naming the user, project or domain drops the grant
 * (a disable, or a removed role, which the Keystone source reports as a {user, project}
 * revocation); the time bound caps how long an added role can go unseen.
 */
import type { TokenIdentity } from '../identity/types.js';
import type { RevocationPattern, TokenFacts } from '../revocation/model.js';

export type RoleGrant = Pick<
  TokenIdentity,
  'userName' | 'domainId' | 'projectName' | 'projectDomainId' | 'roles'
>;

interface Entry {
  cloud: string;
  userId: string;
  projectId: string;
  grant: RoleGrant;
  expiresAtMs: number;
}

export class RoleCache {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private readonly entriesMax: number,
    private readonly ttlMs: number,
  ) {}

  private static key(cloud: string, userId: string, projectId: string): string {
    return `${cloud}\n${userId}\n${projectId}`;
  }

  get(cloud: string, userId: string, projectId: string, nowMs: number): RoleGrant | undefined {
    const key = RoleCache.key(cloud, userId, projectId);
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    if (entry.expiresAtMs <= nowMs) {
      this.entries.delete(key);
      return undefined;
    }
    return entry.grant;
  }

  set(identity: TokenIdentity, nowMs: number): void {
    const key = RoleCache.key(identity.originCloud, identity.userId, identity.projectId);
    this.entries.delete(key);
    if (this.entries.size >= this.entriesMax) {
      const oldest = this.entries.keys().next();
      if (!oldest.done) this.entries.delete(oldest.value);
    }
    const { userName, domainId, projectName, projectDomainId, roles } = identity;
    this.entries.set(key, {
      cloud: identity.originCloud,
      userId: identity.userId,
      projectId: identity.projectId,
      grant: { userName, domainId, projectName, projectDomainId, roles: [...roles] },
      expiresAtMs: nowMs + this.ttlMs,
    });
  }

  /** Drops every grant a revocation of its user, project or domain matches; returns how many. */
  invalidate(
    pattern: RevocationPattern,
    matches: (pattern: RevocationPattern, facts: TokenFacts) => boolean,
  ): number {
    let dropped = 0;
    for (const [key, entry] of this.entries) {
      const facts: TokenFacts = {
        originCloud: entry.cloud,
        // No token: patterns naming one token (fingerprint, audit id) never match a grant.
        fingerprint: '',
        auditIds: [],
        userId: entry.userId,
        projectId: entry.projectId,
        domainIds: [...new Set([entry.grant.domainId, entry.grant.projectDomainId].filter((d) => d !== ''))],
        // Every grant predates any revocation that names its user, project or domain.
        issuedAtMs: 0,
      };
      if (matches(pattern, facts)) {
        this.entries.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  get size(): number {
    return this.entries.size;
  }
}
