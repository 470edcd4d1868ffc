import { describe, expect, it } from 'vitest';
import type { StaticIdentityConfig } from '../../../../src/config/types.js';
import { buildDirectory } from '../../../../src/identity/static/directory.js';
import { AllianceError } from '../../../../src/lib/errors.js';
import { fixtureConfig, ids } from './fixture.js';

describe('static identity directory', () => {
  it.each<[string, (config: StaticIdentityConfig) => void, string]>([
    [
      'a domain id twice',
      (c) => c.domains.push({ id: 'default', name: 'Again' }),
      'domain id "default" appears twice',
    ],
    [
      'a domain name twice',
      (c) => c.domains.push({ id: 'other', name: 'Default' }),
      'domain name "Default" appears twice',
    ],
    [
      'a project in an unknown domain',
      (c) => c.projects.push({ id: 'f'.repeat(32), name: 'x', domainId: 'nowhere', enabled: true }),
      'project "x" is in domain "nowhere", which is not configured',
    ],
    [
      'a project name twice in one domain',
      (c) => c.projects.push({ id: 'f'.repeat(32), name: 'demo', domainId: 'default', enabled: true }),
      'project "demo" appears twice in domain "default"',
    ],
    [
      'a project id twice',
      (c) => c.projects.push({ id: ids.demo, name: 'demo2', domainId: 'default', enabled: true }),
      `project id "${ids.demo}" appears twice`,
    ],
    [
      'a user name twice in one domain',
      (c) => c.users.push({ ...structuredClone(c.users[0]!), id: 'f'.repeat(32) }),
      'user "alice" appears twice in domain "default"',
    ],
    [
      'a role on a project of another domain',
      (c) => c.users[3]!.roles.push({ project: 'demo', role: 'member' }),
      'user "dave" has a role on project "demo", which is not in domain "research"',
    ],
  ])('refuses a config with %s', (_name, edit, message) => {
    const config = fixtureConfig();
    edit(config);
    expect(() => buildDirectory(config)).toThrow(
      new AllianceError('INVALID_ARGUMENT', `static identity config: ${message}`),
    );
  });

  it('uses Keystone’s "default" domain when configured, else the first domain', () => {
    expect(buildDirectory(fixtureConfig()).defaultDomainId).toBe('default');
    const config = fixtureConfig();
    config.domains.reverse();
    expect(buildDirectory(config).defaultDomainId).toBe('default');
    const withoutDefault: StaticIdentityConfig = {
      ...fixtureConfig(),
      domains: [{ id: 'research', name: 'Research' }],
      projects: [],
      users: [],
    };
    expect(buildDirectory(withoutDefault).defaultDomainId).toBe('research');
  });

  it('gives a user’s roles on a project in config order, once each, and none across domains', () => {
    const config = fixtureConfig();
    config.users[0]!.roles.push({ project: 'demo', role: 'member' });
    const directory = buildDirectory(config);
    const alice = directory.user(ids.alice)!;
    const dave = directory.user(ids.dave)!;
    expect(directory.rolesOn(alice, directory.project(ids.demo)!)).toEqual(['member', 'reader']);
    expect(directory.rolesOn(alice, directory.project(ids.ops)!)).toEqual([]);
    expect(directory.rolesOn(dave, directory.project(ids.demo)!)).toEqual([]);
    expect(directory.rolesOn(dave, directory.project(ids.lab)!)).toEqual(['member']);
  });
});
