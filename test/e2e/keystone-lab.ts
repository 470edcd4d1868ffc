/**
 * The two-cloud Keystone lab for end-to-end tests: RabbitMQ plus keystone "a" (127.0.0.1:5000,
 * RegionOne, fernet) and "b" (127.0.0.1:5001, RegionTwo, jws), started by
 * scripts/keystone/lab-up.sh (which installs the Debian packages when missing: ~70 s cold, ~17 s
 * when installed, ~2 s when already running).
 *
 * With ALLIANCE_E2E_LAB_DIR set to the directory of a running lab, that lab is used and left
 * running. Otherwise the lab is brought up in ALLIANCE_E2E_LAB_DEFAULT_DIR and, if this process
 * started it, stopped and purged at the end (ALLIANCE_E2E_KEEP_LAB=1 keeps it for the next run).
 * Also a small admin client for driving Keystone the way an operator would.
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { KeystoneIdentityConfig } from '../../src/config/types.js';
import { prepareDevFederation } from '../../src/dev/index.js';
import type { DevCloud } from '../../src/dev/index.js';
import { allocatePorts } from '../integration/harness.js';

const run = promisify(execFile);
const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const scriptsDir = join(repoRoot, 'scripts/keystone');
export const defaultLabDir = '/tmp/alliance-e2e-keystone-lab';

export interface KeystoneInstance {
  name: string;
  /** Base URL without /v3. */
  url: string;
  region: string;
  provider: 'fernet' | 'jws';
  adminPassword: string;
  serviceUser: string;
  servicePassword: string;
  serviceProject: string;
  jwsPublicKeyDir: string;
  amqpUrl: string;
}

export interface KeystoneLab {
  dir: string;
  a: KeystoneInstance;
  b: KeystoneInstance;
  exchange: string;
  /** This process brought it up, so it takes it down. */
  startedHere: boolean;
}

function readEnvFile(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^([A-Z0-9_]+)=(.*)$/.exec(line);
    if (m) env[m[1]!] = m[2]!;
  }
  return env;
}

function readLab(dir: string, startedHere: boolean): KeystoneLab {
  const lab = readEnvFile(join(dir, 'lab.env'));
  const instance = (name: 'a' | 'b'): KeystoneInstance => {
    const e = readEnvFile(join(dir, name, 'instance.env'));
    return {
      name,
      url: (e['KEYSTONE_URL'] ?? '').replace(/\/v3$/, ''),
      region: e['KEYSTONE_REGION'] ?? '',
      provider: e['KEYSTONE_PROVIDER'] === 'jws' ? 'jws' : 'fernet',
      adminPassword: e['KEYSTONE_ADMIN_PASSWORD'] ?? '',
      serviceUser: e['KEYSTONE_SERVICE_USER'] ?? '',
      servicePassword: e['KEYSTONE_SERVICE_PASSWORD'] ?? '',
      serviceProject: e['KEYSTONE_SERVICE_PROJECT'] ?? '',
      jwsPublicKeyDir: e['KEYSTONE_JWS_PUBLIC_KEY_DIR'] ?? '',
      amqpUrl: lab[name === 'a' ? 'LAB_AMQP_URL_A' : 'LAB_AMQP_URL_B'] ?? '',
    };
  };
  return {
    dir,
    a: instance('a'),
    b: instance('b'),
    exchange: lab['LAB_AMQP_EXCHANGE'] ?? 'keystone',
    startedHere,
  };
}

async function isUp(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/v3`, { signal: AbortSignal.timeout(2_000) })).ok;
  } catch {
    return false;
  }
}

/** The running lab of ALLIANCE_E2E_LAB_DIR, or one brought up now. */
/**
 * Two dev clouds (configs, certificates, free ports) in a new temporary directory, for the lab's
 * Keystones a and b; the caller points their identity at Keystone (identityConfigFor).
 */
export async function prepareLabFederation(dirPrefix: string): Promise<{ dir: string; clouds: DevCloud[] }> {
  const dir = mkdtempSync(join(tmpdir(), dirPrefix));
  const ports = await allocatePorts(6);
  const clouds = prepareDevFederation({
    dir,
    clouds: 2,
    portsOf: (i) => ({ local: ports[3 * i] ?? 0, peer: ports[3 * i + 1] ?? 0, http: ports[3 * i + 2] ?? 0 }),
    logLevel: 'silent',
    antiEntropyIntervalMs: 500,
  });
  return { dir, clouds };
}

export async function bringUpKeystoneLab(): Promise<KeystoneLab> {
  const given = process.env['ALLIANCE_E2E_LAB_DIR'];
  if (given) {
    if (!existsSync(join(given, 'lab.env'))) throw new Error(`ALLIANCE_E2E_LAB_DIR=${given} has no lab.env`);
    const lab = readLab(given, false);
    for (const k of [lab.a, lab.b])
      if (!(await isUp(k.url))) throw new Error(`keystone ${k.name} at ${k.url} is down`);
    return lab;
  }
  const dir = process.env['ALLIANCE_E2E_LAB_DEFAULT_DIR'] ?? defaultLabDir;
  const wasUp =
    existsSync(join(dir, 'lab.env')) &&
    (await isUp('http://127.0.0.1:5000')) &&
    (await isUp('http://127.0.0.1:5001'));
  const started = Date.now();
  try {
    const { stdout } = await run('bash', [join(scriptsDir, 'lab-up.sh'), dir], {
      timeout: 600_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    process.stderr.write(`[keystone-lab] lab-up.sh took ${Date.now() - started} ms\n${stdout}`);
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`lab-up.sh failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, { cause: err });
  }
  return readLab(dir, !wasUp);
}

export async function tearDownKeystoneLab(lab: KeystoneLab): Promise<void> {
  if (!lab.startedHere || process.env['ALLIANCE_E2E_KEEP_LAB'] === '1') return;
  await run('bash', [join(scriptsDir, 'lab-down.sh'), lab.dir, '--purge'], { timeout: 120_000 });
}

/** Stops the lab's RabbitMQ (state kept), for tests of the consumer's reconnection. */
export async function stopBroker(): Promise<void> {
  await run('bash', [join(scriptsDir, 'stop-rabbitmq.sh')], { timeout: 120_000 });
}

/** Starts the lab's RabbitMQ again (its vhosts a and b survive in its state). */
export async function startBroker(): Promise<void> {
  await run('bash', [join(scriptsDir, 'start-rabbitmq.sh')], {
    timeout: 300_000,
    env: { ...process.env, VHOSTS: 'a b' },
  });
}

/** An identity source configuration for one lab instance (its service account, its vhost). */
export function identityConfigFor(
  k: KeystoneInstance,
  queue: string,
  overrides: Partial<KeystoneIdentityConfig> = {},
): KeystoneIdentityConfig {
  return {
    kind: 'keystone',
    url: k.url,
    serviceUser: {
      name: k.serviceUser,
      password: k.servicePassword,
      domainId: 'default',
      projectName: k.serviceProject,
      projectDomainId: 'default',
    },
    jwsPublicKeyDir: k.provider === 'jws' ? k.jwsPublicKeyDir : null,
    revocationPollMs: 500,
    refreshMs: 60_000,
    requestTimeoutMs: 15_000,
    notifications: { url: k.amqpUrl, exchange: 'keystone', queue },
    ...overrides,
  };
}

export interface KeystoneResult {
  status: number;
  body: Record<string, unknown> | null;
  token: string | null;
}

/** Keystone driven as its admin: password tokens, users, projects, roles. */
export class KeystoneAdmin {
  private adminToken: string | null = null;

  constructor(readonly k: KeystoneInstance) {}

  async call(
    method: string,
    path: string,
    options: { token?: string; subject?: string; body?: unknown } = {},
  ): Promise<KeystoneResult> {
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    const token =
      options.token ?? (path === '/v3/auth/tokens' && method === 'POST' ? undefined : await this.token());
    if (token) headers['X-Auth-Token'] = token;
    if (options.subject) headers['X-Subject-Token'] = options.subject;
    const res = await fetch(this.k.url + path, {
      method,
      headers,
      body: options.body === undefined ? undefined : JSON.stringify(options.body),
      signal: AbortSignal.timeout(30_000),
    });
    const text = await res.text();
    return {
      status: res.status,
      body: text ? (JSON.parse(text) as Record<string, unknown>) : null,
      token: res.headers.get('x-subject-token'),
    };
  }

  /** A password token; scope: a project id, a project name in the default domain, or none. */
  async issue(
    user: string,
    password: string,
    scope?: { projectId: string } | { projectName: string },
    userDomainId = 'default',
  ): Promise<string> {
    const body = {
      auth: {
        identity: {
          methods: ['password'],
          password: { user: { name: user, domain: { id: userDomainId }, password } },
        },
        ...(scope
          ? {
              scope: {
                project:
                  'projectId' in scope
                    ? { id: scope.projectId }
                    : { name: scope.projectName, domain: { id: 'default' } },
              },
            }
          : {}),
      },
    };
    const r = await this.call('POST', '/v3/auth/tokens', { body });
    if (r.status !== 201 || !r.token) throw new Error(`auth ${user} at ${this.k.name}: HTTP ${r.status}`);
    return r.token;
  }

  async token(): Promise<string> {
    this.adminToken ??= await this.issue('admin', this.k.adminPassword, { projectName: 'admin' });
    return this.adminToken;
  }

  async must(method: string, path: string, body?: unknown): Promise<Record<string, unknown>> {
    const r = await this.call(method, path, { body });
    if (r.status >= 300)
      throw new Error(`${method} ${path} at ${this.k.name}: HTTP ${r.status} ${JSON.stringify(r.body)}`);
    return r.body ?? {};
  }

  async roleId(name: string): Promise<string> {
    const r = await this.must('GET', `/v3/roles?name=${encodeURIComponent(name)}`);
    const roles = r['roles'] as { id: string }[];
    if (!roles[0]) throw new Error(`no role ${name}`);
    return roles[0].id;
  }

  /** A fresh project in `domainId` and a user in it holding `role` there. */
  async projectWithMember(
    prefix: string,
    role = 'member',
    domainId = 'default',
  ): Promise<{ projectId: string; userId: string; userName: string; password: string; roleId: string }> {
    const suffix = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
    const project = (await this.must('POST', '/v3/projects', {
      project: { name: `${prefix}-p-${suffix}`, domain_id: domainId },
    })) as { project: { id: string } };
    const password = `pw-${suffix}`;
    const userName = `${prefix}-u-${suffix}`;
    const user = (await this.must('POST', '/v3/users', {
      user: { name: userName, domain_id: domainId, password },
    })) as { user: { id: string } };
    const roleId = await this.roleId(role);
    await this.must('PUT', `/v3/projects/${project.project.id}/users/${user.user.id}/roles/${roleId}`);
    return { projectId: project.project.id, userId: user.user.id, userName, password, roleId };
  }
}

/** `promise`, or a rejection naming `what` after `ms`. */
export async function within<T>(ms: number, what: string, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
