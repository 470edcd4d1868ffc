/**
 * Keystone's notifications as account events: which events a notification stands for, before
 * anything is looked up. Pure: the identity source reads the resource when a candidate asks it to
 * (index.ts), hands the events to its listeners and only then acks the message.
 *
 * What Keystone 22 publishes (captured samples in test/unit/identity/keystone/samples/, both
 * `notification_format`s) and what it becomes:
 *
 * | notification | candidate |
 * | --- | --- |
 * | identity.{project,domain,user}.deleted | the matching `identity.*.deleted` event |
 * | identity.project.deleted of a domain's project (`is_domain`) | `identity.domain.deleted` |
 * | identity.{project,domain,user}.updated | check-disabled: read the resource; `enabled: false` makes `identity.*.disabled` (a project with `is_domain` is a domain); enabled or gone (404): nothing |
 * | identity.role_assignment.deleted, for a user | `identity.role_assignment.removed` |
 * | identity.role_assignment.deleted, for a group | group-role-removed: one event per member of the group at the time it is read |
 * | a CADF event whose outcome is not `success` | nothing |
 * | any other event type (created, identity.authenticate, groups, ...) | nothing |
 *
 * Keystone publishes a disable only as `*.updated` (the same notification as a rename or a password
 * change), so a disabled resource updated again is reported disabled again; a resource disabled
 * and re-enabled before its notification is handled is not reported. Disabling a domain publishes
 * identity.project.updated and identity.domain.updated, deleting it identity.project.deleted and
 * identity.domain.deleted, each pair with one request id: both turn into the domain event, and the
 * source drops the second as a duplicate (same type, subject and request id).
 *
 * Ids: `sourceId` is the oslo message id, so a redelivered message produces the same events under
 * the same ids; a group's events append `/<member user id>`, stable whichever order the members
 * are read in. `timeMs` is the notification's timestamp (UTC), else the CADF eventTime, else the
 * time it was received.
 *
 * Data (a JSON object, snake_case like Keystone's own): `resource_type` and `resource_id` (for
 * role assignments `user_id`, `group_id` when through a group, `project_id` or `domain_id`,
 * `role_id`, `inherited`), `keystone_event_type`, `publisher_id`, and what the payload offers:
 * `request_id`, and (CADF) `initiator` {user_id, user_name, project_id, domain_id, address}.
 * Disabled events add the resource's `name` and `domain_id` as read.
 */
import type { AccountEvent } from '../types.js';
import { MalformedNotification, resourceIdOf } from './notifications.js';
import type { OsloNotification } from './notifications.js';
import { isObject } from './token-mapping.js';

export const accountEventTypes = {
  projectDeleted: 'identity.project.deleted',
  projectDisabled: 'identity.project.disabled',
  domainDeleted: 'identity.domain.deleted',
  domainDisabled: 'identity.domain.disabled',
  userDeleted: 'identity.user.deleted',
  userDisabled: 'identity.user.disabled',
  roleAssignmentRemoved: 'identity.role_assignment.removed',
} as const;

export type AccountEventType = (typeof accountEventTypes)[keyof typeof accountEventTypes];

export type AccountResource = 'project' | 'domain' | 'user';

export function deletedEventType(resource: AccountResource): AccountEventType {
  return `identity.${resource}.deleted`;
}

export function disabledEventType(resource: AccountResource): AccountEventType {
  return `identity.${resource}.disabled`;
}

/** What one notification stands for, before the source has looked anything up. */
export type AccountEventCandidate =
  | {
      kind: 'event';
      event: AccountEvent;
      /** Keystone's request id, to recognise the second notification of one API call. */
      requestId: string | null;
    }
  | {
      /** Read the resource: disabled means `identity.<resource>.disabled`, else nothing. */
      kind: 'check-disabled';
      resource: AccountResource;
      id: string;
      sourceId: string;
      timeMs: number;
      data: Record<string, unknown>;
      requestId: string | null;
    }
  | {
      /** Read the group's members: one identity.role_assignment.removed each. */
      kind: 'group-role-removed';
      groupId: string;
      sourceId: string;
      timeMs: number;
      data: Record<string, unknown>;
      requestId: string | null;
    };

export interface TranslationContext {
  /** When the message arrived: its time if it carries none. */
  receivedAtMs: number;
  /** Whether `id` is (or was) a domain: a domain's project is deleted as identity.project.deleted. */
  isDomain(id: string): boolean;
}

const resourceEventPattern = /^identity\.(project|domain|user)\.(deleted|updated)$/;

/**
 * The account events one notification stands for. Throws MalformedNotification for an event type
 * it handles whose payload lacks what it needs (no message id, no resource id, a role removal
 * without user or group, project or domain, or role).
 */
export function translateNotification(n: OsloNotification, ctx: TranslationContext): AccountEventCandidate[] {
  const p = n.payload;
  // CADF events carry an outcome; a failed change changed nothing.
  if (typeof p['outcome'] === 'string' && p['outcome'] !== 'success') return [];
  const resourceMatch = resourceEventPattern.exec(n.eventType);
  const isRoleRemoval = n.eventType === 'identity.role_assignment.deleted';
  if (!resourceMatch && !isRoleRemoval) return [];
  if (n.messageId === '') throw new MalformedNotification(`${n.eventType}: no message_id`);
  const timeMs = n.timestampMs ?? ctx.receivedAtMs;
  const requestId = requestIdOf(p);
  const common = commonData(n, requestId);

  if (resourceMatch) {
    const named = resourceMatch[1] as AccountResource;
    const id = resourceIdOf(p);
    if (!id) throw new MalformedNotification(`${n.eventType}: no resource id`);
    if (resourceMatch[2] === 'updated') {
      return [
        {
          kind: 'check-disabled',
          resource: named,
          id,
          sourceId: n.messageId,
          timeMs,
          data: { resource_type: named, resource_id: id, ...common },
          requestId,
        },
      ];
    }
    // Deleting a domain deletes its project twin (is_domain) first, as identity.project.deleted.
    const resource: AccountResource = named === 'project' && ctx.isDomain(id) ? 'domain' : named;
    return [
      {
        kind: 'event',
        event: {
          type: deletedEventType(resource),
          subject: id,
          timeMs,
          data: { resource_type: resource, resource_id: id, ...common },
          sourceId: n.messageId,
        },
        requestId,
      },
    ];
  }

  const projectId = str(p['project']);
  const domainId = str(p['domain']);
  const target = projectId ? { project_id: projectId } : domainId ? { domain_id: domainId } : null;
  if (!target) throw new MalformedNotification(`${n.eventType}: neither project nor domain`);
  const roleId = str(p['role']);
  if (!roleId) throw new MalformedNotification(`${n.eventType}: no role`);
  const assignment = { ...target, role_id: roleId, inherited: p['inherited_to_projects'] === true };
  const userId = str(p['user']);
  if (userId) {
    return [
      {
        kind: 'event',
        event: {
          type: accountEventTypes.roleAssignmentRemoved,
          subject: userId,
          timeMs,
          data: { user_id: userId, ...assignment, ...common },
          sourceId: n.messageId,
        },
        requestId,
      },
    ];
  }
  const groupId = str(p['group']);
  if (!groupId) throw new MalformedNotification(`${n.eventType}: neither user nor group`);
  return [
    {
      kind: 'group-role-removed',
      groupId,
      sourceId: n.messageId,
      timeMs,
      data: { group_id: groupId, ...assignment, ...common },
      requestId,
    },
  ];
}

/** The removal event of one member of a group whose role assignment was removed. */
export function groupMemberRoleRemoved(
  candidate: Extract<AccountEventCandidate, { kind: 'group-role-removed' }>,
  memberUserId: string,
): AccountEvent {
  const { group_id: groupId, ...rest } = candidate.data;
  return {
    type: accountEventTypes.roleAssignmentRemoved,
    subject: memberUserId,
    timeMs: candidate.timeMs,
    data: { user_id: memberUserId, group_id: groupId, ...rest },
    sourceId: `${candidate.sourceId}/${memberUserId}`,
  };
}

/**
 * The disabled event of a check-disabled candidate, given the resource as Keystone answered it
 * (null: 404), or null when it is not disabled. A project with `is_domain` is a domain.
 */
export function disabledEventOf(
  candidate: Extract<AccountEventCandidate, { kind: 'check-disabled' }>,
  resource: Record<string, unknown> | null,
): AccountEvent | null {
  if (resource === null || resource['enabled'] !== false) return null;
  const kind: AccountResource =
    candidate.resource === 'project' && resource['is_domain'] === true ? 'domain' : candidate.resource;
  const read: Record<string, unknown> = {};
  if (typeof resource['name'] === 'string') read['name'] = resource['name'];
  if (kind !== 'domain' && typeof resource['domain_id'] === 'string')
    read['domain_id'] = resource['domain_id'];
  return {
    type: disabledEventType(kind),
    subject: candidate.id,
    timeMs: candidate.timeMs,
    data: { ...candidate.data, resource_type: kind, ...read },
    sourceId: candidate.sourceId,
  };
}

/** Keystone's request id: basic payloads carry it at the top, CADF ones in the initiator. */
function requestIdOf(p: Record<string, unknown>): string | null {
  const top = str(p['request_id']);
  if (top) return top;
  const initiator = p['initiator'];
  const nested = isObject(initiator) ? str(initiator['request_id']) : '';
  return nested || null;
}

function commonData(n: OsloNotification, requestId: string | null): Record<string, unknown> {
  const data: Record<string, unknown> = { keystone_event_type: n.eventType };
  if (n.publisherId) data['publisher_id'] = n.publisherId;
  if (requestId) data['request_id'] = requestId;
  const initiator = initiatorOf(n.payload);
  if (initiator) data['initiator'] = initiator;
  return data;
}

/** Who made the change, as a CADF initiator names them (Keystone leaves it out for cascades). */
function initiatorOf(p: Record<string, unknown>): Record<string, string> | null {
  const i = p['initiator'];
  if (!isObject(i)) return null;
  const out: Record<string, string> = {};
  const put = (key: string, value: unknown) => {
    if (typeof value === 'string' && value !== '') out[key] = value;
  };
  put('user_id', i['user_id'] ?? i['id']);
  put('user_name', i['username']);
  put('project_id', i['project_id']);
  put('domain_id', i['domain_id']);
  put('address', isObject(i['host']) ? i['host']['address'] : undefined);
  return Object.keys(out).length > 0 ? out : null;
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
