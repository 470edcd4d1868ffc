/**
 * Temporary directories for benchmark federations, tracked so an interrupted run (bench/run.ts)
 * can remove those still in use as well as finished benchmarks remove their own.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const liveDirs = new Set<string>();

export function makeTempDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  liveDirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  liveDirs.delete(dir);
}

/** Removes every directory made here and not yet removed. */
export function removeLiveTempDirs(): void {
  for (const dir of liveDirs) removeTempDir(dir);
}
