/**
 * `alliance certs`: makes the federation CA and node certificates offline, so an operator never
 * needs openssl (DESIGN.md §3). `certs init` runs once per federation, wherever the CA key is to
 * be kept; `certs issue` runs there for each node, and only the node's own directory (its
 * certificate, its key and a copy of the CA certificate) is then copied to the node.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createPrivateKey, X509Certificate, type KeyObject } from 'node:crypto';
import { InvalidArgumentError, type Command } from 'commander';
import { AllianceError, errorMessage } from '../../lib/errors.js';
import {
  createFederationCa,
  issueNodeCertificate,
  nodeSpiffeUri,
  parseNodeIdentity,
  readCaFederation,
  validDaysMax,
  writeCertificateFile,
  writeCertificateFiles,
  type NodeIdentity,
} from '../../pki/index.js';
import { toOneLine } from '../output.js';

export const caCertFileName = 'ca.pem';
export const caKeyFileName = 'ca.key.pem';
export const nodeCertFileName = 'node.pem';
export const nodeKeyFileName = 'node.key.pem';

export interface CertsInitOptions {
  /** Directory for ca.pem and ca.key.pem. */
  out: string;
  federation: string;
  days?: number;
  force?: boolean;
  /** Issue time; defaults to now. */
  nowMs?: number;
}

export interface CertsInitResult {
  federation: string;
  caCertPath: string;
  caKeyPath: string;
  /** ISO 8601. */
  notAfter: string;
}

export interface CertsIssueOptions {
  /** Directory holding ca.pem and ca.key.pem (as written by `certs init`). */
  ca: string;
  cloud: string;
  node: string;
  /** Directory for node.pem, node.key.pem and a copy of ca.pem. */
  out: string;
  dns?: string[];
  ip?: string[];
  days?: number;
  force?: boolean;
  /** Issue time; defaults to now. */
  nowMs?: number;
}

export interface CertsIssueResult {
  identity: NodeIdentity;
  spiffeUri: string;
  certPath: string;
  keyPath: string;
  caCertPath: string;
  /** ISO 8601. */
  notAfter: string;
}

function notAfterIso(certPem: string): string {
  return new Date(Date.parse(new X509Certificate(certPem).validTo)).toISOString();
}

export function runCertsInit(options: CertsInitOptions): CertsInitResult {
  const pems = createFederationCa({
    federation: options.federation,
    ...(options.days === undefined ? {} : { validDays: options.days }),
    ...(options.nowMs === undefined ? {} : { nowMs: options.nowMs }),
  });
  const written = writeCertificateFiles(options.out, pems, {
    certName: caCertFileName,
    keyName: caKeyFileName,
    force: options.force === true,
  });
  return {
    federation: options.federation,
    caCertPath: written.certPath,
    caKeyPath: written.keyPath,
    notAfter: notAfterIso(pems.certPem),
  };
}

function readCaFile(role: string, path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'NOT_FOUND' : 'FAILED_PRECONDITION';
    throw new AllianceError(code, `cannot read ${role} ${path}: ${errorMessage(err)}`, { cause: err });
  }
}

/** Checks the CA pair up front so that what is wrong is reported against the file it is in. */
function checkCaFiles(ca: { certPem: string; certFile: string; keyPem: string; keyFile: string }): void {
  let cert: X509Certificate;
  try {
    cert = new X509Certificate(ca.certPem);
    readCaFederation(cert);
  } catch (err) {
    throw new AllianceError('INVALID_ARGUMENT', `${ca.certFile}: ${errorMessage(err)}`, { cause: err });
  }
  let key: KeyObject;
  try {
    key = createPrivateKey(ca.keyPem);
  } catch (err) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `${ca.keyFile}: not a readable private key: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
  if (!cert.checkPrivateKey(key)) {
    throw new AllianceError('INVALID_ARGUMENT', `${ca.keyFile} is not the key of ${ca.certFile}`);
  }
}

export function runCertsIssue(options: CertsIssueOptions): CertsIssueResult {
  const certFile = join(options.ca, caCertFileName);
  const keyFile = join(options.ca, caKeyFileName);
  const caCertPem = readCaFile('CA certificate', certFile);
  const caKeyPem = readCaFile('CA key', keyFile);
  checkCaFiles({ certPem: caCertPem, certFile, keyPem: caKeyPem, keyFile });
  const pems = issueNodeCertificate({
    caCertPem,
    caKeyPem,
    cloud: options.cloud,
    node: options.node,
    ...(options.dns === undefined ? {} : { dnsNames: options.dns }),
    ...(options.ip === undefined ? {} : { ipAddresses: options.ip }),
    ...(options.days === undefined ? {} : { validDays: options.days }),
    ...(options.nowMs === undefined ? {} : { nowMs: options.nowMs }),
  });
  const written = writeCertificateFiles(options.out, pems, {
    certName: nodeCertFileName,
    keyName: nodeKeyFileName,
    force: options.force === true,
  });
  const caCertPath = join(options.out, caCertFileName);
  writeCertificateFile(caCertPath, caCertPem);
  const identity = parseNodeIdentity(pems.certPem);
  return {
    identity,
    spiffeUri: nodeSpiffeUri(identity),
    certPath: written.certPath,
    keyPath: written.keyPath,
    caCertPath,
    notAfter: notAfterIso(pems.certPem),
  };
}

export function renderCertsInit(result: CertsInitResult): string {
  return [
    `wrote ${result.caCertPath} (federation CA certificate, mode 0644)`,
    `wrote ${result.caKeyPath} (federation CA private key, mode 0600: keep it off the nodes)`,
    `federation ${result.federation}, CA valid until ${result.notAfter}`,
    '',
  ].join('\n');
}

export function renderCertsIssue(result: CertsIssueResult): string {
  return [
    `wrote ${result.keyPath} (node private key, mode 0600)`,
    `wrote ${result.certPath} (node certificate, mode 0644)`,
    `wrote ${result.caCertPath} (federation CA certificate, mode 0644)`,
    `identity ${result.spiffeUri} (node ${result.identity.nodeId}), valid until ${result.notAfter}`,
    '',
  ].join('\n');
}

function parseDays(value: string): number {
  const days = Number(value);
  if (!/^\d+$/.test(value) || days < 1 || days > validDaysMax) {
    throw new InvalidArgumentError(`expected whole days from 1 to ${validDaysMax}.`);
  }
  return days;
}

/** Runs a command body; an error becomes one `alliance: <reason>` line on stderr and exit code 1. */
function runAction(command: Command, action: () => string): void {
  let text: string;
  try {
    text = action();
  } catch (err) {
    const code = err instanceof AllianceError ? err.code.toLowerCase() : 'failed';
    command.error(`alliance: ${toOneLine(errorMessage(err))}`, { exitCode: 1, code: `alliance.${code}` });
  }
  const write = command.configureOutput().writeOut ?? ((out: string) => process.stdout.write(out));
  write(text);
}

export function registerCertsCommand(program: Command): void {
  const certs = program
    .command('certs')
    .description('make the federation CA and node certificates (offline; no node needed)');

  certs
    .command('init')
    .description(`create the federation CA: DIR/${caCertFileName} and DIR/${caKeyFileName}`)
    .requiredOption('--out <dir>', 'directory to write the CA certificate and key into')
    .requiredOption('--federation <name>', 'federation name (lowercase letters, digits, -)')
    .option('--days <n>', 'validity in days (default 3650)', parseDays)
    .option('--force', 'overwrite an existing CA key')
    .action((options: Omit<CertsInitOptions, 'nowMs'>, command: Command) => {
      runAction(command, () => renderCertsInit(runCertsInit(options)));
    });

  certs
    .command('issue')
    .description(
      `issue a node certificate: OUT/${nodeCertFileName}, OUT/${nodeKeyFileName} and a copy of ${caCertFileName}`,
    )
    .requiredOption('--ca <dir>', `directory holding ${caCertFileName} and ${caKeyFileName}`)
    .requiredOption('--cloud <id>', 'cloud id (lowercase letters, digits, -)')
    .requiredOption('--node <id>', 'node id within the cloud (lowercase letters, digits, -)')
    .requiredOption('--out <dir>', 'directory to write the node certificate and key into')
    .option('--dns <name...>', 'DNS names the node is reached by (default localhost, with --ip 127.0.0.1)')
    .option('--ip <addr...>', 'IP addresses the node is reached by')
    .option('--days <n>', 'validity in days (default 365, never past the CA)', parseDays)
    .option('--force', 'overwrite an existing node key')
    .action((options: Omit<CertsIssueOptions, 'nowMs'>, command: Command) => {
      runAction(command, () => renderCertsIssue(runCertsIssue(options)));
    });
}
