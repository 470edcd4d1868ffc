/**
 * The federation's token-signing keys, replicated: each node publishes the public keys that
 * verify its cloud's JWS tokens (Keystone's key repository, or the built-in source's key) as
 * one "token-keys" record, and every node keeps every cloud's keys in memory, ready to verify.
 * A node may publish keys only for its own cloud.
 */
import { createHash, createPublicKey } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import type { Logger } from 'pino';
import { TokenKeysPayload } from '../gen/alliance/peer/v1/mesh.js';
import type { Clock, Timer } from '../lib/clock.js';
import { errorMessage } from '../lib/errors.js';
import type { IdentitySource } from '../identity/types.js';
import type { Mesh, MeshRecord, Topic } from '../mesh/index.js';
import { cloudOfNode } from '../lib/node-id.js';

export const tokenKeysTopic = 'token-keys';
const tokenKeysKey = 'jws';

export interface VerificationKey {
  kid: string;
  cloud: string;
  key: KeyObject;
}

export interface TokenKeys {
  start(): Promise<void>;
  stop(): void;
  /** Every cloud's keys; the hot path reads this array, rebuilt only when keys change. */
  all(): readonly VerificationKey[];
  byKid(kid: string): VerificationKey | undefined;
}

/** RFC 7638-style thumbprint: base64url SHA-256 of the DER SubjectPublicKeyInfo. */
export function keyId(spkiDer: Uint8Array): string {
  return createHash('sha256').update(spkiDer).digest('base64url');
}

function toVerificationKeys(payload: TokenKeysPayload): VerificationKey[] {
  return payload.keys.map((k) => {
    if (k.algorithm !== 'ES256') throw new Error(`key ${k.kid}: algorithm ${k.algorithm} is not ES256`);
    const key = createPublicKey({ key: Buffer.from(k.spkiDer), format: 'der', type: 'spki' });
    if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
      throw new Error(`key ${k.kid} is not an EC P-256 key`);
    }
    if (keyId(k.spkiDer) !== k.kid) throw new Error(`key ${k.kid}: the kid is not its thumbprint`);
    return { kid: k.kid, cloud: payload.cloud, key };
  });
}

export function createTokenKeys(
  deps: { mesh: Pick<Mesh, 'registerTopic'>; identity: IdentitySource; clock: Clock; log: Logger },
  options: { cloud: string; nodeId: string; refreshMs: number },
): TokenKeys {
  const log = deps.log.child({ component: 'token-keys' });
  const byOrigin = new Map<string, VerificationKey[]>();
  let all: VerificationKey[] = [];
  let byKid = new Map<string, VerificationKey>();
  let refreshTimer: Timer | null = null;
  let unsubscribe: (() => void) | null = null;
  let publishedKids = '';

  const topic: Topic = deps.mesh.registerTopic({
    name: tokenKeysTopic,
    validate(record) {
      const payload = TokenKeysPayload.decode(record.payload);
      if (payload.cloud !== cloudOfNode(record.origin)) {
        throw new Error(`node ${record.origin} may not publish token keys of ${payload.cloud}`);
      }
      toVerificationKeys(payload);
    },
  });

  function rebuild(): void {
    // A key published by two clouds (an operator copied one cloud's key into another's key
    // directory) cannot say which cloud issued a token: trusting either would let the wrong
    // cloud vouch for, or revoke, the token. Such a key verifies nothing until fixed.
    const cloudsOf = new Map<string, Set<string>>();
    for (const key of [...byOrigin.values()].flat()) {
      const clouds = cloudsOf.get(key.kid) ?? new Set<string>();
      clouds.add(key.cloud);
      cloudsOf.set(key.kid, clouds);
    }
    for (const [kid, clouds] of cloudsOf) {
      if (clouds.size > 1)
        log.error(
          { kid, clouds: [...clouds].sort() },
          'one token key is published by several clouds; it is not trusted',
        );
    }
    all = [...byOrigin.values()].flat().filter((key) => (cloudsOf.get(key.kid)?.size ?? 0) === 1);
    byKid = new Map(all.map((k) => [k.kid, k]));
  }

  function onRecord(record: MeshRecord): void {
    if (record.deleted) {
      byOrigin.delete(record.origin);
    } else {
      try {
        byOrigin.set(record.origin, toVerificationKeys(TokenKeysPayload.decode(record.payload)));
      } catch (err) {
        log.error({ err, origin: record.origin }, 'stored token keys do not decode');
        return;
      }
    }
    rebuild();
  }

  async function publishOwn(): Promise<void> {
    let pems: string[];
    try {
      pems = await deps.identity.jwsPublicKeys();
    } catch (err) {
      log.warn(
        { reason: errorMessage(err) },
        'could not read this cloud token keys; keeping the published ones',
      );
      return;
    }
    const keys = pems.flatMap((pem) => {
      try {
        const spkiDer = createPublicKey(pem).export({ format: 'der', type: 'spki' });
        return [
          {
            kid: keyId(spkiDer),
            algorithm: 'ES256',
            spkiDer,
            source: deps.identity.kind === 'keystone' ? 'keystone-jws' : 'static-jws',
          },
        ];
      } catch (err) {
        log.warn({ reason: errorMessage(err) }, 'skipping a token key that does not parse');
        return [];
      }
    });
    const kids = keys
      .map((k) => k.kid)
      .sort()
      .join(',');
    if (kids === publishedKids) return;
    topic.publish(tokenKeysKey, TokenKeysPayload.encode({ cloud: options.cloud, keys }).finish());
    publishedKids = kids;
    log.info({ keys: keys.length }, 'token keys published');
  }

  function scheduleRefresh(): void {
    refreshTimer = deps.clock.setTimer(options.refreshMs, () => {
      void publishOwn().finally(scheduleRefresh);
    });
  }

  return {
    async start() {
      for (const record of topic.list()) onRecord(record);
      unsubscribe = topic.onChange(onRecord);
      const own = topic.get(options.nodeId, tokenKeysKey);
      if (own && !own.deleted) {
        publishedKids = TokenKeysPayload.decode(own.payload)
          .keys.map((k) => k.kid)
          .sort()
          .join(',');
      }
      await publishOwn();
      scheduleRefresh();
    },
    stop() {
      refreshTimer?.cancel();
      unsubscribe?.();
    },
    all: () => all,
    byKid: (kid) => byKid.get(kid),
  };
}
