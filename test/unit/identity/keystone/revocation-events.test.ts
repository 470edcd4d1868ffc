/**
 * OS-REVOKE events to revocation inputs: every fact Alliance can represent is kept, times are
 * Keystone's whole seconds, and an event that names a fact Alliance cannot represent is refused
 * rather than widened.
 */
import { describe, expect, it } from 'vitest';
import {
  osRevokeEventKey,
  translateOsRevokeEvent,
} from '../../../../src/identity/keystone/revocation-events.js';

const at = '2026-11-23T05:32:24.000000Z';
const atMs = Date.UTC(2026, 10, 23, 5, 32, 24);
const base = { issuedBeforeMs: atMs, source: 'keystone-os-revoke', secondGranularity: true };

describe('translateOsRevokeEvent', () => {
  it.each([
    [
      'a revoked token (DELETE /v3/auth/tokens)',
      { audit_id: 'q26SqLO0SKujBxzDia6-tQ' },
      { auditId: 'q26SqLO0SKujBxzDia6-tQ', reason: 'Keystone revocation event (audit_id)' },
    ],
    [
      'a disabled user or changed password',
      { user_id: 'u1' },
      { userId: 'u1', reason: 'Keystone revocation event (user_id)' },
    ],
    [
      'a deleted project',
      { project_id: 'p1' },
      { projectId: 'p1', reason: 'Keystone revocation event (project_id)' },
    ],
    ['a domain', { domain_id: 'd1' }, { domainId: 'd1', reason: 'Keystone revocation event (domain_id)' }],
    [
      'an audit chain in a project',
      { audit_chain_id: 'c1', project_id: 'p1' },
      {
        auditChainId: 'c1',
        projectId: 'p1',
        reason: 'Keystone revocation event (audit_chain_id, project_id)',
      },
    ],
    [
      'a user in a project, with null fields',
      { user_id: 'u1', project_id: 'p1', role_id: null },
      { userId: 'u1', projectId: 'p1', reason: 'Keystone revocation event (project_id, user_id)' },
    ],
  ])('translates %s', (_name, fields, expected) => {
    expect(translateOsRevokeEvent({ ...fields, issued_before: at, revoked_at: at })).toEqual({
      kind: 'revocation',
      revocation: { ...base, ...expected },
      revokedAtMs: atMs,
    });
  });

  it.each([
    ['a role', { role_id: 'r1' }, 'event names role_id'],
    ['a trust with a user', { 'OS-TRUST:trust_id': 't1', user_id: 'u1' }, 'event names OS-TRUST:trust_id'],
    ['an OAuth1 consumer', { 'OS-OAUTH1:consumer_id': 'c' }, 'event names OS-OAUTH1:consumer_id'],
    ['no fact at all', {}, 'event names no token fact'],
    ['an empty user id', { user_id: '' }, 'event names user_id'],
  ])('refuses an event naming %s instead of revoking more than Keystone did', (_name, fields, detail) => {
    expect(translateOsRevokeEvent({ ...fields, issued_before: at, revoked_at: at })).toEqual({
      kind: 'unsupported',
      detail,
      revokedAtMs: atMs,
    });
  });

  it('refuses an event without a usable issued_before', () => {
    expect(translateOsRevokeEvent({ user_id: 'u', issued_before: 'x', revoked_at: at })).toEqual({
      kind: 'unsupported',
      detail: 'no valid issued_before',
      revokedAtMs: atMs,
    });
    expect(translateOsRevokeEvent('nope')).toEqual({
      kind: 'unsupported',
      detail: 'event is not an object',
      revokedAtMs: null,
    });
  });
});

describe('osRevokeEventKey', () => {
  it('is the same for the same event whatever the key order, and differs otherwise', () => {
    const a = osRevokeEventKey({ user_id: 'u', issued_before: at, revoked_at: at });
    const b = osRevokeEventKey({ revoked_at: at, issued_before: at, user_id: 'u' });
    const c = osRevokeEventKey({ user_id: 'v', issued_before: at, revoked_at: at });
    expect([a === b, a === c]).toEqual([true, false]);
  });
});
