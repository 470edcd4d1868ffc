/**
 * Polls GET /v3/OS-REVOKE/events?since=<ISO> and reports each new event once.
 *
 * Keystone returns the events with revoked_at strictly after `since`, but keeps revoked_at at
 * whole seconds: an event revoked later within the second of the newest one seen would be missed
 * by asking from that instant. So each poll asks from (newest revoked_at - 1 s) and drops the
 * events already reported (remembered by their full content until the cursor passes them). The
 * first poll after start looks back `lookbackMs` (a day), so revocations made while this node was
 * down are not missed; re-reporting one is harmless, revocation ids are derived from the content.
 */
import type { Logger } from 'pino';
import type { Clock, Timer } from '../../lib/clock.js';
import { errorMessage } from '../../lib/errors.js';
import type { RevocationInput } from '../types.js';
import type { KeystoneClient } from './keystone-client.js';
import { formatKeystoneTime } from './keystone-time.js';
import { osRevokeEventKey, translateOsRevokeEvent } from './revocation-events.js';
import { isObject } from './token-mapping.js';

/** Keystone's revoked_at resolution. */
const revokedAtResolutionMs = 1000;

export interface RevocationPollerOptions {
  pollMs: number;
  /** How far back the first poll looks. */
  lookbackMs: number;
}

export interface RevocationPollerDeps {
  clock: Clock;
  log: Logger;
  client: KeystoneClient;
  emit: (revocation: RevocationInput) => void;
}

export interface RevocationPoller {
  /** Polls once (waiting for it) and then every pollMs. */
  start(): Promise<void>;
  stop(): void;
  /** One poll now; resolves false when it failed (logged). */
  pollOnce(): Promise<boolean>;
  /** Unix ms of the last successful poll, or null. */
  lastSuccessMs(): number | null;
}

export function createRevocationPoller(
  deps: RevocationPollerDeps,
  options: RevocationPollerOptions,
): RevocationPoller {
  const { clock, log } = deps;
  let sinceMs: number | null = null;
  /** Events reported, by content key, with their revoked_at. */
  const seen = new Map<string, number>();
  let timer: Timer | null = null;
  let running = false;
  let stopped = false;
  let inFlight: Promise<boolean> | null = null;
  let abort: AbortController | null = null;
  let lastOkMs: number | null = null;

  async function poll(): Promise<boolean> {
    if (sinceMs === null) sinceMs = clock.nowMs() - options.lookbackMs;
    const since = sinceMs;
    abort = new AbortController();
    try {
      const body = await deps.client.getJson(
        `/v3/OS-REVOKE/events?since=${encodeURIComponent(formatKeystoneTime(since))}`,
        'project',
        abort.signal,
      );
      if (stopped) return false;
      const events = isObject(body) && Array.isArray(body['events']) ? body['events'] : null;
      if (events === null) throw new Error('answer has no "events" list');
      let newestMs: number | null = null;
      let reported = 0;
      for (const event of events) {
        const key = osRevokeEventKey(event);
        if (seen.has(key)) continue;
        const t = translateOsRevokeEvent(event);
        const revokedAtMs = t.revokedAtMs ?? since;
        seen.set(key, revokedAtMs);
        newestMs = Math.max(newestMs ?? revokedAtMs, revokedAtMs);
        if (t.kind === 'unsupported') {
          log.warn({ detail: t.detail, revokedAtMs }, 'Keystone revocation event not representable, skipped');
          continue;
        }
        reported++;
        deps.emit(t.revocation);
      }
      if (newestMs !== null) sinceMs = Math.max(since, newestMs - revokedAtResolutionMs);
      // Events at or before the cursor are never returned again.
      for (const [key, revokedAtMs] of seen) if (revokedAtMs <= sinceMs) seen.delete(key);
      if (reported > 0) log.info({ reported, sinceMs }, 'Keystone revocation events reported');
      lastOkMs = clock.nowMs();
      return true;
    } catch (err) {
      log.warn({ err: errorMessage(err), sinceMs: since }, 'polling Keystone revocation events failed');
      return false;
    } finally {
      abort = null;
    }
  }

  function pollOnce(): Promise<boolean> {
    // One poll at a time: a slow Keystone must not pile polls up.
    if (!inFlight) inFlight = poll().finally(() => (inFlight = null));
    return inFlight;
  }

  function schedule(): void {
    if (!running) return;
    timer = clock.setTimer(options.pollMs, () => {
      timer = null;
      void pollOnce().then(schedule);
    });
  }

  return {
    async start() {
      if (running) return;
      running = true;
      stopped = false;
      await pollOnce();
      schedule();
    },
    stop() {
      running = false;
      stopped = true;
      timer?.cancel();
      timer = null;
      abort?.abort();
    },
    pollOnce,
    lastSuccessMs: () => lastOkMs,
  };
}
