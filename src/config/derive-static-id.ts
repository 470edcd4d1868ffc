/**
 * Ids of the built-in (static) identity source's projects and users when the file gives none.
 *
 * An id is the first 32 hex characters of sha256(`<cloud>:<kind>:<domainId>:<name>`): it
 * looks like Keystone's (a uuid4 in hex), it is the same after every restart, so tokens,
 * revocations and events that name a project or user keep meaning the same one, and it
 * differs between clouds, so two demo clouds with a user `demo` do not share a user id.
 */
import { createHash } from 'node:crypto';

export type StaticIdKind = 'project' | 'user';

/** Length of a Keystone id in hex (a uuid4 without dashes). */
export const derivedIdHexLength = 32;

export function deriveStaticId(cloud: string, kind: StaticIdKind, domainId: string, name: string): string {
  return createHash('sha256')
    .update(`${cloud}:${kind}:${domainId}:${name}`)
    .digest('hex')
    .slice(0, derivedIdHexLength);
}
