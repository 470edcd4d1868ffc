/**
 * A fake Keystone v3 on a loopback node:http server, with the answers a real Keystone 22 gives
 * (shapes captured from the lab in scripts/keystone/): password authentication for a service
 * account (project or system scope), token validation, OS-REVOKE events with the strict `since`,
 * the catalog lists (403 for services/endpoints with the project-scoped `service` token, as in a
 * stock policy), projects, domains and group members. Tests change its state and failure modes
 * by hand and read what it was asked.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface FakeSubjectToken {
  user: { id: string; name: string; domainId: string };
  project: { id: string; name: string; domainId: string } | null;
  roles: string[];
  auditIds: string[];
  issuedAt: string;
  expiresAt: string;
}

export interface FakeRequest {
  method: string;
  path: string;
  authToken: string | undefined;
  subjectToken: string | undefined;
  /** The `since` parameter, for OS-REVOKE. */
  since?: string;
}

export interface FakeRevokeEvent {
  [key: string]: string | undefined;
  issued_before: string;
  revoked_at: string;
}

export class FakeKeystone {
  readonly serviceUser = { name: 'alliance', password: 'alliance-secret', domainId: 'default' };
  /** Subject tokens Keystone knows, by token string. */
  readonly tokens = new Map<string, FakeSubjectToken>();
  readonly revokeEvents: FakeRevokeEvent[] = [];
  readonly projects = new Map<string, { id: string; name: string; enabled: boolean; is_domain: boolean }>();
  readonly domains = new Map<string, { id: string; name: string; enabled: boolean }>();
  readonly groupMembers = new Map<string, string[]>();
  readonly requests: FakeRequest[] = [];
  /** Service tokens currently accepted, with their scope. */
  readonly serviceTokens = new Map<string, 'project' | 'system'>();
  /** Whether the service user has a role on the system scope. */
  systemRole = true;
  serviceTokenLifetimeMs = 3_600_000;
  /** Next answers of GET /v3/auth/tokens: a status, or 'hang' (never answers in time). */
  validationFailures: (number | 'hang')[] = [];
  revokeFailures: number[] = [];
  private issued = 0;
  private server: Server | null = null;
  private readonly hanging = new Set<ServerResponse>();

  async start(): Promise<string> {
    this.server = createServer((req, res) => void this.handle(req, res));
    await new Promise<void>((resolve) => this.server!.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    return `http://127.0.0.1:${port}`;
  }

  async stop(): Promise<void> {
    for (const res of this.hanging) res.destroy();
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }

  /** Makes every service token issued so far invalid (as after a key rotation). */
  expireServiceTokens(): void {
    this.serviceTokens.clear();
  }

  authCount(scope?: 'project' | 'system'): number {
    return this.requests.filter(
      (r) =>
        r.method === 'POST' && r.path === '/v3/auth/tokens' && (scope === undefined || r.authToken === scope),
    ).length;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const authToken = header(req, 'x-auth-token');
    const subjectToken = header(req, 'x-subject-token');
    const body = await readBody(req);
    const record: FakeRequest = { method: req.method ?? '', path: url.pathname, authToken, subjectToken };
    if (url.searchParams.has('since')) record.since = url.searchParams.get('since') ?? '';
    this.requests.push(record);
    const send = (status: number, json?: unknown, headers: Record<string, string> = {}) => {
      res.writeHead(status, { 'Content-Type': 'application/json', ...headers });
      res.end(json === undefined ? '' : JSON.stringify(json));
    };
    const error = (status: number, message: string) =>
      send(status, { error: { code: status, message, title: '' } });

    if (req.method === 'POST' && url.pathname === '/v3/auth/tokens') {
      const auth = (JSON.parse(body) as { auth: AuthBody }).auth;
      const user = auth.identity.password.user;
      const scope = auth.scope.system ? 'system' : 'project';
      record.authToken = scope;
      if (user.name !== this.serviceUser.name || user.password !== this.serviceUser.password)
        return error(401, 'The request you have made requires authentication.');
      if (scope === 'system' && !this.systemRole)
        return error(401, 'The request you have made requires authentication.');
      const token = `svc-${scope}-${++this.issued}`;
      this.serviceTokens.set(token, scope);
      const expiresAt = new Date(Date.now() + this.serviceTokenLifetimeMs).toISOString().replace('Z', '000Z');
      return send(
        201,
        { token: { expires_at: expiresAt, methods: ['password'] } },
        { 'X-Subject-Token': token },
      );
    }
    const scope = authToken === undefined ? undefined : this.serviceTokens.get(authToken);
    if (scope === undefined) return error(401, 'The request you have made requires authentication.');

    if (req.method === 'GET' && url.pathname === '/v3/auth/tokens') {
      const failure = this.validationFailures.shift();
      if (failure === 'hang') {
        this.hanging.add(res);
        return;
      }
      if (failure !== undefined)
        return error(failure, 'An unexpected error prevented the server from fulfilling your request.');
      const t = subjectToken === undefined ? undefined : this.tokens.get(subjectToken);
      if (!t) return error(404, 'Could not recognize Fernet token');
      return send(200, { token: tokenBody(t) });
    }
    if (req.method === 'GET' && url.pathname === '/v3/OS-REVOKE/events') {
      if (scope !== 'project') return error(403, 'identity:list_revoke_events');
      const failure = this.revokeFailures.shift();
      if (failure !== undefined) return error(failure, 'failure');
      const since = url.searchParams.get('since');
      const sinceMs = since === null ? -Infinity : Date.parse(since);
      const events = this.revokeEvents.filter((e) => Date.parse(e.revoked_at) > sinceMs);
      return send(200, { events, links: { next: null, self: 'x', previous: null } });
    }
    if (req.method === 'GET' && url.pathname === '/v3/regions') {
      return send(200, {
        regions: [
          { id: 'RegionOne', description: '', parent_region_id: null, links: {} },
          { id: 'RegionOne-a', description: 'child', parent_region_id: 'RegionOne', links: {} },
        ],
        links: {},
      });
    }
    if (req.method === 'GET' && url.pathname === '/v3/services') {
      if (scope !== 'system') return error(403, 'identity:list_services');
      return send(200, {
        services: [{ id: 'svc-keystone', name: 'keystone', type: 'identity', enabled: true, links: {} }],
        links: {},
      });
    }
    if (req.method === 'GET' && url.pathname === '/v3/endpoints') {
      if (scope !== 'system') return error(403, 'identity:list_endpoints');
      const ep = (id: string, iface: string) => ({
        id,
        interface: iface,
        region_id: 'RegionOne',
        region: 'RegionOne',
        service_id: 'svc-keystone',
        url: 'http://127.0.0.1:5000/v3/',
        enabled: true,
        links: {},
      });
      return send(200, {
        endpoints: [
          ep('ep-public', 'public'),
          ep('ep-internal', 'internal'),
          ep('ep-admin', 'admin'),
          ep('ep-odd', 'other'),
        ],
        links: {},
      });
    }
    const project = /^\/v3\/projects\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && project) {
      if (scope !== 'system') return error(403, 'identity:get_project');
      const p = this.projects.get(decodeURIComponent(project[1]!));
      return p
        ? send(200, { project: { ...p, domain_id: 'default', links: {} } })
        : error(404, 'Could not find project');
    }
    const domain = /^\/v3\/domains\/([^/]+)$/.exec(url.pathname);
    if (req.method === 'GET' && domain) {
      const d = this.domains.get(decodeURIComponent(domain[1]!));
      return d ? send(200, { domain: { ...d, links: {} } }) : error(404, 'Could not find domain');
    }
    const group = /^\/v3\/groups\/([^/]+)\/users$/.exec(url.pathname);
    if (req.method === 'GET' && group) {
      if (scope !== 'system') return error(403, 'identity:list_users_in_group');
      const members = this.groupMembers.get(decodeURIComponent(group[1]!));
      if (!members) return error(404, 'Could not find group');
      return send(200, { users: members.map((id) => ({ id, name: `user-${id}` })), links: {} });
    }
    return error(404, 'not found');
  }
}

interface AuthBody {
  identity: { password: { user: { name: string; password: string } } };
  scope: { system?: unknown; project?: unknown };
}

/** The v3 token body, as Keystone 22 answers GET /v3/auth/tokens?nocatalog. */
function tokenBody(t: FakeSubjectToken): Record<string, unknown> {
  return {
    methods: ['password'],
    user: {
      domain: { id: t.user.domainId, name: 'Default' },
      id: t.user.id,
      name: t.user.name,
      password_expires_at: null,
    },
    audit_ids: t.auditIds,
    expires_at: t.expiresAt,
    issued_at: t.issuedAt,
    ...(t.project
      ? {
          project: {
            domain: { id: t.project.domainId, name: 'Default' },
            id: t.project.id,
            name: t.project.name,
          },
          is_domain: false,
        }
      : {}),
    roles: t.roles.map((name, i) => ({ id: `role-${i}`, name })),
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
