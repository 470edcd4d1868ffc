/**
 * The static identity source's directory: the domains, projects and users of the config,
 * indexed the ways Keystone looks them up (by id; by name within a domain), and the role
 * assignments of a user on a project. Pure: no I/O, no enabled state (the operator's runtime
 * overrides live in the store and are laid over the config by static-identity.ts).
 */
import type {
  StaticDomainConfig,
  StaticIdentityConfig,
  StaticProjectConfig,
  StaticUserConfig,
} from '../../config/types.js';
import { AllianceError } from '../../lib/errors.js';

/** Keystone's `[identity] default_domain_id`. */
export const keystoneDefaultDomainId = 'default';

export interface Directory {
  /**
   * The domain used when a request names none: Keystone's `default` when configured, otherwise
   * the first configured domain.
   */
  readonly defaultDomainId: string;
  domain(id: string): StaticDomainConfig | undefined;
  /** By name first, then by id (Keystone accepts either in an auth request). */
  domainByNameOrId(nameOrId: string): StaticDomainConfig | undefined;
  user(id: string): StaticUserConfig | undefined;
  userByName(domainId: string, name: string): StaticUserConfig | undefined;
  project(id: string): StaticProjectConfig | undefined;
  projectByName(domainId: string, name: string): StaticProjectConfig | undefined;
  /** The user's role names on the project, in config order, without duplicates. */
  rolesOn(user: StaticUserConfig, project: StaticProjectConfig): string[];
  users(): readonly StaticUserConfig[];
  projects(): readonly StaticProjectConfig[];
}

const nameKey = (domainId: string, name: string): string => `${domainId}\u0000${name}`;

function configError(message: string): AllianceError {
  return new AllianceError('INVALID_ARGUMENT', `static identity config: ${message}`);
}

/**
 * Indexes the config; throws AllianceError('INVALID_ARGUMENT') when it contradicts itself
 * (duplicate ids or names, a reference to a domain or project that is not there), which the
 * config loader should already have refused.
 */
export function buildDirectory(config: StaticIdentityConfig): Directory {
  const domainsById = new Map<string, StaticDomainConfig>();
  const domainsByName = new Map<string, StaticDomainConfig>();
  for (const domain of config.domains) {
    if (domainsById.has(domain.id)) throw configError(`domain id "${domain.id}" appears twice`);
    if (domainsByName.has(domain.name)) throw configError(`domain name "${domain.name}" appears twice`);
    domainsById.set(domain.id, domain);
    domainsByName.set(domain.name, domain);
  }

  const projectsById = new Map<string, StaticProjectConfig>();
  const projectsByName = new Map<string, StaticProjectConfig>();
  for (const project of config.projects) {
    if (!domainsById.has(project.domainId)) {
      throw configError(
        `project "${project.name}" is in domain "${project.domainId}", which is not configured`,
      );
    }
    if (projectsById.has(project.id)) throw configError(`project id "${project.id}" appears twice`);
    const key = nameKey(project.domainId, project.name);
    if (projectsByName.has(key)) {
      throw configError(`project "${project.name}" appears twice in domain "${project.domainId}"`);
    }
    projectsById.set(project.id, project);
    projectsByName.set(key, project);
  }

  const usersById = new Map<string, StaticUserConfig>();
  const usersByName = new Map<string, StaticUserConfig>();
  for (const user of config.users) {
    if (!domainsById.has(user.domainId)) {
      throw configError(`user "${user.name}" is in domain "${user.domainId}", which is not configured`);
    }
    if (usersById.has(user.id)) throw configError(`user id "${user.id}" appears twice`);
    const key = nameKey(user.domainId, user.name);
    if (usersByName.has(key))
      throw configError(`user "${user.name}" appears twice in domain "${user.domainId}"`);
    for (const assignment of user.roles) {
      if (!projectsByName.has(nameKey(user.domainId, assignment.project))) {
        throw configError(
          `user "${user.name}" has a role on project "${assignment.project}", which is not in domain "${user.domainId}"`,
        );
      }
    }
    usersById.set(user.id, user);
    usersByName.set(key, user);
  }

  const defaultDomainId = domainsById.has(keystoneDefaultDomainId)
    ? keystoneDefaultDomainId
    : (config.domains[0]?.id ?? keystoneDefaultDomainId);

  return {
    defaultDomainId,
    domain: (id) => domainsById.get(id),
    domainByNameOrId: (nameOrId) => domainsByName.get(nameOrId) ?? domainsById.get(nameOrId),
    user: (id) => usersById.get(id),
    userByName: (domainId, name) => usersByName.get(nameKey(domainId, name)),
    project: (id) => projectsById.get(id),
    projectByName: (domainId, name) => projectsByName.get(nameKey(domainId, name)),
    rolesOn(user, project) {
      // Assignments name projects in the user's own domain (StaticUserConfig.roles).
      if (project.domainId !== user.domainId) return [];
      const roles: string[] = [];
      for (const assignment of user.roles) {
        if (assignment.project === project.name && !roles.includes(assignment.role))
          roles.push(assignment.role);
      }
      return roles;
    },
    users: () => config.users,
    projects: () => config.projects,
  };
}
