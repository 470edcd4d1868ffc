/**
 * Keystone's oslo.messaging notifications, basic and CADF, as captured from a real Keystone 22:
 * parsing the envelope, and what each event type asks the identity source to do.
 */
import { describe, expect, it } from 'vitest';
import {
  MalformedNotification,
  issuedBeforeMsFor,
  parseOsloNotification,
  planNotification,
} from '../../../../src/identity/keystone/notifications.js';
import {
  basicDomainUpdated,
  basicProjectUpdated,
  cadfDomainUpdated,
  cadfProjectUpdated,
  cadfRoleAssignmentDeleted,
  cadfUserDeleted,
} from './notification-samples.js';

const plan = (body: string) => planNotification(parseOsloNotification(body));

describe('parseOsloNotification', () => {
  it('unwraps the v2 envelope whose oslo.message is a JSON string', () => {
    const n = parseOsloNotification(Buffer.from(basicProjectUpdated));
    expect(n).toEqual({
      messageId: 'e88465e0-35f2-4c0a-905c-292ac7f413fe',
      publisherId: 'identity.a',
      eventType: 'identity.project.updated',
      priority: 'INFO',
      payload: {
        resource_info: 'd1527f4689ff44918b3dd918ea9ade96',
        request_id: 'req-b5b9abe5-16ef-4861-a360-0eef629dfd3c',
      },
      timestampMs: Date.UTC(2026, 10, 23, 6, 3, 35, 269),
    });
  });

  it('refuses a message without the envelope (Keystone sends messaging v2 only)', () => {
    const inner = JSON.parse(JSON.parse(basicProjectUpdated)['oslo.message']);
    expect(() => parseOsloNotification(JSON.stringify(inner))).toThrow(
      new MalformedNotification('no "oslo.message" string in the envelope'),
    );
  });

  it.each([
    ['not JSON', 'garbage{'],
    ['an oslo.message that is not JSON', '{"oslo.version":"2.0","oslo.message":"{broken"}'],
    ['no event_type', '{"oslo.version":"2.0","oslo.message":"{\\"payload\\":{}}"}'],
    [
      'a payload that is not an object',
      '{"oslo.version":"2.0","oslo.message":"{\\"event_type\\":\\"identity.project.updated\\",\\"payload\\":\\"x\\"}"}',
    ],
    ['an oslo.message that is an object, not a string', '{"oslo.message":{"event_type":"x","payload":{}}}'],
    ['a JSON array', '[1,2]'],
    ['an oversized body', `{"event_type":"x","payload":{"pad":"${'a'.repeat(300_000)}"}}`],
  ])('refuses %s', (_name, body) => {
    expect(() => parseOsloNotification(body)).toThrow(MalformedNotification);
  });
});

describe('planNotification', () => {
  it('checks the project of a basic identity.project.updated', () => {
    expect(plan(basicProjectUpdated)).toEqual({
      kind: 'check-project',
      projectId: 'd1527f4689ff44918b3dd918ea9ade96',
      atMs: Date.UTC(2026, 10, 23, 6, 3, 35, 269),
    });
  });

  it('checks the project of a CADF identity.project.updated', () => {
    expect(plan(cadfProjectUpdated)).toEqual({
      kind: 'check-project',
      projectId: '1d4e39c7e28345a78e1ea2717d548bd9',
      atMs: Date.UTC(2026, 10, 23, 6, 3, 49, 173),
    });
  });

  it('checks the domain of identity.domain.updated in both formats', () => {
    expect([plan(basicDomainUpdated), plan(cadfDomainUpdated)]).toEqual([
      {
        kind: 'check-domain',
        domainId: 'e9ac52cf9a2f4fc1a66b87a03cb3ca54',
        atMs: Date.UTC(2026, 10, 23, 6, 3, 36, 921),
      },
      {
        kind: 'check-domain',
        domainId: 'b402368be86f436cbb70fa150832e627',
        atMs: Date.UTC(2026, 10, 23, 6, 3, 50, 862),
      },
    ]);
  });

  it('revokes the user in the project when a role assignment is removed', () => {
    expect(plan(cadfRoleAssignmentDeleted)).toEqual({
      kind: 'revoke',
      revocation: {
        userId: '28a29bda1118448d8d0fae107bb4444b',
        projectId: '1d4e39c7e28345a78e1ea2717d548bd9',
        reason: 'role assignment removed',
        source: 'keystone-notification',
        secondGranularity: true,
      },
      atMs: Date.UTC(2026, 10, 23, 6, 3, 44, 904),
    });
  });

  it('revokes every member of a group whose role on a domain is removed', () => {
    const n = parseOsloNotification(cadfRoleAssignmentDeleted);
    const { user: _u, project: _p, ...rest } = n.payload;
    expect(planNotification({ ...n, payload: { ...rest, group: 'g1', domain: 'd1' } })).toEqual({
      kind: 'revoke-group-members',
      groupId: 'g1',
      target: { domainId: 'd1' },
      atMs: n.timestampMs,
    });
  });

  it('ignores deletions (they arrive as OS-REVOKE events) and failed CADF outcomes', () => {
    const n = parseOsloNotification(cadfProjectUpdated);
    expect([
      plan(cadfUserDeleted),
      planNotification({ ...n, payload: { ...n.payload, outcome: 'failure' } }),
    ]).toEqual([
      { kind: 'ignore', why: 'event type not handled' },
      { kind: 'ignore', why: 'outcome failure' },
    ]);
  });

  it.each([
    ['a project update without id', { eventType: 'identity.project.updated', payload: {} }],
    [
      'a role removal without user or group',
      { eventType: 'identity.role_assignment.deleted', payload: { project: 'p' } },
    ],
    [
      'a role removal without project or domain',
      { eventType: 'identity.role_assignment.deleted', payload: { user: 'u' } },
    ],
  ])('calls %s malformed', (_name, fields) => {
    const n = { messageId: 'm', publisherId: 'identity.a', priority: 'INFO', timestampMs: null, ...fields };
    expect(() => planNotification(n)).toThrow(MalformedNotification);
  });
});

describe('issuedBeforeMsFor', () => {
  it("takes the notification's time truncated to the second, or now when it has none", () => {
    expect([issuedBeforeMsFor(1_795_413_829_173, 5), issuedBeforeMsFor(null, 1_700_000_000_999)]).toEqual([
      1_795_413_829_000, 1_700_000_000_000,
    ]);
  });
});
