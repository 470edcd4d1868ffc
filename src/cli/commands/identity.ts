/**
 * `alliance identity`: administers the built-in (static) identity source through the
 * IdentityAdmin service, what Keystone's own API does for a real cloud. Disabling a user or a
 * project revokes its tokens in every cloud; the command shows the revocation it caused. With a
 * Keystone identity source the node answers FAILED_PRECONDITION: manage users in Keystone.
 */
import type { Command } from 'commander';
import {
  IdentityAdminService,
  ListUsersResponse,
  SetProjectEnabledResponse,
  SetUserEnabledResponse,
  type User,
} from '../../gen/alliance/v1/identity.js';
import type { Revocation } from '../../gen/alliance/v1/tokens.js';
import {
  formatTimestamp,
  renderFields,
  renderJson,
  renderTable,
  type Column,
  jsonOption,
  type JsonOption,
} from '../output.js';
import type { CliContext } from '../program.js';
import { describeRevocationTarget } from './token.js';

export function registerIdentityCommand(program: Command, context: CliContext): void {
  const identity = program
    .command('identity')
    .description('users and projects of the built-in identity source');

  identity
    .command('users')
    .description('list users, whether they are enabled, and their role assignments')
    .addOption(jsonOption())
    .action(async (options: JsonOption, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api.client(IdentityAdminService).listUsers({});
        context.out(
          options.json
            ? renderJson(ListUsersResponse.toJSON(response))
            : renderTable(userColumns, response.users),
        );
      });
    });

  for (const enabled of [false, true]) {
    const verb = enabled ? 'enable' : 'disable';
    identity
      .command(`${verb}-user`)
      .description(
        enabled ? 'enable a user' : 'disable a user and revoke every token it holds, in every cloud',
      )
      .argument('<user>', 'user id, or user name in the default domain')
      .addOption(jsonOption())
      .action(async (user: string, options: JsonOption, command: Command) => {
        await context.withLocalApi(command, async (api) => {
          const response = await api.client(IdentityAdminService).setUserEnabled({ user, enabled });
          context.out(
            options.json
              ? renderJson(SetUserEnabledResponse.toJSON(response))
              : renderUserChange(response, user, enabled),
          );
        });
      });
  }

  for (const enabled of [false, true]) {
    const verb = enabled ? 'enable' : 'disable';
    identity
      .command(`${verb}-project`)
      .description(
        enabled
          ? 'enable a project'
          : 'disable a project and revoke every token scoped to it, in every cloud',
      )
      .argument('<project>', 'project id, or project name in the default domain')
      .addOption(jsonOption())
      .action(async (project: string, options: JsonOption, command: Command) => {
        await context.withLocalApi(command, async (api) => {
          const response = await api.client(IdentityAdminService).setProjectEnabled({ project, enabled });
          context.out(
            options.json
              ? renderJson(SetProjectEnabledResponse.toJSON(response))
              : renderProjectChange(response, project),
          );
        });
      });
  }
}

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');
const orDash = (text: string): string => (text === '' ? '-' : text);

const userColumns: readonly Column<User>[] = [
  { header: 'NAME', value: (user) => user.name },
  { header: 'ID', value: (user) => user.id },
  { header: 'DOMAIN', value: (user) => orDash(user.domainId) },
  { header: 'ENABLED', value: (user) => yesNo(user.enabled) },
  { header: 'ASSIGNMENTS', value: (user) => user.assignments.join(', ') },
];

function renderUserChange(response: SetUserEnabledResponse, requested: string, enabled: boolean): string {
  const user = response.user;
  return renderFields([
    ['User', user === undefined ? requested : `${user.name} (${user.id})`],
    ['Domain', orDash(user?.domainId ?? '')],
    ['Enabled', yesNo(user?.enabled ?? enabled)],
    ...revocationField(response.revocation),
  ]);
}

function renderProjectChange(response: SetProjectEnabledResponse, requested: string): string {
  return renderFields([
    ['Project', response.projectId === '' ? requested : response.projectId],
    ['Enabled', yesNo(response.enabled)],
    ...revocationField(response.revocation),
  ]);
}

/** `Revoked: user=u-1, tokens issued before <time> (revocation <id>)`; nothing when none was made. */
function revocationField(revocation: Revocation | undefined): [string, string][] {
  if (revocation === undefined) return [];
  const scope = revocation.localOnly ? ', at this node only' : '';
  return [
    [
      'Revoked',
      `${describeRevocationTarget(revocation)}, tokens issued before ` +
        `${formatTimestamp(revocation.issuedBefore)}${scope} (revocation ${revocation.id})`,
    ],
  ];
}
