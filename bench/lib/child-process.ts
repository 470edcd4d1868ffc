/**
 * Child processes for benchmarks: each runs `node SCRIPT ARGS` with its own event loop (so a
 * server never shares a thread with the load generator), keeps the tail of its output for error
 * messages, and is stopped with SIGTERM and awaited (SIGKILL if it does not exit in time).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';

/** Output lines kept per child, for the message when it fails. */
const outputTailLinesMax = 40;
/** How long a child has to exit after SIGTERM before it is killed. */
const stopTimeoutMsDefault = 10_000;

export interface ChildOptions {
  /** Shown in messages, e.g. `cloud-b` or `echo-server`. */
  name: string;
  script: string;
  args?: readonly string[];
  /** Node's own flags, before the script (e.g. `--cpu-prof`). */
  nodeFlags?: readonly string[];
  cwd?: string;
  /** Called with each stdout line (e.g. to read a port the child prints). */
  onStdoutLine?: (line: string) => void;
}

export interface BenchChild {
  readonly name: string;
  readonly pid: number;
  /** hrtime (ns) just after spawn() returned. */
  readonly spawnedAtNs: bigint;
  /** Resolves with the exit code (or signal name) when the process ends, whoever ended it. */
  readonly exited: Promise<number | string>;
  hasExited(): boolean;
  /** The last lines of stdout and stderr. */
  outputTail(): string;
  /** SIGTERM, then waits for the exit; SIGKILL after timeoutMs. Idempotent. Returns ms to exit. */
  stop(timeoutMs?: number): Promise<number>;
}

/** Every child still running, so an interrupted run can stop them all (bench/run.ts). */
const liveChildren = new Set<BenchChild>();
/** Sends SIGTERM at once, without waiting: the last resort when this process exits. */
const terminators = new Map<BenchChild, () => void>();

export function spawnChild(options: ChildOptions): BenchChild {
  const child: ChildProcess = spawn(
    process.execPath,
    [...(options.nodeFlags ?? []), options.script, ...(options.args ?? [])],
    {
      cwd: options.cwd,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const spawnedAtNs = process.hrtime.bigint();
  if (child.pid === undefined) throw new Error(`cannot spawn ${options.name} (${options.script})`);
  const pid = child.pid;
  const tail: string[] = [];
  const keep = (line: string): void => {
    tail.push(line);
    if (tail.length > outputTailLinesMax) tail.shift();
  };
  if (child.stdout) {
    createInterface({ input: child.stdout }).on('line', (line) => {
      keep(line);
      options.onStdoutLine?.(line);
    });
  }
  if (child.stderr) createInterface({ input: child.stderr }).on('line', keep);

  let exitedFlag = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      exitedFlag = true;
      resolve(code ?? signal ?? 'unknown');
    });
    child.once('error', (err) => {
      keep(`spawn error: ${err.message}`);
      exitedFlag = true;
      resolve('spawn-error');
    });
  });

  let stopping: Promise<number> | null = null;
  const handle: BenchChild = {
    name: options.name,
    pid,
    spawnedAtNs,
    exited,
    hasExited: () => exitedFlag,
    outputTail: () => tail.join('\n'),
    stop(timeoutMs = stopTimeoutMsDefault) {
      stopping ??= (async () => {
        const startNs = process.hrtime.bigint();
        if (exitedFlag) return 0;
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const timedOut = new Promise<'timeout'>((resolve) => {
          timer = setTimeout(() => resolve('timeout'), timeoutMs);
        });
        const outcome = await Promise.race([exited, timedOut]);
        clearTimeout(timer);
        if (outcome === 'timeout') {
          process.stderr.write(
            `bench: ${options.name} did not exit ${timeoutMs} ms after SIGTERM; killing it\n`,
          );
          child.kill('SIGKILL');
          await exited;
        }
        return Number(process.hrtime.bigint() - startNs) / 1e6;
      })();
      return stopping;
    },
  };
  liveChildren.add(handle);
  terminators.set(handle, () => child.kill('SIGTERM'));
  void exited.then(() => {
    liveChildren.delete(handle);
    terminators.delete(handle);
  });
  return handle;
}

/** Stops every child this process started that is still running (an interrupted run). */
export async function stopLiveChildren(): Promise<void> {
  await stopAll([...liveChildren]);
}

/**
 * Sends SIGTERM to every child still running, synchronously: for a `process.on('exit')` hook,
 * so that a run that dies (e.g. EPIPE on stdout when piped into `head`) leaves no node behind.
 */
export function terminateLiveChildrenNow(): void {
  for (const terminate of terminators.values()) terminate();
}

/** Stops every child in parallel; never rejects (used in `finally`). */
export async function stopAll(children: readonly (BenchChild | null | undefined)[]): Promise<void> {
  await Promise.allSettled(children.map((child) => child?.stop()));
}

/** Clock ticks per second for /proc/<pid>/stat; 100 on every Linux we run on. */
const clockTicksPerSecond = 100;

/**
 * CPU time (user + system, ms) a process has used, from /proc/<pid>/stat; null where /proc is
 * not available. Used to show which side of a benchmark is saturated.
 */
export function processCpuMs(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name, which is in parentheses and may contain spaces.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime and stime are fields 14 and 15 of the whole line, 12 and 13 after the name.
    const ticks = Number(fields[11]) + Number(fields[12]);
    return Number.isFinite(ticks) ? (ticks * 1000) / clockTicksPerSecond : null;
  } catch {
    return null;
  }
}
