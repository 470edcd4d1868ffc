/**
 * Shared set-up for the keystone identity source's unit tests: a fake Keystone, a manual clock,
 * a logger whose JSON lines the test can read, and the source under test.
 */
import type { KeystoneIdentityConfig } from '../../../../src/config/types.js';
import { createKeystoneIdentity } from '../../../../src/identity/keystone/index.js';
import type {
  KeystoneIdentityDeps,
  KeystoneIdentitySource,
} from '../../../../src/identity/keystone/index.js';
import type { RevocationInput } from '../../../../src/identity/types.js';
import { ManualClock } from '../../../../src/lib/clock.js';
import { createLogger } from '../../../../src/lib/logger.js';
import type { Logger } from '../../../../src/lib/logger.js';
import { FakeKeystone } from '../../../fakes/fake-keystone.js';

export interface Harness {
  fake: FakeKeystone;
  url: string;
  clock: ManualClock;
  log: Logger;
  /** Every log line written so far, as text. */
  logText(): string;
  logLines(): Record<string, unknown>[];
  config: KeystoneIdentityConfig;
  source: KeystoneIdentitySource;
  revocations: RevocationInput[];
  /** Resolves with the first revocation (already seen or coming) that `match` accepts. */
  nextRevocation(match: (r: RevocationInput) => boolean): Promise<RevocationInput>;
  close(): Promise<void>;
}

export async function createHarness(
  overrides: Partial<KeystoneIdentityConfig> = {},
  deps: Partial<KeystoneIdentityDeps> = {},
): Promise<Harness> {
  const fake = new FakeKeystone();
  const url = await fake.start();
  const clock = new ManualClock(Date.now());
  const lines: string[] = [];
  const log = createLogger({ level: 'debug', destination: { write: (s: string) => void lines.push(s) } });
  const config: KeystoneIdentityConfig = {
    kind: 'keystone',
    url,
    serviceUser: {
      name: 'alliance',
      password: 'alliance-secret',
      domainId: 'default',
      projectName: 'service',
      projectDomainId: 'default',
    },
    jwsPublicKeyDir: null,
    revocationPollMs: 2_000,
    refreshMs: 60_000,
    requestTimeoutMs: 1_000,
    notifications: null,
    ...overrides,
  };
  const source = createKeystoneIdentity({ clock, log, ...deps }, { cloud: 'cloud-a', config });
  const revocations: RevocationInput[] = [];
  const waiters: { match: (r: RevocationInput) => boolean; resolve: (r: RevocationInput) => void }[] = [];
  source.onRevocation((r) => {
    revocations.push(r);
    for (const w of [...waiters]) {
      if (w.match(r)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(r);
      }
    }
  });
  return {
    fake,
    url,
    clock,
    log,
    logText: () => lines.join(''),
    logLines: () => lines.map((l) => JSON.parse(l) as Record<string, unknown>),
    config,
    source,
    revocations,
    nextRevocation(match) {
      const seen = revocations.find(match);
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve) => waiters.push({ match, resolve }));
    },
    async close() {
      await source.stop();
      await fake.stop();
    },
  };
}
