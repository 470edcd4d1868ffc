/**
 * parseToken tells a token's kind from its shape alone: Keystone JWS, federation token (by its
 * typ or its x5c), opaque (UUID, Fernet), or malformed with the reason, before anything in the
 * token is trusted.
 */
import { describe, expect, it } from 'vitest';
import { limits } from '../../../src/config/limits.js';
import { federationTokenType, parseToken } from '../../../src/tokens/token-format.js';
import { b64url, es256Pair, fixedNowMs, keystoneClaims, keystoneHeader, signEs256 } from './jws-helpers.js';

const claims = keystoneClaims(fixedNowMs);
const { privateKey } = es256Pair();

/**
 * A Fernet token's shape: urlsafe base64, with padding, of version 0x80, a big-endian timestamp,
 * a 16-byte IV, one 16-byte ciphertext block and a 32-byte HMAC (73 bytes: "==" at the end).
 */
const fernetLike = (() => {
  const timestamp = Buffer.alloc(8);
  timestamp.writeBigUInt64BE(BigInt(fixedNowMs / 1000));
  return Buffer.concat([
    Buffer.from([0x80]),
    timestamp,
    Buffer.alloc(16, 0x11),
    Buffer.alloc(16, 0xfb),
    Buffer.alloc(32, 0x3f),
  ])
    .toString('base64')
    .replace(/\+/g, '-')
    .replace(/\//g, '_');
})();

describe('parseToken: the token kinds', () => {
  it('sees a Keystone JWS, with its decoded header and payload, signed bytes and signature', () => {
    const token = signEs256(keystoneHeader, claims, privateKey);
    const [header, payload, signature] = token.split('.');
    expect(parseToken(token)).toEqual({
      kind: 'jws',
      jws: {
        header: { alg: 'ES256', typ: 'JWT' },
        payload: claims,
        signingInput: `${header}.${payload}`,
        signature: Buffer.from(signature ?? '', 'base64url'),
      },
    });
  });

  it('sees a federation token by its typ, even without a certificate chain', () => {
    const token = signEs256({ alg: 'ES256', typ: federationTokenType }, claims, privateKey);
    expect(parseToken(token)).toMatchObject({
      kind: 'federation',
      jws: { header: { typ: federationTokenType } },
    });
  });

  it('sees a federation token by its x5c array, whatever its typ says', () => {
    const header = { alg: 'ES256', typ: 'JWT', x5c: ['MIIB'] };
    const token = signEs256(header, claims, privateKey);
    expect(parseToken(token)).toMatchObject({ kind: 'federation', jws: { header } });
  });

  it('sees a Keystone JWS when x5c is not an array', () => {
    const token = signEs256({ alg: 'ES256', typ: 'JWT', x5c: 'MIIB' }, claims, privateKey);
    expect(parseToken(token).kind).toBe('jws');
  });

  it('keeps an empty signature part as an empty signature (alg "none" is judged by the validator)', () => {
    const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
    expect(parseToken(token)).toMatchObject({ kind: 'jws', jws: { signature: Buffer.alloc(0) } });
  });

  it('sees a UUID token (32 hex digits) as opaque', () => {
    expect(parseToken('8a0d7a9b5e2a4c0f9a2b3c4d5e6f7a8b')).toEqual({ kind: 'opaque' });
  });

  it('sees a Fernet-like token with "=" padding as opaque', () => {
    expect(fernetLike).toMatch(/^gAAAAAB[A-Za-z0-9_-]+==$/);
    expect(fernetLike).toMatch(/[-_]/);
    expect(parseToken(fernetLike)).toEqual({ kind: 'opaque' });
  });

  it('accepts a token of exactly limits.tokenBytesMax bytes', () => {
    expect(parseToken('a'.repeat(limits.tokenBytesMax))).toEqual({ kind: 'opaque' });
  });
});

describe('parseToken: malformed tokens, each with its reason', () => {
  it.each([
    ['the empty string', '', 'the token is empty'],
    [
      'one byte beyond limits.tokenBytesMax',
      'a'.repeat(limits.tokenBytesMax + 1),
      `the token is longer than ${limits.tokenBytesMax} bytes`,
    ],
    [
      'a JWS padded to 1 MiB',
      `${b64url(keystoneHeader)}.${b64url({ ...claims, pad: 'x'.repeat(1024 * 1024) })}.sig`,
      `the token is longer than ${limits.tokenBytesMax} bytes`,
    ],
    [
      'a header part that is not base64url JSON',
      `abc.${b64url(claims)}.sig`,
      'the header is not base64url JSON',
    ],
    [
      'a payload part that is not base64url JSON',
      `${b64url(keystoneHeader)}.bm90LWpzb24.sig`,
      'the payload is not base64url JSON',
    ],
    ['a JSON array header', `${b64url(['ES256'])}.${b64url(claims)}.sig`, 'the header is not a JSON object'],
    [
      'a JSON null payload',
      `${b64url(keystoneHeader)}.${b64url(null)}.sig`,
      'the payload is not a JSON object',
    ],
    [
      'a JSON string payload',
      `${b64url(keystoneHeader)}.${b64url('sub')}.sig`,
      'the payload is not a JSON object',
    ],
    ['a space', 'abc def', 'the token has characters no token format uses'],
    ['standard base64 "+" and "/"', 'ab+cd/ef==', 'the token has characters no token format uses'],
    ['two dotted parts', 'abc.def', 'the token has characters no token format uses'],
    ['four dotted parts', 'a.b.c.d', 'the token has characters no token format uses'],
    ['an empty header part', `.${b64url(claims)}.sig`, 'the token has characters no token format uses'],
    ['non-ASCII letters', 'tökén', 'the token has characters no token format uses'],
    [
      'a trailing newline',
      '8a0d7a9b5e2a4c0f9a2b3c4d5e6f7a8b\n',
      'the token has characters no token format uses',
    ],
  ])('refuses %s', (_name, token, detail) => {
    expect(parseToken(token)).toEqual({ kind: 'malformed', detail });
  });
});
