/**
 * The public keys of a JWS Keystone: every file of its [jwt_tokens] jws_public_key_repository.
 * Keystone's JWS header has no `kid` (it tries each key in turn), so all of them are returned.
 * Each file must be a PEM EC P-256 public key (ES256 is the only algorithm Keystone signs with);
 * other files are skipped and logged. Keys are returned as SubjectPublicKeyInfo PEM.
 */
import { createPublicKey } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { errorMessage } from '../../lib/errors.js';
import { fingerprint } from '../../lib/fingerprint.js';

/** Keys read from one repository; Keystone rotates by adding one and removing an old one. */
export const jwsPublicKeysMax = 64;
/** A PEM P-256 public key is ~180 bytes; anything far bigger is not one. */
const keyFileBytesMax = 64 * 1024;

/** The keys, sorted by file name; throws when the directory itself cannot be read. */
export async function readJwsPublicKeys(dir: string, log: Logger): Promise<string[]> {
  const names = (await readdir(dir)).sort();
  const keys: string[] = [];
  for (const name of names) {
    if (keys.length >= jwsPublicKeysMax) {
      log.warn({ dir, keysMax: jwsPublicKeysMax }, 'too many JWS public keys; the rest are ignored');
      break;
    }
    const file = join(dir, name);
    try {
      const info = await stat(file);
      if (!info.isFile()) continue;
      if (info.size > keyFileBytesMax) throw new Error(`${info.size} bytes, not a public key`);
      const key = createPublicKey(await readFile(file));
      if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1')
        throw new Error('not an EC P-256 public key');
      const pem = key.export({ type: 'spki', format: 'pem' }).toString();
      keys.push(pem);
      log.debug({ file, keyFingerprint: fingerprint(pem) }, 'JWS public key read');
    } catch (err) {
      log.warn({ file, err: errorMessage(err) }, 'unusable file in the JWS public key directory, skipped');
    }
  }
  return keys;
}
