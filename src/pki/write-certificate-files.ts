/**
 * Writes certificates (mode 0644) and private keys (mode 0600, DESIGN.md §3). Each file is
 * written to a temporary name with its final mode and then moved into place, so a key is never
 * readable by others even for a moment, and an existing file's mode cannot leak onto new bytes.
 * An existing key is replaced only when asked (`force`): it may be the only copy of a CA key.
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, linkSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { AllianceError, errorMessage } from '../lib/errors.js';
import type { CertificateAndKeyPem } from './create-federation-ca.js';

export const keyFileMode = 0o600;
export const certificateFileMode = 0o644;

export interface CertificateFileOptions {
  /** File name of the certificate inside the directory, e.g. `node.pem`. */
  certName: string;
  /** File name of the private key inside the directory, e.g. `node.key.pem`. */
  keyName: string;
  /** Replace an existing key file. */
  force?: boolean;
}

export interface WrittenCertificateFiles {
  certPath: string;
  keyPath: string;
}

function alreadyExists(path: string): AllianceError {
  return new AllianceError(
    'ALREADY_EXISTS',
    `${path} already exists; refusing to overwrite it without --force`,
  );
}

function writeFileInPlace(path: string, data: string, mode: number, replace: boolean): void {
  const tmp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    writeFileSync(tmp, data, { mode, flag: 'wx' });
    // The creation mode is filtered by the umask; make it exact.
    chmodSync(tmp, mode);
    if (replace) {
      renameSync(tmp, path);
      return;
    }
    try {
      // link() fails with EEXIST rather than replace: no window between "is it there?" and write.
      linkSync(tmp, path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST') throw alreadyExists(path);
      // Some filesystems have no hard links; fall back to check-then-rename.
      if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS') throw err;
      if (existsSync(path)) throw alreadyExists(path);
      renameSync(tmp, path);
    }
  } catch (err) {
    if (err instanceof AllianceError) throw err;
    throw new AllianceError('FAILED_PRECONDITION', `cannot write ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  } finally {
    rmSync(tmp, { force: true });
  }
}

/** Writes a certificate (public) with mode 0644, replacing any existing file. */
export function writeCertificateFile(path: string, certPem: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileInPlace(path, certPem, certificateFileMode, true);
}

/** Writes a key (0600) then its certificate (0644) into `dir`, creating `dir` if needed. */
export function writeCertificateFiles(
  dir: string,
  pems: CertificateAndKeyPem,
  options: CertificateFileOptions,
): WrittenCertificateFiles {
  const keyPath = join(dir, options.keyName);
  const certPath = join(dir, options.certName);
  try {
    mkdirSync(dir, { recursive: true });
  } catch (err) {
    throw new AllianceError('FAILED_PRECONDITION', `cannot create directory ${dir}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  // The key goes first: if it is refused, nothing has been written.
  writeFileInPlace(keyPath, pems.keyPem, keyFileMode, options.force === true);
  writeFileInPlace(certPath, pems.certPem, certificateFileMode, true);
  return { certPath, keyPath };
}
