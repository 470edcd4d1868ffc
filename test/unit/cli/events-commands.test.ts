/**
 * `alliance publish`, `alliance tail` and `alliance events status` against a real grpc-js server
 * with canned Events handlers: whole outputs for a fixed "now", the requests the node received
 * (acks included, in order), usage errors that make no call, and streams that end or are replaced.
 */
import {
  Server,
  ServerCredentials,
  status as GrpcStatus,
  type sendUnaryData,
  type ServerUnaryCall,
  type ServerWritableStream,
} from '@grpc/grpc-js';
import { afterAll, afterEach, beforeAll, describe, expect, test } from 'vitest';
import {
  EventsService,
  Outcome,
  type AckRequest,
  type Event,
  type EventsServer,
  type GetEventStatusResponse,
  type SubscribeRequest,
} from '../../../src/gen/alliance/v1/events.js';
import { capture, nowMs, run, type ReceivedRequests } from './fixture-server.js';

const lines = (...text: string[]): string => text.map((line) => `${line}\n`).join('');
const at = (offsetMs: number): Date => new Date(nowMs + offsetMs);
const eventId = '6f1c2a34-5b6d-4e7f-8a9b-0c1d2e3f4a5b';

function event(n: number, overrides: Partial<Event> = {}): Event {
  return {
    id: `00000000-0000-4000-8000-00000000000${n}`,
    source: 'alliance://cloud-a/n1',
    type: 'identity.project.deleted',
    subject: `project-${n}`,
    time: at(-60_000 + n * 1000),
    data: { project_id: `project-${n}` },
    originCloud: 'cloud-a',
    attempt: 1,
    targetCloud: '',
    ...overrides,
  };
}

const streamed: Event[] = [
  event(1),
  event(2, { attempt: 3, targetCloud: 'cloud-b', data: {} }),
  // Remote text with a newline and an escape: still one line.
  event(3, { type: 'meter.usage', subject: 'user\n\u001b[31m7', data: { cpu_s: 12.5 } }),
];

const statusResponse: GetEventStatusResponse = {
  complete: false,
  event: { ...event(1), id: eventId, attempt: 0 },
  clouds: [
    {
      cloud: 'cloud-a',
      complete: true,
      subscribers: [
        {
          name: 'neutron',
          outcome: Outcome.OUTCOME_DONE,
          detail: '',
          ackedAt: at(-50_000),
          attempts: 1,
          parked: false,
        },
        {
          name: 'nova',
          outcome: Outcome.OUTCOME_SKIPPED,
          detail: 'not a compute project',
          ackedAt: at(-40_000),
          attempts: 1,
          parked: false,
        },
      ],
    },
    {
      cloud: 'cloud-b',
      complete: false,
      subscribers: [
        {
          name: 'neutron',
          outcome: Outcome.OUTCOME_UNSPECIFIED,
          detail: '',
          ackedAt: undefined,
          attempts: 0,
          parked: false,
        },
        {
          name: 'nova',
          outcome: Outcome.OUTCOME_FAILED,
          detail: 'volume service unreachable',
          ackedAt: undefined,
          attempts: 5,
          parked: true,
        },
      ],
    },
    { cloud: 'cloud-c', complete: true, subscribers: [] },
    { cloud: 'cloud-d', complete: false, subscribers: [] },
  ],
};

let received: ReceivedRequests;
/** What the canned Subscribe does after writing `streamed`: end, end with a status, or stay open. */
let subscribeEnding: 'end' | 'aborted' | 'open';
let onSubscribeCancelled: () => void = () => undefined;
let server: Server;
let address: string;

function record<Req>(name: string, request: Req): void {
  (received[name] ??= []).push(request);
}

const handlers: EventsServer = {
  publish: (
    call: ServerUnaryCall<{ type: string }, { id: string }>,
    callback: sendUnaryData<{ id: string }>,
  ) => {
    record('publish', call.request);
    if (call.request.type === 'identity.project.exploded') {
      callback({
        code: GrpcStatus.INVALID_ARGUMENT,
        details:
          'type "identity.project.exploded" is not a known event type; known types: identity.project.deleted',
      });
    } else callback(null, { id: eventId });
  },
  subscribe: (call: ServerWritableStream<SubscribeRequest, Event>) => {
    record('subscribe', call.request);
    for (const message of streamed) call.write(message);
    if (subscribeEnding === 'end') call.end();
    else if (subscribeEnding === 'aborted') {
      call.emit('error', { code: GrpcStatus.ABORTED, details: 'replaced by a newer subscription' });
    } else call.on('cancelled', () => onSubscribeCancelled());
  },
  ack: (call: ServerUnaryCall<AckRequest, object>, callback: sendUnaryData<object>) => {
    record('ack', call.request);
    callback(null, {});
  },
  // The CLI does not use the batch calls.
  publishBatch: (_call, callback) =>
    callback({ code: GrpcStatus.UNIMPLEMENTED, details: 'not in this fixture' }),
  ackBatch: (_call, callback) => callback({ code: GrpcStatus.UNIMPLEMENTED, details: 'not in this fixture' }),
  getEventStatus: (
    call: ServerUnaryCall<{ id: string }, GetEventStatusResponse>,
    callback: sendUnaryData<GetEventStatusResponse>,
  ) => {
    record('getEventStatus', call.request);
    if (call.request.id === eventId) callback(null, statusResponse);
    else
      callback({ code: GrpcStatus.NOT_FOUND, details: `no event ${call.request.id} is held at this node` });
  },
};

beforeAll(async () => {
  server = new Server();
  server.addService(EventsService, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  address = `127.0.0.1:${port}`;
});

afterAll(() => server.forceShutdown());

afterEach(() => {
  received = {};
  subscribeEnding = 'end';
});
received = {};
subscribeEnding = 'end';

describe('alliance publish', () => {
  test('publishes an event and prints its id alone', async () => {
    const result = await run([
      '--address',
      address,
      'publish',
      'identity.project.deleted',
      '--subject',
      'project-1',
      '--data',
      '{"project_id":"project-1","domain":{"id":"default"}}',
      '--target',
      'cloud-b',
    ]);
    expect(result).toEqual({ exitCode: 0, stdout: `${eventId}\n`, stderr: '' });
    expect(received['publish']).toEqual([
      {
        type: 'identity.project.deleted',
        subject: 'project-1',
        data: { project_id: 'project-1', domain: { id: 'default' } },
        targetCloud: 'cloud-b',
      },
    ]);
  });

  test('broadcasts with empty data by default, and --json prints the response', async () => {
    const result = await run([
      '--address',
      address,
      'publish',
      'identity.user.deleted',
      '--subject',
      'u1',
      '--json',
    ]);
    expect(result).toEqual({ exitCode: 0, stdout: `{\n  "id": "${eventId}"\n}\n`, stderr: '' });
    expect(received['publish']).toEqual([
      { type: 'identity.user.deleted', subject: 'u1', data: {}, targetCloud: '' },
    ]);
  });

  test.each([
    ['not JSON', '{project_id: 1}'],
    ['a JSON list', '[1, 2]'],
    ['a JSON string', '"p1"'],
  ])('refuses --data that is %s, without calling the node', async (_name, data) => {
    const result = await run([
      '--address',
      address,
      'publish',
      'meter.usage',
      '--subject',
      'u',
      '--data',
      data,
    ]);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      `option '--data <json>' argument '${data}' is invalid. expected a JSON object`,
    );
    expect(received['publish']).toBeUndefined();
  });

  test('requires --subject', async () => {
    const result = await run(['--address', address, 'publish', 'meter.usage']);
    expect(result).toMatchObject({
      exitCode: 1,
      stderr: expect.stringContaining("'--subject <id>' not specified"),
    });
  });

  test("reports the node's refusal on one line", async () => {
    const result = await run([
      '--address',
      address,
      'publish',
      'identity.project.exploded',
      '--subject',
      'p',
    ]);
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr:
        'alliance: INVALID_ARGUMENT: type "identity.project.exploded" is not a known event type; known types: identity.project.deleted\n',
    });
  });
});

describe('alliance tail', () => {
  test('prints one line per event and acks each done after printing it', async () => {
    const result = await run(['--address', address, 'tail', 'nova']);
    expect(result).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        '2024-01-15T11:59:01Z identity.project.deleted project-1 from cloud-a (id 00000000-0000-4000-8000-000000000001, attempt 1) {"project_id":"project-1"}',
        '2024-01-15T11:59:02Z identity.project.deleted project-2 from cloud-a to cloud-b (id 00000000-0000-4000-8000-000000000002, attempt 3)',
        '2024-01-15T11:59:03Z meter.usage user [31m7 from cloud-a (id 00000000-0000-4000-8000-000000000003, attempt 1) {"cpu_s":12.5}',
      ),
    });
    expect(received['subscribe']).toEqual([{ subscriber: 'nova', types: [] }]);
    expect(received['ack']).toEqual(
      streamed.map((e) => ({ subscriber: 'nova', eventId: e.id, outcome: Outcome.OUTCOME_DONE, detail: '' })),
    );
  });

  test('--types asks for those types only, --ack none leaves every event unacked, --json prints JSON lines', async () => {
    const result = await run([
      '--address',
      address,
      'tail',
      'billing',
      '--types',
      'meter.usage, identity.user.deleted',
      '--ack',
      'none',
      '--json',
    ]);
    expect(result.exitCode).toBe(0);
    expect(
      result.stdout
        .trimEnd()
        .split('\n')
        .map((line) => JSON.parse(line) as unknown)[0],
    ).toEqual({
      id: '00000000-0000-4000-8000-000000000001',
      source: 'alliance://cloud-a/n1',
      type: 'identity.project.deleted',
      subject: 'project-1',
      time: '2024-01-15T11:59:01.000Z',
      data: { project_id: 'project-1' },
      originCloud: 'cloud-a',
      attempt: 1,
    });
    expect(received['subscribe']).toEqual([
      { subscriber: 'billing', types: ['meter.usage', 'identity.user.deleted'] },
    ]);
    expect(received['ack']).toBeUndefined();
  });

  test('refuses an --ack other than done or none without calling the node', async () => {
    const result = await run(['--address', address, 'tail', 'nova', '--ack', 'failed']);
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toContain(
      "option '--ack <outcome>' argument 'failed' is invalid. Allowed choices are done, none.",
    );
    expect(received['subscribe']).toBeUndefined();
  });

  test('a newer subscription of the same name ends it with exit code 1, saying so', async () => {
    subscribeEnding = 'aborted';
    const result = await run(['--address', address, 'tail', 'nova']);
    expect(result.exitCode).toBe(1);
    expect(result.stdout.split('\n')).toHaveLength(4);
    expect(result.stderr).toBe('alliance: ABORTED: replaced by a newer subscription\n');
  });

  test('an interrupt (Ctrl-C) ends it cleanly with exit code 0', async () => {
    subscribeEnding = 'open';
    const serverSawCancel = new Promise<void>((resolve) => (onSubscribeCancelled = resolve));
    const interrupt = new AbortController();
    const captured = capture({
      signal: interrupt.signal,
      onStdout: (text) => {
        if (text.split('\n').length > 3) interrupt.abort();
      },
    });
    const result = await run(['--address', address, 'tail', 'nova', '--ack', 'none'], captured);
    expect(result.exitCode).toBe(0);
    expect(result.stderr).toBe('');
    await serverSawCancel;
  });
});

describe('alliance events status', () => {
  test('shows the event, a row per cloud and expected subscriber, and whether it is complete', async () => {
    const result = await run(['--address', address, 'events', 'status', eventId]);
    expect(result).toEqual({
      exitCode: 0,
      stderr: '',
      stdout: lines(
        `event:   ${eventId}`,
        'type:    identity.project.deleted',
        'subject: project-1',
        'origin:  cloud-a (alliance://cloud-a/n1)',
        'time:    2024-01-15T11:59:01Z',
        'target:  every cloud',
        '',
        'CLOUD    SUBSCRIBER  OUTCOME  ATTEMPTS  PARKED  ACKED                 DETAIL',
        'cloud-a  neutron     done            1  no      2024-01-15T11:59:10Z  -',
        'cloud-a  nova        skipped         1  no      2024-01-15T11:59:20Z  not a compute project',
        'cloud-b  neutron     pending         0  no      -                     -',
        'cloud-b  nova        failed          5  yes     -                     volume service unreachable',
        'cloud-c  -           -               -  -       -                     expects no subscriber',
        'cloud-d  -           -               -  -       -                     its expected subscribers are not known here yet',
        'complete: no (2 of 4 subscribers in 4 clouds handled it, 1 parked; waiting on cloud-b, cloud-d)',
      ),
    });
  });

  test('says complete when every expected subscriber handled it', async () => {
    statusResponse.complete = true;
    const clouds = statusResponse.clouds;
    statusResponse.clouds = clouds.slice(0, 1);
    try {
      const result = await run(['--address', address, 'events', 'status', eventId]);
      expect(result.stdout.trimEnd().split('\n').at(-1)).toBe(
        'complete: yes (2 of 2 subscribers in 1 clouds handled it)',
      );
    } finally {
      statusResponse.complete = false;
      statusResponse.clouds = clouds;
    }
  });

  test('--json prints the proto3 JSON of the answer', async () => {
    const result = await run(['--address', address, 'events', 'status', eventId, '--json']);
    const parsed = JSON.parse(result.stdout) as {
      clouds: { cloud: string; subscribers?: { name: string; parked?: boolean }[] }[];
    };
    expect(
      parsed.clouds.map((c) => [
        c.cloud,
        (c.subscribers ?? []).map((s) => `${s.name}${s.parked ? '!' : ''}`),
      ]),
    ).toEqual([
      ['cloud-a', ['neutron', 'nova']],
      ['cloud-b', ['neutron', 'nova!']],
      ['cloud-c', []],
      ['cloud-d', []],
    ]);
  });

  test('an unknown event is one line and exit code 1', async () => {
    const result = await run(['--address', address, 'events', 'status', 'nope']);
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: 'alliance: NOT_FOUND: no event nope is held at this node\n',
    });
  });
});
