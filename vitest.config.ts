import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['src/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['src/test/setup-tf.ts'],
    testTimeout: 60_000,
    // tfjs keeps one global engine per process; files run in separate forks.
    pool: 'forks',
  },
});
