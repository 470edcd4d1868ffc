/**
 * alliance.v1.IdentityAdmin over the static identity source: what Keystone's own API does for a
 * real cloud (enable or disable a user or a project, list users). With a Keystone identity source
 * there is nothing to administer here, and every method says where to go instead.
 */
import type {
  IdentityAdminServer,
  SetProjectEnabledResponse,
  SetUserEnabledResponse,
  User,
} from '../gen/alliance/v1/identity.js';
import type { Revocation } from '../gen/alliance/v1/tokens.js';
import type { RevocationInput, StaticIdentity, StaticUser } from '../identity/index.js';
import { AllianceError } from '../lib/errors.js';
import type { Logger } from '../lib/logger.js';
import { unary } from './handlers.js';

export interface IdentityAdminHandlerDeps {
  /** Null when this cloud's identity source is Keystone. */
  identity: StaticIdentity | null;
  log: Logger;
  /**
   * The published revocation record for one the identity source just emitted (the node's
   * onRevocation subscriber publishes it; this only looks it up or converts it, and must not
   * publish again). Absent, or answering undefined: the response's `revocation` is left unset.
   */
  revocationOf?: (revocation: RevocationInput) => Revocation | undefined | Promise<Revocation | undefined>;
}

export const keystoneManagedDetails =
  "this cloud's identity source is Keystone: manage users and projects there";

function userMessage(user: StaticUser): User {
  return {
    id: user.id,
    name: user.name,
    domainId: user.domainId,
    enabled: user.enabled,
    assignments: user.assignments.map(({ project, role }) => `${project}:${role}`),
  };
}

export function createIdentityAdminHandlers({
  identity,
  log,
  revocationOf,
}: IdentityAdminHandlerDeps): IdentityAdminServer {
  function staticIdentity(): StaticIdentity {
    if (identity === null) throw new AllianceError('FAILED_PRECONDITION', keystoneManagedDetails);
    return identity;
  }

  async function published(revocation: RevocationInput | null): Promise<Revocation | undefined> {
    return revocation === null || revocationOf === undefined ? undefined : revocationOf(revocation);
  }

  return {
    setUserEnabled: unary(log, async (request): Promise<SetUserEnabledResponse> => {
      const result = staticIdentity().setUserEnabled(request.user, request.enabled);
      // Answer once the account event is handed over (stored by the events capability).
      await result.accountEvent;
      return { user: userMessage(result.user), revocation: await published(result.revocation) };
    }),
    setProjectEnabled: unary(log, async (request): Promise<SetProjectEnabledResponse> => {
      const result = staticIdentity().setProjectEnabled(request.project, request.enabled);
      await result.accountEvent;
      return {
        projectId: result.project.id,
        enabled: result.project.enabled,
        revocation: await published(result.revocation),
      };
    }),
    listUsers: unary(log, () => ({ users: staticIdentity().listUsers().map(userMessage) })),
  };
}
