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
    baseURL: `http://localhost:${PORT}`,
    browserName: 'chromium',
    launchOptions: { executablePath, args: CHROMIUM_ARGS },
    trace: 'retain-on-failure',
  },
  webServer: {
    // The built app, as users get it (npm test builds before this runs).
    command: `npx vite preview --port ${PORT} --strictPort --outDir ${DIST}`,
    url: `http://localhost:${PORT}`,
    reuseExistingServer: false,
    timeout: 60_000,
  },
});
