import react from '@vitejs/plugin-react';
import { readFileSync } from 'node:fs';
import { defineConfig } from 'vite';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

export default defineConfig({
  plugins: [react()],
  define: { __TABCLR_VERSION__: JSON.stringify(version) },
  // Module workers: the trainer worker imports tfjs as ES modules.
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // tfjs with its WebGPU and WebGL backends is large by nature; it lives in the worker's chunk.
    chunkSizeWarningLimit: 4096,
  },
  preview: { port: 4173, strictPort: true },
  server: { port: 5173 },
});
