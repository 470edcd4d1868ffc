/**
 * Mapping rules as pure functions: each match field, rule order, placeholders, and the local
 * cloud's own tokens.
 */
import { describe, expect, test } from 'vitest';
import type { MappingRule } from '../../../src/config/types.js';
import { mapIdentity, type MappableIdentity } from '../../../src/tokens/mapping.js';

const localCloud = 'cloud-b';

/** A user of cloud-a, scoped to project `research` (id p-research) of domain d-science. */
const alice: MappableIdentity = {
  originCloud: 'cloud-a',
  domainId: 'd-users',
  projectDomainId: 'd-science',
  projectId: 'p-research',
  projectName: 'research',
  roles: ['member', 'reader'],
};

function rule(name: string, match: Partial<MappingRule['match']> = {}, project = 'fed-{cloud}'): MappingRule {
  return {
    name,
    match: { clouds: [], domains: [], projects: [], roles: [], ...match },
    grant: { project, roles: ['member'] },
  };
}

const mappedBy = (name: string, projectId = 'fed-cloud-a', roles = ['member']) => ({
  mapped: true,
  rule: name,
  projectId,
  roles,
});
const notMapped = { mapped: false };

describe('mapIdentity: each match field', () => {
  test.each([
    ['no conditions: any remote identity', rule('any'), alice, mappedBy('any')],
    [
      'clouds: the origin cloud is listed',
      rule('r', { clouds: ['cloud-x', 'cloud-a'] }),
      alice,
      mappedBy('r'),
    ],
    ['clouds: the origin cloud is not listed', rule('r', { clouds: ['cloud-x'] }), alice, notMapped],
    ['domains: the user domain is listed', rule('r', { domains: ['d-users'] }), alice, mappedBy('r')],
    ['domains: the project domain is listed', rule('r', { domains: ['d-science'] }), alice, mappedBy('r')],
    ['domains: neither domain is listed', rule('r', { domains: ['default'] }), alice, notMapped],
    ['projects: the project id is listed', rule('r', { projects: ['p-research'] }), alice, mappedBy('r')],
    ['projects: the project name is listed', rule('r', { projects: ['research'] }), alice, mappedBy('r')],
    ['projects: neither id nor name is listed', rule('r', { projects: ['admin'] }), alice, notMapped],
    ['roles: one role in common is enough', rule('r', { roles: ['admin', 'reader'] }), alice, mappedBy('r')],
    ['roles: no role in common', rule('r', { roles: ['admin'] }), alice, notMapped],
    [
      'every non-empty list must match: one miss is no match',
      rule('r', { clouds: ['cloud-a'], domains: ['d-users'], projects: ['research'], roles: ['admin'] }),
      alice,
      notMapped,
    ],
    [
      'every non-empty list matching is a match',
      rule('r', { clouds: ['cloud-a'], domains: ['d-users'], projects: ['research'], roles: ['reader'] }),
      alice,
      mappedBy('r'),
    ],
    [
      'an unscoped identity (empty project and project domain) never matches a project list',
      rule('r', { projects: ['', 'research'] }),
      { ...alice, projectId: '', projectName: '', projectDomainId: '' },
      notMapped,
    ],
    [
      'an unscoped identity matches a domain list by the user domain only',
      rule('r', { domains: ['d-science'] }),
      { ...alice, projectId: '', projectName: '', projectDomainId: '' },
      notMapped,
    ],
    [
      'an identity with no roles never matches a role list',
      rule('r', { roles: ['member'] }),
      { ...alice, roles: [] },
      notMapped,
    ],
  ])('%s', (_name, mappingRule, identity, expected) => {
    expect(mapIdentity([mappingRule], identity, localCloud)).toEqual(expected);
  });
});

describe('mapIdentity: the local cloud', () => {
  const ownToken: MappableIdentity = { ...alice, originCloud: localCloud };

  test('a token of this cloud is not remote: an empty clouds list does not map it', () => {
    expect(mapIdentity([rule('any')], ownToken, localCloud)).toEqual(notMapped);
  });

  test('a rule that lists this cloud explicitly maps its own tokens', () => {
    expect(mapIdentity([rule('own', { clouds: [localCloud] })], ownToken, localCloud)).toEqual(
      mappedBy('own', 'fed-cloud-b'),
    );
  });
});

describe('mapIdentity: order', () => {
  test('rules are tried in order and the first match wins', () => {
    const rules = [
      rule('admins', { roles: ['admin'] }, 'admins'),
      rule('research', { projects: ['research'] }, 'research-here'),
      rule('everyone', {}, 'guests'),
    ];
    expect(mapIdentity(rules, alice, localCloud)).toEqual(mappedBy('research', 'research-here'));
    expect(mapIdentity(rules, { ...alice, roles: ['admin'] }, localCloud)).toEqual(
      mappedBy('admins', 'admins'),
    );
    expect(mapIdentity(rules, { ...alice, projectName: 'other', projectId: 'p-other' }, localCloud)).toEqual(
      mappedBy('everyone', 'guests'),
    );
  });

  test('no rules, or no rule matching, is { mapped: false }', () => {
    expect(mapIdentity([], alice, localCloud)).toEqual(notMapped);
    expect(
      mapIdentity([rule('x', { clouds: ['cloud-x'] }), rule('y', { roles: ['admin'] })], alice, localCloud),
    ).toEqual(notMapped);
  });
});

describe('mapIdentity: the grant', () => {
  test.each([
    ['fed-{cloud}', 'fed-cloud-a'],
    ['{cloud}-{project}', 'cloud-a-p-research'],
    ['{cloud}/{project_name}', 'cloud-a/research'],
    ['{project_name}-{project_name}', 'research-research'],
    ['fixed-project-id', 'fixed-project-id'],
    ['{unknown}-{cloud}', '{unknown}-cloud-a'],
    ['{Cloud}', '{Cloud}'],
  ])('project %s becomes %s', (template, expected) => {
    expect(mapIdentity([rule('r', {}, template)], alice, localCloud)).toEqual(mappedBy('r', expected));
  });

  test('placeholders are replaced once: text a value brings in is not expanded again', () => {
    const tricky = { ...alice, projectName: '{cloud}', projectId: '{project_name}' };
    expect(mapIdentity([rule('r', {}, '{project}:{project_name}')], tricky, localCloud)).toEqual(
      mappedBy('r', '{project_name}:{cloud}'),
    );
  });

  test('a grant needing a project the identity lacks does not apply; the next rule may', () => {
    const unscoped = { ...alice, projectId: '', projectName: '', projectDomainId: '' };
    const rules = [rule('per-project', {}, '{cloud}-{project}'), rule('per-cloud', {}, '{cloud}-guests')];
    expect(mapIdentity(rules, unscoped, localCloud)).toEqual(mappedBy('per-cloud', 'cloud-a-guests'));
    expect(mapIdentity(rules.slice(0, 1), unscoped, localCloud)).toEqual(notMapped);
    expect(mapIdentity([rule('by-name', {}, '{project_name}')], unscoped, localCloud)).toEqual(notMapped);
  });

  test('roles are a copy of the grant: the result never aliases the configuration', () => {
    const mappingRule: MappingRule = {
      name: 'r',
      match: { clouds: [], domains: [], projects: [], roles: [] },
      grant: { project: 'p', roles: ['member', 'reader'] },
    };
    const result = mapIdentity([mappingRule], alice, localCloud);
    expect(result).toEqual(mappedBy('r', 'p', ['member', 'reader']));
    if (result.mapped) result.roles.push('admin');
    expect(mappingRule.grant.roles).toEqual(['member', 'reader']);
  });
});
