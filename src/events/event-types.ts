/**
 * The one closed list of event types Alliance carries, each with what it means to a subscriber.
 * A type not listed here is refused at Publish (and in a record from a peer), so a typo never
 * becomes an event that no service recognises. Adding a type is one entry here.
 */
import { invalidArgument } from '../lib/errors.js';

export const eventTypeDescriptions = {
  'identity.project.deleted':
    'A project was deleted at its home cloud: release everything it holds here (servers, networks, volumes).',
  'identity.project.disabled':
    'A project was disabled at its home cloud: stop serving it, but keep its resources for when it is enabled again.',
  'identity.domain.deleted':
    'A domain was deleted at its home cloud, and with it every project in it: release what they hold here.',
  'identity.domain.disabled':
    'A domain was disabled at its home cloud: stop serving every project and user in it.',
  'identity.user.deleted':
    'A user was deleted at its home cloud: drop what is kept for that user here (keys, credentials, mappings).',
  'identity.user.disabled': 'A user was disabled at its home cloud: stop serving that user.',
  'identity.role_assignment.removed':
    'A role assignment was removed at its home cloud: take back what the role granted here.',
  'meter.usage': "A usage record about a user, delivered to the user's home cloud (e.g. to billing).",
  'provision.request':
    'A request to provision a resource here for a user of another cloud; the ack is the outcome.',
} as const satisfies Record<string, string>;

export type EventType = keyof typeof eventTypeDescriptions;

/** Every known type, in the order above. */
export const eventTypes: readonly EventType[] = Object.keys(eventTypeDescriptions) as EventType[];

const known: ReadonlySet<string> = new Set(eventTypes);

export function isEventType(type: string): type is EventType {
  return known.has(type);
}

/** Throws INVALID_ARGUMENT naming the known types unless `type` is one of them. */
export function checkEventType(type: string, field = 'type'): EventType {
  if (isEventType(type)) return type;
  const shown = type.length > 80 ? `${type.slice(0, 77)}...` : type;
  throw invalidArgument(
    `${field} ${JSON.stringify(shown)} is not a known event type; known types: ${eventTypes.join(', ')}`,
  );
}
