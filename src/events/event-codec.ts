/**
 * The three records of the events capability on the wire, and the checks every node applies to
 * them, to its own before publishing and to a peer's before storing (topic validate):
 *
 * - "event" (key: the event id): an alliance.v1.Event in an EventPayload, CloudEvents-shaped,
 *   published by a node of the event's origin cloud and expiring after the retention time;
 * - "receipt" (key `<cloud>/<subscriber>/<origin>`): how one subscriber of the publishing node's
 *   cloud stands with the events of one origin (receipt.ts computes it);
 * - "subscribers" (key: the cloud id): the subscribers the publishing node's cloud expects.
 *
 * A node may speak only for its own cloud: an event's origin_cloud, a receipt's cloud and a
 * subscribers record's cloud must be the cloud in the publishing node's id.
 */
import { createHash } from 'node:crypto';
import { limits } from '../config/limits.js';
import { EventPayload, ReceiptPayload, SubscribersPayload } from '../gen/alliance/peer/v1/events.js';
import { Outcome, type Event } from '../gen/alliance/v1/events.js';
import { Struct } from '../gen/google/protobuf/struct.js';
import { AllianceError, errorMessage, invalidArgument } from '../lib/errors.js';
import type { MeshRecord } from '../mesh/index.js';
import { checkEventType } from './event-types.js';
import { cloudOfNode } from '../lib/node-id.js';

export const eventTopic = 'event';
export const receiptTopic = 'receipt';
export const subscribersTopic = 'subscribers';

const uuidPattern = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const cloudPattern = /^[a-z0-9][a-z0-9-]{0,62}$/;
const nodeIdPattern = /^[a-z0-9][a-z0-9-]{0,62}\/[a-z0-9][a-z0-9-]{0,62}$/;
/** Subscriber names: a service's name, as it appears in receipt keys and in the database. */
const subscriberPattern = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

export { cloudOfNode };

/** The CloudEvents source of every event a node publishes. */
export function sourceOf(nodeId: string): string {
  return `alliance://${nodeId}`;
}

export function isSubscriberName(name: string): boolean {
  return subscriberPattern.test(name);
}

export function checkSubscriberName(name: string, field = 'subscriber'): void {
  if (isSubscriberName(name)) return;
  const shown = name.length > 80 ? `${name.slice(0, 77)}...` : name;
  throw invalidArgument(
    `${field} ${JSON.stringify(shown)} is not a valid subscriber name: 1 to 63 characters, lowercase ` +
      'letters, digits, "_", "." and "-", starting with a letter or digit',
  );
}

export function isCloudId(text: string): boolean {
  return cloudPattern.test(text);
}

export function isEventId(text: string): boolean {
  return uuidPattern.test(text);
}

/**
 * The id of the event made from an identity source's change `sourceId` (e.g. an oslo message id)
 * at `cloud`: the same change reported twice (a broker redelivery) gets the same id, so it is
 * recognised and published once. A UUID (version 8: name-based, SHA-256).
 */
export function eventIdFromSource(cloud: string, sourceId: string): string {
  const bytes = createHash('sha256').update(`alliance-event\0${cloud}\0${sourceId}`).digest().subarray(0, 16);
  bytes[6] = ((bytes[6] ?? 0) & 0x0f) | 0x80;
  bytes[8] = ((bytes[8] ?? 0) & 0x3f) | 0x80;
  const hex = bytes.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** The encoded size of an event's data, as it travels (a google.protobuf.Struct). */
export function dataBytes(data: Record<string, unknown> | undefined): number {
  if (data === undefined) return 0;
  try {
    return Struct.encode(Struct.wrap(data)).finish().length;
  } catch (err) {
    throw invalidArgument(`data is not a JSON object: ${errorMessage(err)}`);
  }
}

function checkBytes(field: string, value: string, max: number): void {
  const bytes = Buffer.byteLength(value);
  if (bytes > max) throw invalidArgument(`${field} is ${bytes} bytes; at most ${max}`);
}

/**
 * Checks an event's own fields (not who published it): known type, sizes, target. Throws
 * INVALID_ARGUMENT naming what is wrong.
 */
export function checkEventFields(event: Pick<Event, 'type' | 'subject' | 'data' | 'targetCloud'>): void {
  checkEventType(event.type);
  checkBytes('subject', event.subject, limits.eventSubjectBytesMax);
  if (event.targetCloud !== '' && !isCloudId(event.targetCloud)) {
    throw invalidArgument(
      `target_cloud ${JSON.stringify(event.targetCloud.slice(0, 80))} is not a cloud id (1 to 63 lowercase ` +
        'letters, digits and "-"); leave it empty to broadcast',
    );
  }
  const bytes = dataBytes(event.data);
  if (bytes > limits.eventDataBytesMax) {
    throw invalidArgument(
      `data is ${bytes} bytes encoded; an event carries at most ${limits.eventDataBytesMax} (limits.eventDataBytesMax)`,
    );
  }
}

export function encodeEvent(event: Event): Uint8Array {
  return EventPayload.encode({ event }).finish();
}

/**
 * The event of a record this node holds already, checked when it arrived (decodeEventRecord):
 * decoded only, for the paths that run per delivery.
 */
export function decodeHeldEvent(record: MeshRecord): Event {
  const event = EventPayload.decode(record.payload).event;
  if (!event) throw invalidArgument('event payload carries no event');
  return event;
}

/**
 * The event a record of topic "event" carries, checked as every node checks it: it decodes, its
 * id is the record key (a UUID), it comes from a node of its origin cloud with that node's
 * source, its type is known, its data within limits, and it expires.
 */
export function decodeEventRecord(record: MeshRecord): Event {
  let payload: EventPayload;
  try {
    payload = EventPayload.decode(record.payload);
  } catch (err) {
    throw invalidArgument(`event payload does not decode: ${errorMessage(err)}`);
  }
  const event = payload.event;
  if (!event) throw invalidArgument('event payload carries no event');
  if (event.id !== record.key)
    throw invalidArgument(`event id ${event.id} is not the record key ${record.key}`);
  if (!isEventId(event.id)) throw invalidArgument(`event id ${JSON.stringify(event.id)} is not a UUID`);
  const cloud = cloudOfNode(record.origin);
  if (event.originCloud !== cloud) {
    throw invalidArgument(
      `${record.origin} may publish events of ${cloud} only, not of ${event.originCloud}`,
    );
  }
  if (event.source !== sourceOf(record.origin)) {
    throw invalidArgument(`event source ${event.source} is not ${sourceOf(record.origin)}`);
  }
  if (event.time === undefined) throw invalidArgument('event has no time');
  if (event.attempt !== 0) throw invalidArgument('a published event carries no attempt');
  checkEventFields(event);
  if (record.expiresAtMs === 0) throw invalidArgument('an event record must expire');
  if (record.expiresAtMs - record.createdAtMs > limits.eventRetentionMsMax) {
    throw invalidArgument(`event expires more than ${limits.eventRetentionMsMax} ms after it was published`);
  }
  return event;
}

export function encodeReceipt(receipt: ReceiptPayload): Uint8Array {
  return ReceiptPayload.encode(receipt).finish();
}

export function receiptKey(cloud: string, subscriber: string, origin: string): string {
  return `${cloud}/${subscriber}/${origin}`;
}

const settledOutcomes = new Set([Outcome.OUTCOME_DONE, Outcome.OUTCOME_FAILED, Outcome.OUTCOME_SKIPPED]);

/** A record of topic "receipt", checked: it is about the publishing node's cloud, under its key. */
export function decodeReceiptRecord(record: MeshRecord): ReceiptPayload {
  let receipt: ReceiptPayload;
  try {
    receipt = ReceiptPayload.decode(record.payload);
  } catch (err) {
    throw invalidArgument(`receipt payload does not decode: ${errorMessage(err)}`);
  }
  const cloud = cloudOfNode(record.origin);
  if (receipt.cloud !== cloud) {
    throw invalidArgument(`${record.origin} may publish receipts of ${cloud} only, not of ${receipt.cloud}`);
  }
  if (!isSubscriberName(receipt.subscriber)) throw invalidArgument('receipt subscriber is not a valid name');
  if (!nodeIdPattern.test(receipt.origin)) throw invalidArgument('receipt origin is not a node id');
  const key = receiptKey(receipt.cloud, receipt.subscriber, receipt.origin);
  if (record.key !== key) throw invalidArgument(`receipt key ${record.key} is not ${key}`);
  if (receipt.outcomes.length > limits.receiptOutcomesMax) {
    throw invalidArgument(
      `receipt lists ${receipt.outcomes.length} outcomes; at most ${limits.receiptOutcomesMax} (limits.receiptOutcomesMax)`,
    );
  }
  for (const outcome of receipt.outcomes) {
    if (!isEventId(outcome.eventId)) throw invalidArgument('receipt outcome names no event id');
    if (!settledOutcomes.has(outcome.outcome)) throw invalidArgument('receipt outcome is unspecified');
    checkBytes('receipt outcome detail', outcome.detail, limits.eventAckDetailBytesMax);
  }
  return receipt;
}

export function encodeSubscribers(payload: SubscribersPayload): Uint8Array {
  return SubscribersPayload.encode(payload).finish();
}

/** A record of topic "subscribers", checked: the publishing node's cloud, under its own key. */
export function decodeSubscribersRecord(record: MeshRecord): SubscribersPayload {
  let payload: SubscribersPayload;
  try {
    payload = SubscribersPayload.decode(record.payload);
  } catch (err) {
    throw invalidArgument(`subscribers payload does not decode: ${errorMessage(err)}`);
  }
  const cloud = cloudOfNode(record.origin);
  if (payload.cloud !== cloud || record.key !== cloud) {
    throw invalidArgument(
      `${record.origin} may publish the subscribers of ${cloud} only, under key ${cloud}`,
    );
  }
  if (payload.expected.length > limits.expectedSubscribersMax) {
    throw invalidArgument(`more than ${limits.expectedSubscribersMax} expected subscribers`);
  }
  for (const name of payload.expected) {
    if (!isSubscriberName(name)) throw invalidArgument('an expected subscriber is not a valid name');
  }
  return payload;
}

/** RESOURCE_EXHAUSTED for a cloud that holds limits.eventsPerCloudMax events already. */
export function tooManyEvents(cloud: string, max: number): AllianceError {
  return new AllianceError(
    'RESOURCE_EXHAUSTED',
    `${cloud} already has ${max} events held (limits.eventsPerCloudMax); they expire after the retention time`,
  );
}
