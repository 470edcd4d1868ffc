/**
 * The cumulative receipt (DESIGN.md §6: "an event counts as handled in a cloud when every
 * subscriber expected there has acked it"): how one subscriber of this cloud stands with the
 * events of one origin, as one record instead of one per event. Pure: no I/O.
 *
 * `handledThroughVersion` V is the highest origin version such that every event of that origin
 * targeted here with a version at or below V has an answer: done or skipped, or failed (retrying)
 * or parked, which are then listed. V never passes the origin's gap-free version here, since an
 * event not received yet cannot be counted, nor an event never acked (still pending). `outcomes`
 * lists what V alone does not say: failed, parked and skipped events at or below V, and events
 * above V that already have an answer (acked out of order).
 *
 * V is the version of an event (the highest one it covers), not the gap-free version itself:
 * the gap-free version moves with every record of the origin, receipts included, and a receipt
 * that followed it would be republished for every receipt of the other side, without end.
 *
 * The list is capped (limits.receiptOutcomesMax), and the cap never makes a receipt claim more
 * than is true: failed and parked events at or below V must be listed, so if there are too many,
 * V is lowered below the first one that does not fit; an answered event above V left out shows
 * as "not acked yet"; a skipped one at or below V left out shows as done (both are handled).
 */
import type { ReceiptOutcome, ReceiptPayload } from '../gen/alliance/peer/v1/events.js';
import { Outcome } from '../gen/alliance/v1/events.js';

/** Where one delivery stands: `pending` has no answer yet (not sent, or sent and not acked). */
export type DeliveryState = 'pending' | 'failed' | 'done' | 'skipped' | 'parked';

export interface DeliveryFacts {
  eventId: string;
  /** The event record's version at its origin. */
  version: number;
  state: DeliveryState;
  /** Failed attempts so far. */
  failures: number;
  detail: string;
}

export interface ReceiptInput {
  cloud: string;
  subscriber: string;
  origin: string;
  /** The origin's gap-free version at this node (Mesh.versions()). */
  gapFreeVersion: number;
  /**
   * Every delivery of the origin's events to the subscriber above `floorVersion`, and those at or
   * below it that are not done; any order. Deliveries at or below the floor that are missing are
   * taken as done.
   */
  deliveries: readonly DeliveryFacts[];
  /** A version every delivery at or below which has an answer (the last receipt's V); 0 if none. */
  floorVersion: number;
  outcomesMax: number;
}

/** Failures plus the answer that ended it, as GetEventStatus shows ATTEMPTS. */
export function attemptsOf(facts: Pick<DeliveryFacts, 'state' | 'failures'>): number {
  return facts.failures + (facts.state === 'done' || facts.state === 'skipped' ? 1 : 0);
}

export function outcomeOfState(state: DeliveryState): Outcome {
  switch (state) {
    case 'done':
      return Outcome.OUTCOME_DONE;
    case 'skipped':
      return Outcome.OUTCOME_SKIPPED;
    case 'failed':
    case 'parked':
      return Outcome.OUTCOME_FAILED;
    case 'pending':
      return Outcome.OUTCOME_UNSPECIFIED;
  }
}

function toOutcome(facts: DeliveryFacts): ReceiptOutcome {
  return {
    eventId: facts.eventId,
    version: BigInt(facts.version),
    outcome: outcomeOfState(facts.state),
    detail: facts.detail,
    attempts: attemptsOf(facts),
    parked: facts.state === 'parked',
  };
}

export function computeReceipt(input: ReceiptInput): ReceiptPayload {
  const deliveries = [...input.deliveries].sort((a, b) => a.version - b.version);
  const firstPending = deliveries.find((d) => d.state === 'pending');
  const limit = Math.min(input.gapFreeVersion, firstPending ? firstPending.version - 1 : Infinity);
  // The floor is only a hint that deliveries below it are answered; a pending one there wins.
  let through = Math.min(input.floorVersion, limit);
  for (const delivery of deliveries) {
    if (delivery.version > limit) break;
    through = Math.max(through, delivery.version);
  }

  const mustList = deliveries.filter(
    (d) => d.version <= through && (d.state === 'failed' || d.state === 'parked'),
  );
  const overflow = mustList[input.outcomesMax];
  if (overflow) through = overflow.version - 1;

  const listed: DeliveryFacts[] = mustList.filter((d) => d.version <= through);
  const answeredAbove = deliveries.filter((d) => d.version > through && d.state !== 'pending');
  const skippedBelow = deliveries.filter((d) => d.version <= through && d.state === 'skipped').reverse();
  for (const delivery of [...answeredAbove, ...skippedBelow]) {
    if (listed.length >= input.outcomesMax) break;
    listed.push(delivery);
  }
  listed.sort((a, b) => a.version - b.version);

  return {
    cloud: input.cloud,
    subscriber: input.subscriber,
    origin: input.origin,
    handledThroughVersion: BigInt(through),
    outcomes: listed.map(toOutcome),
  };
}
