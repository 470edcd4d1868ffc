/**
 * `alliance provision create|get|delete`: remote provisioning from the command line, through the
 * Provisioning service of the local API (ARCHITECTURE.md §17). This node's cloud is the requester;
 * `--target` names the cloud asked to make something for one of this cloud's users.
 *
 * - `create --target CLOUD --kind KIND` makes the request (idempotent by request id: the same
 *   request again returns the one already made) and prints it. Without `--request-id` a random
 *   UUID is used; it is the `request:` line. Kind `project` takes `--name`, `--user` (the user's
 *   id at its home cloud) and `--role` (and `--domain` at the target) instead of a `--spec`.
 * - `get ID` shows the request with the target cloud's latest state, detail and result.
 * - `delete ID` asks the target to reverse it (Deprovision).
 *
 * Exit codes, as for `token validate`: 0 when the node has the request (and, with `--wait`, once
 * it settled as asked: DONE for create, DEPROVISIONED for delete); 3 with `--wait` when it settled
 * otherwise (FAILED) or did not settle in time; 1 when the node could not be asked or said no.
 * `--wait` polls GetProvision: the service has no stream to follow.
 */
import { CommanderError, InvalidArgumentError, Option, type Command } from 'commander';
import {
  DeprovisionResponse,
  GetProvisionResponse,
  ProvisionResponse,
  ProvisioningService,
  ProvisionState,
  type ProvisionRecord,
} from '../../gen/alliance/v1/provisioning.js';
import type { ApiClient } from '../client.js';
import { jsonObjectParser } from '../json-object-parser.js';
import { formatTimestamp, renderFields, renderJson, jsonOption, type JsonOption } from '../output.js';
import type { CliContext } from '../program.js';

/** Exit code when a `--wait` ends other than as asked (FAILED, or still going at the timeout). */
export const provisionNotSettledExitCode = 3;

/** How often `--wait` asks: a project is made in milliseconds, a subscriber's kind in seconds. */
export const provisionPollIntervalMs = 500;
export const provisionWaitMsDefault = 30_000;
/** A wait longer than an hour is a request nobody is working on, not a slow one. */
export const provisionWaitMsMax = 3_600_000;

/** What every Provisioning method answers. */
interface ProvisionAnswer {
  state: ProvisionState;
  provision?: ProvisionRecord | undefined;
}

interface OutputOptions extends JsonOption {
  wait?: boolean;
  /** Milliseconds; given, it implies `wait`. */
  waitTimeout?: number;
}

interface CreateOptions extends OutputOptions {
  target: string;
  kind: string;
  requestId?: string;
  spec?: Record<string, unknown>;
  name?: string;
  user?: string;
  role?: string;
  domain?: string;
}

const waitOption = (settled: string): Option =>
  new Option(
    '--wait',
    `poll until the request settles; exit ${provisionNotSettledExitCode} unless ${settled}`,
  );
const waitTimeoutOption = (): Option =>
  new Option(
    '--wait-timeout <duration>',
    `how long --wait waits, e.g. 30s, 2m, 500ms (implies --wait; default ${provisionWaitMsDefault / 1000}s)`,
  ).argParser(parseDurationMs);

/** The fields of kind "project" (src/provisioning checkProvisionInput), as flags. */
const projectFlags = [
  { flag: '--name', key: 'name', field: 'name', required: true },
  { flag: '--user', key: 'user', field: 'userId', required: true },
  { flag: '--role', key: 'role', field: 'role', required: true },
  { flag: '--domain', key: 'domain', field: 'domainId', required: false },
] as const;

export function registerProvisionCommand(program: Command, context: CliContext): void {
  const provision = program
    .command('provision')
    .description('ask another cloud to provision something for a user of this cloud, and follow it');

  provision
    .command('create')
    .description('request provisioning at a target cloud and print the request (its id included)')
    .requiredOption('--target <cloud>', 'the cloud asked to provision, e.g. cloud-b')
    .requiredOption('--kind <kind>', "what to provision: project, or a kind the target's subscribers handle")
    .option(
      '--request-id <id>',
      'idempotency key: the same request again returns the first (default: a random UUID)',
    )
    .addOption(
      new Option(
        '--spec <json>',
        'what to provision, a JSON object (kind project: or the flags below)',
      ).argParser(jsonObjectParser('{"name": "p1", "userId": "u1", "role": "member"}')),
    )
    .option('--name <name>', 'kind project: the project to create at the target')
    .option('--user <id>', "kind project: the user's id at this cloud, given the role on it")
    .option('--role <role>', 'kind project: the role to give, e.g. member')
    .option('--domain <id>', "kind project: the target's domain (default: its default domain)")
    .addOption(waitOption('it is done'))
    .addOption(waitTimeoutOption())
    .addOption(jsonOption())
    .action(async (options: CreateOptions, command: Command) => {
      const spec = specOf(options, command);
      const requestId = options.requestId ?? context.randomId();
      await context.withLocalApi(command, async (api) => {
        const client = api.client(ProvisioningService);
        const response = await client.provision({
          targetCloud: options.target,
          requestId,
          kind: options.kind,
          spec,
        });
        await answer(context, command, client, options, {
          requestId,
          response,
          toJson: ProvisionResponse.toJSON,
          wanted: ProvisionState.PROVISION_STATE_DONE,
        });
      });
    });

  provision
    .command('get')
    .description("show a request made from this cloud, with the target's latest state, detail and result")
    .argument('<id>', 'request id (as create printed it)')
    .addOption(jsonOption())
    .action(async (requestId: string, options: OutputOptions, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api.client(ProvisioningService).getProvision({ requestId });
        context.out(
          options.json ? renderJson(GetProvisionResponse.toJSON(response)) : renderProvision(response),
        );
      });
    });

  provision
    .command('delete')
    .description('ask the target cloud to reverse a request (deprovision) and print the request')
    .argument('<id>', 'request id (as create printed it)')
    .addOption(waitOption('it is deprovisioned'))
    .addOption(waitTimeoutOption())
    .addOption(jsonOption())
    .action(async (requestId: string, options: OutputOptions, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const client = api.client(ProvisioningService);
        const response = await client.deprovision({ requestId });
        await answer(context, command, client, options, {
          requestId,
          response,
          toJson: DeprovisionResponse.toJSON,
          wanted: ProvisionState.PROVISION_STATE_DEPROVISIONED,
        });
      });
    });
}

/**
 * Prints the node's answer, or with `--wait` polls until the request settles (or the wait ends)
 * and prints the last answer; ends with exit code 3 unless it settled as `wanted`.
 */
async function answer(
  context: CliContext,
  command: Command,
  client: ApiClient<typeof ProvisioningService>,
  options: OutputOptions,
  first: {
    requestId: string;
    response: ProvisionAnswer;
    toJson: (response: ProvisionAnswer) => unknown;
    wanted: ProvisionState;
  },
): Promise<void> {
  const print = (response: ProvisionAnswer, toJson: (response: ProvisionAnswer) => unknown): void =>
    context.out(options.json ? renderJson(toJson(response)) : renderProvision(response));
  const waitMs = options.waitTimeout ?? (options.wait ? provisionWaitMsDefault : undefined);
  if (waitMs === undefined) {
    print(first.response, first.toJson);
    return;
  }
  const deadlineMs = context.nowMs() + waitMs;
  let response = first.response;
  let toJson = first.toJson;
  while (!isSettled(response.state) && context.signal?.aborted !== true) {
    const remainingMs = deadlineMs - context.nowMs();
    if (remainingMs <= 0) break;
    await context.sleep(Math.min(provisionPollIntervalMs, remainingMs));
    response = await client.getProvision({ requestId: first.requestId });
    toJson = GetProvisionResponse.toJSON;
  }
  print(response, toJson);
  if (response.state === first.wanted) return;
  if (isSettled(response.state)) {
    // The printed state and detail say what happened; the exit code is for scripts.
    throw new CommanderError(
      provisionNotSettledExitCode,
      'alliance.provisionNotSettled',
      `request ${first.requestId} is ${stateName(response.state)}`,
    );
  }
  const why = context.signal?.aborted === true ? 'interrupted' : `after ${formatDurationMs(waitMs)}`;
  command.error(
    `alliance: stopped waiting ${why}: request ${first.requestId} is still ${stateName(response.state)} ` +
      `(follow it with: alliance provision get ${first.requestId})`,
    { exitCode: provisionNotSettledExitCode, code: 'alliance.provisionNotSettled' },
  );
}

/** The spec to send: `--spec`, or kind project's flags; usage errors before any call. */
function specOf(options: CreateOptions, command: Command): Record<string, unknown> {
  const usage = (message: string): never =>
    command.error(`error: ${message}`, { exitCode: 1, code: 'alliance.usage' });
  const flagList = projectFlags.map((f) => f.flag).join(', ');
  const given = projectFlags.filter((f) => options[f.key] !== undefined);
  if (given.length === 0) {
    if (options.spec !== undefined) return options.spec;
    if (options.kind === 'project') usage('kind project needs --name, --user and --role (or --spec)');
    return {};
  }
  if (options.spec !== undefined) usage(`give either --spec or ${flagList}, not both`);
  if (options.kind !== 'project') {
    usage(
      `${given.map((f) => f.flag).join(', ')}: only for kind project; give --spec for kind ${options.kind}`,
    );
  }
  const missing = projectFlags.filter((f) => f.required && (options[f.key] ?? '') === '');
  if (missing.length > 0) {
    usage(`kind project needs --name, --user and --role (missing: ${missing.map((f) => f.flag).join(', ')})`);
  }
  const spec: Record<string, unknown> = {};
  for (const f of given) spec[f.field] = options[f.key];
  return spec;
}

function isSettled(state: ProvisionState): boolean {
  return (
    state === ProvisionState.PROVISION_STATE_DONE ||
    state === ProvisionState.PROVISION_STATE_FAILED ||
    state === ProvisionState.PROVISION_STATE_DEPROVISIONED
  );
}

const stateNames: Readonly<Record<ProvisionState, string>> = {
  [ProvisionState.PROVISION_STATE_UNSPECIFIED]: 'unspecified',
  [ProvisionState.PROVISION_STATE_PENDING]: 'pending',
  [ProvisionState.PROVISION_STATE_RUNNING]: 'running',
  [ProvisionState.PROVISION_STATE_DONE]: 'done',
  [ProvisionState.PROVISION_STATE_FAILED]: 'failed',
  [ProvisionState.PROVISION_STATE_DEPROVISIONING]: 'deprovisioning',
  [ProvisionState.PROVISION_STATE_DEPROVISIONED]: 'deprovisioned',
  [ProvisionState.UNRECOGNIZED]: 'unrecognized',
};

/** `done`, `failed`, ...; a newer node's state reads `state <n>`. */
export function stateName(state: ProvisionState): string {
  return (stateNames as Partial<Record<number, string>>)[state] ?? `state ${state}`;
}

const orDash = (text: string): string => (text === '' ? '-' : text);
const jsonOrDash = (value: Record<string, unknown> | undefined): string =>
  value === undefined || Object.keys(value).length === 0 ? '-' : JSON.stringify(value);

/** The request as labelled fields, its state as the target last reported it. */
export function renderProvision(response: ProvisionAnswer): string {
  const record = response.provision;
  return renderFields([
    ['request', orDash(record?.requestId ?? '')],
    ['state', stateName(response.state)],
    ['target', orDash(record?.targetCloud ?? '')],
    ['requester', orDash(record?.requesterCloud ?? '')],
    ['kind', orDash(record?.kind ?? '')],
    ['spec', jsonOrDash(record?.spec)],
    ['detail', orDash(record?.detail ?? '')],
    ['result', jsonOrDash(record?.result)],
    ['created', formatTimestamp(record?.createdAt)],
    ['updated', formatTimestamp(record?.updatedAt)],
  ]);
}

const durationUnitsMs: Readonly<Record<string, number>> = { ms: 1, s: 1_000, m: 60_000, h: 3_600_000 };

/** `500ms`, `30s`, `2m`, `1h` to milliseconds, from 1 ms to provisionWaitMsMax. */
export function parseDurationMs(value: string): number {
  const match = /^(\d+)(ms|s|m|h)$/.exec(value.trim());
  const unitMs = match ? durationUnitsMs[match[2] ?? ''] : undefined;
  const durationMs = match && unitMs !== undefined ? Number(match[1]) * unitMs : Number.NaN;
  if (!(durationMs >= 1 && durationMs <= provisionWaitMsMax)) {
    throw new InvalidArgumentError(
      `expected a duration with its unit, e.g. 30s, 2m or 500ms, from 1ms to ${formatDurationMs(provisionWaitMsMax)}.`,
    );
  }
  return durationMs;
}

/** The largest unit that divides it: `30s`, `2m`, `1500ms`. */
function formatDurationMs(durationMs: number): string {
  for (const unit of ['h', 'm', 's'] as const) {
    const unitMs = durationUnitsMs[unit] ?? 1;
    if (durationMs % unitMs === 0) return `${durationMs / unitMs}${unit}`;
  }
  return `${durationMs}ms`;
}
