/**
 * Exchange and revocation through the pipeline over three in-memory meshes: a home token is
 * exchanged only at its home cloud, for a federation token every other node verifies offline;
 * revoking a token federation-wide is its home cloud's right, goes by audit id, and so also
 * kills the federation tokens made from it; any cloud may deny any token locally.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RevokeTokenRequest } from '../../../src/gen/alliance/v1/tokens.js';
import type { TokenIdentity } from '../../../src/identity/types.js';
import { auditId, fingerprintOf, identityOf, partOf } from './jws-helpers.js';
import {
  TokenFederation,
  memberOf,
  refusedResponse,
  rejectionOf,
  tokensConfig,
  validResponse,
} from './tokens-harness.js';
import type { TokenNode } from './tokens-harness.js';

/** A cloud-a UUID token. */
const token = '0a1b2c3d4e5f60718293a4b5c6d7e8f9';

let fed: TokenFederation;
let a: TokenNode;
let b: TokenNode;
let c: TokenNode;
let alice: TokenIdentity;

beforeEach(async () => {
  fed = await TokenFederation.start(['cloud-a', 'cloud-b', 'cloud-c']);
  [a, b, c] = [fed.node('cloud-a'), fed.node('cloud-b'), fed.node('cloud-c')];
  const nowMs = fed.clock.nowMs();
  alice = identityOf('cloud-a', { issuedAtMs: nowMs - 60_000, expiresAtMs: nowMs + 3_600_000 });
  a.identity.knows(token, alice);
});

afterEach(async () => {
  await fed.stop();
});

function revokeToken(at: TokenNode, value: string, options: { localOnly?: boolean; reason?: string } = {}) {
  return at.tokens.revoke(
    RevokeTokenRequest.fromPartial({
      target: { $case: 'token', value },
      localOnly: options.localOnly ?? false,
      reason: options.reason ?? 'logout',
    }),
  );
}

describe('exchange', () => {
  it('turns a home token into a federation token that another node verifies offline', async () => {
    const nowMs = fed.clock.nowMs();
    const exchanged = await a.tokens.exchange(token, '');
    const expiresAtMs = Math.floor((nowMs + tokensConfig.federationTokenTtlMaxMs) / 1000) * 1000;
    expect(exchanged).toEqual({ token: expect.any(String), expiresAtMs });
    expect(partOf(exchanged.token, 1)).toMatchObject({ iss: 'spiffe://unit/cloud/cloud-a/node/n1' });

    fed.isolate('cloud-a');
    const expected = validResponse({ ...alice, expiresAtMs, tokenFormat: 'federation' }, memberOf('cloud-a'));
    expect(await c.tokens.validate(exchanged.token, '')).toEqual(expected);
    expect(await b.tokens.validate(exchanged.token, 'cloud-z')).toEqual(expected);
    expect(a.identity.timesAsked(token)).toBe(1);
    expect(a.identity.timesAsked(exchanged.token)).toBe(0);
  });

  it('refuses to exchange another cloud’s token', async () => {
    expect(await rejectionOf(b.tokens.exchange(token, 'cloud-a'))).toEqual({
      code: 'FAILED_PRECONDITION',
      message: 'a token of cloud-a is exchanged at a node of cloud-a',
    });
  });

  it('refuses to exchange a federation token, even at its home cloud', async () => {
    const exchanged = await a.tokens.exchange(token, '');
    expect(await rejectionOf(a.tokens.exchange(exchanged.token, ''))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'this is already a federation token',
    });
  });

  it('refuses to exchange a token that is not valid, saying why', async () => {
    expect(await rejectionOf(a.tokens.exchange('ffffffffffffffffffffffffffffffff', ''))).toEqual({
      code: 'FAILED_PRECONDITION',
      message: 'the token is not valid: no cloud of the federation issued this token',
    });
  });

  it('refuses to exchange a revoked token', async () => {
    await revokeToken(a, token);
    expect(await rejectionOf(a.tokens.exchange(token, ''))).toEqual({
      code: 'FAILED_PRECONDITION',
      message: 'the token is not valid: revoked: logout',
    });
  });
});

describe('revocation by token', () => {
  it('revokes federation-wide by audit id at the home cloud, killing the federation token made from it', async () => {
    const federationToken = (await a.tokens.exchange(token, '')).token;
    expect(await c.tokens.validate(federationToken, '')).toMatchObject({ valid: true });
    expect(await b.tokens.validate(token, 'cloud-a')).toMatchObject({ valid: true });

    const nowMs = fed.clock.nowMs();
    expect(await revokeToken(a, token)).toEqual({
      id: 'rev-cloud-a-1',
      originCloud: 'cloud-a',
      localOnly: false,
      auditId,
      issuedBeforeMs: nowMs,
      secondGranularity: false,
      revokedAtMs: nowMs,
      expiresAtMs: nowMs + tokensConfig.revocationRetentionMs,
      reason: 'logout',
      source: 'alliance-api',
    });
    await fed.idle();

    const revoked = refusedResponse('revoked', 'revoked: logout');
    expect(await c.tokens.validate(federationToken, '')).toEqual(revoked);
    expect(await b.tokens.validate(token, 'cloud-a')).toEqual(revoked);
    expect(await a.tokens.validate(token, '')).toEqual(revoked);
  });

  it('revokes the home token too when the federation token is the one named', async () => {
    const federationToken = (await a.tokens.exchange(token, '')).token;
    expect(await revokeToken(a, federationToken)).toMatchObject({ auditId, originCloud: 'cloud-a' });
    await fed.idle();
    expect(await b.tokens.validate(token, 'cloud-a')).toEqual(refusedResponse('revoked', 'revoked: logout'));
  });

  it('refuses to revoke another cloud’s token federation-wide, and revokes nothing', async () => {
    expect(await rejectionOf(revokeToken(b, token))).toEqual({
      code: 'PERMISSION_DENIED',
      message:
        'only cloud-a can revoke its tokens federation-wide; use local_only for a denial at this cloud',
    });
    await fed.idle();
    expect([a, b, c].map((n) => n.revocations.list().length)).toEqual([0, 0, 0]);
  });

  it('denies another cloud’s token at this cloud only, by fingerprint, with local_only', async () => {
    expect(await c.tokens.validate(token, 'cloud-a')).toMatchObject({ valid: true });
    expect(await revokeToken(b, token, { localOnly: true, reason: 'not here' })).toMatchObject({
      originCloud: 'cloud-b',
      localOnly: true,
      tokenFingerprint: fingerprintOf(token),
    });
    await fed.idle();
    expect(await b.tokens.validate(token, 'cloud-a')).toEqual(
      refusedResponse('revoked', 'revoked: not here'),
    );
    expect(await c.tokens.validate(token, 'cloud-a')).toEqual(validResponse(alice, memberOf('cloud-a')));
  });

  it('refuses to revoke federation-wide a token that is not valid, saying why', async () => {
    expect(await rejectionOf(revokeToken(a, 'ffffffffffffffffffffffffffffffff'))).toEqual({
      code: 'FAILED_PRECONDITION',
      message:
        'the token is not valid here (no cloud of the federation issued this token); nothing to revoke federation-wide',
    });
  });

  // FAILS: src/tokens/index.ts revokeByToken (line 476) makes the pattern with issuedBeforeMs =
  // this node's now (from revoke(), line 538), and a pattern matches only tokens issued at or
  // before it (revocation/match.ts isIssuedInTime); a token whose issuer's clock runs ahead of
  // this node (the pipeline accepts up to clockSkewMs) is therefore not matched by its own
  // revocation.
  it('revokes a token whose issuing Keystone’s clock runs a minute ahead of this node', async () => {
    const fast = '1a1b2c3d4e5f60718293a4b5c6d7e8f9';
    const nowMs = fed.clock.nowMs();
    a.identity.knows(fast, { ...alice, auditIds: ['fast-audit-id'], issuedAtMs: nowMs + 60_000 });
    expect(await a.tokens.validate(fast, '')).toMatchObject({ valid: true });
    await revokeToken(a, fast);
    expect(await a.tokens.validate(fast, '')).toEqual(refusedResponse('revoked', 'revoked: logout'));
  });
});
