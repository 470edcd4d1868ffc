/**
 * alliance.v1.Events over the events capability. Thin: checks the request's shape (required
 * fields, lengths) and leaves every judgement (known types, subscriber names, data size, whether
 * an event or a delivery exists) to the capability, whose typed errors become the status.
 *
 * Subscribe ends with ABORTED when a newer Subscribe of the same subscriber replaces it, and with
 * UNAVAILABLE when the node stops (stopSignal), so a client can tell "someone else took over"
 * from "reconnect".
 */
import type { Logger } from 'pino';
import type { Events, PublishInput } from '../events/index.js';
import type { Event, EventsServer, PublishRequest, SubscribeRequest } from '../gen/alliance/v1/events.js';
import { limits } from '../config/limits.js';
import { invalidArgument } from '../lib/errors.js';
import { toGrpcStatus } from '../lib/grpc-status.js';
import { serverStream, unary } from './handlers.js';

/** Ids and names: event ids are UUIDs, subscriber names and clouds at most 63 characters. */
const idBytesMax = 255;

function checkLength(field: string, value: string, max = idBytesMax): void {
  if (Buffer.byteLength(value) > max) throw invalidArgument(`${field} is longer than ${max} bytes`);
}

function required(field: string, value: string, max = idBytesMax): void {
  if (value === '') throw invalidArgument(`${field} is required`);
  checkLength(field, value, max);
}

export interface EventsHandlerDeps {
  events: Events;
  log: Logger;
  /** Aborted when the local API stops: open Subscribe streams end with UNAVAILABLE. */
  stopSignal?: AbortSignal;
}

function publishInput(request: PublishRequest, field = ''): PublishInput {
  required(`${field}type`, request.type);
  checkLength(`${field}subject`, request.subject, limits.eventSubjectBytesMax);
  checkLength(`${field}target_cloud`, request.targetCloud);
  return {
    type: request.type,
    subject: request.subject,
    data: request.data,
    targetCloud: request.targetCloud,
  };
}

export function createEventsHandlers({ events, log, stopSignal }: EventsHandlerDeps): EventsServer {
  return {
    // Concurrent Publish calls share one commit and one signature (publishSoon).
    publish: unary(log, async (request) => {
      const event = await events.publishSoon(publishInput(request));
      return { id: event.id };
    }),

    publishBatch: unary(log, (request) => {
      if (request.events.length === 0) throw invalidArgument('events is empty');
      if (request.events.length > limits.publishBatchEventsMax) {
        throw invalidArgument(`events holds more than ${limits.publishBatchEventsMax} entries`);
      }
      const inputs = request.events.map((entry, i) => publishInput(entry, `events[${i}].`));
      return { ids: events.publishMany(inputs).map((event) => event.id) };
    }),

    subscribe: serverStream<SubscribeRequest, Event>(
      log,
      async (request, { signal, send }) => {
        required('subscriber', request.subscriber);
        for (const type of request.types) checkLength('types entry', type);
        await events.subscribe({ subscriber: request.subscriber, types: request.types }, { signal, send });
      },
      { stopSignal },
    ),

    // Concurrent Ack calls share one commit (ackSoon).
    ack: unary(log, async (request) => {
      required('subscriber', request.subscriber);
      required('event_id', request.eventId);
      checkLength('detail', request.detail, limits.eventAckDetailBytesMax);
      await events.ackSoon({
        subscriber: request.subscriber,
        eventId: request.eventId,
        outcome: request.outcome,
        detail: request.detail,
      });
      return {};
    }),

    ackBatch: unary(log, (request) => {
      required('subscriber', request.subscriber);
      if (request.acks.length === 0) throw invalidArgument('acks is empty');
      if (request.acks.length > limits.ackBatchAcksMax) {
        throw invalidArgument(`acks holds more than ${limits.ackBatchAcksMax} entries`);
      }
      for (const [i, ack] of request.acks.entries()) {
        required(`acks[${i}].event_id`, ack.eventId);
        checkLength(`acks[${i}].detail`, ack.detail, limits.eventAckDetailBytesMax);
      }
      const refused = events.ackMany(
        request.acks.map((ack) => ({
          subscriber: request.subscriber,
          eventId: ack.eventId,
          outcome: ack.outcome,
          detail: ack.detail,
        })),
      );
      return {
        refused: refused.map(({ eventId, error }) => {
          const { code, details } = toGrpcStatus(error);
          return { eventId, code, message: details };
        }),
      };
    }),

    getEventStatus: unary(log, (request) => {
      required('id', request.id);
      return events.status(request.id);
    }),
  };
}
