// Faults and limits the browser tests inject for real, in builds made for tests only (`vite build --mode test`:
// __TABCLR_TEST_HOOKS__). They wrap the trainer's environment, so neither the protocol nor the handler names a fault:
// the page passes its URL's query along opaquely, and the handler calls the environment's generic hooks.
//
//   ?test-checkpoint-delay=MS     every checkpoint waits MS between writing its state and switching the run to it
//   ?test-explore-chunk-delay=MS  an exploration waits MS before each chunk of images it embeds (cut short if cancelled)
//   ?test-memory-budget-mb=M      imports get a budget of M MiB of decoded images (navigator.deviceMemory cannot be set)
//   ?test-<fault>-at-step=K       the fault, once, before step K, in the first trainer of the page only (a restarted
//                                 trainer must not meet it again): nan (a weight becomes NaN), explode (the last batch
//                                 norm shrinks 10⁴-fold, so the gradients explode while the loss stays finite),
//                                 lose-device (the GPU device is destroyed or the WebGL context lost), out-of-memory
//                                 (the device reports an allocation failure), crash (an uncaught error in the worker)
//   ?test-decode-cache-version=V  the worker entry, which owns the databases, opens the decode cache or the checkpoints
//   ?test-checkpoints-version=V   at version V: a tab of a newer release, to which a tab of this one must give way
//                                 (src/data/database.ts)
import * as tf from '@tensorflow/tfjs';
import type { CheckpointStorage } from '../export/checkpoints';
import type { TrainableParam } from '../engine/optim';
import type { HandlerEnvironment } from './environment';

export interface FaultPlan {
  checkpointDelayMs?: number;
  exploreChunkDelayMs?: number;
  memoryBudgetBytes?: number;
  nanAtStep?: number;
  explodeAtStep?: number;
  loseDeviceAtStep?: number;
  outOfMemoryAtStep?: number;
  crashAtStep?: number;
  decodeCacheVersion?: number;
  checkpointsVersion?: number;
}

const STEP_FAULTS = { nan: 'nanAtStep', explode: 'explodeAtStep', 'lose-device': 'loseDeviceAtStep', 'out-of-memory': 'outOfMemoryAtStep', crash: 'crashAtStep' } as const;

/** The plan a page's query asks for. A restarted trainer keeps the delays, the budget and the versions, not the one-off faults. */
export function faultPlanFromQuery(query: string, restarted: boolean): FaultPlan {
  const params = new URLSearchParams(query);
  const plan: FaultPlan = {};
  const delay = Number(params.get('test-checkpoint-delay'));
  if (delay > 0) plan.checkpointDelayMs = delay;
  const exploreDelay = Number(params.get('test-explore-chunk-delay'));
  if (exploreDelay > 0) plan.exploreChunkDelayMs = exploreDelay;
  const budget = Number(params.get('test-memory-budget-mb'));
  if (budget > 0) plan.memoryBudgetBytes = budget * 2 ** 20;
  const cacheVersion = Number(params.get('test-decode-cache-version'));
  if (Number.isInteger(cacheVersion) && cacheVersion > 0) plan.decodeCacheVersion = cacheVersion;
  const checkpointsVersion = Number(params.get('test-checkpoints-version'));
  if (Number.isInteger(checkpointsVersion) && checkpointsVersion > 0) plan.checkpointsVersion = checkpointsVersion;
  if (restarted) return plan;
  for (const [name, key] of Object.entries(STEP_FAULTS)) {
    const step = Number(params.get(`test-${name}-at-step`));
    if (Number.isInteger(step) && step > 0) plan[key] = step;
  }
  return plan;
}

/** What the faults act on where the trainer runs: the browser's device and worker, or a test's fakes. */
export interface FaultTargets {
  /** The WebGPU device destroyed, or the WebGL context lost, as a driver reset does. */
  loseDevice(): void;
  /** The device reports an out-of-memory error, as when a buffer cannot be allocated. */
  reportOutOfMemory(): void;
  /** An uncaught error from a task of its own. */
  crash(): void;
}

/**
 * The environment with the plan's faults injected. `plan` is read at each use, so that the worker can set it when the
 * page's init message arrives, after the handler was made.
 */
export function withInjectedFaults(env: HandlerEnvironment, plan: () => FaultPlan, targets: FaultTargets): HandlerEnvironment {
  const fired = new Set<keyof FaultPlan>();
  /** Whether `fault` is planned for `step` and has not fired yet; it fires now. */
  const due = (fault: keyof FaultPlan, step: number) => {
    if (plan()[fault] !== step || fired.has(fault)) return false;
    fired.add(fault);
    return true;
  };
  return {
    ...env,
    importImages: (files, options) => {
      const budget = plan().memoryBudgetBytes;
      return env.importImages(files, budget ? { ...options, memoryBudget: budget } : options);
    },
    beforeExploreChunk: async (signal: AbortSignal) => {
      await env.beforeExploreChunk?.(signal);
      const delay = plan().exploreChunkDelayMs;
      if (delay) await abortableDelay(delay, signal);
    },
    openCheckpoints: async () => {
      const store = await env.openCheckpoints();
      const delay = plan().checkpointDelayMs;
      if (!store || !delay) return store;
      return delayedCommits(store, delay);
    },
    beforeStep: (step: number, params: TrainableParam[]) => {
      env.beforeStep?.(step, params);
      if (due('explodeAtStep', step)) {
        // The projection's output batch norm shrunk 10⁴-fold: the loss normalises z and barely moves, but that layer's
        // gradients grow 10⁴-fold, as when a layer's scale collapses in a diverging run.
        tf.tidy(() => {
          for (const p of params.filter((p) => /^head\d+_bn\//.test(p.name)).slice(-2)) p.variable.assign(tf.mul(p.variable, 1e-4));
        });
      }
      if (due('nanAtStep', step)) {
        const weight = params[0]!.variable;
        tf.tidy(() => weight.assign(tf.fill(weight.shape, NaN)));
      }
      if (due('loseDeviceAtStep', step)) targets.loseDevice();
      if (due('outOfMemoryAtStep', step)) targets.reportOutOfMemory();
      if (due('crashAtStep', step)) targets.crash();
    },
  };
}

/** Resolves after `ms`, or as soon as `signal` aborts. */
function abortableDelay(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** The store, with every save held between writing its state and switching the run to it: time to close the tab. */
function delayedCommits(store: CheckpointStorage, delayMs: number): CheckpointStorage {
  return {
    list: () => store.list(),
    load: (id) => store.load(id),
    delete: (id) => store.delete(id),
    save: (record, state, hooks = {}) =>
      store.save(record, state, {
        ...hooks,
        beforeCommit: async () => {
          await hooks.beforeCommit?.();
          await new Promise((resolve) => setTimeout(resolve, delayMs));
        },
      }),
  };
}
