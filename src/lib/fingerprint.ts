import { createHash } from 'node:crypto';

/** A stable, non-reversible short name for a secret (token, key), safe to log. */
export function fingerprint(secret: string | Uint8Array): string {
  return createHash('sha256').update(secret).digest('hex').slice(0, 16);
}
