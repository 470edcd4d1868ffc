/**
 * Mapping rules: what a valid identity from another cloud may do here (DESIGN.md §1.5).
 *
 * Rules are tried in the configured order and the first that matches wins, as in Keystone's
 * federation mapping engine. A rule matches when every non-empty list of its `match` does; an
 * empty list puts no condition, except `clouds`, where empty means "any cloud but this one": a
 * cloud's own tokens are not remote identities and get their rights from its own Keystone, so a
 * rule only maps them when it names the local cloud explicitly. The winner's grant is copied, with
 * the placeholders of its project filled from the identity. No match is a normal answer: the
 * identity stays valid, with no local authorization. Pure: no I/O, no clock.
 */
import type { MappingRule } from '../config/types.js';
import type { TokenIdentity } from '../identity/types.js';

/** The facts of an identity that mapping rules look at. */
export type MappableIdentity = Pick<
  TokenIdentity,
  'originCloud' | 'domainId' | 'projectDomainId' | 'projectId' | 'projectName' | 'roles'
>;

export type MappingResult =
  { mapped: true; rule: string; projectId: string; roles: string[] } | { mapped: false };

/**
 * The local authorization of `identity` at `localCloud` under `rules`: the grant of the first rule
 * that matches, or `{ mapped: false }`.
 */
export function mapIdentity(
  rules: readonly MappingRule[],
  identity: MappableIdentity,
  localCloud: string,
): MappingResult {
  for (const rule of rules) {
    if (!isMatch(rule.match, identity, localCloud)) continue;
    const projectId = fillPlaceholders(rule.grant.project, identity);
    // A grant that needs a fact the identity lacks (an unscoped token has no project) would name a
    // local project like `cloud-a-`: the rule does not apply, and the next one may.
    if (projectId === null) continue;
    return { mapped: true, rule: rule.name, projectId, roles: [...rule.grant.roles] };
  }
  return { mapped: false };
}

function isMatch(match: MappingRule['match'], identity: MappableIdentity, localCloud: string): boolean {
  const isCloudMatch =
    match.clouds.length === 0
      ? identity.originCloud !== localCloud
      : match.clouds.includes(identity.originCloud);
  return (
    isCloudMatch &&
    isAnyIn(match.domains, [identity.domainId, identity.projectDomainId]) &&
    isAnyIn(match.projects, [identity.projectId, identity.projectName]) &&
    isAnyIn(match.roles, identity.roles)
  );
}

/** True when `wanted` is empty (no condition) or holds one of the non-empty `values`. */
function isAnyIn(wanted: readonly string[], values: readonly string[]): boolean {
  if (wanted.length === 0) return true;
  // Empty facts (no project, no project domain) never satisfy a condition.
  return values.some((value) => value !== '' && wanted.includes(value));
}

const placeholderPattern = /\{(cloud|project|project_name)\}/g;

/**
 * Replaces `{cloud}`, `{project}` (the project id) and `{project_name}` in one pass, so text that
 * a value brings in (a project named `{cloud}`) is never expanded again. Null when a placeholder
 * has no value for this identity.
 */
function fillPlaceholders(template: string, identity: MappableIdentity): string | null {
  const values: Readonly<Record<string, string>> = {
    cloud: identity.originCloud,
    project: identity.projectId,
    project_name: identity.projectName,
  };
  let isComplete = true;
  const filled = template.replace(placeholderPattern, (_placeholder, name: string) => {
    const value = values[name] ?? '';
    if (value === '') isComplete = false;
    return value;
  });
  return isComplete ? filled : null;
}
