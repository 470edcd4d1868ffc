/**
 * Keystone's oslo.messaging notifications, parsed and turned into the revocations the identity
 * source must emit (the account events they stand for: account-events.ts). Pure: fetching a
 * project or domain is the caller's job.
 *
 * On the wire (messaging v2): `{"oslo.version": "2.0", "oslo.message": "<JSON string>"}`, the
 * inner message being `{message_id, publisher_id, event_type, priority, payload, timestamp}`.
 * Anything else (not JSON, no `oslo.message` string, no event_type, a payload that is not an
 * object) is malformed: the source parks it in its dead-letter queue.
 * Payloads come in two formats: basic (`{resource_info: id}`) and CADF (an audit event with
 * `target.id` and, for resources, `resource_info` too); role assignments are CADF-shaped in both
 * and name `user` or `group`, `project` or `domain`, and `role`.
 *
 * Keystone writes no revocation event when a project or domain is disabled or a role assignment
 * is removed (its tokens just fail validation from then on, and a re-enabled project's tokens come
 * back). Alliance caches validations, so those facts become revocations here:
 *  - identity.project.updated / identity.domain.updated: read the resource; disabled means
 *    revoke {projectId} or {domainId} (a domain is also a project with is_domain: true);
 *  - identity.role_assignment.deleted: revoke {userId, projectId} or {userId, domainId}; for a
 *    group, each member of the group.
 * Deletions and user disables/password changes come through OS-REVOKE events already.
 * Revocations are issued before the notification's own time, truncated to the second, so a
 * redelivered message produces an identical input (the revocation id is derived from it).
 */
import type { RevocationInput } from '../types.js';
import { isObject } from './token-mapping.js';
import { parseKeystoneTimeMs } from './keystone-time.js';

export const notificationSource = 'keystone-notification';

/** Largest message body parsed; Keystone's are 1-3 KiB. */
export const notificationBytesMax = 256 * 1024;

export interface OsloNotification {
  messageId: string;
  publisherId: string;
  eventType: string;
  priority: string;
  payload: Record<string, unknown>;
  /** The message's timestamp (UTC), or null when absent. */
  timestampMs: number | null;
}

export class MalformedNotification extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MalformedNotification';
  }
}

/** The inner message of an oslo.messaging v2 body (the envelope Keystone's messagingv2 driver sends). */
export function parseOsloNotification(content: Uint8Array | string): OsloNotification {
  const size = typeof content === 'string' ? Buffer.byteLength(content) : content.byteLength;
  if (size > notificationBytesMax) throw new MalformedNotification(`message of ${size} bytes`);
  const text = typeof content === 'string' ? content : Buffer.from(content).toString('utf8');
  const outer = parseJson(text, 'body');
  if (!isObject(outer)) throw new MalformedNotification('body is not a JSON object');
  const inner = outer['oslo.message'];
  if (typeof inner !== 'string') throw new MalformedNotification('no "oslo.message" string in the envelope');
  const message = parseJson(inner, '"oslo.message"');
  if (!isObject(message)) throw new MalformedNotification('"oslo.message" is not a JSON object');
  const eventType = message['event_type'];
  if (typeof eventType !== 'string' || eventType === '') throw new MalformedNotification('no event_type');
  const payload = message['payload'];
  if (!isObject(payload)) throw new MalformedNotification(`${eventType}: payload is not an object`);
  return {
    messageId: str(message['message_id']),
    publisherId: str(message['publisher_id']),
    eventType,
    priority: str(message['priority']),
    payload,
    timestampMs: parseKeystoneTimeMs(message['timestamp']) ?? parseKeystoneTimeMs(payload['eventTime']),
  };
}

export type NotificationAction =
  | { kind: 'ignore'; why: string }
  | { kind: 'check-project'; projectId: string; atMs: number | null }
  | { kind: 'check-domain'; domainId: string; atMs: number | null }
  | { kind: 'revoke'; revocation: Omit<RevocationInput, 'issuedBeforeMs'>; atMs: number | null }
  | {
      kind: 'revoke-group-members';
      groupId: string;
      target: { projectId: string } | { domainId: string };
      atMs: number | null;
    };

export function planNotification(n: OsloNotification): NotificationAction {
  const p = n.payload;
  // CADF events carry an outcome; a failed update changed nothing.
  if (typeof p['outcome'] === 'string' && p['outcome'] !== 'success')
    return { kind: 'ignore', why: `outcome ${p['outcome']}` };
  const atMs = n.timestampMs;
  switch (n.eventType) {
    case 'identity.project.updated': {
      const id = resourceIdOf(p);
      if (!id) throw new MalformedNotification(`${n.eventType}: no resource id`);
      return { kind: 'check-project', projectId: id, atMs };
    }
    case 'identity.domain.updated': {
      const id = resourceIdOf(p);
      if (!id) throw new MalformedNotification(`${n.eventType}: no resource id`);
      return { kind: 'check-domain', domainId: id, atMs };
    }
    case 'identity.role_assignment.deleted': {
      const projectId = str(p['project']);
      const domainId = str(p['domain']);
      const target = projectId ? { projectId } : domainId ? { domainId } : null;
      if (!target) throw new MalformedNotification(`${n.eventType}: neither project nor domain`);
      const userId = str(p['user']);
      if (userId)
        return {
          kind: 'revoke',
          revocation: { userId, ...target, ...roleAssignmentRemoved },
          atMs,
        };
      const groupId = str(p['group']);
      if (groupId) return { kind: 'revoke-group-members', groupId, target, atMs };
      throw new MalformedNotification(`${n.eventType}: neither user nor group`);
    }
    default:
      return { kind: 'ignore', why: 'event type not handled' };
  }
}

const roleAssignmentRemoved = {
  reason: 'role assignment removed',
  source: notificationSource,
  secondGranularity: true,
} as const;

export function projectDisabled(projectId: string): Omit<RevocationInput, 'issuedBeforeMs'> {
  return { projectId, reason: 'project disabled', source: notificationSource, secondGranularity: true };
}

export function domainDisabled(domainId: string): Omit<RevocationInput, 'issuedBeforeMs'> {
  return { domainId, reason: 'domain disabled', source: notificationSource, secondGranularity: true };
}

/** The notification's instant, truncated to Keystone's whole seconds. */
export function issuedBeforeMsFor(atMs: number | null, nowMs: number): number {
  return Math.floor((atMs ?? nowMs) / 1000) * 1000;
}

/** basic: `resource_info`; CADF: `resource_info` too, and `target.id`. */
export function resourceIdOf(payload: Record<string, unknown>): string {
  const info = payload['resource_info'];
  if (typeof info === 'string' && info !== '') return info;
  const target = payload['target'];
  return isObject(target) ? str(target['id']) : '';
}

function parseJson(text: string, what: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MalformedNotification(`${what} is not JSON: ${(err as Error).message}`);
  }
}

function str(value: unknown): string {
  return typeof value === 'string' ? value : '';
}
