/** tabclr's version from package.json, set at build time (vite.config.ts, vitest.config.ts). */
declare const __TABCLR_VERSION__: string;

/** True in builds made for the browser tests (`vite build --mode test`): the trainer then injects the faults the page's URL asks for (src/worker/faults.ts). */
declare const __TABCLR_TEST_HOOKS__: boolean;
