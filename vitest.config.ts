import { readFileSync } from 'node:fs';
import { defineConfig } from 'vitest/config';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig({
  define: { __TABCLR_VERSION__: JSON.stringify(version), __TABCLR_TEST_HOOKS__: 'false' },
  test: {
    include: ['src/**/*.test.ts', 'scripts/**/*.test.ts'],
    environment: 'node',
    setupFiles: ['src/test/setup-tf.ts'],
    testTimeout: 60_000,
    // tfjs keeps one global engine per process; files run in separate forks.
    pool: 'forks',
  },
});
