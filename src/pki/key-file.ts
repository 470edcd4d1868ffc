/**
 * A private key kept in a file, made on first use: PKCS #8 PEM, mode 0600, in a directory made
 * 0700. The node's record key and the built-in identity source's JWS key both live like this, so
 * the same key survives restarts.
 */
import { createPrivateKey, type KeyObject } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AllianceError, errorMessage } from '../lib/errors.js';

/** The key file's text, or undefined when there is no such file. */
function readKeyFile(path: string, what: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AllianceError('FAILED_PRECONDITION', `cannot read ${what} ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
}

function parseKey(pem: string, path: string, what: string): KeyObject {
  try {
    return createPrivateKey(pem);
  } catch (err) {
    throw new AllianceError(
      'INVALID_ARGUMENT',
      `${what} ${path} is not a readable private key: ${errorMessage(err)}`,
      {
        cause: err,
      },
    );
  }
}

/**
 * The private key at `path`, or a new one from `generate` written there when there is none.
 * `what` names the key in errors ("record key", "JWS key"); the caller checks the key's type.
 */
export function loadOrCreateKeyFile(path: string, what: string, generate: () => KeyObject): KeyObject {
  const existing = readKeyFile(path, what);
  if (existing !== undefined) return parseKey(existing, path, what);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const privateKey = generate();
  try {
    // 'wx' creates the file or fails: two processes starting at once never swap keys under each
    // other; the loser reads the winner's key below.
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
  } catch (err) {
    const winner = (err as NodeJS.ErrnoException).code === 'EEXIST' ? readKeyFile(path, what) : undefined;
    if (winner !== undefined) return parseKey(winner, path, what);
    throw new AllianceError('FAILED_PRECONDITION', `cannot write ${what} ${path}: ${errorMessage(err)}`, {
      cause: err,
    });
  }
  // The creation mode is filtered by the umask; make it exactly 0600.
  chmodSync(path, 0o600);
  return privateKey;
}
