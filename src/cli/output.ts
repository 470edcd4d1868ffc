/**
 * Text output for the `alliance` commands: aligned tables and how times read.
 *
 * Tables are plain text (no colour, no borders) so they survive pipes, `grep` and `less`; machine
 * readers use `--json`. Cells come from other nodes (peer errors, catalog descriptions), so control
 * characters are replaced before they reach the terminal: one cell is always one line.
 */
import { Option } from 'commander';

/** The options of a command that can print its response as proto3 JSON. */
export interface JsonOption {
  json?: boolean;
}

/** `--json`: print the response as proto3 JSON instead of the table or fields. */
export const jsonOption = (): Option => new Option('--json', 'print the response as proto3 JSON');

export interface Column<T> {
  header: string;
  value: (row: T) => string;
  /** Numbers read best right-aligned. Default left. */
  align?: 'left' | 'right';
}

const columnGap = '  ';

/** Renders a header row and one line per row, columns padded to their widest cell; ends with a newline. */
export function renderTable<T>(columns: readonly Column<T>[], rows: readonly T[]): string {
  const cells = rows.map((row) => columns.map((column) => toOneLine(column.value(row))));
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...cells.map((line) => (line[i] ?? '').length)),
  );
  const renderLine = (line: readonly string[]): string =>
    line
      .map((cell, i) => {
        const width = widths[i] ?? 0;
        return columns[i]?.align === 'right' ? cell.padStart(width) : cell.padEnd(width);
      })
      .join(columnGap)
      .trimEnd();
  const header = columns.map((column) => column.header);
  return [header, ...cells].map((line) => `${renderLine(line)}\n`).join('');
}

/** Renders `label: value` lines with the values aligned. */
export function renderFields(fields: readonly (readonly [label: string, value: string])[]): string {
  const width = Math.max(0, ...fields.map(([label]) => label.length + 1));
  return fields
    .map(([label, value]) => `${`${label}:`.padEnd(width)} ${toOneLine(value)}`.trimEnd() + '\n')
    .join('');
}

// C0 and C1 control characters, DEL included: a remote string must not move the cursor or recolour.
// eslint-disable-next-line no-control-regex
const controlCharacters = /[\u0000-\u001f\u007f-\u009f]+/g;

/** Replaces control characters (newlines, escapes) with a space so remote text stays on one line. */
export function toOneLine(text: string): string {
  return text.replace(controlCharacters, ' ');
}

/** RFC 3339 in UTC to the second, e.g. `2023-11-14T22:13:20Z`; `-` when unset. */
export function formatTimestamp(time: Date | undefined): string {
  if (time === undefined || Number.isNaN(time.getTime())) return '-';
  return time.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

const unitsMs: readonly (readonly [suffix: string, ms: number])[] = [
  ['d', 86_400_000],
  ['h', 3_600_000],
  ['m', 60_000],
  ['s', 1_000],
];

/**
 * How long before `nowMs` a time was, in its largest whole unit: `2s ago`, `5m ago`, `3d ago`.
 * `never` when unset. A time slightly ahead (clock skew between the CLI and the node) reads `just now`.
 */
export function formatAgo(time: Date | undefined, nowMs: number): string {
  if (time === undefined || Number.isNaN(time.getTime())) return 'never';
  const elapsedMs = nowMs - time.getTime();
  if (elapsedMs < 1_000) return 'just now';
  for (const [suffix, unitMs] of unitsMs) {
    if (elapsedMs >= unitMs) return `${Math.floor(elapsedMs / unitMs)}${suffix} ago`;
  }
  return 'just now';
}

/** One pretty-printed JSON document (already proto3 JSON, from the generated `toJSON`). */
export function renderJson(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}
