/** identity, mapping and tokens: the sections of the config file about who users are and what they may do. */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, test } from 'vitest';
import { deriveStaticId } from '../../../src/config/derive-static-id.js';
import {
  ConfigError,
  compileConfig,
  keystoneBaseUrl,
  loadConfig,
  parseConfig,
} from '../../../src/config/load.js';
import type { ConfigProblem } from '../../../src/config/load.js';
import type { KeystoneIdentityConfig } from '../../../src/config/types.js';
import { baseDir, configErrorOf, minimalRaw, minimalYaml, problemsOf } from './config-fixtures.js';

const parse = (yaml: string) => parseConfig(`${minimalYaml}${yaml}`, { baseDir });
/** The problems of the minimal file plus `yaml`; none if it compiles. */
function problemsIn(yaml: string): ConfigProblem[] {
  try {
    parse(yaml);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  }
}

const keystoneYaml = `
identity:
  kind: keystone
  url: https://keystone.cloud-a.example:5000/v3
  serviceUser: { name: alliance, password: secret, domain: default, project: service, projectDomain: default }
`;

describe('static identity ids', () => {
  test('an absent id is the first 32 hex characters of sha256("<cloud>:<kind>:<domain>:<name>")', () => {
    expect([
      deriveStaticId('cloud-a', 'project', 'default', 'demo'),
      deriveStaticId('cloud-a', 'user', 'default', 'demo'),
      deriveStaticId('cloud-b', 'user', 'default', 'demo'),
      deriveStaticId('cloud-a', 'user', 'ops', 'alice'),
    ]).toEqual([
      '7f39fae68e9b9b4c0f42c3fdc5ec6d70',
      '2d58eed1c974d02f85d72603562a8828',
      '890e000e1a9c97e5378efb10b1214663',
      'ae8514ea3eb839177914b41087371c4e',
    ]);
  });

  test('a compiled project and user get the derived id, the same on every load', () => {
    const yaml = `identity:
  kind: static
  projects: [{ name: demo }]
  users: [{ name: demo, password: demo }]
`;
    const ids = (config: ReturnType<typeof parse>) =>
      config.identity.kind === 'static'
        ? [config.identity.projects.map((p) => p.id), config.identity.users.map((u) => u.id)]
        : [];
    expect(ids(parse(yaml))).toEqual([
      ['7f39fae68e9b9b4c0f42c3fdc5ec6d70'],
      ['2d58eed1c974d02f85d72603562a8828'],
    ]);
    expect(ids(parse(yaml))).toEqual(ids(parse(yaml)));
  });

  test('explicit ids are 32 lowercase hex characters or up to 64 letters, digits, "_" and "-"', () => {
    const yaml = `identity:
  kind: static
  domains: [{ id: "", name: Default }, { id: "a.b", name: Other }]
  projects:
    - { id: 0123456789ABCDEF0123456789abcdef, name: ok-uppercase-hex-is-a-plain-id }
    - { id: ${'x'.repeat(65)}, name: too-long }
  users: [{ id: "user 1", name: demo, password: demo, domain: default }]
`;
    const rule =
      'is not a valid id: 32 lowercase hex characters like Keystone\'s, or 1 to 64 letters, digits, "_" and "-"';
    expect(problemsIn(yaml)).toEqual([
      { key: 'identity.domains[0].id', message: `"" ${rule}` },
      { key: 'identity.domains[1].id', message: `"a.b" ${rule}` },
      { key: 'identity.projects[1].id', message: `"${'x'.repeat(65)}" ${rule}` },
      { key: 'identity.users[0].id', message: `"user 1" ${rule}` },
      // projects and users are in domain "default" unless they name another.
      {
        key: 'identity.projects[0].domain',
        message: 'refers to undeclared domain "default" (declared: , a.b)',
      },
      {
        key: 'identity.projects[1].domain',
        message: 'refers to undeclared domain "default" (declared: , a.b)',
      },
      {
        key: 'identity.users[0].domain',
        message: 'refers to undeclared domain "default" (declared: , a.b)',
      },
    ]);
  });

  test('a repeated id is refused, whether written twice or written once and derived once', () => {
    const derived = deriveStaticId('cloud-a', 'user', 'default', 'bob');
    const yaml = `identity:
  kind: static
  projects:
    - { id: p1, name: one }
    - { id: p1, name: two }
  users:
    - { id: ${derived}, name: alice, password: a }
    - { name: bob, password: b }
`;
    expect(problemsIn(yaml)).toEqual([
      {
        key: 'identity.projects[1].id',
        message: 'duplicate id "p1" (first declared at identity.projects[0])',
      },
      {
        key: 'identity.users[1].name',
        message: `the id derived for this user, "${derived}", is already the id of identity.users[0]; give this user an id`,
      },
    ]);
  });
});

describe('static identity', () => {
  test('a full static identity compiles, domains referenced by id and roles by project name', () => {
    const config = parse(`identity:
  kind: static
  tokenTtlMs: 60000
  domains: [{ id: default, name: Default }, { id: ops, name: Operations }]
  projects:
    - { name: demo, domain: default, enabled: true }
    - { id: ops-demo, name: demo, domain: ops, enabled: false }
  users:
    - { name: demo, password: demo, domain: default, enabled: true, roles: [{ project: demo, role: member }] }
    - { id: u2, name: demo, password: other, domain: ops, roles: [{ project: demo, role: admin }, { project: demo, role: reader }] }
tokens: { revocationRetentionMs: 3600000 }
`);
    expect(config.identity).toEqual({
      kind: 'static',
      domains: [
        { id: 'default', name: 'Default' },
        { id: 'ops', name: 'Operations' },
      ],
      projects: [
        { id: '7f39fae68e9b9b4c0f42c3fdc5ec6d70', name: 'demo', domainId: 'default', enabled: true },
        { id: 'ops-demo', name: 'demo', domainId: 'ops', enabled: false },
      ],
      users: [
        {
          id: '2d58eed1c974d02f85d72603562a8828',
          name: 'demo',
          domainId: 'default',
          password: 'demo',
          enabled: true,
          roles: [{ project: 'demo', role: 'member' }],
        },
        {
          id: 'u2',
          name: 'demo',
          domainId: 'ops',
          password: 'other',
          enabled: true,
          roles: [
            { project: 'demo', role: 'admin' },
            { project: 'demo', role: 'reader' },
          ],
        },
      ],
      tokenTtlMs: 60_000,
    });
  });

  test('domains, names, references and role assignments are checked, each under its key', () => {
    const yaml = `identity:
  kind: static
  domains:
    - { id: default, name: Default }
    - { id: default, name: Again }
    - { id: ops, name: Default }
  projects:
    - { name: demo }
    - { name: demo, domain: default }
    - { name: demo, domain: ops }
    - { name: lost, domain: nowhere }
  users:
    - name: alice
      password: a
      roles:
        - { project: demo, role: member }
        - { project: ops-only, role: member }
        - { project: demo, role: member }
    - { name: alice, password: b, domain: default }
    - { name: carol, password: c, domain: nowhere, roles: [{ project: anything, role: member }] }
    - { name: dave, password: d, domain: ops, roles: [{ project: lost, role: member }] }
`;
    expect(problemsIn(yaml)).toEqual([
      {
        key: 'identity.domains[1].id',
        message: 'duplicate id "default" (first declared at identity.domains[0])',
      },
      {
        key: 'identity.domains[2].name',
        message: 'duplicate name "Default" (first declared at identity.domains[0])',
      },
      {
        key: 'identity.projects[3].domain',
        message: 'refers to undeclared domain "nowhere" (declared: default, ops)',
      },
      {
        key: 'identity.users[2].domain',
        message: 'refers to undeclared domain "nowhere" (declared: default, ops)',
      },
      {
        key: 'identity.projects[1].name',
        message: 'duplicate name "demo" in domain "default" (first declared at identity.projects[0])',
      },
      {
        key: 'identity.users[1].name',
        message: 'duplicate name "alice" in domain "default" (first declared at identity.users[0])',
      },
      {
        key: 'identity.users[0].roles[1].project',
        message:
          'refers to project "ops-only", which is not declared in the user\'s domain "default" (declared there: demo)',
      },
      {
        key: 'identity.users[0].roles[2]',
        message:
          'duplicate role assignment: "member" on "demo" (first declared at identity.users[0].roles[0])',
      },
      {
        key: 'identity.users[3].roles[0].project',
        message:
          'refers to project "lost", which is not declared in the user\'s domain "ops" (declared there: demo)',
      },
    ]);
  });

  test('names, passwords, lifetimes and list shapes are checked, each under its key', () => {
    const yaml = `identity:
  kind: static
  tokenTtlMs: 59999
  domains: []
  projects: [{ name: " demo" }, { name: ${'p'.repeat(65)} }]
  users:
    - { name: demo, password: "", roles: [{ project: demo }] }
    - { name: other, enabled: "yes" }
`;
    expect(problemsIn(yaml)).toEqual([
      {
        key: 'identity.tokenTtlMs',
        message: 'must be an integer from 60000 to 604800000 (milliseconds); got 59999',
      },
      { key: 'identity.domains', message: 'must declare at least one domain' },
      {
        key: 'identity.projects[0].name',
        message:
          '" demo" is not a valid name: it must be non-empty, without leading or trailing spaces or control characters',
      },
      { key: 'identity.projects[1].name', message: 'must be at most 64 characters' },
      { key: 'identity.users[0].password', message: 'must not be empty' },
      { key: 'identity.users[0].roles[0].role', message: 'is required' },
      { key: 'identity.users[1].password', message: 'is required' },
      { key: 'identity.users[1].enabled', message: 'expected true or false, got "yes"' },
      {
        key: 'identity.projects[0].domain',
        message: 'refers to undeclared domain "default" (no domains are declared in identity.domains)',
      },
      {
        key: 'identity.projects[1].domain',
        message: 'refers to undeclared domain "default" (no domains are declared in identity.domains)',
      },
      {
        key: 'identity.users[0].domain',
        message: 'refers to undeclared domain "default" (no domains are declared in identity.domains)',
      },
      {
        key: 'identity.users[1].domain',
        message: 'refers to undeclared domain "default" (no domains are declared in identity.domains)',
      },
    ]);
  });

  test('an unknown or missing kind is one problem at identity.kind', () => {
    expect([
      problemsIn('identity: { kind: ldap, url: "ldap://x" }\n'),
      problemsIn('identity: { users: [] }\n'),
      problemsIn('identity: static\n'),
    ]).toEqual([
      [{ key: 'identity.kind', message: 'expected one of static, keystone; got "ldap"' }],
      [{ key: 'identity.kind', message: 'is required: one of static, keystone' }],
      [{ key: 'identity', message: 'expected a mapping, got "static"' }],
    ]);
  });

  test('an unknown key is suggested from the keys of the chosen kind', () => {
    expect(
      problemsIn(`identity:
  kind: static
  tokenTTLMs: 60000
  url: http://keystone:5000
  users: [{ name: a, pasword: x }]
`),
    ).toEqual([
      { key: 'identity.users[0].password', message: 'is required' },
      { key: 'identity.users[0].pasword', message: 'unknown key; did you mean password?' },
      { key: 'identity.tokenTTLMs', message: 'unknown key; did you mean tokenTtlMs?' },
      {
        key: 'identity.url',
        message: 'unknown key; expected one of kind, tokenTtlMs, domains, projects, users',
      },
    ]);
  });
});

describe('keystone identity', () => {
  test('a keystone identity compiles with its defaults and without /v3 in the URL', () => {
    expect(parse(keystoneYaml).identity).toEqual({
      kind: 'keystone',
      url: 'https://keystone.cloud-a.example:5000',
      serviceUser: {
        name: 'alliance',
        password: 'secret',
        domainId: 'default',
        projectName: 'service',
        projectDomainId: 'default',
      },
      jwsPublicKeyDir: null,
      revocationPollMs: 1000,
      refreshMs: 60_000,
      requestTimeoutMs: 5000,
      notifications: null,
    } satisfies KeystoneIdentityConfig);
  });

  test('every keystone key compiles, the notification queue defaulting to alliance-<cloud>-<node>', () => {
    const identity = (notifications: string) =>
      parse(`identity:
  kind: keystone
  url: http://127.0.0.1:5000/
  serviceUser: { name: alliance, password: secret, domain: svc, project: service, projectDomain: svc2 }
  jwsPublicKeyDir: keys/jws
  revocationPollMs: 100
  refreshMs: 3600000
  requestTimeoutMs: 60000
  notifications: ${notifications}
`).identity;
    expect([
      identity('{ url: "amqp://guest:guest@127.0.0.1:5672/a" }'),
      identity('{ url: "amqps://u:p@mq:5671", exchange: openstack, queue: "alliance.cloud-a:n1" }'),
    ]).toEqual([
      {
        kind: 'keystone',
        url: 'http://127.0.0.1:5000',
        serviceUser: {
          name: 'alliance',
          password: 'secret',
          domainId: 'svc',
          projectName: 'service',
          projectDomainId: 'svc2',
        },
        jwsPublicKeyDir: '/etc/alliance/keys/jws',
        revocationPollMs: 100,
        refreshMs: 3_600_000,
        requestTimeoutMs: 60_000,
        notifications: {
          url: 'amqp://guest:guest@127.0.0.1:5672/a',
          exchange: 'keystone',
          queue: 'alliance-cloud-a-n1',
        },
      },
      {
        kind: 'keystone',
        url: 'http://127.0.0.1:5000',
        serviceUser: {
          name: 'alliance',
          password: 'secret',
          domainId: 'svc',
          projectName: 'service',
          projectDomainId: 'svc2',
        },
        jwsPublicKeyDir: '/etc/alliance/keys/jws',
        revocationPollMs: 100,
        refreshMs: 3_600_000,
        requestTimeoutMs: 60_000,
        notifications: { url: 'amqps://u:p@mq:5671', exchange: 'openstack', queue: 'alliance.cloud-a:n1' },
      },
    ]);
  });

  test('only a trailing /v3 and slashes are dropped from the URL', () => {
    expect(
      [
        'http://keystone:5000',
        'http://keystone:5000/',
        'http://keystone:5000/v3',
        'http://keystone:5000/v3/',
        'https://cloud.example/identity/v3',
        'https://cloud.example/identity/',
        'https://cloud.example/v3/identity',
        'http://v3',
        'http://v3/v3',
      ].map(keystoneBaseUrl),
    ).toEqual([
      'http://keystone:5000',
      'http://keystone:5000',
      'http://keystone:5000',
      'http://keystone:5000',
      'https://cloud.example/identity',
      'https://cloud.example/identity',
      'https://cloud.example/v3/identity',
      'http://v3',
      'http://v3',
    ]);
  });

  test('URLs, names, intervals and the service user are checked, each under its key', () => {
    const yaml = `identity:
  kind: keystone
  url: "http://admin:hunter2@keystone:5000"
  serviceUser: { name: alliance, domain: Default domain, projet: service }
  revocationPollMs: 99
  refreshMs: 999
  requestTimeoutMs: 60001
  notifications: { url: "http://guest:hunter2@mq:5672", exchange: "key stone", queue: "" }
`;
    expect(problemsIn(yaml)).toEqual([
      {
        key: 'identity.url',
        message: 'must not contain credentials; the service user is identity.serviceUser',
      },
      {
        key: 'identity.serviceUser.domain',
        message:
          '"Default domain" is not a valid id: 32 lowercase hex characters like Keystone\'s, or 1 to 64 letters, digits, "_" and "-"',
      },
      { key: 'identity.serviceUser.project', message: 'is required' },
      { key: 'identity.serviceUser.projet', message: 'unknown key; did you mean project?' },
      {
        key: 'identity.revocationPollMs',
        message: 'must be an integer from 100 to 60000 (milliseconds); got 99',
      },
      {
        key: 'identity.refreshMs',
        message: 'must be an integer from 1000 to 3600000 (milliseconds); got 999',
      },
      {
        key: 'identity.requestTimeoutMs',
        message: 'must be an integer from 100 to 60000 (milliseconds); got 60001',
      },
      {
        key: 'identity.notifications.url',
        message: 'is not an amqp:// or amqps:// URL (the value is not shown: it may hold a password)',
      },
      {
        key: 'identity.notifications.exchange',
        message: '"key stone" is not a valid AMQP name: 1 to 255 letters, digits, "_", ".", ":" and "-"',
      },
      {
        key: 'identity.notifications.queue',
        message: '"" is not a valid AMQP name: 1 to 255 letters, digits, "_", ".", ":" and "-"',
      },
      {
        key: 'identity.serviceUser.password',
        message: 'is required, or passwordFile naming a file that holds it; give exactly one',
      },
    ]);
  });

  test('a Keystone URL must be a plain http(s) base URL', () => {
    const urlProblems = (url: string) =>
      problemsIn(keystoneYaml.replace('https://keystone.cloud-a.example:5000/v3', url));
    expect([
      urlProblems('keystone:5000'),
      urlProblems('ftp://keystone'),
      urlProblems('"http://keystone:5000/v3?x=1"'),
      urlProblems('"http://keystone:5000/#v3"'),
    ]).toEqual([
      [{ key: 'identity.url', message: 'is not an http:// or https:// URL' }],
      [{ key: 'identity.url', message: 'is not an http:// or https:// URL' }],
      [
        {
          key: 'identity.url',
          message:
            'must not have a query or a fragment: it is the base URL that paths such as /v3/auth/tokens are appended to',
        },
      ],
      [
        {
          key: 'identity.url',
          message:
            'must not have a query or a fragment: it is the base URL that paths such as /v3/auth/tokens are appended to',
        },
      ],
    ]);
  });

  test('password and passwordFile together are refused', () => {
    expect(
      problemsIn(keystoneYaml.replace('password: secret', 'password: secret, passwordFile: pw')),
    ).toEqual([
      {
        key: 'identity.serviceUser.passwordFile',
        message: 'cannot be given together with password; give exactly one of password and passwordFile',
      },
    ]);
  });

  describe('passwordFile', () => {
    let dir: string;

    beforeEach(() => {
      dir = mkdtempSync(join(tmpdir(), 'alliance-password-'));
    });

    afterEach(() => {
      rmSync(dir, { recursive: true, force: true });
    });

    const withFile = (file: string) =>
      `${minimalYaml}${keystoneYaml.replace('password: secret', `passwordFile: ${file}`)}`;

    test('is read relative to the config file, surrounding whitespace trimmed', () => {
      mkdirSync(join(dir, 'secrets'));
      writeFileSync(join(dir, 'secrets', 'keystone'), '  s3cret with spaces inside \n\n');
      writeFileSync(join(dir, 'node.yaml'), withFile('secrets/keystone'));
      const identity = loadConfig(join(dir, 'node.yaml')).identity;
      expect(identity.kind === 'keystone' ? identity.serviceUser : undefined).toEqual({
        name: 'alliance',
        password: 's3cret with spaces inside',
        domainId: 'default',
        projectName: 'service',
        projectDomainId: 'default',
      });
    });

    test('is read by compileConfig relative to its base directory', () => {
      writeFileSync(join(dir, 'pw'), 'from-a-file\n');
      const identity = compileConfig(
        {
          ...minimalRaw,
          identity: {
            kind: 'keystone',
            url: 'http://127.0.0.1:5000',
            serviceUser: { name: 'alliance', passwordFile: 'pw', project: 'service' },
          },
        },
        dir,
      ).identity;
      expect(identity.kind === 'keystone' ? identity.serviceUser.password : undefined).toBe('from-a-file');
    });

    test('a missing or empty file, or a directory, is a problem that names the path and not its text', () => {
      writeFileSync(join(dir, 'empty'), ' \n');
      const problems = (file: string) => problemsOf(() => parseConfig(withFile(file), { baseDir: dir }));
      const expected: { key: string; message: string }[][] = [
        [
          {
            key: 'identity.serviceUser.passwordFile',
            message: `cannot read ${join(dir, 'missing')}: no such file`,
          },
        ],
        [{ key: 'identity.serviceUser.passwordFile', message: `${join(dir, 'empty')} is empty` }],
        [{ key: 'identity.serviceUser.passwordFile', message: `cannot read ${dir}: it is a directory` }],
      ];
      expect([problems('missing'), problems('empty'), problems(dir)]).toEqual(expected);
    });
  });
});

describe('passwords in problems', () => {
  test('no message repeats a password, whatever else is wrong around it', () => {
    const error = configErrorOf(() =>
      parse(`identity:
  kind: static
  domains: [{ id: default, name: Default }]
  users:
    - { name: a, password: 31415926, domain: nowhere }
    - { name: a, password: hunter2-static, roles: [{ project: nope, role: r }] }
    - { name: b, password: [hunter2, list] }
    - { name: c, password: { hunter2: mapping } }
    - { name: d, password: ${'h'.repeat(4097)} }
`),
    );
    expect(error.problems).toEqual([
      {
        key: 'identity.users[0].password',
        message: 'expected a string, got a number (the value is not shown; quote the password)',
      },
      {
        key: 'identity.users[2].password',
        message: 'expected a string, got a list (the value is not shown; quote the password)',
      },
      {
        key: 'identity.users[3].password',
        message: 'expected a string, got a mapping (the value is not shown; quote the password)',
      },
      { key: 'identity.users[4].password', message: 'must be at most 4096 characters' },
      {
        key: 'identity.users[0].domain',
        message: 'refers to undeclared domain "nowhere" (declared: default)',
      },
      {
        key: 'identity.users[1].roles[0].project',
        message:
          'refers to project "nope", which is not declared in the user\'s domain "default" (no projects are declared there)',
      },
    ]);
    expect(error.message).not.toMatch(/hunter2|31415926|hhhh/);
  });

  test('no message repeats a Keystone or broker URL that may carry a password', () => {
    const error = configErrorOf(() =>
      parse(`identity:
  kind: keystone
  url: "http://alliance:hunter2@"
  serviceUser: { name: alliance, password: 12345678, passwordFile: pw, project: service }
  notifications: { url: "amqp//guest:hunter2@mq" }
`),
    );
    expect(error.message).not.toMatch(/hunter2|12345678/);
    expect(error.problems.map((problem) => problem.key)).toEqual([
      'identity.url',
      'identity.serviceUser.password',
      'identity.notifications.url',
      'identity.serviceUser.passwordFile',
    ]);
  });
});

describe('mapping', () => {
  test('match lists default to empty, and rules keep their order', () => {
    expect(
      parse(`mapping:
  - { name: any-remote, match: {}, grant: { project: guests, roles: [reader] } }
  - name: b-admins
    match: { clouds: [cloud-b], domains: [default], projects: [ops, 0123abcd], roles: [admin, manager] }
    grant: { project: "{cloud}-{project}-{project_name}", roles: [member, reader] }
`).mapping,
    ).toEqual([
      {
        name: 'any-remote',
        match: { clouds: [], domains: [], projects: [], roles: [] },
        grant: { project: 'guests', roles: ['reader'] },
      },
      {
        name: 'b-admins',
        match: {
          clouds: ['cloud-b'],
          domains: ['default'],
          projects: ['ops', '0123abcd'],
          roles: ['admin', 'manager'],
        },
        grant: { project: '{cloud}-{project}-{project_name}', roles: ['member', 'reader'] },
      },
    ]);
  });

  test('names, matches, placeholders and grants are checked, each under its key', () => {
    const yaml = `mapping:
  - { name: r1, match: { clouds: [cloud-a, Cloud-B], roles: [" member"] }, grant: { project: "{cloud}-{domain}", roles: [] } }
  - { name: r1, match: { users: [x] }, grant: { project: "{cloud", roles: [member] } }
  - { name: "-r3", grant: { project: "", roles: [member] } }
  - { name: r4, match: {}, grant: { project: "{Cloud}{x}", roles: [member], extra: true } }
`;
    expect(problemsIn(yaml)).toEqual([
      {
        key: 'mapping[0].match.clouds[1]',
        message:
          '"Cloud-B" is not a valid id: 1 to 63 characters, lowercase letters, digits and "-", starting with a letter or digit',
      },
      {
        key: 'mapping[0].match.roles[0]',
        message:
          '" member" is not a valid name: it must be non-empty, without leading or trailing spaces or control characters',
      },
      {
        key: 'mapping[0].grant.project',
        message:
          '"{cloud}-{domain}" has unknown placeholder {domain}; allowed: {cloud}, {project}, {project_name}',
      },
      { key: 'mapping[0].grant.roles', message: 'must list at least one role' },
      {
        key: 'mapping[1].match.users',
        message: 'unknown key; expected one of clouds, domains, projects, roles',
      },
      {
        key: 'mapping[1].grant.project',
        message: '"{cloud" has an unmatched "{" or "}"; allowed: {cloud}, {project}, {project_name}',
      },
      {
        key: 'mapping[2].name',
        message:
          '"-r3" is not a valid rule name: 1 to 64 letters, digits, "_", "." and "-", starting with a letter or digit',
      },
      {
        key: 'mapping[2].match',
        message: 'is required; write match: {} for a rule that matches every identity from another cloud',
      },
      { key: 'mapping[2].grant.project', message: 'must not be empty' },
      {
        key: 'mapping[3].grant.project',
        message:
          '"{Cloud}{x}" has unknown placeholders {Cloud}, {x}; allowed: {cloud}, {project}, {project_name}',
      },
      { key: 'mapping[3].grant.extra', message: 'unknown key; expected one of project, roles' },
      { key: 'mapping[1].name', message: 'duplicate name "r1" (first declared at mapping[0])' },
      {
        key: 'mapping[0].match.clouds[0]',
        message:
          '"cloud-a" is this cloud; mapping rules are for identities from other clouds (identities of this cloud have their roles here already)',
      },
    ]);
  });
});

describe('tokens', () => {
  test('every tokens key compiles', () => {
    expect(
      parse(`tokens:
  federationTokenTtlMaxMs: 604800000
  negativeCacheMs: 300000
  originTimeoutMs: 100
  revocationRetentionMs: 691200000
`).tokens,
    ).toEqual({
      federationTokenTtlMaxMs: 604_800_000,
      negativeCacheMs: 300_000,
      originTimeoutMs: 100,
      revocationRetentionMs: 691_200_000,
    });
  });

  test('bounds are checked, each under its key', () => {
    expect(
      problemsIn(`tokens:
  federationTokenTtlMaxMs: 604800001
  negativeCacheMs: -1
  originTimeoutMs: 60001
  revocationRetentionMs: 691200001
  cacheMs: 5
`),
    ).toEqual([
      {
        key: 'tokens.federationTokenTtlMaxMs',
        message: 'must be an integer from 60000 to 604800000 (milliseconds); got 604800001',
      },
      {
        key: 'tokens.negativeCacheMs',
        message: 'must be an integer from 0 to 300000 (milliseconds); got -1',
      },
      {
        key: 'tokens.originTimeoutMs',
        message: 'must be an integer from 100 to 60000 (milliseconds); got 60001',
      },
      {
        key: 'tokens.revocationRetentionMs',
        message: 'must be an integer from 60000 to 691200000 (milliseconds); got 691200001',
      },
      {
        key: 'tokens.cacheMs',
        message:
          'unknown key; expected one of federationTokenTtlMaxMs, negativeCacheMs, originTimeoutMs, revocationRetentionMs',
      },
    ]);
  });

  test('revocations are kept at least as long as the longest token this node issues', () => {
    expect([
      problemsIn(
        'identity: { kind: static, tokenTtlMs: 7200000 }\ntokens: { revocationRetentionMs: 3600000 }\n',
      ),
      problemsIn('identity: { kind: static, tokenTtlMs: 86400000 }\n'),
      problemsIn('tokens: { federationTokenTtlMaxMs: 7200000, revocationRetentionMs: 3600000 }\n'),
      problemsIn(`${keystoneYaml}tokens: { revocationRetentionMs: 3600000 }\n`),
      problemsIn('identity: { kind: static, tokenTtlMs: 90000000 }\n'),
    ]).toEqual([
      [
        {
          key: 'tokens.revocationRetentionMs',
          message:
            'must be at least identity.tokenTtlMs (7200000), or revocations are dropped while the tokens they revoke are still valid; got 3600000',
        },
      ],
      [],
      [
        {
          key: 'tokens.revocationRetentionMs',
          message:
            'must be at least tokens.federationTokenTtlMaxMs (7200000), or revocations are dropped while the tokens they revoke are still valid; got 3600000',
        },
      ],
      [],
      [],
    ]);
  });
});
