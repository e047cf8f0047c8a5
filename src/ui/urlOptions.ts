import type { BackendPreference } from '../worker/protocol';

/** `?backend=webgl` forces the WebGL backend (for comparing backends, or for drivers with a broken WebGPU). */
export function backendPreferenceFromUrl(search: string): BackendPreference {
  const value = new URLSearchParams(search).get('backend');
  return value === 'webgpu' || value === 'webgl' ? value : 'auto';
}

/** `?profile` times each step's phases (augment, forward+backward, update), at the cost of two GPU round trips a step. */
export function profileStepsFromUrl(search: string): boolean {
  return new URLSearchParams(search).has('profile');
}

/** `?automation` lets a script driving the page (npm run train, benchmarks) follow the trainer: see src/automation.ts. */
export function automationFromUrl(search: string): boolean {
  return new URLSearchParams(search).has('automation');
}

/**
 * The query's `test-…` parameters, passed to the trainer as they are: a build made for the browser tests injects the
 * faults they name (src/worker/faults.ts lists them); any other build ignores them. Empty when there are none.
 */
export function testQueryFromUrl(search: string): string {
  const params = [...new URLSearchParams(search)].filter(([name]) => name.startsWith('test-'));
  return params.length ? new URLSearchParams(params).toString() : '';
}
