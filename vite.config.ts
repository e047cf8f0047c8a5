import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

export default defineConfig({
  plugins: [react()],
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
