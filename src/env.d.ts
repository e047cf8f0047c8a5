/** tabclr's version from package.json, set at build time (vite.config.ts, vitest.config.ts). */
declare const __TABCLR_VERSION__: string;
