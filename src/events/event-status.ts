/**
 * GetEventStatus, assembled from what a node holds: which clouds an event is for, whom each of
 * them expects to handle it (their "subscribers" records), and where each subscriber stands (the
 * receipts those clouds publish, or this node's own deliveries for its own cloud). Pure: no I/O.
 */
import type { ReceiptOutcome, ReceiptPayload } from '../gen/alliance/peer/v1/events.js';
import { Outcome } from '../gen/alliance/v1/events.js';
import type { CloudEventStatus, SubscriberEventStatus } from '../gen/alliance/v1/events.js';

/** A receipt with its outcomes by event id, as kept in memory for quick answers. */
export interface IndexedReceipt {
  handledThroughVersion: number;
  outcomes: Map<string, ReceiptOutcome>;
}

export function indexReceipt(receipt: ReceiptPayload): IndexedReceipt {
  return {
    handledThroughVersion: Number(receipt.handledThroughVersion),
    outcomes: new Map(receipt.outcomes.map((outcome) => [outcome.eventId, outcome])),
  };
}

/** Where `subscriber` stands with event (`eventId`, `version`) according to one receipt. */
export function outcomeFromReceipt(
  subscriber: string,
  receipt: IndexedReceipt,
  eventId: string,
  version: number,
): SubscriberEventStatus {
  const listed = receipt.outcomes.get(eventId);
  if (listed) {
    return {
      name: subscriber,
      outcome: listed.outcome,
      detail: listed.detail,
      ackedAt: undefined,
      attempts: listed.attempts,
      parked: listed.parked,
    };
  }
  const done = version <= receipt.handledThroughVersion;
  return {
    name: subscriber,
    outcome: done ? Outcome.OUTCOME_DONE : Outcome.OUTCOME_UNSPECIFIED,
    detail: '',
    ackedAt: undefined,
    // A receipt lists the attempts of what it lists only; one done without a listing took at least one.
    attempts: done ? 1 : 0,
    parked: false,
  };
}

export function isHandled(outcome: Outcome): boolean {
  return outcome === Outcome.OUTCOME_DONE || outcome === Outcome.OUTCOME_SKIPPED;
}

function rank(status: SubscriberEventStatus): number {
  if (isHandled(status.outcome)) return 3;
  if (status.parked) return 2;
  return status.outcome === Outcome.OUTCOME_FAILED ? 1 : 0;
}

/**
 * The most advanced of several answers about one subscriber (a cloud with several nodes, each
 * publishing its own receipts): handled beats parked beats failed beats not acked yet.
 */
export function bestOutcome(name: string, statuses: readonly SubscriberEventStatus[]): SubscriberEventStatus {
  let best: SubscriberEventStatus = {
    name,
    outcome: Outcome.OUTCOME_UNSPECIFIED,
    detail: '',
    ackedAt: undefined,
    attempts: 0,
    parked: false,
  };
  for (const status of statuses) if (rank(status) > rank(best)) best = status;
  return best;
}

export interface CloudStatusInput {
  cloud: string;
  /** The subscribers the cloud expects; undefined when its subscribers record is not held here. */
  expected: readonly string[] | undefined;
  outcomeOf(subscriber: string): SubscriberEventStatus;
}

/**
 * Per target cloud, each expected subscriber's outcome. A cloud is complete when every subscriber
 * it expects acked done or skipped; one whose expectations are unknown here is not complete (it
 * may not have joined yet). The event is complete when every target cloud is.
 */
export function assembleStatus(clouds: readonly CloudStatusInput[]): {
  complete: boolean;
  clouds: CloudEventStatus[];
} {
  const statuses = clouds.map((input): CloudEventStatus => {
    const subscribers = [...(input.expected ?? [])].sort().map((name) => input.outcomeOf(name));
    return {
      cloud: input.cloud,
      complete: input.expected !== undefined && subscribers.every((s) => isHandled(s.outcome)),
      subscribers,
    };
  });
  return { complete: statuses.every((s) => s.complete), clouds: statuses };
}
