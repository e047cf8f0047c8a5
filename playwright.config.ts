import { defineConfig } from '@playwright/test';
import { existsSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_ARGS, systemChromium } from './e2e/browser';

const executablePath = systemChromium();
if (!executablePath) {
  const cache = process.env.PLAYWRIGHT_BROWSERS_PATH ?? join(homedir(), '.cache', 'ms-playwright');
  const bundled = existsSync(cache) && readdirSync(cache).some((d) => d.startsWith('chromium'));
  if (!bundled) {
    console.error(
      'No Chromium for the browser tests: install Debian\'s (apt-get install chromium), set CHROMIUM_PATH, or run `npx playwright install chromium`.',
    );
    process.exit(1);
  }
}

// E2E_PORT and E2E_DIST let two checkouts' suites (or a suite and a build) run side by side on one machine.
const PORT = Number(process.env.E2E_PORT ?? 4173);
const DIST = process.env.E2E_DIST ?? 'dist';
// The build made for the browser tests (npm run build:test), served beside the app: the specs that inject faults
// through the URL run against it, every other spec against the app as users get it.
const TEST_BUILD_PORT = PORT + 10;
const TEST_BUILD_DIST = process.env.E2E_TEST_DIST ?? 'dist-test';
const INJECTING = /(faults|checkpoints|storage|explore-interrupted)\.spec\.ts/;

const server = (port: number, dist: string) => ({
  command: `npx vite preview --port ${port} --strictPort --outDir ${dist}`,
  url: `http://localhost:${port}`,
  reuseExistingServer: false,
  timeout: 60_000,
});

export default defineConfig({
  testDir: 'e2e',
  // Software WebGPU is slow (a tiny training step takes seconds): generous per-test time, no parallel browsers on 2 cores.
  timeout: 180_000,
  expect: { timeout: 30_000 },
  workers: 1,
  fullyParallel: false,
  retries: 0,
  reporter: process.env.CI ? [['list']] : [['list']],
  use: {
    browserName: 'chromium',
    launchOptions: { executablePath, args: CHROMIUM_ARGS },
    trace: 'retain-on-failure',
  },
  projects: [
    { name: 'app', testIgnore: INJECTING, use: { baseURL: `http://localhost:${PORT}` } },
    { name: 'faults injected', testMatch: INJECTING, use: { baseURL: `http://localhost:${TEST_BUILD_PORT}` } },
  ],
  // The built apps (npm test builds both before this runs).
  webServer: [server(PORT, DIST), server(TEST_BUILD_PORT, TEST_BUILD_DIST)],
});
