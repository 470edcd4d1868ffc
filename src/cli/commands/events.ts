/**
 * `alliance publish`, `alliance tail` and `alliance events status`: account-state events from the
 * command line, through the Events service of the local API (DESIGN.md §1.6, §5.1).
 *
 * - `publish TYPE --subject S` publishes one event (to every cloud, or `--target CLOUD`) and
 *   prints its id alone, so `ID=$(alliance publish ...)` works.
 * - `tail SUBSCRIBER` subscribes as that subscriber and prints one line per event, then acks it
 *   done (`--ack none`: leave it unacked, e.g. to watch without consuming). It runs until
 *   interrupted; a newer subscription of the same name ends it (exit 1, "replaced").
 * - `events status ID` shows, per target cloud and expected subscriber, where the event stands,
 *   and whether it is complete.
 */
import { InvalidArgumentError, Option, type Command } from 'commander';
import {
  Event as EventMessage,
  EventsService,
  GetEventStatusResponse,
  Outcome,
  PublishResponse,
  type CloudEventStatus,
  type Event,
  type SubscriberEventStatus,
} from '../../gen/alliance/v1/events.js';
import { jsonObjectParser } from '../json-object-parser.js';
import {
  formatTimestamp,
  renderFields,
  renderJson,
  renderTable,
  toOneLine,
  type Column,
  jsonOption,
  type JsonOption,
} from '../output.js';
import type { CliContext } from '../program.js';

const parseDataObject = jsonObjectParser('{"project_id": "p1"}');

export function registerEventsCommand(program: Command, context: CliContext): void {
  program
    .command('publish')
    .description('publish an event to every cloud (or one) and print its id')
    .argument('<type>', 'event type, e.g. identity.project.deleted (the node lists the known ones)')
    .requiredOption('--subject <id>', 'what the event is about, e.g. a project id')
    .addOption(new Option('--data <json>', 'details, a JSON object').argParser(parseDataObject))
    .addOption(new Option('--target <cloud>', 'deliver to this cloud only (default: every cloud)'))
    .addOption(jsonOption())
    .action(
      async (
        type: string,
        options: JsonOption & { subject: string; data?: Record<string, unknown>; target?: string },
        command: Command,
      ) => {
        await context.withLocalApi(command, async (api) => {
          const response = await api.client(EventsService).publish({
            type,
            subject: options.subject,
            data: options.data ?? {},
            targetCloud: options.target ?? '',
          });
          context.out(options.json ? renderJson(PublishResponse.toJSON(response)) : `${response.id}\n`);
        });
      },
    );

  program
    .command('tail')
    .description('receive events as SUBSCRIBER, one line each, acking each done; until interrupted (Ctrl-C)')
    .argument('<subscriber>', 'subscriber name, e.g. nova')
    .addOption(
      new Option(
        '--types <list>',
        'only these event types, comma-separated (the others are acked skipped)',
      ).argParser(parseTypeList),
    )
    .addOption(
      new Option('--ack <outcome>', 'how to answer each event after printing it')
        .choices(['done', 'none'])
        .default('done'),
    )
    .addOption(new Option('--json', 'print one proto3 JSON object per line'))
    .action(
      async (
        subscriber: string,
        options: JsonOption & { types?: string[]; ack: 'done' | 'none' },
        command: Command,
      ) => {
        await context.withLocalApi(command, async (api) => {
          const client = api.client(EventsService);
          const events = client.subscribe(
            { subscriber, types: options.types ?? [] },
            { signal: context.signal },
          );
          for await (const event of events) {
            context.out(
              options.json ? `${JSON.stringify(EventMessage.toJSON(event))}\n` : `${describeEvent(event)}\n`,
            );
            if (options.ack === 'done') {
              await client.ack({ subscriber, eventId: event.id, outcome: Outcome.OUTCOME_DONE, detail: '' });
            }
          }
        });
      },
    );

  const events = program.command('events').description('events: where each one stands');

  events
    .command('status')
    .description('show, per target cloud and expected subscriber, how an event was handled')
    .argument('<id>', 'event id (as publish printed it)')
    .addOption(jsonOption())
    .action(async (id: string, options: JsonOption, command: Command) => {
      await context.withLocalApi(command, async (api) => {
        const response = await api.client(EventsService).getEventStatus({ id });
        context.out(
          options.json ? renderJson(GetEventStatusResponse.toJSON(response)) : renderStatus(response),
        );
      });
    });
}

function parseTypeList(value: string): string[] {
  const types = value
    .split(',')
    .map((type) => type.trim())
    .filter((type) => type !== '');
  if (types.length === 0) throw new InvalidArgumentError('expected at least one event type.');
  return types;
}

/** One line for one event, e.g. `2024-01-15T12:00:00Z identity.project.deleted p1 from cloud-a (id ..., attempt 1) {"project_id":"p1"}`. */
export function describeEvent(event: Event): string {
  const target = event.targetCloud === '' ? '' : ` to ${event.targetCloud}`;
  const data = event.data && Object.keys(event.data).length > 0 ? ` ${JSON.stringify(event.data)}` : '';
  return toOneLine(
    `${formatTimestamp(event.time)} ${event.type} ${event.subject || '-'} from ${event.originCloud}${target} ` +
      `(id ${event.id}, attempt ${event.attempt})${data}`,
  );
}

const outcomeNames: Record<Outcome, string> = {
  [Outcome.OUTCOME_UNSPECIFIED]: 'pending',
  [Outcome.OUTCOME_DONE]: 'done',
  [Outcome.OUTCOME_FAILED]: 'failed',
  [Outcome.OUTCOME_SKIPPED]: 'skipped',
  [Outcome.UNRECOGNIZED]: 'unknown',
};

interface StatusRow {
  cloud: string;
  subscriber: SubscriberEventStatus | null;
  /** For a cloud with no subscriber rows: why. */
  note: string;
}

const statusColumns: readonly Column<StatusRow>[] = [
  { header: 'CLOUD', value: (row) => row.cloud },
  { header: 'SUBSCRIBER', value: (row) => row.subscriber?.name ?? '-' },
  {
    header: 'OUTCOME',
    value: (row) =>
      row.subscriber ? (outcomeNames[row.subscriber.outcome] ?? String(row.subscriber.outcome)) : '-',
  },
  {
    header: 'ATTEMPTS',
    value: (row) => (row.subscriber ? String(row.subscriber.attempts) : '-'),
    align: 'right',
  },
  { header: 'PARKED', value: (row) => (row.subscriber ? (row.subscriber.parked ? 'yes' : 'no') : '-') },
  {
    header: 'ACKED',
    value: (row) => (row.subscriber?.ackedAt ? formatTimestamp(row.subscriber.ackedAt) : '-'),
  },
  { header: 'DETAIL', value: (row) => row.subscriber?.detail || row.note || '-' },
];

function rowsOf(cloud: CloudEventStatus): StatusRow[] {
  if (cloud.subscribers.length > 0) {
    return cloud.subscribers.map((subscriber) => ({ cloud: cloud.cloud, subscriber, note: '' }));
  }
  const note = cloud.complete ? 'expects no subscriber' : 'its expected subscribers are not known here yet';
  return [{ cloud: cloud.cloud, subscriber: null, note }];
}

/** The event, a table of every expected subscriber of every target cloud, and a `complete:` line. */
export function renderStatus(status: GetEventStatusResponse): string {
  const event = status.event;
  const header = renderFields([
    ['event', event?.id ?? '-'],
    ['type', event?.type ?? '-'],
    ['subject', event?.subject || '-'],
    ['origin', event ? `${event.originCloud} (${event.source})` : '-'],
    ['time', formatTimestamp(event?.time)],
    ['target', event?.targetCloud ? event.targetCloud : 'every cloud'],
  ]);
  const rows = status.clouds.flatMap(rowsOf);
  return `${header}\n${renderTable(statusColumns, rows)}${summaryLine(status)}\n`;
}

/** `complete: yes (6 of 6 subscribers in 3 clouds handled it)`, or what it waits on. */
function summaryLine(status: GetEventStatusResponse): string {
  const subscribers = status.clouds.flatMap((cloud) => cloud.subscribers);
  const handled = subscribers.filter(
    (s) => s.outcome === Outcome.OUTCOME_DONE || s.outcome === Outcome.OUTCOME_SKIPPED,
  ).length;
  const counts = `${handled} of ${subscribers.length} subscribers in ${status.clouds.length} clouds handled it`;
  if (status.complete) return `complete: yes (${counts})`;
  const parked = subscribers.filter((s) => s.parked).length;
  const waiting = status.clouds.filter((cloud) => !cloud.complete).map((cloud) => cloud.cloud);
  return `complete: no (${counts}${parked > 0 ? `, ${parked} parked` : ''}; waiting on ${waiting.join(', ')})`;
}
