/**
 * The `alliance` command as a user runs it: the built binary (dist/, built by `pretest`)
 * in its own process. `alliance dev` is what `npm start` runs.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { findDevBasePort } from './harness.js';

const main = fileURLToPath(new URL('../../dist/src/main.js', import.meta.url));
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function tempDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'alliance-cli-'));
  dirs.push(dir);
  return dir;
}

interface Running {
  child: ChildProcess;
  /** Resolves with the first stdout line `match` accepts, including lines already seen. */
  line(match: (line: string) => boolean): Promise<string>;
  exited: Promise<{ code: number | null; stdout: string; stderr: string }>;
}

/** Runs the built CLI; collects its whole output and lets a test wait for a line. */
function alliance(args: string[]): Running {
  const child = spawn(process.execPath, [main, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  const lines: string[] = [];
  const waiters: ((line: string) => void)[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (line) => {
    lines.push(line);
    for (const waiter of [...waiters]) waiter(line);
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const exited = new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) =>
    // 'close' comes after the output streams have ended, so nothing is missed.
    child.once('close', (code) => resolve({ code, stdout: lines.join('\n'), stderr })),
  );
  return {
    child,
    exited,
    line: (match) =>
      new Promise((resolve, reject) => {
        const found = lines.find(match);
        if (found !== undefined) return resolve(found);
        const waiter = (line: string): void => {
          if (match(line)) resolve(line);
        };
        waiters.push(waiter);
        void exited.then(({ code }) =>
          reject(new Error(`exited with ${code}; stdout:\n${lines.join('\n')}\n${stderr}`)),
        );
      }),
  };
}

describe('alliance dev (npm start)', () => {
  it('runs three clouds that see each other, answers the CLI, and stops cleanly on Ctrl-C', async () => {
    const basePort = await findDevBasePort(3);
    const dev = alliance(['dev', '--clouds', '3', '--base-port', String(basePort), '--dir', tempDir()]);
    await dev.line((line) => line.startsWith('Ctrl-C stops every node'));

    // Watch cloud-c's catalog until all three clouds are in it: an event, not a poll.
    const watch = alliance(['--address', `127.0.0.1:${basePort + 20}`, 'catalog', 'watch', '--json']);
    const clouds = new Set<string>();
    await watch.line((line) => {
      const change = JSON.parse(line) as { catalog?: { cloud?: string } };
      if (change.catalog?.cloud) clouds.add(change.catalog.cloud);
      return clouds.size === 3;
    });
    watch.child.kill('SIGINT');

    const endpoints = alliance([
      '--address',
      `127.0.0.1:${basePort}`,
      'catalog',
      'endpoints',
      '--type',
      'compute',
      '--interface',
      'public',
      '--json',
    ]);
    const result = await endpoints.exited;
    expect(result.code).toBe(0);
    const parsed = JSON.parse(result.stdout) as { endpoints: { cloud: string; url: string }[] };
    expect(parsed.endpoints.map((e) => `${e.cloud} ${e.url}`)).toEqual([
      'cloud-a https://cloud-a.alliance.test:8774/v2.1',
      'cloud-b https://cloud-b.alliance.test:8774/v2.1',
      'cloud-c https://cloud-c.alliance.test:8774/v2.1',
    ]);

    dev.child.kill('SIGINT');
    const { code, stdout } = await dev.exited;
    expect(code).toBe(0);
    expect(stdout).toContain('stopped.');
  });
});

describe('alliance serve', () => {
  it('refuses an invalid configuration, naming every bad key, with a non-zero exit', async () => {
    const dir = tempDir();
    const config = join(dir, 'bad.yaml');
    writeFileSync(
      config,
      [
        'federation: Demo',
        'cloud: cloud-a',
        'node: n1',
        'dataDir: data',
        'listen:',
        '  local: 0.0.0.0:7700',
        '  peer: 127.0.0.1:99999',
        'tls: { ca: ca.pem, cert: node.pem, key: node.key.pem }',
        'seeds: [nowhere]',
        'colour: blue',
        '',
      ].join('\n'),
    );
    const { code, stderr } = await alliance(['serve', '--config', config]).exited;
    expect(code).toBe(2);
    const keys = stderr
      .split('\n')
      .filter((line) => /^[a-z]/.test(line) && line.includes(':') && !line.startsWith('alliance:'))
      .map((line) => line.slice(0, line.indexOf(':')));
    expect(keys.sort()).toEqual(['colour', 'federation', 'listen.local', 'listen.peer', 'seeds[0]']);
    expect(stderr).not.toContain('    at ');
  });

  it('says clearly when the configuration file does not exist', async () => {
    const { code, stderr } = await alliance(['serve', '--config', join(tempDir(), 'missing.yaml')]).exited;
    expect(code).toBe(2);
    expect(stderr).toMatch(/missing\.yaml/);
    expect(stderr).not.toContain('    at ');
  });
});
