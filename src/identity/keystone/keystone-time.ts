/**
 * Keystone's timestamps, in the three spellings it uses: token and revocation times
 * ("2026-11-23T05:32:24.000000Z", microseconds), oslo.messaging's message timestamp
 * ("2026-11-23 06:03:49.173287", UTC without a zone) and CADF's eventTime
 * ("2026-11-23T06:03:44.904510+0000"). Date.parse would read the second as local time, so
 * they are parsed here by hand; a missing zone means UTC, as it does in oslo.
 */
const keystoneTimePattern =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:?\d{2})?$/;

/** Unix milliseconds (sub-millisecond digits dropped), or null when `text` is not such a time. */
export function parseKeystoneTimeMs(text: unknown): number | null {
  if (typeof text !== 'string') return null;
  const m = keystoneTimePattern.exec(text.trim());
  if (!m) return null;
  const [, y, mo, d, h, mi, s, frac, zone] = m;
  const ms = frac ? Number(frac.padEnd(3, '0').slice(0, 3)) : 0;
  let utcMs = Date.UTC(Number(y), Number(mo) - 1, Number(d), Number(h), Number(mi), Number(s), ms);
  if (zone && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const digits = zone.slice(1).replace(':', '');
    const offsetMin = Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4));
    utcMs -= sign * offsetMin * 60_000;
  }
  return Number.isFinite(utcMs) ? utcMs : null;
}

/** The `since` parameter of GET /v3/OS-REVOKE/events: ISO 8601, UTC. */
export function formatKeystoneTime(ms: number): string {
  return new Date(ms).toISOString();
}
