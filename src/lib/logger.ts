/**
 * One pino root logger per process; components take `log.child({ component })`.
 * Messages are constant strings, data goes in fields. Anything that could hold a
 * token or a key is redacted by path; log a fingerprint instead (lib/fingerprint.ts).
 */
import pino from 'pino';
import type { Logger } from 'pino';

export type { Logger };

export const redactedPaths = [
  'token',
  '*.token',
  'password',
  '*.password',
  'key',
  '*.key',
  'privateKey',
  '*.privateKey',
];

export function createLogger(
  options: { level?: string; name?: string; destination?: pino.DestinationStream } = {},
): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      name: options.name,
      redact: { paths: redactedPaths, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
    },
    options.destination,
  );
}

/** A logger that writes nothing, for tests and tools that own their output. */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
