/**
 * Opaque tokens (UUID, Fernet) in the pipeline over three in-memory meshes: only the issuing
 * cloud can judge one, so with a hint that cloud is asked, and without one every cloud is asked
 * at once and the first "yes" wins; a specific "no" beats "not mine"; "could not ask" is not "no";
 * and no cloud may vouch for another cloud's token.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenIdentity } from '../../../src/identity/types.js';
import { AllianceError } from '../../../src/lib/errors.js';
import { identityOf } from './jws-helpers.js';
import { TokenFederation, memberOf, refusedResponse, validResponse } from './tokens-harness.js';
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
});

afterEach(async () => {
  await fed.stop();
});

const asked = (): number[] => [a, b, c].map((n) => n.identity.timesAsked(token));

describe('opaque tokens with an origin hint', () => {
  it('asks only the named cloud', async () => {
    a.identity.knows(token, alice);
    expect(await c.tokens.validate(token, 'cloud-a')).toEqual(validResponse(alice, memberOf('cloud-a')));
    expect(asked()).toEqual([1, 0, 0]);
  });

  it('refuses a hint naming no cloud of the federation, asking nobody', async () => {
    expect(await b.tokens.validate(token, 'cloud-z')).toEqual(
      refusedResponse('unknown-issuer', 'no cloud named cloud-z is in the federation'),
    );
    expect(asked()).toEqual([0, 0, 0]);
  });

  it('does not remember "not mine" from a wrong hint: the right hint is asked next', async () => {
    a.identity.knows(token, alice);
    expect(await b.tokens.validate(token, 'cloud-c')).toEqual(
      refusedResponse('unknown-token', 'cloud-c did not issue this token'),
    );
    expect(await b.tokens.validate(token, 'cloud-a')).toEqual(validResponse(alice, memberOf('cloud-a')));
    expect(asked()).toEqual([1, 0, 1]);
  });

  it('refuses a cloud vouching for a token of another cloud', async () => {
    c.identity.knows(token, alice);
    expect(await b.tokens.validate(token, 'cloud-c')).toEqual(
      refusedResponse('unknown-token', 'cloud-c vouched for a token of another cloud'),
    );
  });

  it('answers a malformed token at once, asking nobody', async () => {
    expect(await b.tokens.validate('not a token', 'cloud-a')).toEqual(
      refusedResponse('malformed', 'the token has characters no token format uses'),
    );
    expect(asked()).toEqual([0, 0, 0]);
  });

  it('answers a 1 MiB token as malformed at once, asking nobody', async () => {
    const huge = 'a'.repeat(1024 * 1024);
    expect(await b.tokens.validate(huge, 'cloud-a')).toEqual(
      refusedResponse('malformed', 'the token is longer than 8192 bytes'),
    );
    expect(a.identity.asked).toEqual([]);
  });
});

describe('opaque tokens without a hint', () => {
  it('asks every cloud, itself included, and takes the first "yes" without waiting for the rest', async () => {
    a.identity.knows(token, alice);
    const releaseC = c.identity.hold(token);
    try {
      expect(await b.tokens.validate(token, '')).toEqual(validResponse(alice, memberOf('cloud-a')));
      await fed.idle();
      expect(asked()).toEqual([1, 1, 1]);
    } finally {
      releaseC();
    }
  });

  it('prefers one cloud’s "expired" to the others’ "not mine"', async () => {
    a.identity.answer(token, { valid: false, reason: 'expired', detail: 'the token expired at 12:00' });
    expect(await b.tokens.validate(token, '')).toEqual(
      refusedResponse('expired', 'the token expired at 12:00'),
    );
    expect(asked()).toEqual([1, 1, 1]);
  });

  it('answers "unknown token" when every cloud says "not mine"', async () => {
    expect(await b.tokens.validate(token, '')).toEqual(
      refusedResponse('unknown-token', 'no cloud of the federation issued this token'),
    );
    expect(asked()).toEqual([1, 1, 1]);
  });

  it('answers "origin unreachable", naming the cloud, when some could not be asked and none said yes', async () => {
    c.identity.answer(token, new AllianceError('UNAVAILABLE', 'keystone of cloud-c is down'));
    expect(await b.tokens.validate(token, '')).toEqual(
      refusedResponse('origin-unreachable', 'no cloud recognised the token, and cloud-c could not be asked'),
    );
    expect(b.tokens.cacheSize()).toBe(0);
  });

  it('names every cloud that could not be asked, in order', async () => {
    fed.isolate('cloud-c');
    a.identity.answer(token, new AllianceError('UNAVAILABLE', 'keystone of cloud-a is down'));
    expect(await b.tokens.validate(token, '')).toEqual(
      refusedResponse(
        'origin-unreachable',
        'no cloud recognised the token, and cloud-a, cloud-c could not be asked',
      ),
    );
  });

  it('takes a "yes" even when another cloud could not be asked', async () => {
    a.identity.knows(token, alice);
    fed.isolate('cloud-c');
    expect(await b.tokens.validate(token, '')).toEqual(validResponse(alice, memberOf('cloud-a')));
  });

  it('ignores a cloud vouching for another cloud’s token among the answers', async () => {
    c.identity.knows(token, alice);
    expect(await b.tokens.validate(token, '')).toEqual(
      refusedResponse('unknown-token', 'no cloud of the federation issued this token'),
    );
  });
});
