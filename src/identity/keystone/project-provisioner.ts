/**
 * Remote provisioning of kind "project" against Keystone: a user of another (requester) cloud gets
 * a project here and a role on it, made through Keystone's v3 REST API as the Alliance service
 * account (which needs the `admin` role, on the system: see scripts/keystone/start-keystone.sh).
 *
 * - Idempotency lives in Keystone itself, not in a table of ours: the project carries the tag
 *   `alliance:<requester cloud>:<request id>` (Keystone tags: at most 255 characters, no "/" or
 *   ","; the request id and cloud id patterns of src/provisioning and src/config guarantee both).
 *   Each run first looks for it (GET /v3/projects?tags=...), so a request done again (a repeat, or
 *   a node that stopped half-way) finds the project it made, even one whose answer was lost.
 * - The project: POST /v3/projects with the requested name, in spec.domainId or "default", a
 *   description naming Alliance, the requester cloud and the request id. 409 (the name is taken in
 *   that domain) is ALREADY_EXISTS, unless the tag look-up then finds our own project (another node
 *   of this cloud made it meanwhile).
 * - The remote user: Keystone can only assign a role to a user it has, so the requester's user is
 *   represented by a shadow user named after its id (its id at the requester cloud) in the domain
 *   `alliance-<requester cloud>`, one per requester cloud, so ids of different clouds cannot
 *   collide; both are found by name or made, a 409 from a concurrent creation answered by reading
 *   again. The shadow user is enabled and has no password: nobody can get a token for it by
 *   password; it exists so that the role assignment is real Keystone state (listed, notified,
 *   checked by Keystone's own policies).
 * - The role: GET /v3/roles?name=...; an unknown one is INVALID_ARGUMENT. Then PUT
 *   /v3/projects/{p}/users/{u}/roles/{r}, which Keystone accepts again when it already exists.
 * - Deprovision: DELETE every project with the tag (there is one, unless a race made two); false
 *   when there is none. The shadow user and its domain stay: the user may hold projects of other
 *   requests, and deleting it would need knowing it holds none.
 *
 * Every call uses the service scope 'admin' (keystone-client.ts): the system-scoped token, or the
 * project-scoped one where the service account is admin on its project. A 403 is PERMISSION_DENIED
 * with a detail saying which role is missing.
 */
import { createHash } from 'node:crypto';
import type { Logger } from 'pino';
import { AllianceError } from '../../lib/errors.js';
import type { ProjectProvisioner, ProjectProvisionInput, ProvisionedProjectResult } from '../types.js';
import { keystoneMessage } from './keystone-client.js';
import type { KeystoneClient, KeystoneRequest, KeystoneResponse } from './keystone-client.js';
import { isObject } from './token-mapping.js';

/** Keystone's bounds (Zed): tag length, project and domain name length. */
const keystoneTagCharsMax = 255;
const keystoneNameCharsMax = 64;
const defaultDomainId = 'default';

export interface KeystoneProjectProvisionerDeps {
  client: KeystoneClient;
  log: Logger;
}

export interface KeystoneProjectProvisionerOptions {
  /** This (the target) cloud, for details. */
  cloud: string;
}

/** The tag that marks the project of one provisioning request. */
export function provisionTag(requesterCloud: string, requestId: string): string {
  const tag = `alliance:${requesterCloud}:${requestId}`;
  if (tag.length > keystoneTagCharsMax || /[/,]/.test(tag)) {
    // The id patterns exclude both; a tag that breaks Keystone's rules is a programming error.
    throw new AllianceError('INTERNAL', `provisioning tag ${JSON.stringify(tag)} is not a Keystone tag`);
  }
  return tag;
}

/**
 * The domain of the shadow users of one requester cloud: `alliance-<cloud>`, or, for a cloud id too
 * long for Keystone's 64-character names, its first characters and a hash of the whole.
 */
export function shadowDomainName(requesterCloud: string): string {
  const name = `alliance-${requesterCloud}`;
  if (name.length <= keystoneNameCharsMax) return name;
  const hash = createHash('sha256').update(requesterCloud).digest('hex').slice(0, 8);
  return `${name.slice(0, keystoneNameCharsMax - 9)}-${hash}`;
}

interface KeystoneEntity {
  id: string;
  name: string;
  domainId: string;
}

export function createKeystoneProjectProvisioner(
  deps: KeystoneProjectProvisionerDeps,
  options: KeystoneProjectProvisionerOptions,
): ProjectProvisioner {
  const { client } = deps;
  const log = deps.log.child({ component: 'keystone-projects' });
  const { cloud } = options;

  async function call(
    method: NonNullable<KeystoneRequest['method']>,
    path: string,
    signal: AbortSignal | undefined,
    body?: unknown,
  ): Promise<KeystoneResponse> {
    const res = await client.request(path, { scope: 'admin', method, body, signal });
    if (res.status === 403) {
      throw new AllianceError(
        'PERMISSION_DENIED',
        `the Keystone of cloud ${cloud} refused ${method} ${path.split('?')[0]} (HTTP 403): ` +
          'the Alliance service user needs the admin role on the system scope for kind "project" ' +
          '(openstack role add --user <service user> --user-domain <its domain> --system all admin)',
      );
    }
    return res;
  }

  function unexpected(method: string, path: string, res: KeystoneResponse): AllianceError {
    const code = res.status >= 500 ? 'UNAVAILABLE' : 'FAILED_PRECONDITION';
    return new AllianceError(
      code,
      `the Keystone of cloud ${cloud} answered ${method} ${path.split('?')[0]} with HTTP ${res.status} ` +
        keystoneMessage(res.body),
    );
  }

  /** The entities of a list answer (`{ <key>: [...] }`). */
  function listOf(res: KeystoneResponse, key: string, path: string): KeystoneEntity[] {
    const list = isObject(res.body) ? res.body[key] : undefined;
    if (res.status !== 200 || !Array.isArray(list)) throw unexpected('GET', path, res);
    const entities: KeystoneEntity[] = [];
    for (const item of list) {
      if (!isObject(item) || typeof item['id'] !== 'string') continue;
      entities.push({
        id: item['id'],
        name: typeof item['name'] === 'string' ? item['name'] : '',
        domainId: typeof item['domain_id'] === 'string' ? item['domain_id'] : '',
      });
    }
    return entities;
  }

  function entityOf(res: KeystoneResponse, key: string, method: string, path: string): KeystoneEntity {
    const e = isObject(res.body) ? res.body[key] : undefined;
    if (!isObject(e) || typeof e['id'] !== 'string') throw unexpected(method, path, res);
    return {
      id: e['id'],
      name: typeof e['name'] === 'string' ? e['name'] : '',
      domainId: typeof e['domain_id'] === 'string' ? e['domain_id'] : '',
    };
  }

  async function projectsTagged(tag: string, signal?: AbortSignal): Promise<KeystoneEntity[]> {
    const path = `/v3/projects?tags=${encodeURIComponent(tag)}`;
    return listOf(await call('GET', path, signal), 'projects', path);
  }

  /** Found by name (and domain), or made; a 409 means another caller made it first: read again. */
  async function findOrCreate(
    what: 'domain' | 'user',
    listPath: string,
    createPath: string,
    body: Record<string, unknown>,
    signal?: AbortSignal,
  ): Promise<KeystoneEntity> {
    const find = async () => listOf(await call('GET', listPath, signal), `${what}s`, listPath)[0];
    const found = await find();
    if (found) return found;
    const res = await call('POST', createPath, signal, { [what]: body });
    if (res.status === 201) {
      const made = entityOf(res, what, 'POST', createPath);
      log.info(
        { id: made.id, name: made.name },
        what === 'domain' ? 'shadow domain created' : 'shadow user created',
      );
      return made;
    }
    if (res.status === 409) {
      const again = await find();
      if (again) return again;
    }
    throw unexpected('POST', createPath, res);
  }

  async function shadowUser(requesterCloud: string, remoteUserId: string, signal?: AbortSignal) {
    const domainName = shadowDomainName(requesterCloud);
    const domain = await findOrCreate(
      'domain',
      `/v3/domains?name=${encodeURIComponent(domainName)}`,
      '/v3/domains',
      {
        name: domainName,
        description: `Alliance: users of cloud ${requesterCloud} who were given projects here`,
        enabled: true,
      },
      signal,
    );
    return findOrCreate(
      'user',
      `/v3/users?name=${encodeURIComponent(remoteUserId)}&domain_id=${encodeURIComponent(domain.id)}`,
      '/v3/users',
      {
        name: remoteUserId,
        domain_id: domain.id,
        description: `Alliance: user ${remoteUserId} of cloud ${requesterCloud}; no password, cannot log in here`,
        enabled: true,
      },
      signal,
    );
  }

  async function roleId(role: string, signal?: AbortSignal): Promise<string> {
    const path = `/v3/roles?name=${encodeURIComponent(role)}`;
    const roles = listOf(await call('GET', path, signal), 'roles', path);
    const found = roles.find((r) => r.name === role);
    if (!found) {
      throw new AllianceError(
        'INVALID_ARGUMENT',
        `the Keystone of cloud ${cloud} has no role named "${role}"`,
      );
    }
    return found.id;
  }

  /** The request's project: the one tagged for it, or a new one. */
  async function project(input: ProjectProvisionInput, tag: string): Promise<KeystoneEntity> {
    const { signal } = input;
    const tagged = await projectsTagged(tag, signal);
    if (tagged.length > 1)
      log.warn({ tag, projects: tagged.map((p) => p.id) }, 'several projects carry one tag');
    if (tagged[0]) {
      log.info({ tag, projectId: tagged[0].id }, 'provisioned project found by its tag');
      return tagged[0];
    }
    const domainId = input.domainId === '' ? defaultDomainId : input.domainId;
    const res = await call('POST', '/v3/projects', signal, {
      project: {
        name: input.name,
        domain_id: domainId,
        description:
          `Made by Alliance for user ${input.userId} of cloud ${input.requesterCloud}, ` +
          `provisioning request ${input.requestId}`,
        tags: [tag],
        enabled: true,
      },
    });
    if (res.status === 201) {
      const made = entityOf(res, 'project', 'POST', '/v3/projects');
      log.info({ tag, projectId: made.id, name: made.name, domainId: made.domainId }, 'project created');
      return made;
    }
    if (res.status === 409) {
      // Another node of this cloud may have made it meanwhile; otherwise the name is someone else's.
      const mine = (await projectsTagged(tag, signal))[0];
      if (mine) return mine;
      throw new AllianceError(
        'ALREADY_EXISTS',
        `a project named "${input.name}" already exists in domain "${domainId}" of the Keystone of ` +
          `cloud ${cloud}, and Alliance did not make it for this request`,
      );
    }
    if (res.status === 400 || res.status === 404) {
      throw new AllianceError(
        'INVALID_ARGUMENT',
        `the Keystone of cloud ${cloud} refused project "${input.name}" in domain "${domainId}": ` +
          `HTTP ${res.status} ${keystoneMessage(res.body)}`,
      );
    }
    throw unexpected('POST', '/v3/projects', res);
  }

  return {
    async provisionProject(input): Promise<ProvisionedProjectResult> {
      const { signal } = input;
      const tag = provisionTag(input.requesterCloud, input.requestId);
      // The role first: an unknown role fails the request before anything is made.
      const role = await roleId(input.role, signal);
      const made = await project(input, tag);
      const user = await shadowUser(input.requesterCloud, input.userId, signal);
      const path = `/v3/projects/${encodeURIComponent(made.id)}/users/${encodeURIComponent(user.id)}/roles/${encodeURIComponent(role)}`;
      const res = await call('PUT', path, signal);
      if (res.status !== 204 && res.status !== 200) throw unexpected('PUT', path, res);
      log.info(
        { tag, projectId: made.id, userId: user.id, remoteUserId: input.userId, role: input.role },
        'role assigned on the provisioned project',
      );
      return {
        projectId: made.id,
        name: made.name,
        domainId: made.domainId,
        userId: user.id,
        remoteUserId: input.userId,
        role: input.role,
      };
    },

    async deprovisionProject({ requestId, requesterCloud, signal }) {
      const tag = provisionTag(requesterCloud, requestId);
      let deleted = false;
      for (const p of await projectsTagged(tag, signal)) {
        const path = `/v3/projects/${encodeURIComponent(p.id)}`;
        const res = await call('DELETE', path, signal);
        if (res.status === 204 || res.status === 200) {
          log.info({ tag, projectId: p.id }, 'provisioned project deleted');
          deleted = true;
        } else if (res.status !== 404) {
          throw unexpected('DELETE', path, res);
        }
      }
      return deleted;
    },
  };
}
