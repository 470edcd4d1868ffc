/**
 * The bare grpc-js echo server (bench/echo-server.ts) as a child process: the ceiling that node
 * figures are set beside. Resolves once the child has printed the port it listens on.
 */
import type { BenchChild } from './child-process.js';
import { spawnChild } from './child-process.js';
import { assertBuilt, echoServerJs } from './paths.js';

const echoStartTimeoutMs = 20_000;

export async function startEchoServer(): Promise<{ child: BenchChild; port: number }> {
  assertBuilt(echoServerJs);
  let settle: { resolve: (port: number) => void; reject: (err: Error) => void } | null = null;
  const port = new Promise<number>((resolve, reject) => {
    settle = { resolve, reject };
  });
  // A promise settles once: whichever of port, exit or timeout comes first wins.
  const child = spawnChild({
    name: 'echo-server',
    script: echoServerJs,
    onStdoutLine: (line) => {
      const parsed = JSON.parse(line) as { port?: unknown };
      if (typeof parsed.port === 'number') settle?.resolve(parsed.port);
    },
  });
  const timer = setTimeout(
    () => settle?.reject(new Error(`echo server printed no port within ${echoStartTimeoutMs} ms`)),
    echoStartTimeoutMs,
  );
  void child.exited.then((code) =>
    settle?.reject(new Error(`echo server exited (${code}) before listening:\n${child.outputTail()}`)),
  );
  try {
    return { child, port: await port };
  } catch (err) {
    await child.stop();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
