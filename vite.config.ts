import react from '@vitejs/plugin-react';
import { readFileSync } from 'node:fs';
import { defineConfig, type Plugin } from 'vite';

const { version } = JSON.parse(readFileSync(new URL('./package.json', import.meta.url), 'utf8')) as { version: string };

/**
 * The built app's Content-Security-Policy. Scripts, styles, workers and requests come from the app's own origin
 * only: no inline script, no eval (not even WebAssembly's: tfjs runs without it, see README.md, "Privacy and
 * security"), no plugin, no <base>, and no form submission (there is no server to send a form to). Thumbnails and
 * sprites are drawn on canvases, so images need nothing beyond 'self' either. e2e/privacy.spec.ts holds the app to it.
 */
const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "worker-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'none'",
].join('; ');

/** Directives a <meta> policy cannot carry (browsers ignore them there): only the header form has them. */
const CONTENT_SECURITY_POLICY_HEADER = `${CONTENT_SECURITY_POLICY}; frame-ancestors 'none'`;

/**
 * The policy as a <meta> in the built index.html, so that it holds on any static host. Build only: the dev server
 * injects an inline script (React's refresh preamble) that the policy would block.
 */
function contentSecurityPolicy(): Plugin {
  return {
    name: 'tabclr:content-security-policy',
    apply: 'build',
    transformIndexHtml: () => [
      { tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: CONTENT_SECURITY_POLICY }, injectTo: 'head-prepend' },
    ],
  };
}

export default defineConfig(({ mode }) => ({
  plugins: [react(), contentSecurityPolicy()],
  define: {
    __TABCLR_VERSION__: JSON.stringify(version),
    // `vite build --mode test` (npm run build:test, into dist-test) makes the build the browser tests inject faults
    // into; every other build leaves that code out (src/worker/faults.ts).
    __TABCLR_TEST_HOOKS__: JSON.stringify(mode === 'test'),
  },
  // Module workers: the trainer worker imports tfjs as ES modules.
  worker: { format: 'es' },
  build: {
    target: 'es2022',
    // tfjs with its WebGPU and WebGL backends is large by nature; it lives in the worker's chunk.
    chunkSizeWarningLimit: 4096,
  },
  // The header form as well: a module worker takes its policy from its own response's headers, not from the page's
  // <meta>, and frame-ancestors exists only as a header. A static host should send the same header.
  preview: { port: 4173, strictPort: true, headers: { 'Content-Security-Policy': CONTENT_SECURITY_POLICY_HEADER } },
  server: { port: 5173 },
}));
