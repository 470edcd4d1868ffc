/**
 * The closed list of event types and the checks every node applies to the events records it is
 * given: a node speaks only for its own cloud, under the right key, within limits.
 */
import { describe, expect, it } from 'vitest';
import {
  checkEventType,
  eventIdFromSource,
  eventTypeDescriptions,
  eventTypes,
  isEventType,
} from '../../../src/events/index.js';
import {
  decodeEventRecord,
  decodeReceiptRecord,
  decodeSubscribersRecord,
  encodeEvent,
  encodeReceipt,
  encodeSubscribers,
} from '../../../src/events/event-codec.js';
import type { Event } from '../../../src/gen/alliance/v1/events.js';
import { Outcome } from '../../../src/gen/alliance/v1/events.js';
import type { MeshRecord } from '../../../src/mesh/index.js';

describe('event types', () => {
  it('are one closed list, each with a sentence saying what it means', () => {
    expect(eventTypes).toEqual([
      'identity.project.deleted',
      'identity.project.disabled',
      'identity.domain.deleted',
      'identity.domain.disabled',
      'identity.user.deleted',
      'identity.user.disabled',
      'identity.role_assignment.removed',
      'meter.usage',
      'provision.request',
    ]);
    for (const type of eventTypes) expect(eventTypeDescriptions[type]).toMatch(/^[A-Z].*\.$/);
  });

  it.each(['identity.project.deleted', 'meter.usage'])('accepts %s', (type) => {
    expect(isEventType(type)).toBe(true);
    expect(checkEventType(type)).toBe(type);
  });

  it.each(['', 'identity.project.created', 'IDENTITY.PROJECT.DELETED', 'compute.instance.delete'])(
    'refuses %j, naming the known types',
    (type) => {
      expect(isEventType(type)).toBe(false);
      expect(() => checkEventType(type)).toThrow(
        `is not a known event type; known types: ${eventTypes.join(', ')}`,
      );
    },
  );
});

describe('event ids from an identity source', () => {
  it('are UUIDs, the same for the same change, different per cloud and per change', () => {
    const id = eventIdFromSource('cloud-a', 'msg-1');
    expect(id).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-8[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(eventIdFromSource('cloud-a', 'msg-1')).toBe(id);
    expect(eventIdFromSource('cloud-b', 'msg-1')).not.toBe(id);
    expect(eventIdFromSource('cloud-a', 'msg-2')).not.toBe(id);
  });
});

const id = '00000000-0000-4000-8000-000000000001';
const nowMs = 1_700_000_000_000;

function event(overrides: Partial<Event> = {}): Event {
  return {
    id,
    source: 'alliance://cloud-a/n1',
    type: 'identity.project.deleted',
    subject: 'p1',
    time: new Date(nowMs),
    data: { project_id: 'p1' },
    originCloud: 'cloud-a',
    attempt: 0,
    targetCloud: '',
    ...overrides,
  };
}

function record(payload: Uint8Array, overrides: Partial<MeshRecord> = {}): MeshRecord {
  return {
    origin: 'cloud-a/n1',
    topic: 'event',
    key: id,
    version: 7,
    deleted: false,
    expiresAtMs: nowMs + 3_600_000,
    createdAtMs: nowMs,
    payload,
    ...overrides,
  };
}

describe('decodeEventRecord', () => {
  it('returns the event of a well-formed record', () => {
    expect(decodeEventRecord(record(encodeEvent(event())))).toEqual(event());
  });

  it.each([
    ['bytes that do not decode', record(Buffer.from([0xff, 0xff, 0xff])), /does not decode/],
    ['a payload with no event', record(new Uint8Array()), /carries no event/],
    ['an id that is not the key', record(encodeEvent(event()), { key: 'other' }), /is not the record key/],
    ['an id that is not a UUID', record(encodeEvent(event({ id: 'x' })), { key: 'x' }), /not a UUID/],
    [
      'an event of another cloud',
      record(encodeEvent(event({ originCloud: 'cloud-b' }))),
      /may publish events of cloud-a only/,
    ],
    [
      'a source that is not the publishing node',
      record(encodeEvent(event({ source: 'alliance://cloud-a/n2' }))),
      /is not alliance:\/\/cloud-a\/n1/,
    ],
    [
      'an unknown type',
      record(encodeEvent(event({ type: 'identity.project.created' }))),
      /not a known event type/,
    ],
    [
      'data over limits.eventDataBytesMax',
      record(encodeEvent(event({ data: { blob: 'x'.repeat(65_536) } }))),
      /limits\.eventDataBytesMax/,
    ],
    ['a malformed target cloud', record(encodeEvent(event({ targetCloud: 'Cloud B' }))), /not a cloud id/],
    ['no time', record(encodeEvent(event({ time: undefined }))), /no time/],
    ['an attempt number', record(encodeEvent(event({ attempt: 2 }))), /carries no attempt/],
    ['no expiry', record(encodeEvent(event()), { expiresAtMs: 0 }), /must expire/],
    [
      'an expiry beyond limits.eventRetentionMsMax',
      record(encodeEvent(event()), { expiresAtMs: nowMs + 40 * 24 * 3_600_000 }),
      /expires more than/,
    ],
  ])('refuses %s', (_name, bad, message) => {
    expect(() => decodeEventRecord(bad)).toThrow(message);
  });
});

describe('receipt and subscribers records', () => {
  const receipt = {
    cloud: 'cloud-b',
    subscriber: 'nova',
    origin: 'cloud-a/n1',
    handledThroughVersion: 9n,
    outcomes: [
      { eventId: id, version: 9n, outcome: Outcome.OUTCOME_SKIPPED, detail: '', attempts: 1, parked: false },
    ],
  };
  const receiptRecord = (payload: Uint8Array, overrides: Partial<MeshRecord> = {}): MeshRecord =>
    record(payload, { origin: 'cloud-b/n1', topic: 'receipt', key: 'cloud-b/nova/cloud-a/n1', ...overrides });

  it('accepts a receipt of the publishing node cloud under its key', () => {
    expect(decodeReceiptRecord(receiptRecord(encodeReceipt(receipt)))).toEqual(receipt);
  });

  it.each([
    [
      'a receipt for another cloud',
      receiptRecord(encodeReceipt({ ...receipt, cloud: 'cloud-c' })),
      /receipts of cloud-b only/,
    ],
    [
      'a receipt under another key',
      receiptRecord(encodeReceipt(receipt), { key: 'cloud-b/neutron/cloud-a/n1' }),
      /is not/,
    ],
    [
      'a bad subscriber name',
      receiptRecord(encodeReceipt({ ...receipt, subscriber: 'No Va' })),
      /not a valid name/,
    ],
    [
      'an outcome with no answer',
      receiptRecord(
        encodeReceipt({
          ...receipt,
          outcomes: [{ ...receipt.outcomes[0]!, outcome: Outcome.OUTCOME_UNSPECIFIED }],
        }),
      ),
      /unspecified/,
    ],
  ])('refuses %s', (_name, bad, message) => {
    expect(() => decodeReceiptRecord(bad)).toThrow(message);
  });

  it('accepts the subscribers of the publishing node cloud and refuses another cloud', () => {
    const payload = { cloud: 'cloud-b', expected: ['neutron', 'nova'] };
    const subscribers = (bytes: Uint8Array, key = 'cloud-b'): MeshRecord =>
      record(bytes, { origin: 'cloud-b/n1', topic: 'subscribers', key });
    expect(decodeSubscribersRecord(subscribers(encodeSubscribers(payload)))).toEqual(payload);
    expect(() =>
      decodeSubscribersRecord(subscribers(encodeSubscribers({ ...payload, cloud: 'cloud-a' }), 'cloud-a')),
    ).toThrow(/subscribers of cloud-b only/);
    expect(() =>
      decodeSubscribersRecord(subscribers(encodeSubscribers({ ...payload, expected: ['Nova'] }))),
    ).toThrow(/not a valid name/);
  });
});
