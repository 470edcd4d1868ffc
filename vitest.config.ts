import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/e2e/**', 'node_modules/**', 'dist/**'],
    globalSetup: ['test/setup/e2e-notice.ts'],
    testTimeout: 30_000,
    hookTimeout: 30_000,
    // Two cores: integration tests start real gRPC servers; keep parallelism modest.
    maxWorkers: 2,
  },
});
