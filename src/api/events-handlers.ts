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
import type { Events } from '../events/index.js';
import type { Event, EventsServer, SubscribeRequest } from '../gen/alliance/v1/events.js';
import { limits } from '../config/limits.js';
import { invalidArgument } from '../lib/errors.js';
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

export function createEventsHandlers({ events, log, stopSignal }: EventsHandlerDeps): EventsServer {
  return {
    publish: unary(log, (request) => {
      required('type', request.type);
      checkLength('subject', request.subject, limits.eventSubjectBytesMax);
      checkLength('target_cloud', request.targetCloud);
      const event = events.publish({
        type: request.type,
        subject: request.subject,
        data: request.data,
        targetCloud: request.targetCloud,
      });
      return { id: event.id };
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

    ack: unary(log, (request) => {
      required('subscriber', request.subscriber);
      required('event_id', request.eventId);
      checkLength('detail', request.detail, limits.eventAckDetailBytesMax);
      events.ack({
        subscriber: request.subscriber,
        eventId: request.eventId,
        outcome: request.outcome,
        detail: request.detail,
      });
      return {};
    }),

    getEventStatus: unary(log, (request) => {
      required('id', request.id);
      return events.status(request.id);
    }),
  };
}
