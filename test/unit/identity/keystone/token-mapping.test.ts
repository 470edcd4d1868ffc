/**
 * The pure half of token validation: which strings are sent to Keystone at all, which format a
 * token has, and how Keystone's 200 body becomes a TokenIdentity (exactly, field by field).
 */
import { describe, expect, it } from 'vitest';
import {
  UnexpectedKeystoneResponse,
  detectTokenFormat,
  malformedTokenDetail,
  mapValidatedToken,
  tokenLengthMax,
} from '../../../../src/identity/keystone/token-mapping.js';
import { formatKeystoneTime, parseKeystoneTimeMs } from '../../../../src/identity/keystone/keystone-time.js';

const fernet =
  'gAAAAABrA_H9Fh8fsZS9fpqK_sy-h3XhW0b1yKXcGQ6t1KwV1cKJzP1yB4lJm8Xo8fQk9bFf5WQ1wWlKQx0B9H0w6o1b2c3d4e5f6g7h8i9j0k1l2m3n4o5p6q7r8s9t0u1v2w3x4y5z6A7B8C9D0E1F2G3H4I5J6K7L8M9N0O1P2Q3R4';
const es256Header = Buffer.from('{"alg":"ES256","typ":"JWT"}').toString('base64url');
const hs256Header = Buffer.from('{"alg":"HS256","typ":"JWT"}').toString('base64url');
const payload = Buffer.from('{"sub":"u1","iat":1795411691,"exp":1795415291}').toString('base64url');
const jws = `${es256Header}.${payload}.${Buffer.alloc(64, 7).toString('base64url')}`;

/** The body of a 200 from a real Keystone 22 (lab, fernet, project-scoped admin token). */
const validationBody = {
  token: {
    methods: ['password'],
    user: {
      domain: { id: 'default', name: 'Default' },
      id: '1e77c6d431fe44a29c5deeee07a0da2b',
      name: 'admin',
      password_expires_at: null,
    },
    audit_ids: ['haZ0t901TW-tgp9sDNVUNg'],
    expires_at: '2026-11-23T08:57:49.000000Z',
    issued_at: '2026-11-23T07:57:49.000000Z',
    project: {
      domain: { id: 'default', name: 'Default' },
      id: '5b7c5a8f457146a6a3ca1653ee6fca73',
      name: 'admin',
    },
    is_domain: false,
    roles: [
      { id: '16c1fc63b6fe4d6b95a34c2bc92dc2e5', name: 'reader' },
      { id: 'f3433bd0fcd8482995a0c63d9d248eab', name: 'admin' },
      { id: '4aabd1e0ae3541a294592759eb6cf9eb', name: 'member' },
    ],
  },
};

describe('malformedTokenDetail', () => {
  it.each([
    ['a fernet token', fernet],
    ['a JWS token', jws],
    ['a UUID token', '5e6c7b3f0a8d4e0b9f1a2c3d4e5f6a7b'],
    ['a padded base64url token', 'gAAAAAB=='],
    [`a token of exactly ${tokenLengthMax} characters`, 'a'.repeat(tokenLengthMax)],
  ])('lets %s through to Keystone', (_name, token) => {
    expect(malformedTokenDetail(token)).toBeNull();
  });

  it.each([
    ['the empty string', '', 'empty token'],
    [
      'a token one character too long',
      'a'.repeat(tokenLengthMax + 1),
      `token longer than ${tokenLengthMax} characters`,
    ],
    ['a token with a space', 'gAAAA AB', 'token has characters outside base64url, "." and "="'],
    [
      'a token with a newline (header injection)',
      'abc\r\nX-Evil: 1',
      'token has characters outside base64url, "." and "="',
    ],
    ['a token with non-ASCII letters', 'gAAAAAé', 'token has characters outside base64url, "." and "="'],
    ['standard base64 with + and /', 'ab+c/d', 'token has characters outside base64url, "." and "="'],
  ])('rejects %s', (_name, token, detail) => {
    expect(malformedTokenDetail(token)).toBe(detail);
  });
});

describe('detectTokenFormat', () => {
  it.each([
    ['a Keystone JWS (ES256 header)', jws, 'jws'],
    ['a fernet token', fernet, 'fernet'],
    ['a UUID token', '5e6c7b3f0a8d4e0b9f1a2c3d4e5f6a7b', 'uuid'],
    ['three parts whose header is HS256', `${hs256Header}.${payload}.sig`, 'uuid'],
    ['three parts whose header is not JSON', `bm90IGpzb24.${payload}.sig`, 'uuid'],
    ['two parts', `${es256Header}.${payload}`, 'uuid'],
    ['three parts with an empty signature', `${es256Header}.${payload}.`, 'uuid'],
  ])('says %s is %s', (_name, token, format) => {
    expect(detectTokenFormat(token)).toBe(format);
  });
});

describe('mapValidatedToken', () => {
  it("maps Keystone's v3 token body to the exact identity", () => {
    expect(mapValidatedToken(validationBody, 'cloud-a', fernet)).toEqual({
      userId: '1e77c6d431fe44a29c5deeee07a0da2b',
      userName: 'admin',
      domainId: 'default',
      projectId: '5b7c5a8f457146a6a3ca1653ee6fca73',
      projectName: 'admin',
      projectDomainId: 'default',
      roles: ['reader', 'admin', 'member'],
      originCloud: 'cloud-a',
      auditIds: ['haZ0t901TW-tgp9sDNVUNg'],
      issuedAtMs: Date.UTC(2026, 10, 23, 7, 57, 49),
      expiresAtMs: Date.UTC(2026, 10, 23, 8, 57, 49),
      tokenFormat: 'fernet',
    });
  });

  it('leaves the project fields empty for an unscoped or system-scoped token', () => {
    const { project: _p, roles: _r, ...unscoped } = validationBody.token;
    const identity = mapValidatedToken({ token: { ...unscoped, system: { all: true } } }, 'cloud-b', jws);
    expect(identity).toMatchObject({
      projectId: '',
      projectName: '',
      projectDomainId: '',
      roles: [],
      tokenFormat: 'jws',
    });
  });

  it('keeps the chain audit id of a rescoped token and sub-millisecond times truncated', () => {
    const body = {
      token: {
        ...validationBody.token,
        audit_ids: ['own', 'chain'],
        issued_at: '2026-11-23T07:57:49.123456Z',
      },
    };
    const identity = mapValidatedToken(body, 'c', 'uuid-token');
    expect([identity.auditIds, identity.issuedAtMs]).toEqual([
      ['own', 'chain'],
      Date.UTC(2026, 10, 23, 7, 57, 49, 123),
    ]);
  });

  it.each([
    ['no token object', { nothing: 1 }],
    ['a user without id', { token: { ...validationBody.token, user: { name: 'x' } } }],
    ['an unparsable expires_at', { token: { ...validationBody.token, expires_at: 'tomorrow' } }],
    ['null', null],
  ])('refuses a body with %s', (_name, body) => {
    expect(() => mapValidatedToken(body, 'c', fernet)).toThrow(UnexpectedKeystoneResponse);
  });
});

describe('parseKeystoneTimeMs', () => {
  it.each([
    ['2026-11-23T05:32:24.000000Z', Date.UTC(2026, 10, 23, 5, 32, 24)],
    ['2026-11-23T05:32:24Z', Date.UTC(2026, 10, 23, 5, 32, 24)],
    // oslo.messaging's timestamp: UTC without a zone (Date.parse would take it as local time)
    ['2026-11-23 06:03:49.173287', Date.UTC(2026, 10, 23, 6, 3, 49, 173)],
    // CADF eventTime
    ['2026-11-23T06:03:44.904510+0000', Date.UTC(2026, 10, 23, 6, 3, 44, 904)],
    ['2026-11-23T08:03:44.904510+02:00', Date.UTC(2026, 10, 23, 6, 3, 44, 904)],
    ['2026-11-23T01:03:44-0500', Date.UTC(2026, 10, 23, 6, 3, 44)],
  ])('reads %s', (text, ms) => {
    expect(parseKeystoneTimeMs(text)).toBe(ms);
  });

  it.each([['yesterday'], [''], [42], [null], ['2026-11-23']])('refuses %s', (text) => {
    expect(parseKeystoneTimeMs(text)).toBeNull();
  });

  it('writes the since parameter as ISO 8601 UTC', () => {
    expect(formatKeystoneTime(Date.UTC(2026, 10, 23, 5, 32, 23))).toBe('2026-11-23T05:32:23.000Z');
  });
});
