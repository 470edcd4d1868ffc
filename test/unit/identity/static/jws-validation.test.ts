/**
 * The negative space of JWS validation: every forgery, corruption and timing case is answered
 * with a verdict (never an exception), and only a token this cloud signed, in Keystone's shape,
 * within its lifetime, is valid.
 */
import { createHmac, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { TokenVerdict } from '../../../../src/identity/index.js';
import {
  closeHarness,
  ids,
  openHarness,
  privateKeyOf,
  removeDir,
  signEs256,
  tempDir,
  type Harness,
} from './fixture.js';

const b64url = (value: unknown): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const auditId = 'maLW2yXnRnKT_esdd6myfg';
const header = { alg: 'ES256', typ: 'JWT' };

describe('JWS validation', () => {
  let dir: string;
  let h: Harness;
  let key: KeyObject;
  let nowS: number;
  /** A well-formed payload for alice on demo, issued now, expiring in an hour. */
  let claims: Record<string, unknown>;

  beforeEach(() => {
    dir = tempDir();
    h = openHarness(dir);
    key = privateKeyOf(h);
    nowS = Math.floor(h.clock.nowMs() / 1000);
    claims = {
      sub: ids.alice,
      iat: nowS,
      exp: nowS + 3600,
      openstack_methods: ['password'],
      openstack_audit_ids: [auditId],
      openstack_project_id: ids.demo,
    };
  });

  afterEach(async () => {
    await closeHarness(h);
    removeDir(dir);
  });

  const refused = (reason: string, detail: string): TokenVerdict =>
    ({ valid: false, reason, detail }) as TokenVerdict;
  const badSignature = refused('bad-signature', 'the signature does not verify with this cloud’s key');

  it('accepts a token signed with its key in Keystone’s shape (the baseline for the cases below)', async () => {
    expect(await h.identity.validateToken(signEs256(header, claims, key))).toMatchObject({
      valid: true,
      identity: { userId: ids.alice, projectId: ids.demo, auditIds: [auditId], tokenFormat: 'jws' },
    });
  });

  describe('forgeries', () => {
    it('refuses alg "none" with an empty signature', async () => {
      const token = `${b64url({ alg: 'none', typ: 'JWT' })}.${b64url(claims)}.`;
      expect(await h.identity.validateToken(token)).toEqual(
        refused('bad-signature', 'algorithm "none" is not accepted; only ES256'),
      );
    });

    it('refuses HS256 signed with its own public key as the HMAC secret', async () => {
      const [publicPem] = await h.identity.jwsPublicKeys();
      const input = `${b64url({ alg: 'HS256', typ: 'JWT' })}.${b64url(claims)}`;
      const mac = createHmac('sha256', publicPem ?? '')
        .update(input)
        .digest('base64url');
      expect(await h.identity.validateToken(`${input}.${mac}`)).toEqual(
        refused('bad-signature', 'algorithm "HS256" is not accepted; only ES256'),
      );
    });

    it('refuses a header without an algorithm', async () => {
      expect(await h.identity.validateToken(signEs256({ typ: 'JWT' }, claims, key))).toEqual(
        refused('bad-signature', 'algorithm null is not accepted; only ES256'),
      );
    });

    it('refuses a tampered payload under the original signature', async () => {
      const [h64, , s64] = signEs256(header, claims, key).split('.');
      const tampered = `${h64}.${b64url({ ...claims, openstack_project_id: ids.ops, sub: ids.bob })}.${s64}`;
      expect(await h.identity.validateToken(tampered)).toEqual(badSignature);
    });

    it('refuses a token signed by another P-256 key', async () => {
      const { privateKey: otherKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
      expect(await h.identity.validateToken(signEs256(header, claims, otherKey))).toEqual(badSignature);
    });

    it('refuses a DER-encoded signature, which Keystone never produces', async () => {
      const token = signEs256(header, claims, key);
      const [h64, p64, s64] = token.split('.');
      const raw = Buffer.from(s64 ?? '', 'base64url');
      const derInteger = (bytes: Buffer): Buffer => {
        const trimmed = bytes.subarray(bytes.findIndex((b) => b !== 0));
        const body = (trimmed[0] ?? 0) & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed;
        return Buffer.concat([Buffer.from([0x02, body.length]), body]);
      };
      const seq = Buffer.concat([derInteger(raw.subarray(0, 32)), derInteger(raw.subarray(32))]);
      const der = Buffer.concat([Buffer.from([0x30, seq.length]), seq]).toString('base64url');
      expect(await h.identity.validateToken(`${h64}.${p64}.${der}`)).toEqual(badSignature);
    });

    it('refuses header parameters Keystone tokens never carry, even when signed', async () => {
      expect(await h.identity.validateToken(signEs256({ ...header, kid: 'k1' }, claims, key))).toEqual(
        refused('malformed', 'the JWS header has parameters Keystone tokens never carry'),
      );
      expect(
        await h.identity.validateToken(signEs256({ alg: 'ES256', typ: 'JOSE+JSON' }, claims, key)),
      ).toEqual(refused('malformed', 'the JWS header has parameters Keystone tokens never carry'));
    });
  });

  describe('corruption', () => {
    it('refuses a token truncated inside its signature', async () => {
      const token = signEs256(header, claims, key);
      expect(await h.identity.validateToken(token.slice(0, -8))).toEqual(badSignature);
    });

    it('refuses a token truncated to two segments', async () => {
      const token = signEs256(header, claims, key);
      expect(await h.identity.validateToken(token.slice(0, token.lastIndexOf('.')))).toEqual(
        refused('malformed', 'not a compact JWS (three base64url segments)'),
      );
    });

    it.each([
      ['characters outside base64url', '@@@.###.$$$'],
      ['standard base64 padding', 'eyJhbGciOiJFUzI1NiJ9==.e30=.AA=='],
      ['an impossible base64 length', 'abcde.abcde.abcde'],
      ['four segments', 'a.b.c.d'],
      ['empty segments', '..'],
    ])('refuses %s as malformed', async (_name, token) => {
      expect(await h.identity.validateToken(token)).toEqual(
        refused('malformed', 'not a compact JWS (three base64url segments)'),
      );
    });

    it('refuses a header that is not JSON', async () => {
      const token = `${Buffer.from('not json').toString('base64url')}.${b64url(claims)}.AAAA`;
      expect(await h.identity.validateToken(token)).toEqual(
        refused('malformed', 'the JWS header is not a JSON object'),
      );
    });

    it('refuses a 1 MiB token before parsing it', async () => {
      const token = `${b64url(header)}.${'A'.repeat(1024 * 1024)}.AAAA`;
      expect(await h.identity.validateToken(token)).toEqual(
        refused('malformed', 'the token is longer than 8192 bytes'),
      );
    });
  });

  describe('claims, signed with its own key', () => {
    it.each<[string, (c: Record<string, unknown>) => unknown, string]>([
      ['no sub', ({ sub: _sub, ...rest }) => rest, 'the token has no user (sub)'],
      ['iat as a fraction', (c) => ({ ...c, iat: 1.5 }), 'iat and exp must be integer seconds'],
      ['exp as a string', (c) => ({ ...c, exp: String(c.exp) }), 'iat and exp must be integer seconds'],
      ['exp before iat', (c) => ({ ...c, exp: c.iat }), 'the token expires before it is issued'],
      ['no methods', (c) => ({ ...c, openstack_methods: [] }), 'openstack_methods must be a list of methods'],
      [
        'a short audit id',
        (c) => ({ ...c, openstack_audit_ids: ['abc'] }),
        'openstack_audit_ids must hold one or two audit ids',
      ],
      [
        'three audit ids',
        (c) => ({ ...c, openstack_audit_ids: [auditId, auditId, auditId] }),
        'openstack_audit_ids must hold one or two audit ids',
      ],
      [
        'system scope',
        ({ openstack_project_id: _p, ...rest }) => ({ ...rest, openstack_system: 'all' }),
        'the token is not project-scoped (no openstack_project_id)',
      ],
      ['an array payload', () => [1, 2, 3], 'the JWS payload is not a JSON object'],
    ])('refuses %s as malformed', async (_name, edit, detail) => {
      expect(await h.identity.validateToken(signEs256(header, edit(claims), key))).toEqual(
        refused('malformed', detail),
      );
    });

    it('refuses exp in the past as expired', async () => {
      const exp = nowS;
      const token = signEs256(header, { ...claims, iat: nowS - 3600, exp }, key);
      expect(await h.identity.validateToken(token)).toEqual(
        refused('expired', `expired at ${new Date(exp * 1000).toISOString()}`),
      );
    });

    it('refuses iat more than 5 minutes in the future as not yet valid, and tolerates less', async () => {
      const farIat = nowS + 5 * 60 + 1;
      expect(
        await h.identity.validateToken(
          signEs256(header, { ...claims, iat: farIat, exp: farIat + 3600 }, key),
        ),
      ).toEqual(refused('not-yet-valid', `issued in the future (${new Date(farIat * 1000).toISOString()})`));
      const nearIat = nowS + 4 * 60;
      expect(
        await h.identity.validateToken(
          signEs256(header, { ...claims, iat: nearIat, exp: nearIat + 3600 }, key),
        ),
      ).toMatchObject({ valid: true });
    });

    it('refuses a validly signed token for a user or project this cloud does not have as revoked', async () => {
      expect(
        await h.identity.validateToken(signEs256(header, { ...claims, sub: 'f'.repeat(32) }, key)),
      ).toEqual(refused('revoked', `user ${'f'.repeat(32)} no longer exists`));
      expect(
        await h.identity.validateToken(
          signEs256(header, { ...claims, openstack_project_id: 'f'.repeat(32) }, key),
        ),
      ).toEqual(refused('revoked', `project ${'f'.repeat(32)} no longer exists`));
    });
  });
});
