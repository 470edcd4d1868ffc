/**
 * `alliance token`: single sign-on and single sign-out from the command line, through the Tokens
 * service of the local API (DESIGN.md §1.1, §1.2, §5.1).
 *
 * Tokens are secrets. Only `token issue` and `token exchange` print one, because that is what they
 * are for, and they print it alone on stdout so `T=$(alliance token issue ...)` works. A token the
 * operator passes in never reaches the terminal again: not in output, not in an error line (a
 * server that echoes it anyway has it replaced by `<token>`). `-` reads the token from stdin, so it
 * need not appear in the shell history or the process list.
 *
 * `token validate` answers with its exit code: 0 valid, 3 invalid (the node answered "no", or could
 * not find out from the issuing cloud: the reason says which), 1 when the node itself could not be
 * asked. Scripts can tell a rejected token from a broken node.
 */
import { CommanderError, Option, type Command } from 'commander';
import { limits } from '../../config/limits.js';
import { errorMessage } from '../../lib/errors.js';
import {
  ExchangeTokenResponse,
  InvalidReason,
  IssueTokenResponse,
  ListRevocationsResponse,
  RevokeTokenResponse,
  TokensService,
  ValidateTokenResponse,
  type Identity,
  type LocalAuthorization,
  type RevokeTokenRequest,
  type Revocation,
} from '../../gen/alliance/v1/tokens.js';
import { LocalApiError } from '../client.js';
import {
  formatTimestamp,
  renderFields,
  renderJson,
  renderTable,
  type Column,
  jsonOption,
  type JsonOption,
} from '../output.js';
import type { CliContext, CliIo } from '../program.js';

/** Exit code of `token validate` for a token the node did not accept. 1 stays "could not ask". */
export const tokenInvalidExitCode = 3;

/** Where the password comes from when `--password` is absent. */
export const passwordEnvName = 'ALLIANCE_PASSWORD';

/**
 * What `alliance token` needs beyond the CliContext. `stdin` defaults to the process's; tests and
 * embedders pass their own.
 */
export interface TokenCommandIo {
  env: CliIo['env'];
  stdin?: AsyncIterable<Uint8Array | string>;
}

const originOption = (): Option =>
  new Option('--origin <cloud>', 'the cloud believed to have issued the token (default: find out)');
const tokenArgumentHelp = 'the token, or - to read it from stdin';

export function registerTokenCommand(program: Command, context: CliContext, io: TokenCommandIo): void {
  const token = program
    .command('token')
    .description('issue, validate, exchange and revoke tokens of any federated cloud');

  token
    .command('issue')
    .description('issue a token from the built-in identity source and print it alone')
    .requiredOption('--user <name>', 'user name')
    .option(
      '--password <password>',
      `password (prefer env ${passwordEnvName}: arguments are visible to other local users)`,
    )
    .requiredOption('--project <name>', 'project to scope the token to')
    .option('--domain <name>', 'domain of the user and project (default: the default domain)')
    .addOption(new Option('--format <format>', 'token format (default: opaque)').choices(['opaque', 'jws']))
    .addOption(jsonOption())
    .action(
      async (
        options: JsonOption & {
          user: string;
          password?: string;
          project: string;
          domain?: string;
          format?: string;
        },
        command: Command,
      ) => {
        const password = options.password ?? nonEmpty(io.env[passwordEnvName]);
        if (password === undefined || password === '') {
          command.error(`error: no password: give --password or set ${passwordEnvName}`, {
            exitCode: 1,
            code: 'alliance.usage',
          });
        }
        await context.withLocalApi(command, async (api) => {
          const response = await hidingSecrets([[password, '<password>']], () =>
            api.client(TokensService).issueToken({
              userName: options.user,
              password,
              projectName: options.project,
              domainName: options.domain ?? '',
              format: options.format ?? '',
            }),
          );
          context.out(options.json ? renderJson(IssueTokenResponse.toJSON(response)) : `${response.token}\n`);
        });
      },
    );

  token
    .command('validate')
    .description(`validate a token of any cloud; exit code ${tokenInvalidExitCode} when it is not valid`)
    .argument('<token>', tokenArgumentHelp)
    .addOption(originOption())
    .addOption(jsonOption())
    .action(async (tokenArgument: string, options: JsonOption & { origin?: string }, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const token = await readToken(tokenArgument, io);
        const answer = await hidingSecrets([[token, '<token>']], () =>
          api.client(TokensService).validateToken({ token, originHint: options.origin ?? '' }),
        );
        // The node promises a detail without the token; this CLI does not depend on it.
        const response = { ...answer, detail: answer.detail.replaceAll(token, '<token>') };
        context.out(
          options.json ? renderJson(ValidateTokenResponse.toJSON(response)) : renderValidation(response),
        );
        if (!response.valid) {
          throw new CommanderError(tokenInvalidExitCode, 'alliance.tokenInvalid', 'the token is not valid');
        }
      });
    });

  token
    .command('exchange')
    .description('exchange a home token for a federation token signed by this node, and print it alone')
    .argument('<token>', tokenArgumentHelp)
    .addOption(originOption())
    .addOption(jsonOption())
    .action(async (tokenArgument: string, options: JsonOption & { origin?: string }, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const token = await readToken(tokenArgument, io);
        const response = await hidingSecrets([[token, '<token>']], () =>
          api.client(TokensService).exchangeToken({ token, originHint: options.origin ?? '' }),
        );
        context.out(
          options.json ? renderJson(ExchangeTokenResponse.toJSON(response)) : `${response.token}\n`,
        );
      });
    });

  const revoke = token
    .command('revoke')
    .description('revoke tokens in every cloud (or only here, with --local-only); name exactly one target');
  for (const target of revocationTargets) revoke.addOption(new Option(target.flags, target.description));
  revoke
    .option('--local-only', 'deny only at this node, without publishing to the federation')
    .option('--reason <text>', 'why, for the record')
    .addOption(jsonOption())
    .action(
      async (
        options: JsonOption &
          Partial<Record<RevocationTargetCase, string>> & { localOnly?: boolean; reason?: string },
        command: Command,
      ) => {
        const given = revocationTargets.filter((target) => options[target.case] !== undefined);
        const [target, ...others] = given;
        if (target === undefined || others.length > 0) {
          const got = given.length === 0 ? 'none' : given.map((t) => t.flag).join(' and ');
          command.error(
            `error: name exactly one target: ${revocationTargets.map((t) => t.flag).join(', ')} (got ${got})`,
            { exitCode: 1, code: 'alliance.usage' },
          );
        }
        if (options[target.case] === '') {
          command.error(`error: ${target.flag} needs a value`, { exitCode: 1, code: 'alliance.usage' });
        }
        await context.withLocalApi(command, async (api) => {
          const value =
            target.case === 'token' ? await readToken(options.token ?? '', io) : (options[target.case] ?? '');
          const response = await hidingSecrets(target.case === 'token' ? [[value, '<token>']] : [], () =>
            api.client(TokensService).revokeToken({
              target: { $case: target.case, value },
              localOnly: options.localOnly === true,
              issuedBefore: undefined,
              reason: options.reason ?? '',
            }),
          );
          context.out(
            options.json
              ? renderJson(RevokeTokenResponse.toJSON(response))
              : renderRevocation(response.revocation),
          );
        });
      },
    );

  token
    .command('revocations')
    .description('list the revocations this node enforces')
    .addOption(new Option('--origin <cloud>', 'only those published by this cloud'))
    .addOption(jsonOption())
    .action(async (options: JsonOption & { origin?: string }, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api
          .client(TokensService)
          .listRevocations({ originCloud: options.origin ?? '' });
        context.out(
          options.json
            ? renderJson(ListRevocationsResponse.toJSON(response))
            : renderTable(revocationColumns, response.revocations),
        );
      });
    });
}

type RevocationTargetCase = NonNullable<RevokeTokenRequest['target']>['$case'];

interface RevocationTarget {
  case: RevocationTargetCase;
  flag: string;
  flags: string;
  description: string;
}

const revocationTargets: readonly RevocationTarget[] = [
  {
    case: 'token',
    flag: '--token',
    flags: '--token <token>',
    description: 'one token (- reads it from stdin)',
  },
  {
    case: 'auditId',
    flag: '--audit-id',
    flags: '--audit-id <id>',
    description: 'the token with this audit id',
  },
  {
    case: 'auditChainId',
    flag: '--audit-chain-id',
    flags: '--audit-chain-id <id>',
    description: 'every token of this audit chain (a token and its rescoped tokens)',
  },
  { case: 'userId', flag: '--user-id', flags: '--user-id <id>', description: 'every token of this user' },
  {
    case: 'projectId',
    flag: '--project-id',
    flags: '--project-id <id>',
    description: 'every token scoped to this project',
  },
  {
    case: 'domainId',
    flag: '--domain-id',
    flags: '--domain-id <id>',
    description: "every token of this domain's users or projects",
  },
];

/** The token named on the command line, or read from stdin for `-`; bounded by what the node accepts. */
async function readToken(argument: string, io: TokenCommandIo): Promise<string> {
  if (argument !== '-') {
    if (argument.trim() === '') throw new Error('the token is empty');
    return argument;
  }
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of io.stdin ?? process.stdin) {
    const buffer = Buffer.from(chunk);
    bytes += buffer.length;
    if (bytes > limits.localMessageBytesMax) {
      throw new Error(
        `the token on stdin is larger than the local API accepts (${limits.localMessageBytesMax} bytes)`,
      );
    }
    chunks.push(buffer);
  }
  const token = Buffer.concat(chunks).toString('utf8').trim();
  if (token === '') throw new Error('no token on stdin');
  // Never echo what was read: it may be a token followed by something else secret.
  if (/\s/.test(token)) throw new Error('expected one token on stdin, found several words or lines');
  return token;
}

/**
 * Runs one call, replacing each secret that the error message carries (a server echoing a request
 * field) before the error reaches the operator's terminal.
 */
export async function hidingSecrets<T>(
  secrets: readonly (readonly [secret: string, placeholder: string])[],
  call: () => Promise<T>,
): Promise<T> {
  try {
    return await call();
  } catch (err) {
    const message = errorMessage(err);
    let hidden = message;
    for (const [secret, placeholder] of secrets) {
      if (secret !== '') hidden = hidden.replaceAll(secret, placeholder);
    }
    if (hidden === message) throw err;
    // The original error stays out of the chain: it carries the secret.
    throw err instanceof LocalApiError ? new LocalApiError(err.code, hidden) : new Error(hidden);
  }
}

const reasonCodes: Readonly<Record<InvalidReason, string>> = {
  [InvalidReason.INVALID_REASON_UNSPECIFIED]: 'unspecified',
  [InvalidReason.INVALID_REASON_MALFORMED]: 'malformed',
  [InvalidReason.INVALID_REASON_BAD_SIGNATURE]: 'bad-signature',
  [InvalidReason.INVALID_REASON_UNKNOWN_ISSUER]: 'unknown-issuer',
  [InvalidReason.INVALID_REASON_EXPIRED]: 'expired',
  [InvalidReason.INVALID_REASON_NOT_YET_VALID]: 'not-yet-valid',
  [InvalidReason.INVALID_REASON_REVOKED]: 'revoked',
  [InvalidReason.INVALID_REASON_UNKNOWN_TOKEN]: 'unknown-token',
  [InvalidReason.INVALID_REASON_ORIGIN_UNREACHABLE]: 'origin-unreachable',
  [InvalidReason.UNRECOGNIZED]: 'unrecognized',
};

/** The reason codes of src/identity/types.ts; a newer node's reason reads `reason <n>`. */
export function invalidReasonCode(reason: InvalidReason): string {
  return (reasonCodes as Partial<Record<number, string>>)[reason] ?? `reason ${reason}`;
}

const orDash = (text: string): string => (text === '' ? '-' : text);
const named = (name: string, id: string): string =>
  name === '' ? orDash(id) : id === '' || id === name ? name : `${name} (${id})`;
const list = (items: readonly string[]): string => (items.length === 0 ? '-' : items.join(', '));

export const noMappingText = 'no mapping rule matched: valid identity, no local authorization';

/** `invalid: <reason> (<detail>)`, or a block of fields for a valid token. */
export function renderValidation(response: ValidateTokenResponse): string {
  if (!response.valid) {
    const detail = response.detail.trim();
    return `invalid: ${invalidReasonCode(response.reason)}${detail === '' ? '' : ` (${detail})`}\n`;
  }
  const fields = identityFields(response.identity, response.local);
  // The "no mapping rule" explanation is already the Local authorization line; any other
  // detail (e.g. "verified offline; names and roles unknown") says why a field reads "-".
  const detail = response.detail.trim();
  if (detail !== '' && !detail.startsWith('valid identity; no mapping rule')) fields.push(['Note', detail]);
  return `valid\n${renderFields(fields)}`;
}

function identityFields(
  identity: Identity | undefined,
  local: LocalAuthorization | undefined,
): [string, string][] {
  const project =
    identity === undefined || (identity.projectId === '' && identity.projectName === '')
      ? '-'
      : `${named(identity.projectName, identity.projectId)}` +
        (identity.projectDomainId === '' ? '' : `, domain ${identity.projectDomainId}`);
  return [
    ['User', named(identity?.userName ?? '', identity?.userId ?? '')],
    ['Domain', orDash(identity?.domainId ?? '')],
    ['Project', project],
    ['Roles', list(identity?.roles ?? [])],
    ['Origin cloud', orDash(identity?.originCloud ?? '')],
    ['Format', orDash(identity?.tokenFormat ?? '')],
    ['Issued', formatTimestamp(identity?.issuedAt)],
    ['Expires', formatTimestamp(identity?.expiresAt)],
    ['Audit ids', list(identity?.auditIds ?? [])],
    ['Local authorization', describeLocalAuthorization(local)],
  ];
}

function describeLocalAuthorization(local: LocalAuthorization | undefined): string {
  if (local === undefined || !local.mapped) return noMappingText;
  const groups = local.groups.length === 0 ? '' : `, groups ${list(local.groups)}`;
  return `project ${orDash(local.projectId)}, roles ${list(local.roles)}${groups} (rule ${orDash(local.rule)})`;
}

/** The facts a revocation names, e.g. `user=u-1 project=p-2`; a token appears only as its fingerprint. */
export function describeRevocationTarget(revocation: Revocation): string {
  const facts: [string, string][] = [
    ['fingerprint', revocation.tokenFingerprint],
    ['audit-id', revocation.auditId],
    ['audit-chain', revocation.auditChainId],
    ['user', revocation.userId],
    ['project', revocation.projectId],
    ['domain', revocation.domainId],
  ];
  const set = facts.filter(([, value]) => value !== '').map(([name, value]) => `${name}=${value}`);
  return set.length === 0 ? '-' : set.join(' ');
}

const yesNo = (value: boolean): string => (value ? 'yes' : 'no');

export const revocationColumns: readonly Column<Revocation>[] = [
  { header: 'ID', value: (revocation) => revocation.id },
  { header: 'ORIGIN', value: (revocation) => orDash(revocation.originCloud) },
  { header: 'TARGET', value: describeRevocationTarget },
  { header: 'ISSUED BEFORE', value: (revocation) => formatTimestamp(revocation.issuedBefore) },
  { header: 'EXPIRES', value: (revocation) => formatTimestamp(revocation.expiresAt) },
  { header: 'LOCAL', value: (revocation) => yesNo(revocation.localOnly) },
  { header: 'REASON', value: (revocation) => revocation.reason },
];

/** One revocation as labelled fields; `Revocation: none` when the node returned none. */
export function renderRevocation(revocation: Revocation | undefined): string {
  if (revocation === undefined) return 'Revocation: none\n';
  return renderFields([
    ['Revocation', revocation.id],
    ['Target', describeRevocationTarget(revocation)],
    ['Origin cloud', orDash(revocation.originCloud)],
    ['Local only', yesNo(revocation.localOnly)],
    ['Issued before', formatTimestamp(revocation.issuedBefore)],
    ['Revoked at', formatTimestamp(revocation.revokedAt)],
    ['Expires', formatTimestamp(revocation.expiresAt)],
    ['Reason', orDash(revocation.reason)],
  ]);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
