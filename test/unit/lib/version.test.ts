import { readFileSync } from 'node:fs';
import { describe, expect, test } from 'vitest';
import { readPackageVersion, softwareVersion } from '../../../src/lib/version.js';

const packageVersion = (
  JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as {
    version: string;
  }
).version;

describe('readPackageVersion', () => {
  test('finds the enclosing alliance package.json from a module URL', () => {
    expect(readPackageVersion(new URL('../../../src/cli/program.ts', import.meta.url).href)).toBe(
      packageVersion,
    );
    expect(softwareVersion).toBe(packageVersion);
  });

  test('falls back to "unknown" when no alliance package encloses the module', () => {
    expect(readPackageVersion('file:///nonexistent/dir/module.js')).toBe('unknown');
  });
});
