/**
 * Keystone JWS tokens in the pipeline over in-memory meshes: verified offline with the keys the
 * issuing cloud published through the mesh, completed with names and roles asked of that cloud
 * once; when it cannot be asked the token is still valid, with no roles, the answer says so, and
 * it is remembered only briefly.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenIdentity } from '../../../src/identity/types.js';
import { AllianceError } from '../../../src/lib/errors.js';
import {
  auditId,
  es256Pair,
  identityOf,
  keystoneClaims,
  keystoneHeader,
  projectId,
  signEs256,
  userId,
} from './jws-helpers.js';
import {
  TokenFederation,
  memberOf,
  rejectionOf,
  refusedResponse,
  tokensConfig,
  validResponse,
} from './tokens-harness.js';
import type { TokenNode } from './tokens-harness.js';

const keyA = es256Pair();

let fed: TokenFederation;
let a: TokenNode;
let b: TokenNode;
/** A cloud-a JWS, issued now for an hour, in Keystone's shape. */
let jws: string;
let claims: Record<string, unknown>;
/** The token's identity as cloud-a's Keystone describes it. */
let alice: TokenIdentity;

beforeEach(async () => {
  fed = await TokenFederation.start(['cloud-a', 'cloud-b'], { jwsKeys: { 'cloud-a': [keyA.publicPem] } });
  a = fed.node('cloud-a');
  b = fed.node('cloud-b');
  claims = keystoneClaims(fed.clock.nowMs());
  jws = signEs256(keystoneHeader, claims, keyA.privateKey);
  alice = identityOf('cloud-a', {
    issuedAtMs: (claims.iat as number) * 1000,
    expiresAtMs: (claims.exp as number) * 1000,
    tokenFormat: 'jws',
  });
  a.identity.knows(jws, alice);
});

afterEach(async () => {
  await fed.stop();
});

/** What cloud-b can tell from the token alone. */
function offlineIdentity(): TokenIdentity {
  return {
    userId,
    userName: '',
    domainId: '',
    projectId,
    projectName: '',
    projectDomainId: '',
    roles: [],
    originCloud: 'cloud-a',
    auditIds: [auditId],
    issuedAtMs: alice.issuedAtMs,
    expiresAtMs: alice.expiresAtMs,
    tokenFormat: 'jws',
  };
}
const offlineDetail = 'verified offline; names and roles unknown: cloud-a could not be asked';

describe('Keystone JWS in the pipeline', () => {
  it('verifies a cloud-a token at cloud-b with the published key and asks cloud-a for names and roles once', async () => {
    const expected = validResponse(alice, memberOf('cloud-a'));
    expect(await b.tokens.validate(jws, '')).toEqual(expected);
    expect(await b.tokens.validate(jws, '')).toEqual(expected);
    expect(a.identity.timesAsked(jws)).toBe(1);
    expect(b.identity.timesAsked(jws)).toBe(0);
  });

  it('marks the answer as a JWS whatever format the issuing cloud reports', async () => {
    a.identity.knows(jws, { ...alice, tokenFormat: 'opaque' });
    expect(await b.tokens.validate(jws, '')).toEqual(validResponse(alice, memberOf('cloud-a')));
  });

  it('refuses a token signed with a key nobody published, asking nobody', async () => {
    const forged = signEs256(keystoneHeader, claims, es256Pair().privateKey);
    expect(await b.tokens.validate(forged, '')).toEqual(
      refusedResponse(
        'bad-signature',
        'no key published in the federation verifies this token (altered, or signed by an unknown key)',
      ),
    );
    expect(a.identity.asked).toEqual([]);
  });

  it('refuses a token whose issuing cloud describes another user than the token names', async () => {
    a.identity.knows(jws, { ...alice, userId: 'mallory' });
    expect(await b.tokens.validate(jws, '')).toEqual(
      refusedResponse('bad-signature', 'cloud-a describes another user'),
    );
  });

  it('passes on the issuing cloud’s "revoked in Keystone"', async () => {
    a.identity.answer(jws, { valid: false, reason: 'revoked', detail: 'the token was revoked in keystone' });
    expect(await b.tokens.validate(jws, '')).toEqual(
      refusedResponse('revoked', 'the token was revoked in keystone'),
    );
  });

  it('is valid with no roles when cloud-a cannot be asked, says so, and is remembered only negativeCacheMs', async () => {
    fed.isolate('cloud-a');
    const offline = validResponse(offlineIdentity(), memberOf('cloud-a'), offlineDetail);
    expect(await b.tokens.validate(jws, '')).toEqual(offline);

    fed.heal();
    await fed.advance(tokensConfig.negativeCacheMs - 1);
    expect(await b.tokens.validate(jws, '')).toEqual(offline);
    expect(a.identity.timesAsked(jws)).toBe(0);

    await fed.advance(1);
    expect(await b.tokens.validate(jws, '')).toEqual(validResponse(alice, memberOf('cloud-a')));
    expect(a.identity.timesAsked(jws)).toBe(1);
  });

  it('is valid with no roles at its own cloud while its Keystone is down, and is not exchanged then', async () => {
    a.identity.answer(jws, new AllianceError('UNAVAILABLE', 'keystone of cloud-a is down'));
    expect(await a.tokens.validate(jws, '')).toEqual(validResponse(offlineIdentity(), null, offlineDetail));
    expect(await rejectionOf(a.tokens.exchange(jws, ''))).toEqual({
      code: 'UNAVAILABLE',
      message: 'the roles of this token could not be read; try again',
    });
  });

  // FAILS: src/tokens/index.ts line 399 caches an offline ("partial") answer until
  // now + negativeCacheMs, without capping it at the token's expiry, so a token expiring sooner is
  // still answered valid from the cache after it has expired.
  it('does not answer "valid" from the cache after the token has expired, though cloud-a could not be asked', async () => {
    const shortClaims = { ...claims, exp: (claims.iat as number) + 10 };
    const short = signEs256(keystoneHeader, shortClaims, keyA.privateKey);
    fed.isolate('cloud-a');
    expect(await b.tokens.validate(short, '')).toMatchObject({ valid: true, detail: offlineDetail });

    await fed.advance((shortClaims.exp as number) * 1000 - fed.clock.nowMs());
    expect(await b.tokens.validate(short, '')).toEqual(refusedResponse('expired', 'the token has expired'));
  });

  it('refuses an expired JWS without asking its cloud', async () => {
    await fed.advance(alice.expiresAtMs - fed.clock.nowMs());
    expect(await b.tokens.validate(jws, '')).toEqual(refusedResponse('expired', 'the token has expired'));
    expect(a.identity.asked).toEqual([]);
  });
});
