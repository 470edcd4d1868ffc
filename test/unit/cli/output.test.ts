import { Metadata, status as GrpcStatus, type ServiceError } from '@grpc/grpc-js';
import { describe, expect, test } from 'vitest';
import { describeServiceError } from '../../../src/cli/client.js';
import { formatAgo, formatTimestamp, renderFields, renderTable, toOneLine } from '../../../src/cli/output.js';

const nowMs = Date.UTC(2024, 0, 15, 12, 0, 0);

describe('formatAgo', () => {
  test.each([
    [undefined, 'never'],
    [new Date(Number.NaN), 'never'],
    [new Date(nowMs + 5_000), 'just now'],
    [new Date(nowMs), 'just now'],
    [new Date(nowMs - 999), 'just now'],
    [new Date(nowMs - 1_000), '1s ago'],
    [new Date(nowMs - 59_999), '59s ago'],
    [new Date(nowMs - 60_000), '1m ago'],
    [new Date(nowMs - 3_599_999), '59m ago'],
    [new Date(nowMs - 3_600_000), '1h ago'],
    [new Date(nowMs - 86_399_999), '23h ago'],
    [new Date(nowMs - 86_400_000), '1d ago'],
    [new Date(nowMs - 400 * 86_400_000), '400d ago'],
  ])('%s reads %s', (time, expected) => {
    expect(formatAgo(time, nowMs)).toBe(expected);
  });
});

describe('formatTimestamp', () => {
  test('is RFC 3339 in UTC to the second, or "-" when unset', () => {
    expect(formatTimestamp(new Date(nowMs + 999))).toBe('2024-01-15T12:00:00Z');
    expect(formatTimestamp(undefined)).toBe('-');
  });
});

describe('renderTable', () => {
  test('pads each column to its widest cell, right-aligns numbers and trims line ends', () => {
    const rows = [
      { name: 'a', count: 1, note: '' },
      { name: 'longer-name', count: 12345, note: 'two\nlines\u001b[0m' },
    ];
    const table = renderTable(
      [
        { header: 'NAME', value: (row) => row.name },
        { header: 'N', value: (row) => String(row.count), align: 'right' },
        { header: 'NOTE', value: (row) => row.note },
      ],
      rows,
    );
    expect(table).toBe(
      ['NAME             N  NOTE', 'a                1', 'longer-name  12345  two lines [0m', ''].join('\n'),
    );
  });

  test('with no rows is the header alone', () => {
    expect(renderTable([{ header: 'ONLY', value: (row: string) => row }], [])).toBe('ONLY\n');
  });
});

describe('renderFields', () => {
  test('aligns values after their labels', () => {
    expect(
      renderFields([
        ['Node', 'a/b'],
        ['Federation', 'acme'],
        ['Empty', ''],
      ]),
    ).toBe('Node:       a/b\nFederation: acme\nEmpty:\n');
  });
});

describe('toOneLine', () => {
  test('replaces runs of control characters, C1 and DEL included, with one space', () => {
    expect(toOneLine('a\r\n\tb\u007fc\u009bd')).toBe('a b c d');
  });
});

describe('describeServiceError', () => {
  const error = (code: GrpcStatus, details: string): ServiceError =>
    Object.assign(new Error(`${code} ${details}`), { code, details, metadata: new Metadata() });
  const context = { address: 'unix:/run/alliance/api.sock', timeoutMs: 250 };

  test.each([
    [
      GrpcStatus.UNAVAILABLE,
      'No connection established',
      'UNAVAILABLE',
      'cannot reach the local API at unix:/run/alliance/api.sock (is the node running?)',
    ],
    [
      GrpcStatus.DEADLINE_EXCEEDED,
      'Deadline exceeded',
      'DEADLINE_EXCEEDED',
      'timed out after 250 ms waiting for the local API at unix:/run/alliance/api.sock',
    ],
    [GrpcStatus.NOT_FOUND, 'no cloud named x', 'NOT_FOUND', 'NOT_FOUND: no cloud named x'],
    [GrpcStatus.INTERNAL, '  ', 'INTERNAL', 'INTERNAL'],
    [99, 'from the future', 'UNKNOWN', 'UNKNOWN: from the future'],
  ])('status %i (%s) reads as %s: %s', (code, details, expectedCode, expectedMessage) => {
    const described = describeServiceError(error(code, details), context);
    expect([described.code, described.message]).toEqual([expectedCode, expectedMessage]);
  });
});
