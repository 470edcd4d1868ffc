/**
 * Remote provisioning (alliance.v1.Provisioning): a cloud asks another to create something for
 * one of its users, idempotently by request id, and watches the outcome.
 *
 * Records only (no ExecuteProvision peer call): both halves are durable records of topic
 * "provision", so a request survives either side being down and is acted on when it arrives.
 * - The requester publishes the request under `request/<request id>`: state PENDING (provision
 *   it) or, after Deprovision, DEPROVISIONING (reverse it).
 * - The target cloud's node sees a request for its cloud, executes it and publishes how far it
 *   got under `state/<request id>`: RUNNING then DONE or FAILED; DEPROVISIONING then
 *   DEPROVISIONED or FAILED (state.ts).
 * - Kind "project" is executed through the identity source's ProjectProvisioner (the built-in
 *   source's SQLite store, or Keystone's REST API), asynchronously: while it runs the request id
 *   stays in `running`, so a record arriving meanwhile starts no second run, and when it ends the
 *   request is considered again (a Deprovision may have come). Any other kind becomes a `provision.request` event to the
 *   target cloud's own subscribers, and the first subscriber's done or failed ack, read through
 *   events.status, is the outcome.
 * - GetProvision at the requester shows the request with the target's latest state.
 */
import { isDeepStrictEqual } from 'node:util';
import type { Logger } from 'pino';
import { limits } from '../config/limits.js';
import type { Events } from '../events/index.js';
import { ProvisionPayload } from '../gen/alliance/peer/v1/events.js';
import { ProvisionState } from '../gen/alliance/v1/provisioning.js';
import type { ProvisionRecord } from '../gen/alliance/v1/provisioning.js';
import type { Clock } from '../lib/clock.js';
import { cloudOfNode } from '../lib/node-id.js';
import { AllianceError, errorMessage, invalidArgument, notFound } from '../lib/errors.js';
import type { ProjectProvisioner } from '../identity/index.js';
import type { Mesh, MeshRecord, Topic } from '../mesh/index.js';
import { isSettled, nextStep, verdictOf, viewOf, wantedAction } from './state.js';
import type { ProvisionAction } from './state.js';

export * from './state.js';

export const provisionTopic = 'provision';
export const projectKind = 'project';
export const provisionEventType = 'provision.request';

const requestIdPattern = /^[A-Za-z0-9][A-Za-z0-9._:-]*$/;
const kindPattern = /^[a-z][a-z0-9._-]*$/;
const cloudPattern = /^[A-Za-z0-9][A-Za-z0-9._-]*$/;

/** What kind "project" needs from the target cloud's identity source (its port, src/identity). */
export type { ProjectProvisioner };

export interface ProvisioningDeps {
  mesh: Pick<Mesh, 'registerTopic'>;
  events: Pick<Events, 'publish' | 'status' | 'onChange' | 'expectations'>;
  /** The identity source's; null when it cannot create projects: kind "project" then fails. */
  projects: ProjectProvisioner | null;
  clock: Clock;
  log: Logger;
}

export interface ProvisioningOptions {
  cloud: string;
  /** `<cloud>/<node>`. */
  nodeId: string;
}

export interface ProvisionInput {
  targetCloud: string;
  requestId: string;
  kind: string;
  spec: Record<string, unknown> | undefined;
}

export interface Provisioning {
  start(): void;
  /**
   * Stops taking requests and aborts the executions in progress (their state stays RUNNING or
   * DEPROVISIONING, and the next start does them again); resolves when they have ended.
   */
  stop(): Promise<void>;
  /** Publishes the request (durable when it returns), or returns the one already made with this id. */
  provision(input: ProvisionInput): ProvisionRecord;
  /** The request with the target's latest state. Throws NOT_FOUND. */
  get(requestId: string): ProvisionRecord;
  /** Asks the target to reverse the request. Throws NOT_FOUND. */
  deprovision(requestId: string): ProvisionRecord;
  /** Calls `listener` with the request id after each provisioning record is applied here. */
  onChange(listener: (requestId: string) => void): () => void;
}

const requestKey = (id: string): string => `request/${id}`;
const stateKey = (id: string): string => `state/${id}`;

export function checkRequestId(requestId: string): void {
  if (requestId === '') throw invalidArgument('request_id is required');
  if (Buffer.byteLength(requestId) > limits.provisionRequestIdBytesMax) {
    throw invalidArgument(`request_id is longer than ${limits.provisionRequestIdBytesMax} bytes`);
  }
  if (!requestIdPattern.test(requestId)) {
    throw invalidArgument('request_id may hold only letters, digits and . _ : - (and not start with a sign)');
  }
}

function requiredString(spec: Record<string, unknown>, field: string): string {
  const value = spec[field];
  if (typeof value !== 'string' || value === '') {
    throw invalidArgument(`spec.${field} (a non-empty string) is required for kind "project"`);
  }
  return value;
}

/** Checks a Provision request's arguments; throws INVALID_ARGUMENT. */
export function checkProvisionInput(input: ProvisionInput): Record<string, unknown> {
  checkRequestId(input.requestId);
  if (input.targetCloud === '') throw invalidArgument('target_cloud is required');
  if (input.targetCloud.length > 63 || !cloudPattern.test(input.targetCloud)) {
    throw invalidArgument('target_cloud is not a cloud id');
  }
  if (input.kind === '') throw invalidArgument('kind is required');
  if (Buffer.byteLength(input.kind) > limits.provisionKindBytesMax || !kindPattern.test(input.kind)) {
    throw invalidArgument(
      `kind must be lower-case letters, digits and . _ - (at most ${limits.provisionKindBytesMax} bytes)`,
    );
  }
  const spec = input.spec ?? {};
  if (typeof spec !== 'object' || Array.isArray(spec)) throw invalidArgument('spec must be a JSON object');
  if (Buffer.byteLength(JSON.stringify(spec)) > limits.provisionSpecBytesMax) {
    throw invalidArgument(`spec is larger than ${limits.provisionSpecBytesMax} bytes`);
  }
  if (input.kind === projectKind) {
    requiredString(spec, 'name');
    requiredString(spec, 'userId');
    requiredString(spec, 'role');
    if (spec['domainId'] !== undefined && typeof spec['domainId'] !== 'string') {
      throw invalidArgument('spec.domainId must be a string');
    }
  }
  return spec;
}

function decodeRecord(record: MeshRecord): ProvisionRecord {
  const payload = ProvisionPayload.decode(record.payload);
  const provision = payload.record;
  if (!provision) throw new Error('provision payload without a record');
  if (record.key === requestKey(provision.requestId)) {
    if (cloudOfNode(record.origin) !== provision.requesterCloud) {
      throw new Error('a request record must come from its requester cloud');
    }
  } else if (record.key === stateKey(provision.requestId)) {
    if (cloudOfNode(record.origin) !== provision.targetCloud) {
      throw new Error('a state record must come from its target cloud');
    }
  } else {
    throw new Error(`provision record key ${record.key} does not match its request id`);
  }
  return provision;
}

const encodeRecord = (provision: ProvisionRecord): Uint8Array =>
  ProvisionPayload.encode({ record: provision }).finish();

export function createProvisioning(deps: ProvisioningDeps, options: ProvisioningOptions): Provisioning {
  const log = deps.log.child({ component: 'provisioning' });
  const { clock, events, projects } = deps;
  const { cloud, nodeId } = options;
  const listeners = new Set<(requestId: string) => void>();
  /** Request ids being executed here now. */
  const running = new Set<string>();
  /** The executions in progress, which stop() waits for. */
  const executions = new Set<Promise<void>>();
  /** Aborted by stop(), so executions waiting on the identity backend end at once. */
  let stopping = new AbortController();
  /** provision.request event id -> request id, for custom kinds waiting on a subscriber. */
  const watching = new Map<string, string>();
  let unsubscribers: (() => void)[] = [];
  let started = false;

  const topic: Topic = deps.mesh.registerTopic({
    name: provisionTopic,
    validate: (record) => {
      if (!record.deleted) decodeRecord(record);
    },
  });

  function live(record: MeshRecord | undefined): ProvisionRecord | undefined {
    if (!record || record.deleted) return undefined;
    try {
      return decodeRecord(record);
    } catch (err) {
      log.error({ reason: errorMessage(err), key: record.key }, 'provision record does not decode');
      return undefined;
    }
  }

  /**
   * Key -> the origins holding a record under it, so the few records of one request are read
   * directly instead of listing (and decoding) the whole topic for every look-up: requests are
   * never dropped, and start() considers each one.
   */
  const originsByKey = new Map<string, Set<string>>();

  function noteRecord(record: MeshRecord): void {
    let origins = originsByKey.get(record.key);
    if (!origins) originsByKey.set(record.key, (origins = new Set()));
    origins.add(record.origin);
  }

  /** Every record held under `key`, from any origin. */
  function recordsUnder(key: string): MeshRecord[] {
    const records: MeshRecord[] = [];
    for (const origin of originsByKey.get(key) ?? []) {
      const record = topic.get(origin, key);
      if (record) records.push(record);
    }
    return records;
  }

  /** The request record as this cloud holds it: this node's, else another node's of this cloud. */
  function requestRecord(requestId: string): ProvisionRecord | undefined {
    const own = live(topic.get(nodeId, requestKey(requestId)));
    if (own) return own;
    for (const record of recordsUnder(requestKey(requestId))) {
      if (cloudOfNode(record.origin) === cloud) return live(record);
    }
    return undefined;
  }

  /** The target's latest state record for a request (by updated time). */
  function latestState(request: ProvisionRecord): ProvisionRecord | undefined {
    let best: ProvisionRecord | undefined;
    for (const record of recordsUnder(stateKey(request.requestId))) {
      if (cloudOfNode(record.origin) !== request.targetCloud) continue;
      const state = live(record);
      if (!state) continue;
      if (!best || (state.updatedAt?.getTime() ?? 0) >= (best.updatedAt?.getTime() ?? 0)) best = state;
    }
    return best;
  }

  function publishState(
    request: ProvisionRecord,
    state: ProvisionState,
    detail: string,
    result: Record<string, unknown>,
  ): void {
    topic.publish(
      stateKey(request.requestId),
      encodeRecord({ ...request, state, detail, result, updatedAt: new Date(clock.nowMs()) }),
    );
  }

  // ---- the target's side ---------------------------------------------------------------

  function consider(requestId: string): void {
    if (!started) return;
    const request = latestRemoteRequest(requestId);
    if (!request || request.targetCloud !== cloud) return;
    const own = live(topic.get(nodeId, stateKey(requestId)));
    const step = nextStep(request, own, running.has(requestId) || [...watching.values()].includes(requestId));
    if (!step) return;
    // Held until the execution has settled, across its awaits: a record arriving meanwhile finds
    // the request in progress and starts nothing.
    running.add(requestId);
    const execution = execute(request, step, stopping.signal)
      .catch((err: unknown) => {
        // execute settles the provisioner's failures as FAILED itself; this is anything else
        // (publishing a state or an event failed): logged, and FAILED if that can still be said.
        log.error({ requestId, reason: errorMessage(err) }, 'provisioning step failed');
        try {
          publishState(request, ProvisionState.PROVISION_STATE_FAILED, errorMessage(err), { action: step });
        } catch (again) {
          log.error({ requestId, reason: errorMessage(again) }, 'could not publish the FAILED state');
        }
      })
      .finally(() => {
        running.delete(requestId);
        executions.delete(execution);
        // A Deprovision may have arrived while it ran.
        consider(requestId);
      });
    executions.add(execution);
  }

  /** The latest request record of this id, from whichever cloud made it (the target's view). */
  function latestRemoteRequest(requestId: string): ProvisionRecord | undefined {
    let best: ProvisionRecord | undefined;
    for (const record of recordsUnder(requestKey(requestId))) {
      const request = live(record);
      if (!request) continue;
      if (!best || (request.updatedAt?.getTime() ?? 0) >= (best.updatedAt?.getTime() ?? 0)) best = request;
    }
    return best;
  }

  async function execute(
    request: ProvisionRecord,
    action: ProvisionAction,
    signal: AbortSignal,
  ): Promise<void> {
    const busy =
      action === 'provision'
        ? ProvisionState.PROVISION_STATE_RUNNING
        : ProvisionState.PROVISION_STATE_DEPROVISIONING;
    const finished =
      action === 'provision'
        ? ProvisionState.PROVISION_STATE_DONE
        : ProvisionState.PROVISION_STATE_DEPROVISIONED;
    log.info({ requestId: request.requestId, kind: request.kind, action }, 'executing provisioning request');
    if (request.kind !== projectKind) {
      const spec = { ...(request.spec ?? {}), action };
      const event = events.publish({
        type: provisionEventType,
        subject: request.requestId,
        data: {
          requestId: request.requestId,
          requesterCloud: request.requesterCloud,
          kind: request.kind,
          action,
          spec,
        },
        targetCloud: cloud,
      });
      publishState(request, busy, `delivered to subscribers as event ${event.id}`, {
        action,
        eventId: event.id,
      });
      watching.set(event.id, request.requestId);
      checkEvent(event.id);
      return;
    }
    publishState(request, busy, '', { action });
    if (!projects) {
      publishState(
        request,
        ProvisionState.PROVISION_STATE_FAILED,
        `kind "project" is not supported by the identity source of cloud ${cloud}`,
        { action },
      );
      return;
    }
    let state: ProvisionState;
    let detail: string;
    let result: Record<string, unknown>;
    try {
      if (action === 'provision') {
        const spec = request.spec ?? {};
        const project = await projects.provisionProject({
          requestId: request.requestId,
          requesterCloud: request.requesterCloud,
          name: String(spec['name'] ?? ''),
          domainId: typeof spec['domainId'] === 'string' ? spec['domainId'] : '',
          userId: String(spec['userId'] ?? ''),
          role: String(spec['role'] ?? ''),
          signal,
        });
        state = finished;
        detail = `project ${project.projectId} created, role ${project.role} assigned`;
        result = { action, ...project };
      } else {
        const deleted = await projects.deprovisionProject({
          requestId: request.requestId,
          requesterCloud: request.requesterCloud,
          signal,
        });
        state = finished;
        detail = deleted ? 'project deleted' : 'no project was made; nothing to delete';
        result = { action, deleted };
      }
    } catch (err) {
      if (signal.aborted) {
        // Not a failure of the request: the state stays RUNNING or DEPROVISIONING, and the next
        // start does it again (idempotent per request id).
        log.info(
          { requestId: request.requestId, action },
          'provisioning interrupted by stop; resumed at start',
        );
        return;
      }
      log.warn(
        { requestId: request.requestId, action, reason: errorMessage(err) },
        'provisioning request failed',
      );
      state = ProvisionState.PROVISION_STATE_FAILED;
      detail = errorMessage(err);
      result = { action };
    }
    publishState(request, state, detail, result);
  }

  /** Settles a custom kind once a subscriber answered its event. */
  function checkEvent(eventId: string): void {
    const requestId = watching.get(eventId);
    if (requestId === undefined) return;
    const own = live(topic.get(nodeId, stateKey(requestId)));
    if (!own) return;
    let subscribers;
    try {
      subscribers = events.status(eventId).clouds.find((c) => c.cloud === cloud)?.subscribers ?? [];
    } catch (err) {
      if (err instanceof AllianceError && err.code === 'NOT_FOUND') {
        watching.delete(eventId);
        publishState(own, ProvisionState.PROVISION_STATE_FAILED, `event ${eventId} expired unanswered`, {
          action: own.result?.['action'] ?? 'provision',
        });
        return;
      }
      throw err;
    }
    const verdict = verdictOf(subscribers, own.kind);
    if (verdict.state === 'waiting') return;
    watching.delete(eventId);
    const action = own.result?.['action'] === 'deprovision' ? 'deprovision' : 'provision';
    const state =
      verdict.state === 'failed'
        ? ProvisionState.PROVISION_STATE_FAILED
        : action === 'provision'
          ? ProvisionState.PROVISION_STATE_DONE
          : ProvisionState.PROVISION_STATE_DEPROVISIONED;
    publishState(own, state, verdict.detail, { action, eventId });
    queueMicrotask(() => consider(requestId));
  }

  function onRecord(record: MeshRecord): void {
    noteRecord(record);
    const slash = record.key.indexOf('/');
    const requestId = record.key.slice(slash + 1);
    for (const listener of listeners) {
      try {
        listener(requestId);
      } catch (err) {
        log.error({ err }, 'provisioning change listener failed');
      }
    }
    if (record.key.startsWith('request/')) queueMicrotask(() => consider(requestId));
  }

  // ---- the handle ------------------------------------------------------------------------

  return {
    start() {
      started = true;
      if (stopping.signal.aborted) stopping = new AbortController();
      unsubscribers = [
        topic.onChange(onRecord),
        events.onChange(() => {
          for (const eventId of [...watching.keys()]) checkEvent(eventId);
        }),
      ];
      const held = topic.list();
      for (const record of held) noteRecord(record);
      // Custom kinds still waiting on a subscriber, then every request for this cloud.
      for (const record of held) {
        if (record.origin !== nodeId || !record.key.startsWith('state/')) continue;
        const state = live(record);
        const eventId = state?.result?.['eventId'];
        if (state && typeof eventId === 'string' && !isSettled(state.state)) {
          watching.set(eventId, state.requestId);
        }
      }
      for (const eventId of [...watching.keys()]) checkEvent(eventId);
      for (const record of held) {
        if (record.key.startsWith('request/')) consider(record.key.slice('request/'.length));
      }
    },

    async stop() {
      started = false;
      for (const unsubscribe of unsubscribers) unsubscribe();
      unsubscribers = [];
      stopping.abort();
      await Promise.all([...executions]);
    },

    provision(input) {
      const spec = checkProvisionInput(input);
      const existing = requestRecord(input.requestId);
      if (existing) {
        if (
          existing.kind !== input.kind ||
          existing.targetCloud !== input.targetCloud ||
          !isDeepStrictEqual(existing.spec ?? {}, spec)
        ) {
          throw new AllianceError(
            'ALREADY_EXISTS',
            `request ${input.requestId} was already made with another target, kind or spec`,
          );
        }
        return viewOf(existing, latestState(existing));
      }
      // A request for a cloud no node has heard of would stay PENDING for ever.
      if (!events.expectations().has(input.targetCloud)) {
        throw new AllianceError(
          'FAILED_PRECONDITION',
          `no node of cloud "${input.targetCloud}" is known here; nothing could carry out the request`,
        );
      }
      const now = new Date(clock.nowMs());
      const request: ProvisionRecord = {
        requestId: input.requestId,
        requesterCloud: cloud,
        targetCloud: input.targetCloud,
        kind: input.kind,
        spec,
        state: ProvisionState.PROVISION_STATE_PENDING,
        detail: '',
        result: undefined,
        createdAt: now,
        updatedAt: now,
      };
      topic.publish(requestKey(input.requestId), encodeRecord(request));
      log.info(
        { requestId: input.requestId, target: input.targetCloud, kind: input.kind },
        'provision requested',
      );
      return request;
    },

    get(requestId) {
      checkRequestId(requestId);
      const request = requestRecord(requestId);
      if (!request) throw notFound(`no provisioning request ${requestId} was made from this cloud`);
      return viewOf(request, latestState(request));
    },

    deprovision(requestId) {
      checkRequestId(requestId);
      const request = requestRecord(requestId);
      if (!request) throw notFound(`no provisioning request ${requestId} was made from this cloud`);
      if (wantedAction(request) === 'deprovision') return viewOf(request, latestState(request));
      const updated: ProvisionRecord = {
        ...request,
        state: ProvisionState.PROVISION_STATE_DEPROVISIONING,
        detail: '',
        updatedAt: new Date(clock.nowMs()),
      };
      topic.publish(requestKey(requestId), encodeRecord(updated));
      log.info({ requestId }, 'deprovision requested');
      return updated;
    },

    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
