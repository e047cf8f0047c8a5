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
 * checkpoint between writing its state and switching the run to it; `?test-memory-budget-mb=M` gives imports a memory
 * budget of M MiB in place of the device's (which a test cannot set: the worker reads navigator.deviceMemory). Each `?test-…-at-step=K` injects its fault
 * once, before step K: `nan` writes NaN into a weight, `explode` shrinks the last batch norm so the gradients explode,
 * `lose-device` destroys the WebGPU device (or loses the WebGL context), `out-of-memory` has the device report an
 * out-of-memory error, `crash` throws an uncaught error in the worker. Absent parameters inject nothing.
 */
export function testHooksFromUrl(search: string): TestHooks {
  const params = new URLSearchParams(search);
  const hooks: TestHooks = {};
  const delay = Number(params.get('test-checkpoint-delay'));
  if (delay > 0) hooks.checkpointCommitDelayMs = delay;
  const budget = Number(params.get('test-memory-budget-mb'));
  if (budget > 0) hooks.memoryBudgetBytes = budget * 2 ** 20;
  const faults = { nan: 'nanAtStep', explode: 'explodeAtStep', 'lose-device': 'loseDeviceAtStep', 'out-of-memory': 'outOfMemoryAtStep', crash: 'crashAtStep' } as const;
  for (const [name, hook] of Object.entries(faults)) {
    const step = Number(params.get(`test-${name}-at-step`));
    if (Number.isInteger(step) && step > 0) hooks[hook] = step;
  }
  return hooks;
}
