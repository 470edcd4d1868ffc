import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const buf = fileURLToPath(new URL('../../node_modules/.bin/buf', import.meta.url));

/**
 * Runs `buf curl` (our grpcurl) over plaintext gRPC with the flags docs/API.md gives
 * (--connect-timeout takes seconds, --timeout a duration) and resolves with its exit code
 * (the gRPC code × 8 on a failed call); never hangs past 20 s.
 */
export function bufCurl(args: string[]): Promise<{ exitCode: number; stdout: string; stderr: string }> {
  const flags = [
    '--protocol',
    'grpc',
    '--http2-prior-knowledge',
    '--connect-timeout',
    '5',
    '--timeout',
    '10s',
  ];
  return new Promise((resolve) => {
    execFile(buf, ['curl', ...flags, ...args], { timeout: 20_000 }, (err, stdout, stderr) => {
      const exitCode = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ exitCode, stdout, stderr });
    });
  });
}
