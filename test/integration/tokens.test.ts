/**
 * Single sign-on and single sign-out across three clouds with the built-in identity source,
 * over real gRPC and mTLS: tokens issued at cloud-a are accepted at cloud-b and cloud-c
 * (opaque, JWS and federation tokens), and a revocation at cloud-a stops them everywhere.
 * Times from revocation to "revoked at every cloud" are printed as FED {...} lines.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { IdentityAdminService } from '../../src/gen/alliance/v1/identity.js';
import { InvalidReason, TokensService } from '../../src/gen/alliance/v1/tokens.js';
import type { ValidateTokenResponse } from '../../src/gen/alliance/v1/tokens.js';
import type { RevocationPattern } from '../../src/revocation/index.js';
import { TestFederation, waitFor } from './harness.js';

let federation: TestFederation;

beforeAll(async () => {
  federation = await TestFederation.start({ clouds: 3 });
  await federation.fullyConnected();
});

afterAll(async () => {
  await federation.stop();
});

function report(name: string, figures: Record<string, number>): void {
  console.log(`FED ${JSON.stringify({ name, ...figures })}`);
}

async function issue(at: number, format: 'opaque' | 'jws', user = 'demo'): Promise<string> {
  const api = federation.localApi(at);
  try {
    const issued = await api
      .client(TokensService)
      .issueToken({ userName: user, password: user, projectName: user, domainName: '', format });
    return issued.token;
  } finally {
    api.close();
  }
}

async function validate(at: number, token: string, originHint = ''): Promise<ValidateTokenResponse> {
  const api = federation.localApi(at);
  try {
    return await api.client(TokensService).validateToken({ token, originHint });
  } finally {
    api.close();
  }
}

async function exchange(at: number, token: string): Promise<string> {
  const api = federation.localApi(at);
  try {
    return (await api.client(TokensService).exchangeToken({ token, originHint: '' })).token;
  } finally {
    api.close();
  }
}

/** Resolves when every running node has applied a revocation `match` accepts. */
function appliedEverywhere(match: (p: RevocationPattern) => boolean): Promise<void> {
  const nodes = federation.running();
  const seen = new Set<number>();
  return waitFor(
    'the revocation at every node',
    () => seen.size === nodes.length,
    (onChange) => {
      const unsubscribers = nodes.map((node, i) =>
        node.revocations.onApplied((pattern) => {
          if (match(pattern)) seen.add(i);
          onChange();
        }),
      );
      // Already applied before we listened?
      nodes.forEach((node, i) => {
        if (node.revocations.list().some(match)) seen.add(i);
      });
      onChange();
      return () => unsubscribers.forEach((u) => u());
    },
  );
}

const summary = (r: ValidateTokenResponse) => ({
  valid: r.valid,
  reason: InvalidReason[r.reason],
  user: r.identity?.userName,
  project: r.identity?.projectName,
  roles: r.identity?.roles,
  origin: r.identity?.originCloud,
  format: r.identity?.tokenFormat,
  local: r.local && { mapped: r.local.mapped, project: r.local.projectId, roles: r.local.roles },
});

describe('single sign-on across three clouds', () => {
  it.each(['opaque', 'jws'] as const)(
    'accepts a %s token of cloud-a at cloud-b and cloud-c, mapped to local rights',
    async (format) => {
      const token = await issue(0, format);
      const home = await validate(0, token);
      expect(summary(home)).toEqual({
        valid: true,
        reason: 'INVALID_REASON_UNSPECIFIED',
        user: 'demo',
        project: 'demo',
        roles: ['member'],
        origin: 'cloud-a',
        format: format === 'opaque' ? 'uuid' : 'jws',
        // At home no rule maps a cloud's own users: a valid identity, no local grant.
        local: { mapped: false, project: '', roles: [] },
      });
      for (const at of [1, 2]) {
        const remote = await validate(at, token);
        expect(summary(remote)).toEqual({
          ...summary(home),
          local: { mapped: true, project: 'remote-cloud-a', roles: ['member'] },
        });
        expect(remote.identity?.auditIds).toEqual(home.identity?.auditIds);
      }
    },
  );

  it('validates an opaque token with an origin hint by asking only that cloud', async () => {
    const token = await issue(1, 'opaque');
    // A wrong hint is a "no" from that cloud: it does not know the token...
    expect(summary(await validate(2, token, 'cloud-a'))).toMatchObject({
      valid: false,
      reason: 'INVALID_REASON_UNKNOWN_TOKEN',
    });
    // ...which is not remembered: the right hint right after gets the right answer.
    expect(summary(await validate(2, token, 'cloud-b'))).toMatchObject({ valid: true, origin: 'cloud-b' });
    expect(summary(await validate(0, token, 'cloud-b'))).toMatchObject({ valid: true, origin: 'cloud-b' });
  });

  it('verifies a federation token offline at every cloud', async () => {
    const home = await issue(0, 'opaque');
    const federationToken = await exchange(0, home);
    expect(federationToken.split('.')).toHaveLength(3);
    for (const at of [0, 1, 2]) {
      const answer = await validate(at, federationToken);
      expect(summary(answer)).toMatchObject({
        valid: true,
        user: 'demo',
        origin: 'cloud-a',
        format: 'federation',
      });
    }
    const homeAnswer = await validate(1, home);
    const federated = await validate(1, federationToken);
    expect(federated.identity?.auditIds).toEqual(homeAnswer.identity?.auditIds);
    expect(federated.identity!.expiresAt!.getTime()).toBeLessThanOrEqual(
      homeAnswer.identity!.expiresAt!.getTime(),
    );
  });

  it('refuses to exchange a token of another cloud', async () => {
    const token = await issue(1, 'opaque');
    await expect(exchange(0, token)).rejects.toMatchObject({
      code: 'FAILED_PRECONDITION',
      message: expect.stringContaining('a token of cloud-b is exchanged at a node of cloud-b'),
    });
  });
});

describe('single sign-out', () => {
  it('stops a revoked token and the federation tokens made from it at every cloud', async () => {
    const opaque = await issue(0, 'opaque');
    const jws = await issue(0, 'jws');
    const federated = await exchange(0, opaque);
    // Warm every cache first: revocation must beat cached answers, not wait for them to age.
    for (const at of [0, 1, 2]) {
      for (const token of [opaque, jws, federated]) expect((await validate(at, token)).valid).toBe(true);
    }

    const api = federation.localApi(0);
    const startedMs = Date.now();
    const revoked = await api.client(TokensService).revokeToken({
      target: { $case: 'token', value: opaque },
      localOnly: false,
      reason: 'logout',
    });
    api.close();
    const auditId = revoked.revocation?.auditId;
    expect(auditId).toBeTruthy();
    await appliedEverywhere((p) => p.auditId === auditId);
    report('revoke-token-applied-at-3-clouds', { ms: Date.now() - startedMs });

    for (const at of [0, 1, 2]) {
      expect(summary(await validate(at, opaque))).toMatchObject({
        valid: false,
        reason: 'INVALID_REASON_REVOKED',
      });
      expect(summary(await validate(at, federated))).toMatchObject({
        valid: false,
        reason: 'INVALID_REASON_REVOKED',
      });
      // Another token of the same user is untouched.
      expect((await validate(at, jws)).valid).toBe(true);
    }
  });

  it('revokes every token of a disabled user, everywhere', async () => {
    const tokens = [await issue(2, 'opaque'), await issue(2, 'jws')];
    for (const token of tokens) expect((await validate(0, token)).valid).toBe(true);
    const startedMs = Date.now();
    const api = federation.localApi(2);
    const disabled = await api.client(IdentityAdminService).setUserEnabled({ user: 'demo', enabled: false });
    api.close();
    expect(disabled.user?.enabled).toBe(false);
    const userId = disabled.user?.id;
    await appliedEverywhere((p) => p.userId === userId && p.originCloud === 'cloud-c');
    report('disable-user-applied-at-3-clouds', { ms: Date.now() - startedMs });
    for (const at of [0, 1, 2]) {
      for (const token of tokens) {
        expect(summary(await validate(at, token))).toMatchObject({
          valid: false,
          reason: 'INVALID_REASON_REVOKED',
        });
      }
    }
    // The same user name at another cloud is another user: unaffected.
    expect((await validate(2, await issue(0, 'opaque'))).valid).toBe(true);
  });

  it('denies a token at one cloud only with a local-only revocation', async () => {
    const token = await issue(0, 'opaque');
    const api = federation.localApi(1);
    await api
      .client(TokensService)
      .revokeToken({ target: { $case: 'token', value: token }, localOnly: true, reason: 'not here' });
    api.close();
    expect(summary(await validate(1, token))).toMatchObject({
      valid: false,
      reason: 'INVALID_REASON_REVOKED',
    });
    expect((await validate(0, token)).valid).toBe(true);
    expect((await validate(2, token)).valid).toBe(true);
  });

  it('lets only the issuing cloud revoke a token federation-wide', async () => {
    const token = await issue(0, 'opaque');
    const api = federation.localApi(1);
    await expect(
      api
        .client(TokensService)
        .revokeToken({ target: { $case: 'token', value: token }, localOnly: false, reason: '' }),
    ).rejects.toMatchObject({
      code: 'PERMISSION_DENIED',
      message: expect.stringContaining('only cloud-a can revoke its tokens federation-wide'),
    });
    api.close();
  });
});

describe('answers that are not "valid"', () => {
  it('tells a malformed, forged or unknown token apart, as answers rather than errors', async () => {
    const jws = await issue(0, 'jws');
    const [header, payload] = jws.split('.');
    const forgedPayload = Buffer.from(
      JSON.stringify({ ...JSON.parse(Buffer.from(payload!, 'base64url').toString()), sub: 'someone-else' }),
    ).toString('base64url');
    const cases: [string, string][] = [
      ['not a token!', 'INVALID_REASON_MALFORMED'],
      [`${header}.${forgedPayload}.${jws.split('.')[2]}`, 'INVALID_REASON_BAD_SIGNATURE'],
      ['0123456789abcdef0123456789abcdef', 'INVALID_REASON_UNKNOWN_TOKEN'],
      ['x'.repeat(9 * 1024), 'INVALID_REASON_MALFORMED'],
    ];
    for (const [token, reason] of cases) {
      expect(summary(await validate(1, token))).toMatchObject({ valid: false, reason });
    }
  });

  it('says "origin unreachable", not "invalid", for an opaque token whose cloud is down', async () => {
    const token = await issue(0, 'opaque');
    await federation.stopNode(0);
    try {
      const hinted = await validate(1, token, 'cloud-a');
      expect(summary(hinted)).toMatchObject({ valid: false, reason: 'INVALID_REASON_ORIGIN_UNREACHABLE' });
      const unhinted = await validate(2, token);
      expect(summary(unhinted)).toMatchObject({ valid: false, reason: 'INVALID_REASON_ORIGIN_UNREACHABLE' });
      expect(unhinted.detail).toContain('cloud-a');
    } finally {
      await federation.startNode(0);
      await federation.fullyConnected();
    }
  });
});
