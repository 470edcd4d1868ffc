/**
 * Keystone's revocation events (GET /v3/OS-REVOKE/events) as Alliance revocation inputs. Pure.
 *
 * An event is `{audit_id? | audit_chain_id? | user_id? | project_id? | domain_id? | ...,
 * issued_before, revoked_at}`: it matches every token that carries all the named facts and was
 * issued at or before `issued_before`, both compared at whole seconds
 * (keystone/models/revoke_model.py). The facts Alliance has no field for (role_id, trusts, OAuth1
 * consumers, domain_scope_id, expires_at) would only narrow the match; such an event is not
 * translated (dropping them would revoke far more than Keystone did) and is reported instead.
 */
import type { RevocationInput } from '../types.js';
import { isObject } from './token-mapping.js';
import { parseKeystoneTimeMs } from './keystone-time.js';

export const osRevokeSource = 'keystone-os-revoke';

const mappedKeys = {
  audit_id: 'auditId',
  audit_chain_id: 'auditChainId',
  user_id: 'userId',
  project_id: 'projectId',
  domain_id: 'domainId',
} as const;

/** Keys every event has; they carry no fact to match. */
const timeKeys = new Set(['issued_before', 'revoked_at']);

export type OsRevokeTranslation =
  | { kind: 'revocation'; revocation: RevocationInput; revokedAtMs: number }
  | { kind: 'unsupported'; detail: string; revokedAtMs: number | null };

/** One event of the `events` array. */
export function translateOsRevokeEvent(event: unknown): OsRevokeTranslation {
  if (!isObject(event)) return { kind: 'unsupported', detail: 'event is not an object', revokedAtMs: null };
  const issuedBeforeMs = parseKeystoneTimeMs(event['issued_before']);
  const revokedAtMs = parseKeystoneTimeMs(event['revoked_at']) ?? issuedBeforeMs;
  if (issuedBeforeMs === null) return { kind: 'unsupported', detail: 'no valid issued_before', revokedAtMs };
  const facts: Partial<Record<(typeof mappedKeys)[keyof typeof mappedKeys], string>> = {};
  const named: string[] = [];
  const unsupported: string[] = [];
  for (const key of Object.keys(event).sort()) {
    const value = event[key];
    if (timeKeys.has(key) || value === null || value === undefined) continue;
    const field = isMappedKey(key) ? mappedKeys[key] : undefined;
    if (field !== undefined && typeof value === 'string' && value !== '') {
      facts[field] = value;
      named.push(key);
    } else {
      unsupported.push(key);
    }
  }
  if (unsupported.length > 0)
    return { kind: 'unsupported', detail: `event names ${unsupported.join(', ')}`, revokedAtMs };
  if (named.length === 0) return { kind: 'unsupported', detail: 'event names no token fact', revokedAtMs };
  return {
    kind: 'revocation',
    revocation: {
      ...facts,
      issuedBeforeMs,
      reason: `Keystone revocation event (${named.join(', ')})`,
      source: osRevokeSource,
      secondGranularity: true,
    },
    revokedAtMs: revokedAtMs ?? issuedBeforeMs,
  };
}

function isMappedKey(key: string): key is keyof typeof mappedKeys {
  return Object.hasOwn(mappedKeys, key);
}

/** Identifies an event across polls: the same event comes back when polls overlap by a second. */
export function osRevokeEventKey(event: unknown): string {
  if (!isObject(event)) return JSON.stringify(event);
  return JSON.stringify(
    Object.keys(event)
      .sort()
      .map((k) => [k, event[k]]),
  );
}
