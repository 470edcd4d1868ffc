/**
 * Fresh Keystone JWS tokens of a user already seen: the issuing cloud's names and roles for
 * (cloud, user, project) are remembered, so only the signature is checked offline; a revocation
 * naming the user or project forgets them, and so does time.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RevokeTokenRequest } from '../../../src/gen/alliance/v1/tokens.js';
import type { TokenIdentity } from '../../../src/identity/types.js';
import { limits } from '../../../src/config/limits.js';
import { es256Pair, identityOf, keystoneClaims, keystoneHeader, signEs256 } from './jws-helpers.js';
import { TokenFederation, memberOf, validResponse } from './tokens-harness.js';
import type { TokenNode } from './tokens-harness.js';

const keyA = es256Pair();

let fed: TokenFederation;
let a: TokenNode;
let b: TokenNode;

beforeEach(async () => {
  fed = await TokenFederation.start(['cloud-a', 'cloud-b'], { jwsKeys: { 'cloud-a': [keyA.publicPem] } });
  a = fed.node('cloud-a');
  b = fed.node('cloud-b');
});

afterEach(async () => {
  await fed.stop();
});

/** A new JWS of the same user and project (another audit id), known to cloud-a's identity. */
function freshToken(n: number): { token: string; identity: TokenIdentity } {
  const claims = keystoneClaims(fed.clock.nowMs(), { openstack_audit_ids: [`audit-${n}-aaaaaaaaaaaaaaa`] });
  const token = signEs256(keystoneHeader, claims, keyA.privateKey);
  const identity = identityOf('cloud-a', {
    issuedAtMs: (claims.iat as number) * 1000,
    expiresAtMs: (claims.exp as number) * 1000,
    tokenFormat: 'jws',
    auditIds: [`audit-${n}-aaaaaaaaaaaaaaa`],
  });
  a.identity.knows(token, identity);
  return { token, identity };
}

describe('names and roles of fresh JWS tokens', () => {
  it('are asked of the issuing cloud once per user and project, then known', async () => {
    const first = freshToken(1);
    const second = freshToken(2);
    expect(await b.tokens.validate(first.token, '')).toEqual(
      validResponse(first.identity, memberOf('cloud-a')),
    );
    expect(await b.tokens.validate(second.token, '')).toEqual(
      validResponse(second.identity, memberOf('cloud-a')),
    );
    expect(a.identity.timesAsked(first.token)).toBe(1);
    expect(a.identity.timesAsked(second.token)).toBe(0);
  });

  it('are forgotten when a revocation names the user, so the next fresh token asks again', async () => {
    await b.tokens.validate(freshToken(1).token, '');
    await a.tokens.revoke(
      RevokeTokenRequest.fromPartial({
        target: { $case: 'userId', value: freshToken(9).identity.userId },
        reason: 'roles changed',
      }),
    );
    await fed.idle();
    // Tokens issued after the revocation are valid again, but their roles are asked anew.
    await fed.advance(2_000);
    const later = freshToken(3);
    expect((await b.tokens.validate(later.token, '')).valid).toBe(true);
    expect(a.identity.timesAsked(later.token)).toBe(1);
  });

  it('are forgotten after the role cache lifetime, so an added role shows within it', async () => {
    await b.tokens.validate(freshToken(1).token, '');
    await fed.advance(limits.roleCacheTtlMs);
    const later = freshToken(2);
    expect((await b.tokens.validate(later.token, '')).valid).toBe(true);
    expect(a.identity.timesAsked(later.token)).toBe(1);
  });
});
