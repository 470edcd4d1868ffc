/**
 * Where the compiled entry points are. Benchmarks run from dist/ (`npm run bench` builds first),
 * and spawn the compiled node entry and echo server as child processes.
 */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** dist/ (this file is dist/bench/lib/paths.js once compiled). */
const distDir = fileURLToPath(new URL('../../', import.meta.url));

/** `alliance` itself: dist/src/main.js. */
export const allianceMainJs = `${distDir}src/main.js`;
/** The bare grpc-js echo server: dist/bench/echo-server.js. */
export const echoServerJs = `${distDir}bench/echo-server.js`;

export function assertBuilt(file: string): void {
  if (!existsSync(file)) {
    throw new Error(`${file} does not exist: run the benchmarks with \`npm run bench\` (it builds first)`);
  }
}
