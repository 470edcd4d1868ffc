/**
 * `alliance token` and `alliance identity` against a real grpc-js server with canned Tokens and
 * IdentityAdmin handlers: whole outputs, exit codes (3 for an invalid token), usage errors that
 * make no call, stdin and environment inputs, and tokens kept out of every error line.
 */
import { Readable } from 'node:stream';
import { status as GrpcStatus, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, test, vi } from 'vitest';
import { limits } from '../../../src/config/limits.js';
import type { IdentityAdminServer, User } from '../../../src/gen/alliance/v1/identity.js';
import {
  InvalidReason,
  type Identity,
  type Revocation,
  type RevokeTokenRequest,
  type TokensServer,
  type ValidateTokenResponse,
} from '../../../src/gen/alliance/v1/tokens.js';
import {
  capture,
  nowMs,
  run,
  startServer,
  unusedAddress,
  type ReceivedRequests,
  type RunningServer,
} from './fixture-server.js';

const lines = (...text: string[]): string => text.map((line) => `${line}\n`).join('');
const at = (offsetMs: number): Date => new Date(nowMs + offsetMs);
const hourMs = 3_600_000;

const issuedToken = 'gAAAAABl-issued-opaque-token';
const federationToken = 'eyJhbGciOiJFUzI1NiJ9.federation.signature';

const alice: Identity = {
  userId: 'u-alice',
  userName: 'alice',
  domainId: 'default',
  projectId: 'p-research',
  projectName: 'research',
  projectDomainId: 'default',
  roles: ['member', 'reader'],
  originCloud: 'cloud-a',
  auditIds: ['aud-1', 'aud-0'],
  issuedAt: at(-hourMs),
  expiresAt: at(hourMs),
  tokenFormat: 'fernet',
};

/** The canned answers of ValidateToken, by token. */
const verdicts: Record<string, ValidateTokenResponse> = {
  'tok-mapped': {
    valid: true,
    reason: InvalidReason.INVALID_REASON_UNSPECIFIED,
    identity: alice,
    local: { mapped: true, projectId: 'fed-cloud-a', roles: ['member'], groups: [], rule: 'remote-members' },
    detail: '',
  },
  'tok-unmapped': {
    valid: true,
    reason: InvalidReason.INVALID_REASON_UNSPECIFIED,
    identity: {
      ...alice,
      projectId: '',
      projectName: '',
      projectDomainId: '',
      roles: [],
      auditIds: ['aud-2'],
    },
    local: { mapped: false, projectId: '', roles: [], groups: [], rule: '' },
    detail: '',
  },
  'tok-revoked': {
    valid: false,
    reason: InvalidReason.INVALID_REASON_REVOKED,
    identity: undefined,
    local: undefined,
    detail: 'revoked by cloud-a: user disabled',
  },
  'tok-unreachable': {
    valid: false,
    reason: InvalidReason.INVALID_REASON_ORIGIN_UNREACHABLE,
    identity: undefined,
    local: undefined,
    detail: 'cloud-a did not answer within 2000 ms',
  },
  // A careless node that echoes the token in its detail: the CLI hides it.
  'tok-echoed': {
    valid: false,
    reason: InvalidReason.INVALID_REASON_MALFORMED,
    identity: undefined,
    local: undefined,
    detail: 'cannot decode tok-echoed',
  },
  'tok-future-reason': {
    valid: false,
    reason: 42 as InvalidReason,
    identity: undefined,
    local: undefined,
    detail: '',
  },
};

const revocations: Revocation[] = [
  {
    id: 'rev-1',
    originCloud: 'cloud-a',
    localOnly: false,
    tokenFingerprint: '',
    auditId: '',
    auditChainId: '',
    userId: 'u-alice',
    projectId: '',
    domainId: '',
    issuedBefore: at(-60_000),
    revokedAt: at(-60_000),
    expiresAt: at(23 * hourMs),
    reason: 'user disabled',
  },
  {
    id: 'rev-2',
    originCloud: 'cloud-b',
    localOnly: true,
    tokenFingerprint: 'sha256:9f86d081884c7d65',
    auditId: '',
    auditChainId: '',
    userId: '',
    projectId: '',
    domainId: '',
    issuedBefore: at(-5_000),
    revokedAt: at(-5_000),
    expiresAt: at(hourMs),
    reason: '',
  },
  {
    id: 'rev-3',
    originCloud: 'cloud-a',
    localOnly: false,
    tokenFingerprint: '',
    auditId: '',
    auditChainId: '',
    userId: 'u-bob',
    projectId: 'p-research',
    domainId: '',
    issuedBefore: at(-2 * hourMs),
    revokedAt: at(-2 * hourMs),
    expiresAt: at(22 * hourMs),
    reason: 'role\nunassigned',
  },
];

const users: User[] = [
  {
    id: 'u-alice',
    name: 'alice',
    domainId: 'default',
    enabled: true,
    assignments: ['research:member', 'research:reader'],
  },
  { id: 'u-bob', name: 'bob', domainId: 'default', enabled: false, assignments: [] },
];

/** The revocation a canned RevokeToken makes from its request. */
function revocationFor(request: RevokeTokenRequest): Revocation {
  const target = request.target;
  return {
    id: 'rev-9',
    originCloud: 'cloud-a',
    localOnly: request.localOnly,
    tokenFingerprint: target?.$case === 'token' ? 'sha256:5e884898da280471' : '',
    auditId: target?.$case === 'auditId' ? target.value : '',
    auditChainId: target?.$case === 'auditChainId' ? target.value : '',
    userId: target?.$case === 'userId' ? target.value : '',
    projectId: target?.$case === 'projectId' ? target.value : '',
    domainId: target?.$case === 'domainId' ? target.value : '',
    issuedBefore: at(0),
    revokedAt: at(0),
    expiresAt: at(24 * hourMs),
    reason: request.reason,
  };
}

type Unary<Req, Res> = (call: ServerUnaryCall<Req, Res>, callback: sendUnaryData<Res>) => void;

function recorded<Req, Res>(
  received: ReceivedRequests,
  name: string,
  respond: (request: Req, callback: sendUnaryData<Res>) => void,
): Unary<Req, Res> {
  return (call, callback) => {
    (received[name] ??= []).push(call.request);
    respond(call.request, callback);
  };
}

function tokensHandlers(received: ReceivedRequests): TokensServer {
  return {
    issueToken: recorded(received, 'issueToken', (request, callback) =>
      request.password === 's3cret'
        ? callback(null, { token: issuedToken, expiresAt: at(hourMs) })
        : // A careless node that echoes the password: the CLI hides it.
          callback({ code: GrpcStatus.UNAUTHENTICATED, details: `wrong password ${request.password}` }),
    ),
    validateToken: recorded(received, 'validateToken', (request, callback) => {
      const verdict = verdicts[request.token];
      if (verdict !== undefined) callback(null, verdict);
      else callback({ code: GrpcStatus.INVALID_ARGUMENT, details: `token ${request.token} is too long` });
    }),
    exchangeToken: recorded(received, 'exchangeToken', (request, callback) =>
      request.token === 'tok-mapped'
        ? callback(null, { token: federationToken, expiresAt: at(hourMs) })
        : callback({ code: GrpcStatus.PERMISSION_DENIED, details: 'the token is not valid: revoked' }),
    ),
    revokeToken: recorded(received, 'revokeToken', (request, callback) =>
      callback(null, { revocation: revocationFor(request) }),
    ),
    listRevocations: recorded(received, 'listRevocations', (request, callback) =>
      callback(null, {
        revocations: revocations.filter(
          (r) => request.originCloud === '' || r.originCloud === request.originCloud,
        ),
      }),
    ),
  };
}

function identityHandlers(received: ReceivedRequests): IdentityAdminServer {
  return {
    listUsers: recorded(received, 'listUsers', (_request, callback) => callback(null, { users })),
    setUserEnabled: recorded(received, 'setUserEnabled', (request, callback) => {
      const user = users.find((u) => u.id === request.user || u.name === request.user);
      if (user === undefined) {
        callback({ code: GrpcStatus.NOT_FOUND, details: `no user ${request.user}` });
        return;
      }
      callback(null, {
        user: { ...user, enabled: request.enabled },
        revocation: request.enabled ? undefined : { ...revocations[0]!, id: 'rev-10', issuedBefore: at(0) },
      });
    }),
    setProjectEnabled: recorded(received, 'setProjectEnabled', (request, callback) =>
      callback(null, {
        projectId: 'p-research',
        enabled: request.enabled,
        revocation: request.enabled
          ? undefined
          : {
              ...revocations[0]!,
              id: 'rev-11',
              userId: '',
              projectId: 'p-research',
              issuedBefore: at(0),
              reason: 'project disabled',
            },
      }),
    ),
  };
}

let server: RunningServer;
let received: ReceivedRequests;

beforeAll(async () => {
  received = {};
  server = await startServer({ tokens: tokensHandlers(received), identity: identityHandlers(received) });
});

afterAll(() => server.stop());

afterEach(() => {
  for (const key of Object.keys(received)) delete received[key];
  vi.restoreAllMocks();
});

const alliance = (...args: string[]) => run(['--address', server.address, ...args]);

/** Makes the process's stdin (what `-` reads) this text for the next command. */
function stdinHolds(text: string): void {
  vi.spyOn(process, 'stdin', 'get').mockReturnValue(
    Readable.from([Buffer.from(text)]) as typeof process.stdin,
  );
}

describe('alliance token issue', () => {
  const args = ['token', 'issue', '--user', 'alice', '--project', 'research'];

  test('prints the token alone, so T=$(alliance token issue ...) works', async () => {
    expect(await alliance(...args, '--password', 's3cret', '--domain', 'Default', '--format', 'jws')).toEqual(
      {
        exitCode: 0,
        stdout: `${issuedToken}\n`,
        stderr: '',
      },
    );
    expect(received['issueToken']).toEqual([
      {
        userName: 'alice',
        password: 's3cret',
        projectName: 'research',
        domainName: 'Default',
        format: 'jws',
      },
    ]);
  });

  test('takes the password from ALLIANCE_PASSWORD when --password is absent; the node defaults domain and format', async () => {
    const result = await run(
      ['--address', server.address, ...args],
      capture({ env: { ALLIANCE_PASSWORD: 's3cret' } }),
    );
    expect(result).toEqual({ exitCode: 0, stdout: `${issuedToken}\n`, stderr: '' });
    expect(received['issueToken']).toEqual([
      { userName: 'alice', password: 's3cret', projectName: 'research', domainName: '', format: '' },
    ]);
  });

  test('--password wins over ALLIANCE_PASSWORD', async () => {
    const result = await run(
      ['--address', server.address, ...args, '--password', 's3cret'],
      capture({ env: { ALLIANCE_PASSWORD: 'stale' } }),
    );
    expect(result.stdout).toBe(`${issuedToken}\n`);
  });

  test('--json prints the response', async () => {
    const result = await alliance(...args, '--password', 's3cret', '--json');
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({ token: issuedToken, expiresAt: '2024-01-15T13:00:00.000Z' });
  });

  test('without a password anywhere it is refused before any call', async () => {
    expect(
      await run(['--address', server.address, ...args], capture({ env: { ALLIANCE_PASSWORD: '' } })),
    ).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'error: no password: give --password or set ALLIANCE_PASSWORD\n',
    });
    expect(received['issueToken']).toBeUndefined();
  });

  test('a rejected password is one error line that never repeats the password', async () => {
    expect(await alliance(...args, '--password', 'hunter2')).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'alliance: UNAUTHENTICATED: wrong password <password>\n',
    });
  });

  test('--user and --project are required; --format is opaque or jws', async () => {
    expect((await alliance('token', 'issue', '--project', 'research')).stderr).toBe(
      "error: required option '--user <name>' not specified\n",
    );
    expect((await alliance(...args, '--format', 'fernet')).stderr).toBe(
      "error: option '--format <format>' argument 'fernet' is invalid. Allowed choices are opaque, jws.\n",
    );
    expect(received['issueToken']).toBeUndefined();
  });
});

describe('alliance token validate', () => {
  test('a valid, mapped token: identity, times, audit ids and the local authorization', async () => {
    expect(await alliance('token', 'validate', 'tok-mapped')).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'valid',
        'User:                alice (u-alice)',
        'Domain:              default',
        'Project:             research (p-research), domain default',
        'Roles:               member, reader',
        'Origin cloud:        cloud-a',
        'Format:              fernet',
        'Issued:              2024-01-15T11:00:00Z',
        'Expires:             2024-01-15T13:00:00Z',
        'Audit ids:           aud-1, aud-0',
        'Local authorization: project fed-cloud-a, roles member (rule remote-members)',
      ),
    });
    expect(received['validateToken']).toEqual([{ token: 'tok-mapped', originHint: '' }]);
  });

  test('a valid token no rule maps: valid identity, no local authorization', async () => {
    expect(await alliance('token', 'validate', 'tok-unmapped', '--origin', 'cloud-a')).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'valid',
        'User:                alice (u-alice)',
        'Domain:              default',
        'Project:             -',
        'Roles:               -',
        'Origin cloud:        cloud-a',
        'Format:              fernet',
        'Issued:              2024-01-15T11:00:00Z',
        'Expires:             2024-01-15T13:00:00Z',
        'Audit ids:           aud-2',
        'Local authorization: no mapping rule matched: valid identity, no local authorization',
      ),
    });
    expect(received['validateToken']).toEqual([{ token: 'tok-unmapped', originHint: 'cloud-a' }]);
  });

  test.each([
    ['tok-revoked', 'invalid: revoked (revoked by cloud-a: user disabled)'],
    ['tok-unreachable', 'invalid: origin-unreachable (cloud-a did not answer within 2000 ms)'],
    ['tok-echoed', 'invalid: malformed (cannot decode <token>)'],
    ['tok-future-reason', 'invalid: reason 42'],
  ])('%s: "%s" on stdout and exit code 3', async (token, line) => {
    expect(await alliance('token', 'validate', token)).toEqual({
      exitCode: 3,
      stdout: `${line}\n`,
      stderr: '',
    });
  });

  test('--json prints the response, and still exits 3 when invalid', async () => {
    const valid = await alliance('token', 'validate', 'tok-mapped', '--json');
    expect(valid.exitCode).toBe(0);
    expect(JSON.parse(valid.stdout)).toEqual({
      valid: true,
      identity: {
        userId: 'u-alice',
        userName: 'alice',
        domainId: 'default',
        projectId: 'p-research',
        projectName: 'research',
        roles: ['member', 'reader'],
        originCloud: 'cloud-a',
        auditIds: ['aud-1', 'aud-0'],
        issuedAt: '2024-01-15T11:00:00.000Z',
        expiresAt: '2024-01-15T13:00:00.000Z',
        projectDomainId: 'default',
        tokenFormat: 'fernet',
      },
      local: { mapped: true, projectId: 'fed-cloud-a', roles: ['member'], rule: 'remote-members' },
    });

    const invalid = await alliance('token', 'validate', 'tok-echoed', '--json');
    expect([invalid.exitCode, invalid.stderr]).toEqual([3, '']);
    expect(JSON.parse(invalid.stdout)).toEqual({
      // proto3 JSON leaves out fields at their defaults: `valid: false` is absent.
      reason: 'INVALID_REASON_MALFORMED',
      detail: 'cannot decode <token>',
    });
  });

  test('- reads the token from stdin, surrounding whitespace trimmed', async () => {
    stdinHolds('  tok-revoked\n');
    expect(await alliance('token', 'validate', '-')).toEqual({
      exitCode: 3,
      stdout: 'invalid: revoked (revoked by cloud-a: user disabled)\n',
      stderr: '',
    });
    expect(received['validateToken']).toEqual([{ token: 'tok-revoked', originHint: '' }]);
  });

  test.each([
    ['', 'alliance: no token on stdin'],
    ['\n \n', 'alliance: no token on stdin'],
    ['tok-mapped\nsecond-secret\n', 'alliance: expected one token on stdin, found several words or lines'],
  ])('stdin %j is refused without a call, and without echoing it', async (text, line) => {
    stdinHolds(text);
    expect(await alliance('token', 'validate', '-')).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: `${line}\n`,
    });
    expect(received['validateToken']).toBeUndefined();
  });

  test('stdin larger than the local API accepts is refused without a call', async () => {
    stdinHolds('t'.repeat(limits.localMessageBytesMax + 1));
    expect(await alliance('token', 'validate', '-')).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: `alliance: the token on stdin is larger than the local API accepts (${limits.localMessageBytesMax} bytes)\n`,
    });
    expect(received['validateToken']).toBeUndefined();
  });

  test('an RPC error is exit code 1 and its line never shows the token', async () => {
    expect(await alliance('token', 'validate', 'tok-unknown-to-the-canned-node')).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'alliance: INVALID_ARGUMENT: token <token> is too long\n',
    });
  });

  test('an unreachable node is exit code 1, "cannot reach", distinct from invalid', async () => {
    const address = await unusedAddress();
    expect(await run(['--address', address, 'token', 'validate', 'tok-mapped'])).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: `alliance: cannot reach the local API at ${address} (is the node running?)\n`,
    });
  });
});

describe('alliance token exchange', () => {
  test('prints the federation token alone', async () => {
    expect(await alliance('token', 'exchange', 'tok-mapped', '--origin', 'cloud-a')).toEqual({
      exitCode: 0,
      stdout: `${federationToken}\n`,
      stderr: '',
    });
    expect(received['exchangeToken']).toEqual([{ token: 'tok-mapped', originHint: 'cloud-a' }]);
  });

  test('reads the home token from stdin; --json prints the response', async () => {
    stdinHolds('tok-mapped\n');
    const result = await alliance('token', 'exchange', '-', '--json');
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      token: federationToken,
      expiresAt: '2024-01-15T13:00:00.000Z',
    });
  });

  test('a refusal is one error line', async () => {
    expect(await alliance('token', 'exchange', 'tok-revoked')).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'alliance: PERMISSION_DENIED: the token is not valid: revoked\n',
    });
  });
});

describe('alliance token revoke', () => {
  test.each([
    [['--user-id', 'u-alice'], { $case: 'userId', value: 'u-alice' }, 'user=u-alice'],
    [['--project-id', 'p-1'], { $case: 'projectId', value: 'p-1' }, 'project=p-1'],
    [['--domain-id', 'd-1'], { $case: 'domainId', value: 'd-1' }, 'domain=d-1'],
    [['--audit-id', 'aud-1'], { $case: 'auditId', value: 'aud-1' }, 'audit-id=aud-1'],
    [['--audit-chain-id', 'aud-0'], { $case: 'auditChainId', value: 'aud-0' }, 'audit-chain=aud-0'],
    [
      ['--token', 'tok-mapped'],
      { $case: 'token', value: 'tok-mapped' },
      'fingerprint=sha256:5e884898da280471',
    ],
  ])('%j sends target %j and prints the revocation', async (flags, target, described) => {
    expect(await alliance('token', 'revoke', ...flags)).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'Revocation:    rev-9',
        `Target:        ${described}`,
        'Origin cloud:  cloud-a',
        'Local only:    no',
        'Issued before: 2024-01-15T12:00:00Z',
        'Revoked at:    2024-01-15T12:00:00Z',
        'Expires:       2024-01-16T12:00:00Z',
        'Reason:        -',
      ),
    });
    expect(received['revokeToken']).toEqual([
      { target, localOnly: false, issuedBefore: undefined, reason: '' },
    ]);
  });

  test('--local-only and --reason are sent; --token - reads stdin; the token is never printed', async () => {
    stdinHolds('tok-secret\n');
    const result = await alliance('token', 'revoke', '--token', '-', '--local-only', '--reason', 'leaked');
    expect(result.stdout).not.toContain('tok-secret');
    expect(result.stdout).toContain('Local only:    yes\n');
    expect(result.stdout).toContain('Reason:        leaked\n');
    expect(received['revokeToken']).toEqual([
      {
        target: { $case: 'token', value: 'tok-secret' },
        localOnly: true,
        issuedBefore: undefined,
        reason: 'leaked',
      },
    ]);
  });

  test('--json prints the response', async () => {
    const result = await alliance('token', 'revoke', '--user-id', 'u-alice', '--json');
    expect(JSON.parse(result.stdout)).toEqual({
      revocation: {
        id: 'rev-9',
        originCloud: 'cloud-a',
        userId: 'u-alice',
        issuedBefore: '2024-01-15T12:00:00.000Z',
        revokedAt: '2024-01-15T12:00:00.000Z',
        expiresAt: '2024-01-16T12:00:00.000Z',
      },
    });
  });

  test.each([
    [[], 'none'],
    [['--user-id', 'u-1', '--project-id', 'p-1'], '--user-id and --project-id'],
    [
      ['--token', 'tok-secret', '--audit-id', 'a', '--domain-id', 'd'],
      '--token and --audit-id and --domain-id',
    ],
  ])('%j: exactly one target is required, checked before any call', async (flags, got) => {
    const result = await alliance('token', 'revoke', ...flags, '--reason', 'x');
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr:
        'error: name exactly one target: --token, --audit-id, --audit-chain-id, --user-id, --project-id, ' +
        `--domain-id (got ${got})\n`,
    });
    expect(received['revokeToken']).toBeUndefined();
  });

  test('an empty target is refused before any call', async () => {
    expect(await alliance('token', 'revoke', '--user-id', '')).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'error: --user-id needs a value\n',
    });
    expect(received['revokeToken']).toBeUndefined();
  });
});

describe('alliance token revocations', () => {
  test('a table: target as facts, times in UTC, local-only, reason on one line', async () => {
    expect(await alliance('token', 'revocations')).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'ID     ORIGIN   TARGET                               ISSUED BEFORE         EXPIRES               LOCAL  REASON',
        'rev-1  cloud-a  user=u-alice                         2024-01-15T11:59:00Z  2024-01-16T11:00:00Z  no     user disabled',
        'rev-2  cloud-b  fingerprint=sha256:9f86d081884c7d65  2024-01-15T11:59:55Z  2024-01-15T13:00:00Z  yes',
        'rev-3  cloud-a  user=u-bob project=p-research        2024-01-15T10:00:00Z  2024-01-16T10:00:00Z  no     role unassigned',
      ),
    });
    expect(received['listRevocations']).toEqual([{ originCloud: '' }]);
  });

  test('--origin filters; --json prints the response', async () => {
    const result = await alliance('token', 'revocations', '--origin', 'cloud-b', '--json');
    expect(received['listRevocations']).toEqual([{ originCloud: 'cloud-b' }]);
    expect(JSON.parse(result.stdout)).toEqual({
      revocations: [
        {
          id: 'rev-2',
          originCloud: 'cloud-b',
          localOnly: true,
          tokenFingerprint: 'sha256:9f86d081884c7d65',
          issuedBefore: '2024-01-15T11:59:55.000Z',
          revokedAt: '2024-01-15T11:59:55.000Z',
          expiresAt: '2024-01-15T13:00:00.000Z',
        },
      ],
    });
  });

  test('an empty list is the header alone', async () => {
    expect((await alliance('token', 'revocations', '--origin', 'cloud-z')).stdout).toBe(
      lines('ID  ORIGIN  TARGET  ISSUED BEFORE  EXPIRES  LOCAL  REASON'),
    );
  });
});

describe('alliance identity', () => {
  test('users: a table of users, enabled or not, with their assignments', async () => {
    expect(await alliance('identity', 'users')).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'NAME   ID       DOMAIN   ENABLED  ASSIGNMENTS',
        'alice  u-alice  default  yes      research:member, research:reader',
        'bob    u-bob    default  no',
      ),
    });
  });

  test('users --json prints the response', async () => {
    expect(JSON.parse((await alliance('identity', 'users', '--json')).stdout)).toEqual({
      users: [
        {
          id: 'u-alice',
          name: 'alice',
          domainId: 'default',
          enabled: true,
          assignments: ['research:member', 'research:reader'],
        },
        { id: 'u-bob', name: 'bob', domainId: 'default' },
      ],
    });
  });

  test('disable-user shows the user and the revocation it caused', async () => {
    expect(await alliance('identity', 'disable-user', 'alice')).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'User:    alice (u-alice)',
        'Domain:  default',
        'Enabled: no',
        'Revoked: user=u-alice, tokens issued before 2024-01-15T12:00:00Z (revocation rev-10)',
      ),
    });
    expect(received['setUserEnabled']).toEqual([{ user: 'alice', enabled: false }]);
  });

  test('enable-user shows the user, with no revocation', async () => {
    expect(await alliance('identity', 'enable-user', 'u-bob')).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines('User:    bob (u-bob)', 'Domain:  default', 'Enabled: yes'),
    });
    expect(received['setUserEnabled']).toEqual([{ user: 'u-bob', enabled: true }]);
  });

  test('disable-project and enable-project', async () => {
    expect(await alliance('identity', 'disable-project', 'research')).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'Project: p-research',
        'Enabled: no',
        'Revoked: project=p-research, tokens issued before 2024-01-15T12:00:00Z (revocation rev-11)',
      ),
    });
    expect(await alliance('identity', 'enable-project', 'research')).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines('Project: p-research', 'Enabled: yes'),
    });
    expect(received['setProjectEnabled']).toEqual([
      { project: 'research', enabled: false },
      { project: 'research', enabled: true },
    ]);
  });

  test("an unknown user is the node's error, one line", async () => {
    expect(await alliance('identity', 'disable-user', 'mallory')).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'alliance: NOT_FOUND: no user mallory\n',
    });
  });

  test('a node with a Keystone identity source answers FAILED_PRECONDITION, shown readably', async () => {
    const keystoneNode = await startServer({
      identity: {
        listUsers: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) =>
          callback({
            code: GrpcStatus.FAILED_PRECONDITION,
            details: 'identity is Keystone: manage users there',
          }),
      },
    });
    try {
      expect(await run(['--address', keystoneNode.address, 'identity', 'users'])).toEqual({
        exitCode: 1,
        stdout: '',
        stderr: 'alliance: FAILED_PRECONDITION: identity is Keystone: manage users there\n',
      });
    } finally {
      keystoneNode.stop();
    }
  });

  test('an unreachable node is "cannot reach"', async () => {
    const address = await unusedAddress();
    expect(await run(['--address', address, 'identity', 'enable-user', 'alice'])).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: `alliance: cannot reach the local API at ${address} (is the node running?)\n`,
    });
  });
});
