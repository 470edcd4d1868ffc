/**
 * `alliance provision create|get|delete` against a real grpc-js server with canned Provisioning
 * handlers: whole outputs for a fixed "now", the requests the node received, `--wait` polling
 * to DONE, FAILED and a timeout on a clock that moves only when the command waits, usage errors
 * that make no call, and the node's refusals.
 */
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type sendUnaryData,
  type ServerUnaryCall,
} from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  ProvisioningService,
  ProvisionState,
  type DeprovisionRequest,
  type GetProvisionRequest,
  type GetProvisionResponse,
  type ProvisioningServer,
  type ProvisionRecord,
  type ProvisionRequest,
} from '../../../src/gen/alliance/v1/provisioning.js';
import { capture, nowMs, run, type ReceivedRequests, type RunResult } from './fixture-server.js';

const lines = (...text: string[]): string => text.map((line) => `${line}\n`).join('');
const at = (offsetMs: number): Date => new Date(nowMs + offsetMs);
const randomRequestId = '3f2b8c1e-9d4a-4b7e-8f60-1a2b3c4d5e6f';

const projectSpec = { name: 'demo-at-b', userId: 'u-demo', role: 'member' };

function record(overrides: Partial<ProvisionRecord> = {}): ProvisionRecord {
  return {
    requestId: 'req-1',
    requesterCloud: 'cloud-a',
    targetCloud: 'cloud-b',
    kind: 'project',
    spec: projectSpec,
    state: ProvisionState.PROVISION_STATE_PENDING,
    detail: '',
    result: undefined,
    createdAt: at(0),
    updatedAt: at(0),
    ...overrides,
  };
}

const done = record({
  state: ProvisionState.PROVISION_STATE_DONE,
  detail: 'project 9f1c created, role member assigned',
  result: { action: 'provision', projectId: '9f1c', name: 'demo-at-b', role: 'member' },
  updatedAt: at(1_000),
});
const running = record({ state: ProvisionState.PROVISION_STATE_RUNNING, result: { action: 'provision' } });
const failed = record({
  state: ProvisionState.PROVISION_STATE_FAILED,
  detail: 'a project named "demo-at-b" already exists in domain "default"',
  result: { action: 'provision' },
  updatedAt: at(1_000),
});
const deprovisioning = record({ state: ProvisionState.PROVISION_STATE_DEPROVISIONING, updatedAt: at(2_000) });
const deprovisioned = record({
  state: ProvisionState.PROVISION_STATE_DEPROVISIONED,
  detail: 'project deleted',
  result: { action: 'deprovision', deleted: true },
  updatedAt: at(3_000),
});

let received: ReceivedRequests;
/** What GetProvision answers, call after call (the last one for ever after); by request id. */
let getScript: Map<string, ProvisionRecord[]>;
let server: Server;
let address: string;

function recordRequest(name: string, request: unknown): void {
  (received[name] ??= []).push(request);
}

const notFound = (requestId: string) => ({
  code: GrpcStatus.NOT_FOUND,
  details: `no provisioning request ${requestId} was made from this cloud`,
});

const answer = (provision: ProvisionRecord): GetProvisionResponse => ({ state: provision.state, provision });

const handlers: ProvisioningServer = {
  provision: (
    call: ServerUnaryCall<ProvisionRequest, GetProvisionResponse>,
    callback: sendUnaryData<GetProvisionResponse>,
  ) => {
    recordRequest('provision', call.request);
    const { requestId, targetCloud, kind, spec } = call.request;
    if (requestId === 'used') {
      callback({
        code: GrpcStatus.ALREADY_EXISTS,
        details: 'request used was already made with another target, kind or spec',
      });
      return;
    }
    // An idempotent repeat of a request that has already settled.
    if (requestId === 'settled') callback(null, answer({ ...done, requestId }));
    else callback(null, answer(record({ requestId, targetCloud, kind, spec: spec ?? {} })));
  },
  getProvision: (
    call: ServerUnaryCall<GetProvisionRequest, GetProvisionResponse>,
    callback: sendUnaryData<GetProvisionResponse>,
  ) => {
    recordRequest('getProvision', call.request);
    const script = getScript.get(call.request.requestId);
    const next = script && script.length > 1 ? script.shift() : script?.[0];
    if (next === undefined) callback(notFound(call.request.requestId));
    else callback(null, answer({ ...next, requestId: call.request.requestId }));
  },
  deprovision: (
    call: ServerUnaryCall<DeprovisionRequest, GetProvisionResponse>,
    callback: sendUnaryData<GetProvisionResponse>,
  ) => {
    recordRequest('deprovision', call.request);
    if (call.request.requestId !== 'req-1') callback(notFound(call.request.requestId));
    else callback(null, answer(deprovisioning));
  },
};

/** A clock that moves only when the command waits; every wait is recorded. */
function waitingClock(): { sleeps: number[]; io: Parameters<typeof capture>[0] } {
  let clockMs = nowMs;
  const sleeps: number[] = [];
  return {
    sleeps,
    io: {
      nowMs: () => clockMs,
      sleep: (delayMs) => {
        sleeps.push(delayMs);
        clockMs += delayMs;
        return Promise.resolve();
      },
      randomId: () => randomRequestId,
    },
  };
}

const provisionCli = (args: readonly string[], io: Parameters<typeof capture>[0] = {}): Promise<RunResult> =>
  run(['--address', address, 'provision', ...args], capture({ randomId: () => randomRequestId, ...io }));

beforeAll(async () => {
  server = new Server();
  server.addService(ProvisioningService, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => server.forceShutdown());

function reset(): void {
  received = {};
  getScript = new Map([['req-1', [done]]]);
}
reset();
afterEach(reset);

const pendingFields = (requestId: string): string =>
  lines(
    `request:   ${requestId}`,
    'state:     pending',
    'target:    cloud-b',
    'requester: cloud-a',
    'kind:      project',
    'spec:      {"name":"demo-at-b","userId":"u-demo","role":"member"}',
    'detail:    -',
    'result:    -',
    'created:   2024-01-15T12:00:00Z',
    'updated:   2024-01-15T12:00:00Z',
  );

const doneFields = lines(
  'request:   req-1',
  'state:     done',
  'target:    cloud-b',
  'requester: cloud-a',
  'kind:      project',
  'spec:      {"name":"demo-at-b","userId":"u-demo","role":"member"}',
  'detail:    project 9f1c created, role member assigned',
  'result:    {"action":"provision","projectId":"9f1c","name":"demo-at-b","role":"member"}',
  'created:   2024-01-15T12:00:00Z',
  'updated:   2024-01-15T12:00:01Z',
);

const createProject = ['create', '--target', 'cloud-b', '--kind', 'project'];
const projectFlags = ['--name', 'demo-at-b', '--user', 'u-demo', '--role', 'member'];

describe('alliance provision create', () => {
  test('sends kind project from its flags under a random request id and prints the request', async () => {
    const result = await provisionCli([...createProject, ...projectFlags]);
    expect(result).toEqual({ exitCode: 0, stderr: '', stdout: pendingFields(randomRequestId) });
    expect(received['provision']).toEqual([
      { targetCloud: 'cloud-b', requestId: randomRequestId, kind: 'project', spec: projectSpec },
    ]);
  });

  test('--domain names the domain at the target; --request-id replaces the random id', async () => {
    await provisionCli([...createProject, ...projectFlags, '--domain', 'd-b', '--request-id', 'req-7']);
    expect(received['provision']).toEqual([
      {
        targetCloud: 'cloud-b',
        requestId: 'req-7',
        kind: 'project',
        spec: { ...projectSpec, domainId: 'd-b' },
      },
    ]);
  });

  test('sends --spec as is for another kind, and --json prints the proto3 JSON of the answer', async () => {
    const result = await provisionCli([
      'create',
      '--target',
      'cloud-c',
      '--kind',
      'volume',
      '--request-id',
      'req-9',
      '--spec',
      '{"sizeGb": 10, "tags": ["a"]}',
      '--json',
    ]);
    expect(result.exitCode).toBe(0);
    expect(JSON.parse(result.stdout)).toEqual({
      state: 'PROVISION_STATE_PENDING',
      provision: {
        requestId: 'req-9',
        requesterCloud: 'cloud-a',
        targetCloud: 'cloud-c',
        kind: 'volume',
        spec: { sizeGb: 10, tags: ['a'] },
        state: 'PROVISION_STATE_PENDING',
        createdAt: '2024-01-15T12:00:00.000Z',
        updatedAt: '2024-01-15T12:00:00.000Z',
      },
    });
    expect(received['provision']).toEqual([
      { targetCloud: 'cloud-c', requestId: 'req-9', kind: 'volume', spec: { sizeGb: 10, tags: ['a'] } },
    ]);
  });

  test('another kind without --spec sends an empty spec', async () => {
    await provisionCli(['create', '--target', 'cloud-c', '--kind', 'volume', '--request-id', 'r']);
    expect(received['provision']).toEqual([
      { targetCloud: 'cloud-c', requestId: 'r', kind: 'volume', spec: {} },
    ]);
  });

  test('--wait polls until DONE, prints the settled request and exits 0', async () => {
    getScript.set('req-1', [running, running, done]);
    const clock = waitingClock();
    const result = await provisionCli(
      [...createProject, ...projectFlags, '--request-id', 'req-1', '--wait'],
      clock.io,
    );
    expect(result).toEqual({ exitCode: 0, stderr: '', stdout: doneFields });
    expect(clock.sleeps).toEqual([500, 500, 500]);
    expect(received['getProvision']).toEqual([
      { requestId: 'req-1' },
      { requestId: 'req-1' },
      { requestId: 'req-1' },
    ]);
  });

  test('--wait ending FAILED prints the failure and exits 3', async () => {
    getScript.set('req-1', [running, failed]);
    const clock = waitingClock();
    const result = await provisionCli(
      [...createProject, ...projectFlags, '--request-id', 'req-1', '--wait'],
      clock.io,
    );
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toBe('');
    expect(result.stdout).toContain('state:     failed\n');
    expect(result.stdout).toContain(
      'detail:    a project named "demo-at-b" already exists in domain "default"\n',
    );
  });

  test('--wait-timeout gives up at its deadline, says so on stderr and exits 3', async () => {
    getScript.set('req-1', [running]);
    const clock = waitingClock();
    const result = await provisionCli(
      [...createProject, ...projectFlags, '--request-id', 'req-1', '--wait-timeout', '1200ms', '--json'],
      clock.io,
    );
    expect(result.exitCode).toBe(3);
    expect(clock.sleeps).toEqual([500, 500, 200]);
    expect(received['getProvision']).toHaveLength(3);
    expect(JSON.parse(result.stdout)).toMatchObject({ state: 'PROVISION_STATE_RUNNING' });
    expect(result.stderr).toBe(
      'alliance: stopped waiting after 1200ms: request req-1 is still running ' +
        '(follow it with: alliance provision get req-1)\n',
    );
  });

  test('--wait on a request the node answers as already settled does not poll', async () => {
    // capture()'s default sleep fails the command: any wait would show.
    const result = await provisionCli([
      ...createProject,
      ...projectFlags,
      '--request-id',
      'settled',
      '--wait',
    ]);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('state:     done\n');
    expect(received['getProvision']).toBeUndefined();
  });

  test.each([
    ['not JSON', '{name: 1}', 'text that is not JSON'],
    ['a JSON list', '[1, 2]', 'a list'],
    ['a JSON string', '"p1"', 'a string'],
    ['JSON null', 'null', 'null'],
  ])('refuses a --spec that is %s, without calling the node', async (_name, spec, what) => {
    const result = await provisionCli(['create', '--target', 'cloud-b', '--kind', 'volume', '--spec', spec]);
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr:
        `error: option '--spec <json>' argument '${spec}' is invalid. expected a JSON object, ` +
        `e.g. '{"name": "p1", "userId": "u1", "role": "member"}', not ${what}.\n`,
    });
    expect(received['provision']).toBeUndefined();
  });

  test.each([
    [
      'kind project without a spec',
      [...createProject],
      'error: kind project needs --name, --user and --role (or --spec)',
    ],
    [
      'a missing --role',
      [...createProject, '--name', 'p', '--user', 'u'],
      'error: kind project needs --name, --user and --role (missing: --role)',
    ],
    [
      '--spec and project flags together',
      [...createProject, '--spec', '{}', '--name', 'p'],
      'error: give either --spec or --name, --user, --role, --domain, not both',
    ],
    [
      'project flags for another kind',
      ['create', '--target', 'cloud-b', '--kind', 'volume', '--name', 'p', '--role', 'r'],
      'error: --name, --role: only for kind project; give --spec for kind volume',
    ],
    [
      'a --wait-timeout without a unit',
      [...createProject, ...projectFlags, '--wait-timeout', '30'],
      "error: option '--wait-timeout <duration>' argument '30' is invalid. " +
        'expected a duration with its unit, e.g. 30s, 2m or 500ms, from 1ms to 1h.',
    ],
    [
      'a --wait-timeout above an hour',
      [...createProject, ...projectFlags, '--wait-timeout', '61m'],
      "error: option '--wait-timeout <duration>' argument '61m' is invalid. " +
        'expected a duration with its unit, e.g. 30s, 2m or 500ms, from 1ms to 1h.',
    ],
  ])('refuses %s, without calling the node', async (_name, args, message) => {
    const result = await provisionCli(args);
    expect(result).toEqual({ exitCode: 1, stdout: '', stderr: `${message}\n` });
    expect(received['provision']).toBeUndefined();
  });

  test('requires --target and --kind', async () => {
    const result = await provisionCli(['create', '--kind', 'project']);
    expect(result).toMatchObject({
      exitCode: 1,
      stderr: expect.stringContaining("required option '--target <cloud>' not specified"),
    });
  });

  test("reports the node's refusal on one line", async () => {
    const result = await provisionCli([...createProject, ...projectFlags, '--request-id', 'used']);
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'alliance: ALREADY_EXISTS: request used was already made with another target, kind or spec\n',
    });
  });
});

describe('alliance provision get', () => {
  test("shows the request with the target's state, detail, result and times", async () => {
    const result = await provisionCli(['get', 'req-1']);
    expect(result).toEqual({ exitCode: 0, stderr: '', stdout: doneFields });
    expect(received['getProvision']).toEqual([{ requestId: 'req-1' }]);
  });

  test('exits 0 for a failed request too: it only shows it', async () => {
    getScript.set('req-1', [failed]);
    const result = await provisionCli(['get', 'req-1']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('state:     failed\n');
  });

  test('--json prints the proto3 JSON of the answer', async () => {
    const result = await provisionCli(['get', 'req-1', '--json']);
    expect(JSON.parse(result.stdout)).toEqual({
      state: 'PROVISION_STATE_DONE',
      provision: {
        requestId: 'req-1',
        requesterCloud: 'cloud-a',
        targetCloud: 'cloud-b',
        kind: 'project',
        spec: projectSpec,
        state: 'PROVISION_STATE_DONE',
        detail: 'project 9f1c created, role member assigned',
        result: { action: 'provision', projectId: '9f1c', name: 'demo-at-b', role: 'member' },
        createdAt: '2024-01-15T12:00:00.000Z',
        updatedAt: '2024-01-15T12:00:01.000Z',
      },
    });
  });

  test('an unknown request is one line and exit code 1', async () => {
    const result = await provisionCli(['get', 'nope']);
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'alliance: NOT_FOUND: no provisioning request nope was made from this cloud\n',
    });
  });
});

describe('alliance provision delete', () => {
  test('asks for deprovisioning and prints the request', async () => {
    const result = await provisionCli(['delete', 'req-1']);
    expect(result.exitCode).toBe(0);
    expect(result.stdout).toContain('state:     deprovisioning\n');
    expect(received['deprovision']).toEqual([{ requestId: 'req-1' }]);
    expect(received['getProvision']).toBeUndefined();
  });

  test('--wait polls until DEPROVISIONED and exits 0', async () => {
    getScript.set('req-1', [deprovisioning, deprovisioned]);
    const clock = waitingClock();
    const result = await provisionCli(['delete', 'req-1', '--wait'], clock.io);
    expect(result).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        'request:   req-1',
        'state:     deprovisioned',
        'target:    cloud-b',
        'requester: cloud-a',
        'kind:      project',
        'spec:      {"name":"demo-at-b","userId":"u-demo","role":"member"}',
        'detail:    project deleted',
        'result:    {"action":"deprovision","deleted":true}',
        'created:   2024-01-15T12:00:00Z',
        'updated:   2024-01-15T12:00:03Z',
      ),
    });
    expect(clock.sleeps).toEqual([500, 500]);
  });

  test('--wait ending FAILED exits 3', async () => {
    getScript.set('req-1', [
      { ...failed, detail: 'identity source down', result: { action: 'deprovision' } },
    ]);
    const clock = waitingClock();
    const result = await provisionCli(['delete', 'req-1', '--wait'], clock.io);
    expect(result.exitCode).toBe(3);
    expect(result.stdout).toContain('detail:    identity source down\n');
  });

  test('an unknown request is one line and exit code 1', async () => {
    const result = await provisionCli(['delete', 'nope', '--wait']);
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'alliance: NOT_FOUND: no provisioning request nope was made from this cloud\n',
    });
  });
});
