import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command, CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import {
  registerCertsCommand,
  renderCertsInit,
  renderCertsIssue,
  runCertsInit,
  runCertsIssue,
} from '../../../src/cli/commands/certs.js';
import { loadNodeTls, readCaFederation } from '../../../src/pki/index.js';
import { allianceErrorOf, useTempDirs } from './test-helpers.js';

const tempDir = useTempDirs();
const nowMs = Date.UTC(2030, 0, 1, 12, 0, 0);

function modeOf(path: string): number {
  return statSync(path).mode & 0o777;
}

/** Runs `alliance <args>` in-process; returns what an operator would see. */
async function runCommand(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const program = new Command('alliance')
    .configureOutput({
      writeOut: (text) => (stdout += text),
      writeErr: (text) => (stderr += text),
      outputError: (text, write) => write(text),
    })
    .exitOverride();
  registerCertsCommand(program);
  try {
    await program.parseAsync(['node', 'alliance', ...args]);
    return { exitCode: 0, stdout, stderr };
  } catch (err) {
    if (err instanceof CommanderError) return { exitCode: err.exitCode, stdout, stderr };
    throw err;
  }
}

describe('runCertsInit', () => {
  it('writes the CA certificate (0644) and key (0600) and says so', () => {
    const dir = join(tempDir(), 'ca');
    const result = runCertsInit({ out: dir, federation: 'acme', days: 10, nowMs });
    expect(result).toEqual({
      federation: 'acme',
      caCertPath: join(dir, 'ca.pem'),
      caKeyPath: join(dir, 'ca.key.pem'),
      notAfter: '2030-01-11T12:00:00.000Z',
    });
    expect({
      files: readdirSync(dir).sort(),
      certMode: modeOf(result.caCertPath),
      keyMode: modeOf(result.caKeyPath),
      federation: readCaFederation(readFileSync(result.caCertPath, 'utf8')),
    }).toEqual({ files: ['ca.key.pem', 'ca.pem'], certMode: 0o644, keyMode: 0o600, federation: 'acme' });
    expect(renderCertsInit(result)).toBe(
      `wrote ${dir}/ca.pem (federation CA certificate, mode 0644)\n` +
        `wrote ${dir}/ca.key.pem (federation CA private key, mode 0600: keep it off the nodes)\n` +
        'federation acme, CA valid until 2030-01-11T12:00:00.000Z\n',
    );
  });

  it('refuses to replace an existing CA key unless forced', () => {
    const dir = tempDir();
    runCertsInit({ out: dir, federation: 'acme' });
    const firstKey = readFileSync(join(dir, 'ca.key.pem'), 'utf8');
    expect(allianceErrorOf(() => runCertsInit({ out: dir, federation: 'acme' }))).toEqual({
      code: 'ALREADY_EXISTS',
      message: `${join(dir, 'ca.key.pem')} already exists; refusing to overwrite it without --force`,
    });
    expect(readFileSync(join(dir, 'ca.key.pem'), 'utf8')).toBe(firstKey);
    runCertsInit({ out: dir, federation: 'acme', force: true });
    expect(readFileSync(join(dir, 'ca.key.pem'), 'utf8')).not.toBe(firstKey);
    expect(modeOf(join(dir, 'ca.key.pem'))).toBe(0o600);
  });
});

describe('runCertsIssue', () => {
  it('writes a node certificate, its key and the CA certificate that a node can load and openssl verifies', () => {
    const caDir = tempDir();
    const out = join(tempDir(), 'node');
    runCertsInit({ out: caDir, federation: 'acme' });
    const result = runCertsIssue({
      ca: caDir,
      cloud: 'cloud-a',
      node: 'n1',
      out,
      dns: ['n1.example'],
      ip: ['10.0.0.1'],
    });
    expect({ ...result, notAfter: undefined }).toEqual({
      identity: { federation: 'acme', cloud: 'cloud-a', node: 'n1', nodeId: 'cloud-a/n1' },
      spiffeUri: 'spiffe://acme/cloud/cloud-a/node/n1',
      certPath: join(out, 'node.pem'),
      keyPath: join(out, 'node.key.pem'),
      caCertPath: join(out, 'ca.pem'),
      notAfter: undefined,
    });
    expect({
      files: readdirSync(out).sort(),
      modes: [modeOf(result.certPath), modeOf(result.keyPath), modeOf(result.caCertPath)],
      caCopy: readFileSync(result.caCertPath, 'utf8') === readFileSync(join(caDir, 'ca.pem'), 'utf8'),
    }).toEqual({ files: ['ca.pem', 'node.key.pem', 'node.pem'], modes: [0o644, 0o600, 0o644], caCopy: true });

    const tls = loadNodeTls({
      caFile: result.caCertPath,
      certFile: result.certPath,
      keyFile: result.keyPath,
    });
    expect(tls.identity).toEqual(result.identity);
    expect(tls.cert.subjectAltName).toBe(
      'URI:spiffe://acme/cloud/cloud-a/node/n1, DNS:n1.example, IP Address:10.0.0.1',
    );

    const verify = spawnSync(
      'openssl',
      ['verify', '-x509_strict', '-CAfile', result.caCertPath, result.certPath],
      {
        encoding: 'utf8',
      },
    );
    expect({ status: verify.status, stdout: verify.stdout }).toEqual({
      status: 0,
      stdout: `${result.certPath}: OK\n`,
    });
    expect(renderCertsIssue(result)).toBe(
      `wrote ${out}/node.key.pem (node private key, mode 0600)\n` +
        `wrote ${out}/node.pem (node certificate, mode 0644)\n` +
        `wrote ${out}/ca.pem (federation CA certificate, mode 0644)\n` +
        `identity spiffe://acme/cloud/cloud-a/node/n1 (node cloud-a/n1), valid until ${result.notAfter}\n`,
    );
  });

  it('refuses to replace an existing node key unless forced', () => {
    const caDir = tempDir();
    const out = tempDir();
    runCertsInit({ out: caDir, federation: 'acme' });
    runCertsIssue({ ca: caDir, cloud: 'c1', node: 'n1', out });
    expect(allianceErrorOf(() => runCertsIssue({ ca: caDir, cloud: 'c1', node: 'n1', out })).code).toBe(
      'ALREADY_EXISTS',
    );
    expect(runCertsIssue({ ca: caDir, cloud: 'c1', node: 'n1', out, force: true }).identity.nodeId).toBe(
      'c1/n1',
    );
  });

  it('names the CA file that is missing or does not belong', () => {
    const caDir = tempDir();
    expect(
      allianceErrorOf(() => runCertsIssue({ ca: caDir, cloud: 'c1', node: 'n1', out: tempDir() })),
    ).toEqual({
      code: 'NOT_FOUND',
      message: `cannot read CA certificate ${caDir}/ca.pem: ENOENT: no such file or directory, open '${caDir}/ca.pem'`,
    });
    // A CA certificate with the key of another CA.
    const otherDir = tempDir();
    const mixedDir = tempDir();
    runCertsInit({ out: otherDir, federation: 'acme' });
    runCertsInit({ out: mixedDir, federation: 'acme' });
    writeFileSync(join(mixedDir, 'ca.key.pem'), readFileSync(join(otherDir, 'ca.key.pem')));
    expect(
      allianceErrorOf(() => runCertsIssue({ ca: mixedDir, cloud: 'c1', node: 'n1', out: tempDir() })),
    ).toEqual({
      code: 'INVALID_ARGUMENT',
      message: `${mixedDir}/ca.key.pem is not the key of ${mixedDir}/ca.pem`,
    });
  });
});

describe('alliance certs', () => {
  it('init and issue print what they wrote and exit 0', async () => {
    const caDir = tempDir();
    const out = tempDir();
    const init = await runCommand(['certs', 'init', '--out', caDir, '--federation', 'acme', '--days', '30']);
    expect({ exitCode: init.exitCode, stderr: init.stderr, lines: init.stdout.split('\n').length }).toEqual({
      exitCode: 0,
      stderr: '',
      lines: 4,
    });
    expect(init.stdout).toMatch(/^wrote .*\/ca\.pem \(federation CA certificate, mode 0644\)\n/);
    const issue = await runCommand([
      'certs',
      'issue',
      '--ca',
      caDir,
      '--cloud',
      'c1',
      '--node',
      'n1',
      '--out',
      out,
      '--dns',
      'a.example',
      'b.example',
      '--ip',
      '10.0.0.1',
    ]);
    expect({ exitCode: issue.exitCode, stderr: issue.stderr }).toEqual({ exitCode: 0, stderr: '' });
    expect(issue.stdout).toContain('identity spiffe://acme/cloud/c1/node/n1 (node c1/n1), valid until ');
    const tls = loadNodeTls({
      caFile: join(out, 'ca.pem'),
      certFile: join(out, 'node.pem'),
      keyFile: join(out, 'node.key.pem'),
    });
    expect(tls.cert.subjectAltName).toBe(
      'URI:spiffe://acme/cloud/c1/node/n1, DNS:a.example, DNS:b.example, IP Address:10.0.0.1',
    );
  });

  it('reports an invalid id as one line on stderr and exit code 1', async () => {
    const result = await runCommand(['certs', 'init', '--out', tempDir(), '--federation', 'Not_Valid']);
    expect(result).toEqual({
      exitCode: 1,
      stdout: '',
      stderr:
        'alliance: invalid federation id "Not_Valid": use 1-63 lowercase letters, digits or \'-\', starting with a letter or digit\n',
    });
  });

  it('reports a refused overwrite and a missing CA as one line each', async () => {
    const dir = tempDir();
    await runCommand(['certs', 'init', '--out', dir, '--federation', 'acme']);
    expect(await runCommand(['certs', 'init', '--out', dir, '--federation', 'acme'])).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: `alliance: ${dir}/ca.key.pem already exists; refusing to overwrite it without --force\n`,
    });
    const empty = tempDir();
    const missing = await runCommand([
      'certs',
      'issue',
      '--ca',
      empty,
      '--cloud',
      'c1',
      '--node',
      'n1',
      '--out',
      dir,
    ]);
    expect(missing).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: `alliance: cannot read CA certificate ${empty}/ca.pem: ENOENT: no such file or directory, open '${empty}/ca.pem'\n`,
    });
  });

  it('rejects a validity that is not a whole number of days, and a missing required option', async () => {
    const badDays = await runCommand([
      'certs',
      'init',
      '--out',
      tempDir(),
      '--federation',
      'acme',
      '--days',
      '1.5',
    ]);
    expect(badDays).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: "error: option '--days <n>' argument '1.5' is invalid. expected whole days from 1 to 36500.\n",
    });
    const noFederation = await runCommand(['certs', 'init', '--out', tempDir()]);
    expect(noFederation).toEqual({
      exitCode: 1,
      stdout: '',
      stderr: "error: required option '--federation <name>' not specified\n",
    });
  });
});
