/**
 * Loading configuration: YAML text → raw config (schema.ts, documented in
 * docs/CONFIGURATION.md) → NodeConfig (types.ts), in which addresses are parsed, relative
 * paths are resolved against the config file's directory and every default is filled. Ids
 * the file leaves out are derived (derive-static-id.ts), and a Keystone service password kept
 * in its own file (identity.serviceUser.passwordFile) is read here, at load time.
 *
 * Every failure is one ConfigError listing every problem found, each under the dotted key
 * it is about, so an operator can fix a file in one pass. This folder is the only reader of
 * files and process.env in Alliance; configuration needs no environment variables.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import YAML from 'yaml';
import type { YAMLError } from 'yaml';
import { z } from 'zod';
import { formatHostPort, parseHostPort, parseListenAddress, unixSocketPathBytesMax } from './address.js';
import { ConfigError } from './config-error.js';
import type { ConfigProblem } from './config-error.js';
import { deriveStaticId } from './derive-static-id.js';
import { configBounds, defaultNotificationsQueue, describeValue, rawConfigSchema } from './schema.js';
import type { RawConfig, RawConfigInput } from './schema.js';
import type { IdentityConfig, ListenAddress, MappingRule, NodeConfig } from './types.js';

export { ConfigError } from './config-error.js';
export type { ConfigProblem } from './config-error.js';
export {
  formatHostPort,
  formatListenAddress,
  isLoopbackHost,
  isUnspecifiedHost,
  parseHostPort,
  parseListenAddress,
} from './address.js';
export type { HostPort } from './address.js';
export type { RawConfig, RawConfigInput } from './schema.js';

/** Reads and compiles a config file; relative paths in it resolve against its directory. */
export function loadConfig(path: string): NodeConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError([{ key: '(file)', message: describeReadError(path, err) }], {
      source: path,
      cause: err,
    });
  }
  return parseConfig(text, { baseDir: dirname(resolve(path)), source: path });
}

/**
 * Compiles YAML text. `baseDir` is what relative paths resolve against (the directory of the
 * file the text came from); `source` names the text in error messages.
 */
export function parseConfig(text: string, options: { baseDir: string; source?: string }): NodeConfig {
  const bytes = Buffer.byteLength(text);
  if (bytes > configBounds.configFileBytesMax) {
    throw new ConfigError(
      [
        {
          key: '(file)',
          message: `is ${bytes} bytes; a config file is at most ${configBounds.configFileBytesMax}`,
        },
      ],
      { source: options.source },
    );
  }
  return compileConfig(parseYaml(text, options.source), options.baseDir, { source: options.source });
}

/**
 * Validates a raw config object (as parsed from YAML, or built in memory by `alliance dev`
 * and tests) and compiles it. Relative paths resolve against `baseDir`.
 */
export function compileConfig(raw: unknown, baseDir: string, options: { source?: string } = {}): NodeConfig {
  const result = rawConfigSchema.safeParse(raw, { error: describeIssue });
  if (!result.success) {
    throw new ConfigError(toProblems(result.error.issues, raw), { source: options.source });
  }
  const problems: ConfigProblem[] = [];
  const config = toNodeConfig(result.data, resolve(baseDir), problems);
  if (problems.length > 0) throw new ConfigError(problems, { source: options.source });
  return config;
}

/**
 * A raw config object → YAML text that parseConfig reads back to the same NodeConfig, under a
 * header comment (`header` replaces the default; each of its lines becomes a comment line).
 * It does not validate: compileConfig does.
 */
export function renderConfigYaml(raw: RawConfigInput, options: { header?: string } = {}): string {
  const header =
    options.header ??
    [
      `Alliance node ${raw.cloud}/${raw.node} of federation ${raw.federation}.`,
      'Every key is described in docs/CONFIGURATION.md; relative paths resolve against',
      "this file's directory.",
    ].join('\n');
  const comment = header
    .split('\n')
    .map((line) => (line === '' ? '#' : `# ${line}`))
    .join('\n');
  return `${comment}\n${YAML.stringify(raw, { lineWidth: 0 })}`;
}

function parseYaml(text: string, source: string | undefined): unknown {
  const doc = YAML.parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  // Warnings (an unresolved tag, say) change what a value means, so they count as errors too.
  const error = doc.errors[0] ?? doc.warnings[0];
  if (error !== undefined) {
    throw new ConfigError([{ key: '(yaml)', message: describeYamlError(error) }], { source });
  }
  try {
    // The alias bound stops "billion laughs" documents from expanding without limit.
    return doc.toJS({ maxAliasCount: 100 });
  } catch (err) {
    throw new ConfigError([{ key: '(yaml)', message: err instanceof Error ? err.message : String(err) }], {
      source,
      cause: err,
    });
  }
}

function describeYamlError(error: YAMLError): string {
  const position = error.linePos?.[0];
  // yaml appends " at line L, column C:" and a source excerpt; keep one line.
  const text = error.message.replace(/ at line \d+, column \d+:[\s\S]*$/, '').trim();
  return position === undefined ? text : `line ${position.line}, column ${position.col}: ${text}`;
}

function describeReadError(path: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  switch (code) {
    case 'ENOENT':
      return `cannot read ${path}: no such file`;
    case 'EACCES':
    case 'EPERM':
      return `cannot read ${path}: permission denied`;
    case 'EISDIR':
      return `cannot read ${path}: it is a directory`;
    default:
      return `cannot read ${path}: ${err instanceof Error ? err.message : String(err)}`;
  }
}

function toNodeConfig(raw: RawConfig, baseDir: string, problems: ConfigProblem[]): NodeConfig {
  const local = resolveListenAddress(parseListenAddress(raw.listen.local, 'listen.local'), baseDir);
  if (local.kind === 'unix' && Buffer.byteLength(local.path) > unixSocketPathBytesMax) {
    problems.push({
      key: 'listen.local',
      message:
        `the unix socket path ${describeValue(local.path)} is ${Buffer.byteLength(local.path)} bytes; ` +
        `the operating system allows ${unixSocketPathBytesMax}`,
    });
  }
  const peer = parseHostPort(raw.listen.peer, 'listen.peer');
  const http =
    raw.listen.http === null || raw.listen.http === false
      ? null
      : parseHostPort(raw.listen.http, 'listen.http');
  return {
    federation: raw.federation,
    cloud: raw.cloud,
    node: raw.node,
    nodeId: `${raw.cloud}/${raw.node}`,
    dataDir: resolve(baseDir, raw.dataDir),
    listen: { local, peer, http },
    // Port 0 passes through: the node substitutes the port it bound (tests only).
    advertisePeerAddress: raw.advertisePeerAddress ?? formatHostPort(peer.host, peer.port),
    tls: {
      caFile: resolve(baseDir, raw.tls.ca),
      certFile: resolve(baseDir, raw.tls.cert),
      keyFile: resolve(baseDir, raw.tls.key),
    },
    seeds: [...raw.seeds],
    catalog: {
      regions: raw.catalog.regions.map((region) => ({
        id: region.id,
        description: region.description,
        parentRegionId: region.parentRegionId,
      })),
      services: raw.catalog.services.map((service) => ({
        id: service.id,
        type: service.type,
        name: service.name,
        description: service.description,
        enabled: service.enabled,
      })),
      endpoints: raw.catalog.endpoints.map((endpoint) => ({
        id: endpoint.id,
        region: endpoint.region,
        serviceId: endpoint.service,
        interface: endpoint.interface,
        url: endpoint.url,
        enabled: endpoint.enabled,
      })),
    },
    mesh: {
      antiEntropyIntervalMs: raw.mesh.antiEntropyIntervalMs,
      reconnectBackoffMinMs: raw.mesh.reconnectBackoffMinMs,
      reconnectBackoffMaxMs: raw.mesh.reconnectBackoffMaxMs,
      peersMax: raw.mesh.peersMax,
      eagerFanoutMax: raw.mesh.eagerFanoutMax,
    },
    identity: toIdentityConfig(raw, baseDir, problems),
    mapping: raw.mapping.map((rule): MappingRule => ({
      name: rule.name,
      match: {
        clouds: [...rule.match.clouds],
        domains: [...rule.match.domains],
        projects: [...rule.match.projects],
        roles: [...rule.match.roles],
      },
      grant: { project: rule.grant.project, roles: [...rule.grant.roles] },
    })),
    tokens: {
      federationTokenTtlMaxMs: raw.tokens.federationTokenTtlMaxMs,
      negativeCacheMs: raw.tokens.negativeCacheMs,
      originTimeoutMs: raw.tokens.originTimeoutMs,
      revocationRetentionMs: raw.tokens.revocationRetentionMs,
    },
    events: {
      expectedSubscribers: [...raw.events.expectedSubscribers],
      windowMax: raw.events.windowMax,
      retryBackoffMinMs: raw.events.retryBackoffMinMs,
      retryBackoffMaxMs: raw.events.retryBackoffMaxMs,
      attemptsMax: raw.events.attemptsMax,
      retentionMs: raw.events.retentionMs,
    },
    log: { level: raw.log.level },
  };
}

function toIdentityConfig(raw: RawConfig, baseDir: string, problems: ConfigProblem[]): IdentityConfig {
  const identity = raw.identity;
  if (identity.kind === 'static') {
    return {
      kind: 'static',
      domains: identity.domains.map((domain) => ({ id: domain.id, name: domain.name })),
      projects: identity.projects.map((project) => ({
        id: project.id ?? deriveStaticId(raw.cloud, 'project', project.domain, project.name),
        name: project.name,
        domainId: project.domain,
        enabled: project.enabled,
      })),
      users: identity.users.map((user) => ({
        id: user.id ?? deriveStaticId(raw.cloud, 'user', user.domain, user.name),
        name: user.name,
        domainId: user.domain,
        password: user.password,
        enabled: user.enabled,
        roles: user.roles.map((assignment) => ({ project: assignment.project, role: assignment.role })),
      })),
      tokenTtlMs: identity.tokenTtlMs,
    };
  }
  const serviceUser = identity.serviceUser;
  let password = serviceUser.password;
  if (password === undefined) {
    assert(serviceUser.passwordFile !== undefined, 'the schema requires password or passwordFile');
    const path = resolve(baseDir, serviceUser.passwordFile);
    password = readPasswordFile(path, 'identity.serviceUser.passwordFile', problems);
  }
  const notifications = identity.notifications;
  return {
    kind: 'keystone',
    url: keystoneBaseUrl(identity.url),
    serviceUser: {
      name: serviceUser.name,
      password,
      domainId: serviceUser.domain,
      projectName: serviceUser.project,
      projectDomainId: serviceUser.projectDomain,
    },
    jwsPublicKeyDir: identity.jwsPublicKeyDir === null ? null : resolve(baseDir, identity.jwsPublicKeyDir),
    revocationPollMs: identity.revocationPollMs,
    refreshMs: identity.refreshMs,
    requestTimeoutMs: identity.requestTimeoutMs,
    notifications:
      notifications === null
        ? null
        : {
            url: notifications.url,
            exchange: notifications.exchange,
            queue: notifications.queue ?? defaultNotificationsQueue(raw.cloud, raw.node),
          },
  };
}

/**
 * Keystone's base URL as configured, without a trailing `/v3` (clients append it) or `/`:
 * `http://keystone:5000/v3/` → `http://keystone:5000`,
 * `https://cloud/identity/v3` → `https://cloud/identity`.
 */
export function keystoneBaseUrl(url: string): string {
  // Only the path is trimmed: a host called v3 stays.
  const authorityEnd = url.indexOf('/', url.indexOf('//') + 2);
  if (authorityEnd < 0) return url;
  const path = url.slice(authorityEnd).replace(/\/+$/, '').replace(/\/v3$/i, '').replace(/\/+$/, '');
  return url.slice(0, authorityEnd) + path;
}

/**
 * A password kept in its own file (so the config file can be readable by more people than the
 * password): the whole file, surrounding whitespace and the final newline trimmed. Neither
 * the password nor any of the file's text appears in a problem.
 */
function readPasswordFile(path: string, key: string, problems: ConfigProblem[]): string {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push({ key, message: describeReadError(path, err) });
    return '';
  }
  const password = text.trim();
  if (password === '') problems.push({ key, message: `${path} is empty` });
  else if (password.length > configBounds.passwordLengthMax) {
    problems.push({
      key,
      message: `${path} holds more than ${configBounds.passwordLengthMax} characters; it should hold only the password`,
    });
  }
  return password;
}

function resolveListenAddress(address: ListenAddress, baseDir: string): ListenAddress {
  return address.kind === 'unix' ? { kind: 'unix', path: resolve(baseDir, address.path) } : address;
}

const typeNames: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
};

/** Zod's messages, reworded in the operator's terms (YAML mappings and lists). */
const describeIssue: z.core.$ZodErrorMap = (issue) => {
  switch (issue.code) {
    case 'invalid_type':
      if (issue.input === undefined) return 'is required';
      if (issue.input === null && (issue.path ?? []).length === 0) return 'the document is empty';
      return `expected ${typeNames[issue.expected] ?? issue.expected}, got ${describeValue(issue.input)}`;
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join(', ')}; got ${describeValue(issue.input)}`;
    default:
      return undefined;
  }
};

function toProblems(issues: readonly z.core.$ZodIssue[], raw: unknown): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeysAt(issue.path, raw);
      for (const key of issue.keys) {
        problems.push({ key: formatKey([...issue.path, key]), message: describeUnknownKey(key, known) });
      }
    } else {
      problems.push({ key: formatKey(issue.path), message: issue.message });
    }
  }
  return problems;
}

/** `['catalog', 'endpoints', 2, 'url']` → `catalog.endpoints[2].url`; the empty path is `(root)`. */
function formatKey(path: readonly PropertyKey[]): string {
  let key = '';
  for (const segment of path) {
    if (typeof segment === 'number') key += `[${segment}]`;
    else if (typeof segment === 'string' && /^[A-Za-z_$][\w$-]*$/.test(segment)) {
      key += key === '' ? segment : `.${segment}`;
    } else key += `[${JSON.stringify(String(segment))}]`;
  }
  return key === '' ? '(root)' : key;
}

function describeUnknownKey(key: string, known: string[]): string {
  const suggestion = closestKey(key, known);
  if (suggestion !== undefined) return `unknown key; did you mean ${suggestion}?`;
  return known.length > 0 ? `unknown key; expected one of ${known.join(', ')}` : 'unknown key';
}

/** Same key up to case, "_" and "-" (data_dir → dataDir), or at most two edits away. */
function closestKey(key: string, known: string[]): string | undefined {
  const normalize = (text: string): string => text.toLowerCase().replace(/[-_]/g, '');
  const same = known.find((candidate) => normalize(candidate) === normalize(key));
  if (same !== undefined) return same;
  let best: { key: string; distance: number } | undefined;
  for (const candidate of known) {
    const distance = editDistance(normalize(key), normalize(candidate));
    if (distance <= 2 && (best === undefined || distance < best.distance))
      best = { key: candidate, distance };
  }
  return best?.key;
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const substitution = (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      current.push(Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, substitution));
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}

/**
 * The keys the schema allows in the object at `path`, for "did you mean" suggestions. `raw` is
 * the input, walked alongside: it picks the variant of a discriminated union (identity.kind).
 */
function knownKeysAt(path: readonly PropertyKey[], raw: unknown): string[] {
  let schema: z.core.$ZodType | undefined = unwrapSchema(rawConfigSchema);
  let value = raw;
  for (const segment of path) {
    schema = pickVariant(schema, value);
    if (schema instanceof z.ZodObject && typeof segment === 'string') {
      schema = (schema.shape as Record<string, z.core.$ZodType | undefined>)[segment];
      value = isRecordValue(value) ? value[segment] : undefined;
    } else if (schema instanceof z.ZodArray && typeof segment === 'number') {
      schema = schema.element;
      value = Array.isArray(value) ? (value as unknown[])[segment] : undefined;
    } else return [];
    if (schema === undefined) return [];
    schema = unwrapSchema(schema);
  }
  schema = pickVariant(schema, value);
  return schema instanceof z.ZodObject ? Object.keys(schema.shape) : [];
}

/** The option of a discriminated union that `value`'s discriminator selects; other schemas unchanged. */
function pickVariant(schema: z.core.$ZodType, value: unknown): z.core.$ZodType {
  if (!(schema instanceof z.ZodDiscriminatedUnion) || !isRecordValue(value)) return schema;
  const discriminator = schema.def.discriminator;
  const tag = value[discriminator];
  return (
    schema.options.find((option) => option._zod.propValues?.[discriminator]?.has(tag as never) === true) ??
    schema
  );
}

function isRecordValue(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function unwrapSchema(schema: z.core.$ZodType): z.core.$ZodType {
  let current = schema;
  while (
    current instanceof z.ZodOptional ||
    current instanceof z.ZodNullable ||
    current instanceof z.ZodDefault ||
    current instanceof z.ZodPrefault
  ) {
    current = current.unwrap();
  }
  return current;
}
