/** Helpers shared by the pki tests: temporary directories and whole-error assertions. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach } from 'vitest';
import { AllianceError } from '../../../src/lib/errors.js';

/** A fresh temporary directory per call, removed after the current test. */
export function useTempDirs(): () => string {
  const dirs: string[] = [];
  afterEach(() => {
    for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
  });
  return () => {
    const dir = mkdtempSync(join(tmpdir(), 'alliance-pki-'));
    dirs.push(dir);
    return dir;
  };
}

/** The code and message of the AllianceError `fn` throws, so tests can assert the whole error. */
export function allianceErrorOf(fn: () => unknown): { code: string; message: string } {
  try {
    fn();
  } catch (err) {
    if (err instanceof AllianceError) return { code: err.code, message: err.message };
    throw err;
  }
  throw new Error('expected an AllianceError, but nothing was thrown');
}
