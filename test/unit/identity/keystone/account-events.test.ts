/**
 * The pure translation of Keystone notifications into account events, over every message captured
 * from a real Keystone 22 (samples/: basic and CADF, copied from the lab's capture), plus a group's
 * role removal captured from the lab, and the shapes a payload may lack.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  disabledEventOf,
  groupMemberRoleRemoved,
  translateNotification,
} from '../../../../src/identity/keystone/account-events.js';
import type { AccountEventCandidate } from '../../../../src/identity/keystone/account-events.js';
import { parseKeystoneTimeMs } from '../../../../src/identity/keystone/keystone-time.js';
import {
  MalformedNotification,
  parseOsloNotification,
} from '../../../../src/identity/keystone/notifications.js';
import type { OsloNotification } from '../../../../src/identity/keystone/notifications.js';
import { cadfGroupRoleAssignmentDeleted } from './notification-samples.js';

const samplesDir = join(import.meta.dirname, 'samples');

interface Captured {
  file: string;
  /** The body exactly as it was on the wire. */
  body: string;
  message: Record<string, unknown> & { message_id: string; event_type: string; timestamp: string };
}

/** Every captured message: each line of the *.jsonl files and each pretty-printed *.json file. */
function capturedMessages(): Captured[] {
  const out: Captured[] = [];
  for (const file of readdirSync(samplesDir).sort()) {
    const records: string[] = file.endsWith('.jsonl')
      ? readFileSync(join(samplesDir, file), 'utf8')
          .split('\n')
          .filter((l) => l.trim() !== '')
      : file.endsWith('.json')
        ? [readFileSync(join(samplesDir, file), 'utf8')]
        : [];
    for (const record of records) {
      const r = JSON.parse(record) as { envelope: unknown; message: Captured['message'] };
      out.push({ file, body: JSON.stringify(r.envelope), message: r.message });
    }
  }
  return out;
}

/** The domains of the captured scenario (basic, then CADF run): their project twins are domains. */
const scenarioDomains = new Set(['e9ac52cf9a2f4fc1a66b87a03cb3ca54', 'b402368be86f436cbb70fa150832e627']);
const receivedAtMs = Date.UTC(2030, 0, 1);
const ctx = { receivedAtMs, isDomain: (id: string) => scenarioDomains.has(id) };

const translate = (body: string, context = ctx) =>
  translateNotification(parseOsloNotification(body), context);

/** The wire body of a pretty-printed sample file. */
const body = (file: string) =>
  JSON.stringify(
    (JSON.parse(readFileSync(join(samplesDir, file), 'utf8')) as { envelope: unknown }).envelope,
  );

/** `wire` with its inner message changed by `edit`. */
function edited(wire: string, edit: (message: Record<string, unknown>) => void): string {
  const envelope = JSON.parse(wire) as Record<string, string>;
  const message = JSON.parse(envelope['oslo.message']!) as Record<string, unknown>;
  edit(message);
  return JSON.stringify({ ...envelope, 'oslo.message': JSON.stringify(message) });
}

/** A candidate in one line: [event type, subject], ['check <resource>', id], ['group', id]. */
function summary(c: AccountEventCandidate): [string, string] {
  if (c.kind === 'event') return [c.event.type, c.event.subject];
  if (c.kind === 'check-disabled') return [`check ${c.resource}`, c.id];
  return ['group', c.groupId];
}

/**
 * What each captured message stands for, by message id (the *.json files repeat messages of the
 * *.jsonl files). The scenario: create a domain with two projects and two users, remove and
 * re-grant a role, disable (and re-enable, change the password of) a user, disable and re-enable
 * a project, delete a project and a user, disable the domain and delete it.
 */
const expected: [messageId: string, eventType: string, candidate: [string, string] | []][] = [
  // basic-all.jsonl
  ['a4febbea-cc5e-466e-9753-1a8d49eac723', 'identity.domain.created', []],
  ['639953c9-0949-4fc7-a7ab-b3d720b91a8e', 'identity.project.created', []],
  ['8700697e-c53b-45cc-9ae2-8c5218affe28', 'identity.project.created', []],
  ['6c073f2c-6d6a-4509-b507-d8d3e4e8ddf6', 'identity.user.created', []],
  ['ebceda71-9b35-463b-ae24-06f0fbfd08bd', 'identity.user.created', []],
  ['f252ca1c-465c-440e-bfae-51bdba47f211', 'identity.role_assignment.created', []],
  ['a16c8ce1-a28b-4166-916d-2209df917d90', 'identity.role_assignment.created', []],
  [
    'b3fda063-7050-4c82-9d66-d4e16fb2cc3f',
    'identity.role_assignment.deleted',
    ['identity.role_assignment.removed', '187cc074a9294832a0f68385bec09119'],
  ],
  ['b2c2e228-ae21-4bbf-a6f9-ba243108aa70', 'identity.role_assignment.created', []],
  [
    'f7775e29-9688-4c59-8d2e-0429ef8eb69a',
    'identity.user.updated',
    ['check user', '187cc074a9294832a0f68385bec09119'],
  ],
  [
    'd1e5d55c-6f43-4be0-8dfb-80bb72bdb1d1',
    'identity.user.updated',
    ['check user', '187cc074a9294832a0f68385bec09119'],
  ],
  [
    'da8b5f42-7eac-459e-82d4-4b22ea7af8ba',
    'identity.user.updated',
    ['check user', '187cc074a9294832a0f68385bec09119'],
  ],
  [
    '8e65df8a-6ac8-486f-962c-c1d940fb0ba1',
    'identity.user.updated',
    ['check user', '187cc074a9294832a0f68385bec09119'],
  ],
  [
    'e88465e0-35f2-4c0a-905c-292ac7f413fe',
    'identity.project.updated',
    ['check project', 'd1527f4689ff44918b3dd918ea9ade96'],
  ],
  [
    'eda7972d-7d98-48bb-9045-6fa2dd7d6117',
    'identity.project.updated',
    ['check project', 'd1527f4689ff44918b3dd918ea9ade96'],
  ],
  [
    '748bd218-81d1-4ccc-a436-1d7f89ed8468',
    'identity.project.deleted',
    ['identity.project.deleted', 'd1527f4689ff44918b3dd918ea9ade96'],
  ],
  [
    '424189e4-a735-4e00-b4b4-84f031fbcb99',
    'identity.user.deleted',
    ['identity.user.deleted', '187cc074a9294832a0f68385bec09119'],
  ],
  [
    'a53cf3f1-90fe-4af3-8058-f095b43ce1bc',
    'identity.project.updated',
    ['check project', 'e9ac52cf9a2f4fc1a66b87a03cb3ca54'],
  ],
  [
    'aa4602ae-8c54-4770-a499-35157773e9df',
    'identity.domain.updated',
    ['check domain', 'e9ac52cf9a2f4fc1a66b87a03cb3ca54'],
  ],
  [
    '24064483-a374-4137-9114-07526eb99872',
    'identity.project.updated',
    ['check project', 'e9ac52cf9a2f4fc1a66b87a03cb3ca54'],
  ],
  [
    'd9925553-868e-4c7b-9131-6b53c46f1eec',
    'identity.domain.updated',
    ['check domain', 'e9ac52cf9a2f4fc1a66b87a03cb3ca54'],
  ],
  [
    '39f822d5-2592-4ba9-854b-694cadb3f400',
    'identity.project.updated',
    ['check project', 'e9ac52cf9a2f4fc1a66b87a03cb3ca54'],
  ],
  [
    '141ff1ab-7c18-4b02-931f-d60af0705cfc',
    'identity.domain.updated',
    ['check domain', 'e9ac52cf9a2f4fc1a66b87a03cb3ca54'],
  ],
  [
    '2b031d33-2561-4d46-9b77-b1631e3d3f53',
    'identity.project.deleted',
    ['identity.project.deleted', '7e6e1304ddf64a8ea0f49952e7638871'],
  ],
  [
    'e0cb1bd3-9c38-4488-a1ba-b92dd32160c9',
    'identity.user.deleted',
    ['identity.user.deleted', '59a9a3b010af404d923eacd34660a548'],
  ],
  [
    'f4bff81d-6136-4600-8215-5004923ed458',
    'identity.project.deleted',
    ['identity.domain.deleted', 'e9ac52cf9a2f4fc1a66b87a03cb3ca54'],
  ],
  [
    'f20fa824-b85a-442c-8809-1525e38d2aad',
    'identity.domain.deleted',
    ['identity.domain.deleted', 'e9ac52cf9a2f4fc1a66b87a03cb3ca54'],
  ],
  ['38bcdbc1-589e-4fc7-abae-481ab2d43460', 'identity.authenticate', []],
  // cadf-all.jsonl
  ['6cfb0b37-fe4a-4408-8a01-f4d6bb4ef0cd', 'identity.authenticate', []],
  ['6960a3c4-2175-4369-8653-64b58db57af3', 'identity.domain.created', []],
  ['55212d24-5e79-4d7e-9b45-6f1b0f2e36f3', 'identity.project.created', []],
  ['f348c650-e6f7-4b8c-ae43-b9b3dbcbc14f', 'identity.project.created', []],
  ['31400e71-e2e4-4cbe-b334-c1fb7626080f', 'identity.user.created', []],
  ['b7c739f0-f11d-4a1a-a5a3-e8be2f770b6d', 'identity.user.created', []],
  ['c877bdd8-95c8-45d4-a148-3be1a37e4e4c', 'identity.role_assignment.created', []],
  ['ec056416-cfed-4937-9455-dd23c8fa90df', 'identity.role_assignment.created', []],
  ['910455aa-38e5-465f-8003-37ac9f329061', 'identity.authenticate', []],
  ['240065fc-20a2-4b1b-8b44-0ac01648f498', 'identity.authenticate', []],
  [
    '7e6a59bf-d315-415b-bc60-fb7bbd345c3b',
    'identity.role_assignment.deleted',
    ['identity.role_assignment.removed', '28a29bda1118448d8d0fae107bb4444b'],
  ],
  ['36f2609a-05aa-40a7-b50d-b423542f65e6', 'identity.role_assignment.created', []],
  ['fa8512d5-d9e7-4048-a120-2b0767f25425', 'identity.authenticate', []],
  [
    '05d0f0d7-d9f2-40c2-b891-0be7010a3b39',
    'identity.user.updated',
    ['check user', '28a29bda1118448d8d0fae107bb4444b'],
  ],
  [
    '1c766632-4212-48ec-91de-bcedc5b9969a',
    'identity.user.updated',
    ['check user', '28a29bda1118448d8d0fae107bb4444b'],
  ],
  ['170f1e88-c410-4aba-8193-fe55507addaf', 'identity.authenticate', []],
  [
    'a151c5a7-7b5b-4338-b847-87e73cf20b29',
    'identity.user.updated',
    ['check user', '28a29bda1118448d8d0fae107bb4444b'],
  ],
  [
    '1a0d88ac-c5be-47c0-9a3d-01c72aace690',
    'identity.user.updated',
    ['check user', '28a29bda1118448d8d0fae107bb4444b'],
  ],
  ['527512e4-b372-4763-8065-999eedbfa4da', 'identity.authenticate', []],
  [
    'd521a729-3f14-42bf-aaee-5377c09244c9',
    'identity.project.updated',
    ['check project', '1d4e39c7e28345a78e1ea2717d548bd9'],
  ],
  [
    'cf1ef3d5-43bf-4a83-acd3-93d458caf247',
    'identity.project.updated',
    ['check project', '1d4e39c7e28345a78e1ea2717d548bd9'],
  ],
  ['51c2572d-112e-489c-bbea-bc1b0c8d45f9', 'identity.authenticate', []],
  [
    '68c6ff3d-2667-4d15-b0f3-d469d2b8385f',
    'identity.project.deleted',
    ['identity.project.deleted', '1d4e39c7e28345a78e1ea2717d548bd9'],
  ],
  ['982f8f9c-ed98-43f8-938b-b887c444fca3', 'identity.authenticate', []],
  [
    '354cc812-328b-40a2-a603-06c362ef90d1',
    'identity.user.deleted',
    ['identity.user.deleted', '28a29bda1118448d8d0fae107bb4444b'],
  ],
  ['b8d31f49-3e57-48fc-a11a-9b39c98c573d', 'identity.authenticate', []],
  [
    '78f3f632-aa2a-45f3-b88b-67eca4936cb9',
    'identity.project.updated',
    ['check project', 'b402368be86f436cbb70fa150832e627'],
  ],
  [
    '18123d65-25c7-43c6-b900-8e182ad9cbc4',
    'identity.domain.updated',
    ['check domain', 'b402368be86f436cbb70fa150832e627'],
  ],
  [
    'b8895f5f-ccbb-4a97-a822-99f529756f35',
    'identity.project.updated',
    ['check project', 'b402368be86f436cbb70fa150832e627'],
  ],
  [
    '0da9c6fd-312f-4b7d-96ef-47cc42bc14d1',
    'identity.domain.updated',
    ['check domain', 'b402368be86f436cbb70fa150832e627'],
  ],
  [
    'f36303af-52ca-43b4-b091-a39e98bd60a8',
    'identity.project.updated',
    ['check project', 'b402368be86f436cbb70fa150832e627'],
  ],
  [
    'fe917f34-7e59-4c5c-856f-53c3500b42fd',
    'identity.domain.updated',
    ['check domain', 'b402368be86f436cbb70fa150832e627'],
  ],
  [
    '95c23c75-e96c-46e0-a1b4-c7d75500159a',
    'identity.project.deleted',
    ['identity.project.deleted', '6492b9dabc054432925011ee525442a6'],
  ],
  [
    '7071fe6e-2740-4a74-9823-52bb9cdc9531',
    'identity.user.deleted',
    ['identity.user.deleted', 'a18a8e72dc644d1cbb239d444856180a'],
  ],
  [
    '14dca705-74f6-490a-bba2-a16fb5877edc',
    'identity.project.deleted',
    ['identity.domain.deleted', 'b402368be86f436cbb70fa150832e627'],
  ],
  [
    'd89aa16f-da44-4ce0-a0b9-6f803f652e6e',
    'identity.domain.deleted',
    ['identity.domain.deleted', 'b402368be86f436cbb70fa150832e627'],
  ],
  ['324343c3-2a5b-49e0-b570-19fbbbbf25f4', 'identity.authenticate', []],
];

describe('translateNotification over every captured sample', () => {
  const messages = capturedMessages();
  const byId = new Map(expected.map(([id, type, candidate]) => [id, { type, candidate }]));

  it('has every sample file and a table row for every captured message', () => {
    expect(new Set(messages.map((m) => m.file)).size).toBe(27);
    expect(messages).toHaveLength(29 + 36 + 25);
    expect(messages.filter((m) => !byId.has(m.message.message_id)).map((m) => m.file)).toEqual([]);
  });

  it.each(messages.map((m) => [m.file, m.message.event_type, m.message.message_id, m] as const))(
    '%s: %s (%s)',
    (_file, eventType, messageId, m) => {
      const row = byId.get(messageId)!;
      expect(row.type).toBe(eventType);
      const candidates = translate(m.body);
      expect(candidates.map(summary)).toEqual(row.candidate.length === 0 ? [] : [row.candidate]);
      const payload = m.message['payload'] as Record<string, unknown>;
      const initiator = payload['initiator'] as Record<string, unknown> | undefined;
      for (const c of candidates) {
        const { sourceId, timeMs, data } = c.kind === 'event' ? c.event : c;
        // Redelivery is recognised by the oslo message id; the time is the notification's, UTC.
        expect(sourceId).toBe(messageId);
        expect(timeMs).toBe(parseKeystoneTimeMs(m.message.timestamp));
        expect(c.requestId).toBe(payload['request_id'] ?? initiator?.['request_id'] ?? null);
        expect(data).toMatchObject({ keystone_event_type: eventType, publisher_id: 'identity.a' });
        expect(data['initiator'] !== undefined).toBe(initiator !== undefined);
      }
    },
  );
});

describe('translateNotification', () => {
  it('turns a basic identity.project.deleted into identity.project.deleted, with what basic offers', () => {
    expect(translate(body('basic.identity.project.deleted.json'))).toEqual([
      {
        kind: 'event',
        event: {
          type: 'identity.project.deleted',
          subject: 'd1527f4689ff44918b3dd918ea9ade96',
          timeMs: Date.UTC(2026, 10, 23, 6, 3, 35, 908),
          data: {
            resource_type: 'project',
            resource_id: 'd1527f4689ff44918b3dd918ea9ade96',
            keystone_event_type: 'identity.project.deleted',
            publisher_id: 'identity.a',
            request_id: 'req-67a72214-ac14-416f-8667-e2ba93bc3def',
          },
          sourceId: '748bd218-81d1-4ccc-a436-1d7f89ed8468',
        },
        requestId: 'req-67a72214-ac14-416f-8667-e2ba93bc3def',
      },
    ]);
  });

  it('names the initiator of a CADF identity.project.deleted', () => {
    const [c] = translate(body('cadf.identity.project.deleted.json'));
    expect(c).toEqual({
      kind: 'event',
      event: {
        type: 'identity.project.deleted',
        subject: '1d4e39c7e28345a78e1ea2717d548bd9',
        timeMs: Date.UTC(2026, 10, 23, 6, 3, 49, 828),
        data: {
          resource_type: 'project',
          resource_id: '1d4e39c7e28345a78e1ea2717d548bd9',
          keystone_event_type: 'identity.project.deleted',
          publisher_id: 'identity.a',
          request_id: 'req-283349ea-32c8-4cd4-bc10-3f29affba445',
          initiator: {
            user_id: '7b7d9d2b489b4aac95309f4f85e25f36',
            user_name: 'admin',
            project_id: 'abc256887b1e4106877ed95099df7f18',
            address: '127.0.0.1',
          },
        },
        sourceId: '68c6ff3d-2667-4d15-b0f3-d469d2b8385f',
      },
      requestId: 'req-283349ea-32c8-4cd4-bc10-3f29affba445',
    });
  });

  it("reports a domain's project twin as the domain, when the domain is known", () => {
    const twin = body('cadf.identity.project.deleted.json').replaceAll(
      '1d4e39c7e28345a78e1ea2717d548bd9',
      'b402368be86f436cbb70fa150832e627',
    );
    const [asDomain] = translate(twin);
    const [asProject] = translate(twin, { receivedAtMs, isDomain: () => false });
    expect(
      [asDomain, asProject].map((c) => c?.kind === 'event' && [c.event.type, c.event.data['resource_type']]),
    ).toEqual([
      ['identity.domain.deleted', 'domain'],
      ['identity.project.deleted', 'project'],
    ]);
  });

  it('asks to check whether an updated project, domain or user is disabled', () => {
    expect(translate(body('basic.identity.user.updated.json'))).toEqual([
      {
        kind: 'check-disabled',
        resource: 'user',
        id: '187cc074a9294832a0f68385bec09119',
        sourceId: 'f7775e29-9688-4c59-8d2e-0429ef8eb69a',
        timeMs: Date.UTC(2026, 10, 23, 6, 3, 31, 685),
        data: {
          resource_type: 'user',
          resource_id: '187cc074a9294832a0f68385bec09119',
          keystone_event_type: 'identity.user.updated',
          publisher_id: 'identity.a',
          request_id: 'req-f27c06cc-9dba-4f77-a8c2-098c3d4a9ba5',
        },
        requestId: 'req-f27c06cc-9dba-4f77-a8c2-098c3d4a9ba5',
      },
    ]);
  });

  it('turns a removed role assignment of a user into identity.role_assignment.removed', () => {
    expect(translate(body('cadf.identity.role_assignment.deleted.json'))).toEqual([
      {
        kind: 'event',
        event: {
          type: 'identity.role_assignment.removed',
          subject: '28a29bda1118448d8d0fae107bb4444b',
          timeMs: Date.UTC(2026, 10, 23, 6, 3, 44, 904),
          data: {
            user_id: '28a29bda1118448d8d0fae107bb4444b',
            project_id: '1d4e39c7e28345a78e1ea2717d548bd9',
            role_id: '860065415ae749f28b312ec100303490',
            inherited: false,
            keystone_event_type: 'identity.role_assignment.deleted',
            publisher_id: 'identity.a',
            request_id: 'req-a597dcfd-6a21-4bd3-b488-8930f8e124f2',
            initiator: {
              user_id: '7b7d9d2b489b4aac95309f4f85e25f36',
              user_name: 'admin',
              project_id: 'abc256887b1e4106877ed95099df7f18',
              address: '127.0.0.1',
            },
          },
          sourceId: '7e6a59bf-d315-415b-bc60-fb7bbd345c3b',
        },
        requestId: 'req-a597dcfd-6a21-4bd3-b488-8930f8e124f2',
      },
    ]);
  });

  it('asks for the members of a group whose role is removed, and makes one event per member', () => {
    const [c] = translate(cadfGroupRoleAssignmentDeleted);
    expect(c).toEqual({
      kind: 'group-role-removed',
      groupId: '2a8420ab6ae04fbf981a0d9db4a98928',
      sourceId: '22636722-f803-4e87-befe-df5700620c83',
      timeMs: Date.UTC(2026, 10, 23, 8, 40, 35, 216),
      data: {
        group_id: '2a8420ab6ae04fbf981a0d9db4a98928',
        domain_id: 'default',
        role_id: '68bbd90de16e4b8a967411f27c2aa3b8',
        inherited: true,
        keystone_event_type: 'identity.role_assignment.deleted',
        publisher_id: 'identity.a',
      },
      requestId: null,
    });
    if (c?.kind !== 'group-role-removed') throw new Error('unreachable');
    expect(groupMemberRoleRemoved(c, 'u1')).toEqual({
      type: 'identity.role_assignment.removed',
      subject: 'u1',
      timeMs: c.timeMs,
      data: {
        user_id: 'u1',
        group_id: '2a8420ab6ae04fbf981a0d9db4a98928',
        domain_id: 'default',
        role_id: '68bbd90de16e4b8a967411f27c2aa3b8',
        inherited: true,
        keystone_event_type: 'identity.role_assignment.deleted',
        publisher_id: 'identity.a',
      },
      sourceId: '22636722-f803-4e87-befe-df5700620c83/u1',
    });
  });

  it('ignores a CADF event whose outcome is not success', () => {
    const n = parseOsloNotification(body('cadf.identity.project.deleted.json'));
    expect(translateNotification({ ...n, payload: { ...n.payload, outcome: 'failure' } }, ctx)).toEqual([]);
  });

  it('takes the CADF eventTime, then the time received, when the message has no timestamp', () => {
    const n = parseOsloNotification(body('cadf.identity.user.deleted.json'));
    const { eventTime: _t, ...withoutEventTime } = n.payload;
    const time = (x: OsloNotification) => {
      const [c] = translateNotification(x, ctx);
      return c?.kind === 'event' ? c.event.timeMs : null;
    };
    const fromEventTime = parseOsloNotification(
      edited(body('cadf.identity.user.deleted.json'), (m) => delete m['timestamp']),
    );
    expect([time(fromEventTime), time({ ...n, timestampMs: null, payload: withoutEventTime })]).toEqual([
      Date.UTC(2026, 10, 23, 6, 3, 50, 356),
      receivedAtMs,
    ]);
  });

  const base = { messageId: 'm1', publisherId: 'identity.a', priority: 'INFO', timestampMs: 1 };
  it.each([
    [
      'a deletion without message_id',
      { ...base, messageId: '', eventType: 'identity.user.deleted', payload: { resource_info: 'u' } },
    ],
    [
      'an update without resource id',
      { ...base, eventType: 'identity.project.updated', payload: { request_id: 'r' } },
    ],
    [
      'a role removal without project or domain',
      { ...base, eventType: 'identity.role_assignment.deleted', payload: { user: 'u', role: 'r' } },
    ],
    [
      'a role removal without user or group',
      { ...base, eventType: 'identity.role_assignment.deleted', payload: { project: 'p', role: 'r' } },
    ],
    [
      'a role removal without role',
      { ...base, eventType: 'identity.role_assignment.deleted', payload: { user: 'u', project: 'p' } },
    ],
  ])('calls %s malformed', (_name, n) => {
    expect(() => translateNotification(n, ctx)).toThrow(MalformedNotification);
  });

  it('ignores well-formed types it has nothing to do with, whatever their payload', () => {
    for (const eventType of [
      'identity.group.deleted',
      'identity.authenticate',
      'compute.instance.create.end',
    ])
      expect(translateNotification({ ...base, eventType, payload: {} }, ctx)).toEqual([]);
  });
});

describe('disabledEventOf', () => {
  const [projectCheck] = translate(body('basic.identity.project.updated.json'));
  if (projectCheck?.kind !== 'check-disabled') throw new Error('expected a check');

  it('is identity.project.disabled with the name and domain read, for a disabled project', () => {
    const project = { id: projectCheck.id, name: 'demo', domain_id: 'd1', enabled: false, is_domain: false };
    expect(disabledEventOf(projectCheck, project)).toEqual({
      type: 'identity.project.disabled',
      subject: projectCheck.id,
      timeMs: projectCheck.timeMs,
      data: { ...projectCheck.data, name: 'demo', domain_id: 'd1' },
      sourceId: projectCheck.sourceId,
    });
  });

  it('is identity.domain.disabled for a disabled project that is a domain', () => {
    const twin = { id: projectCheck.id, name: 'dom', domain_id: null, enabled: false, is_domain: true };
    expect(disabledEventOf(projectCheck, twin)).toMatchObject({
      type: 'identity.domain.disabled',
      data: { resource_type: 'domain', name: 'dom' },
    });
  });

  it('is nothing for an enabled resource, or one since deleted (404)', () => {
    expect([disabledEventOf(projectCheck, { enabled: true }), disabledEventOf(projectCheck, null)]).toEqual([
      null,
      null,
    ]);
  });
});
