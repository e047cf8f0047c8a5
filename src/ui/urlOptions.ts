import type { BackendPreference, TestHooks } from '../worker/protocol';

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
 * Faults and delays for the browser tests, which inject them for real: `?test-checkpoint-delay=MS` holds every
 * checkpoint between writing its state and switching the run to it; `?test-nan-at-step=K` writes NaN into a weight
 * before step K; `?test-lose-device-at-step=K` destroys the WebGPU device before step K. Absent parameters inject
 * nothing.
 */
export function testHooksFromUrl(search: string): TestHooks {
  const params = new URLSearchParams(search);
  const hooks: TestHooks = {};
  const delay = Number(params.get('test-checkpoint-delay'));
  if (delay > 0) hooks.checkpointCommitDelayMs = delay;
  const nan = Number(params.get('test-nan-at-step'));
  if (Number.isInteger(nan) && nan > 0) hooks.nanAtStep = nan;
  const lose = Number(params.get('test-lose-device-at-step'));
  if (Number.isInteger(lose) && lose > 0) hooks.loseDeviceAtStep = lose;
  return hooks;
}
