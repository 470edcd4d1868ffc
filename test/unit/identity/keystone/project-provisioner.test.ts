/**
 * The Keystone project provisioner against an in-memory Keystone behind a fake fetch: the answers
 * (status codes, bodies, 409 text, 403 for an account without the admin role) are those Keystone
 * 22 gave in the lab (scripts/keystone/). The real keystone client sits in between, so service
 * tokens, scopes and the 403 fallback are the production ones.
 */
import { beforeEach, describe, expect, it } from 'vitest';
import { createKeystoneClient } from '../../../../src/identity/keystone/keystone-client.js';
import {
  createKeystoneProjectProvisioner,
  provisionTag,
  shadowDomainName,
} from '../../../../src/identity/keystone/project-provisioner.js';
import type { ProjectProvisioner } from '../../../../src/identity/types.js';
import { ManualClock } from '../../../../src/lib/clock.js';
import { AllianceError } from '../../../../src/lib/errors.js';
import { silentLogger } from '../../../../src/lib/logger.js';

interface Entity {
  id: string;
  name: string;
  domain_id: string;
  tags?: string[];
  description?: string;
  enabled?: boolean;
}

/** The few v3 resources the provisioner touches, with Keystone's answers. */
class AdminKeystone {
  readonly projects = new Map<string, Entity>();
  readonly domains = new Map<string, Entity>([
    ['default', { id: 'default', name: 'Default', domain_id: '' }],
  ]);
  readonly users = new Map<string, Entity>();
  readonly roles = new Map<string, Entity>([
    ['r-member', { id: 'r-member', name: 'member', domain_id: '' }],
    ['r-reader', { id: 'r-reader', name: 'reader', domain_id: '' }],
  ]);
  /** `project user role` ids. */
  readonly assignments = new Set<string>();
  /** Every call but authentication: `METHOD path?query`. */
  readonly calls: string[] = [];
  /** Whether the service account holds admin (else every write is 403, as for `reader`). */
  admin = true;
  /** Users created "by someone else" just before the provisioner's POST (a race). */
  beforeUserCreate: (() => void) | null = null;
  private ids = 0;

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const method = init?.method ?? 'GET';
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as Record<string, unknown>) : {};
    const json = (status: number, value?: unknown, headers: Record<string, string> = {}) =>
      new Response(value === undefined ? null : JSON.stringify(value), {
        status,
        headers: { 'Content-Type': 'application/json', ...headers },
      });
    const error = (status: number, message: string) =>
      json(status, { error: { code: status, message, title: '' } });
    if (method === 'POST' && url.pathname === '/v3/auth/tokens') {
      const expires = new Date(Date.now() + 3_600_000).toISOString();
      return json(201, { token: { expires_at: expires } }, { 'X-Subject-Token': `svc-${++this.ids}` });
    }
    this.calls.push(`${method} ${url.pathname}${url.search}`);
    const q = url.searchParams;
    const path = url.pathname;
    if (method !== 'GET' && !this.admin)
      return error(403, `You are not authorized to perform the requested action.`);
    const list = (key: string, items: Iterable<Entity>) => json(200, { [key]: [...items], links: {} });
    const created = (key: string, map: Map<string, Entity>, fields: Record<string, unknown>) => {
      const e = { id: `${key}-${++this.ids}`, domain_id: '', ...fields } as Entity;
      map.set(e.id, e);
      return json(201, { [key]: e });
    };
    if (method === 'GET' && path === '/v3/projects') {
      const tag = q.get('tags');
      return list(
        'projects',
        [...this.projects.values()].filter((p) => tag === null || p.tags?.includes(tag)),
      );
    }
    if (method === 'POST' && path === '/v3/projects') {
      const p = body['project'] as Entity;
      if (!this.domains.has(p.domain_id)) return error(400, `Could not find domain: ${p.domain_id}.`);
      if ([...this.projects.values()].some((x) => x.name === p.name && x.domain_id === p.domain_id))
        return error(409, `Conflict occurred attempting to store project - name is ${p.name}.`);
      return created('project', this.projects, p as unknown as Record<string, unknown>);
    }
    const projectPath = /^\/v3\/projects\/([^/]+)$/.exec(path);
    if (method === 'DELETE' && projectPath) {
      return this.projects.delete(projectPath[1]!) ? json(204) : error(404, 'Could not find project.');
    }
    if (method === 'GET' && path === '/v3/domains') {
      return list(
        'domains',
        [...this.domains.values()].filter((d) => d.name === q.get('name')),
      );
    }
    if (method === 'POST' && path === '/v3/domains') {
      const d = body['domain'] as Entity;
      if ([...this.domains.values()].some((x) => x.name === d.name)) return error(409, 'Conflict');
      return created('domain', this.domains, d as unknown as Record<string, unknown>);
    }
    if (method === 'GET' && path === '/v3/users') {
      return list(
        'users',
        [...this.users.values()].filter(
          (u) => u.name === q.get('name') && u.domain_id === q.get('domain_id'),
        ),
      );
    }
    if (method === 'POST' && path === '/v3/users') {
      this.beforeUserCreate?.();
      const u = body['user'] as Entity;
      if ([...this.users.values()].some((x) => x.name === u.name && x.domain_id === u.domain_id))
        return error(409, 'Conflict occurred attempting to store user');
      return created('user', this.users, u as unknown as Record<string, unknown>);
    }
    if (method === 'GET' && path === '/v3/roles') {
      return list(
        'roles',
        [...this.roles.values()].filter((r) => r.name === q.get('name')),
      );
    }
    const assignment = /^\/v3\/projects\/([^/]+)\/users\/([^/]+)\/roles\/([^/]+)$/.exec(path);
    if (method === 'PUT' && assignment) {
      this.assignments.add(assignment.slice(1).join(' '));
      return json(204);
    }
    return error(404, `no route ${method} ${path}`);
  };
}

let keystone: AdminKeystone;
let provisioner: ProjectProvisioner;

beforeEach(() => {
  keystone = new AdminKeystone();
  const clock = new ManualClock(Date.now());
  const client = createKeystoneClient(
    { clock, log: silentLogger(), fetch: keystone.fetch },
    {
      url: 'http://keystone.test',
      requestTimeoutMs: 1_000,
      serviceUser: {
        name: 'alliance',
        password: 'alliance-secret',
        domainId: 'default',
        projectName: 'service',
        projectDomainId: 'default',
      },
    },
  );
  provisioner = createKeystoneProjectProvisioner({ client, log: silentLogger() }, { cloud: 'cloud-b' });
});

const input = {
  requestId: 'req-1',
  requesterCloud: 'cloud-a',
  name: 'alice-at-b',
  domainId: '',
  userId: 'a1b2c3',
  role: 'member',
};

async function failureOf(promise: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof AllianceError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected a failure');
}

describe('the Keystone project provisioner', () => {
  it('creates a tagged project, a shadow user in alliance-<cloud> and its role assignment', async () => {
    const result = await provisioner.provisionProject(input);

    const [project] = [...keystone.projects.values()];
    expect(project).toEqual({
      id: result.projectId,
      name: 'alice-at-b',
      domain_id: 'default',
      tags: ['alliance:cloud-a:req-1'],
      enabled: true,
      description: 'Made by Alliance for user a1b2c3 of cloud cloud-a, provisioning request req-1',
    });
    const domain = [...keystone.domains.values()].find((d) => d.name === 'alliance-cloud-a');
    expect(domain).toMatchObject({ enabled: true });
    const [user] = [...keystone.users.values()];
    expect(user).toMatchObject({ name: 'a1b2c3', domain_id: domain?.id, enabled: true });
    expect(user).not.toHaveProperty('password');
    expect(result).toEqual({
      projectId: project?.id,
      name: 'alice-at-b',
      domainId: 'default',
      userId: user?.id,
      remoteUserId: 'a1b2c3',
      role: 'member',
    });
    expect([...keystone.assignments]).toEqual([`${project?.id} ${user?.id} r-member`]);
    expect(keystone.calls).toEqual([
      'GET /v3/roles?name=member',
      'GET /v3/projects?tags=alliance%3Acloud-a%3Areq-1',
      'POST /v3/projects',
      'GET /v3/domains?name=alliance-cloud-a',
      'POST /v3/domains',
      `GET /v3/users?name=a1b2c3&domain_id=${domain?.id}`,
      'POST /v3/users',
      `PUT /v3/projects/${project?.id}/users/${user?.id}/roles/r-member`,
    ]);
  });

  it('reuses the project it finds by tag, so the same request again makes nothing new', async () => {
    const first = await provisioner.provisionProject(input);
    keystone.calls.length = 0;
    const again = await provisioner.provisionProject(input);
    expect(again).toEqual(first);
    expect(keystone.projects.size).toBe(1);
    expect(keystone.users.size).toBe(1);
    expect(keystone.calls.filter((c) => c.startsWith('POST'))).toEqual([]);
    // The assignment is made again (a stop may have come between the project and it): Keystone takes it.
    expect(keystone.calls.at(-1)).toMatch(/^PUT /);
  });

  it('gives the same remote user one shadow user for several requests, and keeps clouds apart', async () => {
    const one = await provisioner.provisionProject(input);
    const two = await provisioner.provisionProject({ ...input, requestId: 'req-2', name: 'second' });
    const other = await provisioner.provisionProject({
      ...input,
      requesterCloud: 'cloud-c',
      name: 'from-c',
    });
    expect(two.userId).toBe(one.userId);
    expect(other.userId).not.toBe(one.userId);
    expect(keystone.projects.size).toBe(3);
    expect([...keystone.domains.values()].map((d) => d.name).sort()).toEqual([
      'Default',
      'alliance-cloud-a',
      'alliance-cloud-c',
    ]);
  });

  it('reads the shadow user again when another node made it first (409)', async () => {
    await provisioner.provisionProject(input);
    keystone.users.clear();
    const shadow = [...keystone.domains.values()].find((d) => d.name === 'alliance-cloud-a');
    // Between the provisioner's look-up and its POST, someone else makes the user.
    keystone.beforeUserCreate = () => {
      keystone.beforeUserCreate = null;
      keystone.users.set('u-racer', { id: 'u-racer', name: 'a1b2c3', domain_id: shadow?.id ?? '' });
    };
    const result = await provisioner.provisionProject({ ...input, requestId: 'req-2', name: 'other' });
    expect(result.userId).toBe('u-racer');
  });

  it('fails ALREADY_EXISTS when the name is taken by a project Alliance did not make', async () => {
    keystone.projects.set('p-theirs', { id: 'p-theirs', name: 'alice-at-b', domain_id: 'default' });
    expect(await failureOf(provisioner.provisionProject(input))).toEqual({
      code: 'ALREADY_EXISTS',
      message:
        'a project named "alice-at-b" already exists in domain "default" of the Keystone of cloud cloud-b, ' +
        'and Alliance did not make it for this request',
    });
    expect(keystone.users.size).toBe(0);
    expect(keystone.assignments.size).toBe(0);
  });

  it('fails INVALID_ARGUMENT for a role Keystone does not have, before making anything', async () => {
    expect(await failureOf(provisioner.provisionProject({ ...input, role: 'overlord' }))).toEqual({
      code: 'INVALID_ARGUMENT',
      message: 'the Keystone of cloud cloud-b has no role named "overlord"',
    });
    expect(keystone.projects.size).toBe(0);
  });

  it('fails INVALID_ARGUMENT for a domain Keystone does not have, with its words', async () => {
    expect(await failureOf(provisioner.provisionProject({ ...input, domainId: 'nope' }))).toEqual({
      code: 'INVALID_ARGUMENT',
      message:
        'the Keystone of cloud cloud-b refused project "alice-at-b" in domain "nope": ' +
        'HTTP 400 Could not find domain: nope.',
    });
  });

  it('fails PERMISSION_DENIED, naming the admin role, when the service account may not write (403)', async () => {
    keystone.admin = false;
    const failure = await failureOf(provisioner.provisionProject(input));
    expect(failure.code).toBe('PERMISSION_DENIED');
    expect(failure.message).toBe(
      'the Keystone of cloud cloud-b refused POST /v3/projects (HTTP 403): the Alliance service user ' +
        'needs the admin role on the system scope for kind "project" ' +
        '(openstack role add --user <service user> --user-domain <its domain> --system all admin)',
    );
    // The system token was refused, then the project token (the client's fallback), both 403.
    expect(keystone.calls.filter((c) => c === 'POST /v3/projects')).toHaveLength(2);
    expect(keystone.projects.size).toBe(0);
  });

  it('deprovisions by deleting the tagged project, and answers false when there is none', async () => {
    const made = await provisioner.provisionProject(input);
    const other = await provisioner.provisionProject({ ...input, requestId: 'req-2', name: 'kept' });
    expect(await provisioner.deprovisionProject({ requestId: 'req-1', requesterCloud: 'cloud-a' })).toBe(
      true,
    );
    expect(keystone.projects.has(made.projectId)).toBe(false);
    expect(keystone.projects.has(other.projectId)).toBe(true);
    // The shadow user stays: it may hold other projects (here it does).
    expect(keystone.users.has(made.userId)).toBe(true);
    expect(await provisioner.deprovisionProject({ requestId: 'req-1', requesterCloud: 'cloud-a' })).toBe(
      false,
    );
    // Another cloud's request of the same id is another tag.
    expect(await provisioner.deprovisionProject({ requestId: 'req-2', requesterCloud: 'cloud-c' })).toBe(
      false,
    );
    expect(keystone.projects.has(other.projectId)).toBe(true);
  });

  it('fails PERMISSION_DENIED when deleting is refused (403)', async () => {
    await provisioner.provisionProject(input);
    keystone.admin = false;
    expect(
      (await failureOf(provisioner.deprovisionProject({ requestId: 'req-1', requesterCloud: 'cloud-a' })))
        .code,
    ).toBe('PERMISSION_DENIED');
    expect(keystone.projects.size).toBe(1);
  });
});

describe('provisioning names', () => {
  it('tags a project with the requester cloud and the request id', () => {
    expect(provisionTag('cloud-a', 'req-1')).toBe('alliance:cloud-a:req-1');
    // The longest ids allowed (63-character cloud, 128-byte request id) stay within 255.
    expect(provisionTag('c'.repeat(63), 'r'.repeat(128)).length).toBe(201);
  });

  it('names the shadow domain alliance-<cloud>, shortened with a hash beyond 64 characters', () => {
    expect(shadowDomainName('cloud-a')).toBe('alliance-cloud-a');
    const long = shadowDomainName('c'.repeat(63));
    expect(long).toHaveLength(64);
    expect(long).toMatch(/^alliance-c{46}-[0-9a-f]{8}$/);
    expect(shadowDomainName('c'.repeat(62) + 'd')).not.toBe(long);
  });
});
