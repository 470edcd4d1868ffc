/**
 * alliance.v1.Provisioning over the provisioning capability. Thin: every check (ids, kind, spec)
 * is the capability's, whose typed errors become the status.
 */
import type { Logger } from 'pino';
import type { ProvisioningServer } from '../gen/alliance/v1/provisioning.js';
import type { ProvisionRecord } from '../gen/alliance/v1/provisioning.js';
import type { Provisioning } from '../provisioning/index.js';
import { unary } from './handlers.js';

export interface ProvisioningHandlerDeps {
  provisioning: Provisioning;
  log: Logger;
}

const answer = (
  provision: ProvisionRecord,
): { state: ProvisionRecord['state']; provision: ProvisionRecord } => ({
  state: provision.state,
  provision,
});

export function createProvisioningHandlers({
  provisioning,
  log,
}: ProvisioningHandlerDeps): ProvisioningServer {
  return {
    provision: unary(log, (request) =>
      answer(
        provisioning.provision({
          targetCloud: request.targetCloud,
          requestId: request.requestId,
          kind: request.kind,
          spec: request.spec,
        }),
      ),
    ),
    getProvision: unary(log, (request) => answer(provisioning.get(request.requestId))),
    deprovision: unary(log, (request) => answer(provisioning.deprovision(request.requestId))),
  };
}
