// The trainer worker's entry: tfjs lives here, never on the page.
import { DecodeCache, decodeCacheDatabase, type DecodeCacheDatabase } from '../data/cache';
import type { DatabaseStatus } from '../data/database';
import * as tf from '@tensorflow/tfjs';
import { checkpointDatabase, CheckpointStore } from '../export/checkpoints';
import { decodeToSquare } from '../data/decode';
import { importImages, sha256 } from '../data/importer';
import { loadSampleSet } from '../data/sample';
import { spritePng } from '../export/sprite';
import { runKnownResult, selectBackend } from './backend';
import type { HandlerEnvironment } from './environment';
import { faultPlanFromQuery, withInjectedFaults, type FaultPlan, type FaultTargets } from './faults';
import { TrainerHandler } from './handler';
import type { FromWorker, StoreName, ToWorker } from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;

function post(message: FromWorker, transfer: Transferable[] = []): void {
  scope.postMessage(message, transfer);
}

function pageOrigin(): string {
  return `${self.location.origin}/`;
}

// A message to ourselves is a task without setTimeout's 4 ms clamping.
const channel = new MessageChannel();
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

/** The tfjs WebGPU backend's device, or null on another backend. */
function webgpuDevice(): GPUDevice | null {
  if (tf.getBackend() !== 'webgpu') return null;
  return (tf.backend() as unknown as { device?: GPUDevice }).device ?? null;
}

/** A WebGL context in a worker: drawn on an OffscreenCanvas. */
type WorkerWebGL = WebGL2RenderingContext & { readonly canvas: OffscreenCanvas };

/** The tfjs WebGL backend's context, or null on another backend. */
function webglContext(): WorkerWebGL | null {
  if (tf.getBackend() !== 'webgl') return null;
  return (tf.backend() as unknown as { gpgpu?: { gl: WorkerWebGL } }).gpgpu?.gl ?? null;
}

/** The page hears when a database is kept from opening by another tab, opens, or is taken over by a newer version. */
function reportStatus(store: StoreName): (status: DatabaseStatus) => void {
  return (status) => post({ type: 'storage', store, status });
}

// The two databases are this worker's, opened on first use (after init, when a test build's plan says which versions
// to ask for) and held for its life; they go with it. Each closes on its own when a newer tabclr in another tab
// upgrades it (src/data/database.ts).
let decodeCacheDb: DecodeCacheDatabase | null = null;
function decodeCache(): DecodeCache {
  decodeCacheDb ??= decodeCacheDatabase({ version: __TABCLR_TEST_HOOKS__ ? plan.decodeCacheVersion : undefined, onStatus: reportStatus('image-cache') });
  return new DecodeCache(decodeCacheDb);
}

const browser: HandlerEnvironment = {
  selectBackend,
  runKnownResult,
  // Relative URLs are resolved against the page, not the worker script's folder.
  loadSample: (url) => loadSampleSet(url, pageOrigin()),
  // A cache that cannot be used now (another tab's version in the way) finds nothing and takes nothing: every file is
  // decoded, and the import says why nothing was cached.
  importImages: (files, options) => importImages(files, { ...options, decode: decodeToSquare, hash: sha256, cache: decodeCache() }),
  clearCache: () => decodeCache().clear(),
  spritePng,
  openCheckpoints: () =>
    CheckpointStore.open(checkpointDatabase({ version: __TABCLR_TEST_HOOKS__ ? plan.checkpointsVersion : undefined, onStatus: reportStatus('checkpoints') })),
  watchDevice: (watcher) => {
    const device = webgpuDevice();
    if (device) {
      void device.lost.then((info) => watcher.lost(info.message || info.reason || ''));
      device.addEventListener('uncapturederror', (event) => {
        const { error } = event as GPUUncapturedErrorEvent;
        const kind = error instanceof GPUOutOfMemoryError ? 'out-of-memory' : error instanceof GPUValidationError ? 'validation' : 'internal';
        watcher.error(kind, error.message || `${kind} error`);
      });
      return;
    }
    // tfjs-backend-webgl listens too (and forgets the context); once lost, the context never comes back to it.
    webglContext()?.canvas.addEventListener('webglcontextlost', () => watcher.lost('the WebGL context was lost'), { once: true });
  },
  readCachedImages: async (keys, visit) => {
    const cache = decodeCache();
    // A few hundred per transaction: no single transaction (nor this function) holds a whole large folder's pixels.
    for (let start = 0; start < keys.length; start += 256) {
      const entries = await cache.read(keys.slice(start, start + 256));
      entries.forEach((entry, i) => visit(start + i, entry && 'pixels' in entry ? entry.pixels : null));
    }
  },
  now: () => performance.now(),
  nextTask,
};

/** The browser tests' faults, acting on this worker's GPU for real. */
const faultTargets: FaultTargets = {
  loseDevice: () => {
    const device = webgpuDevice();
    if (device) device.destroy();
    else webglContext()?.getExtension('WEBGL_lose_context')?.loseContext();
  },
  // The event the device dispatches when an allocation fails (WebGL has no such event: its backend throws).
  reportOutOfMemory: () =>
    webgpuDevice()?.dispatchEvent(new GPUUncapturedErrorEvent('uncapturederror', { error: new GPUOutOfMemoryError('out of memory (injected by the test)') })),
  crash: () => {
    setTimeout(() => {
      throw new Error('the trainer crashed (injected by the test)');
    });
  },
};

// Builds made for the browser tests wrap the environment with the faults the page's URL asks for (src/worker/faults.ts);
// in any other build __TABCLR_TEST_HOOKS__ is false and the wrapper is left out of the bundle.
let plan: FaultPlan = {};
const env = __TABCLR_TEST_HOOKS__ ? withInjectedFaults(browser, () => plan, faultTargets) : browser;
const handler = new TrainerHandler(post, env);

scope.onmessage = (event: MessageEvent<ToWorker>) => {
  const message = event.data;
  if (__TABCLR_TEST_HOOKS__ && message.type === 'init') plan = faultPlanFromQuery(message.testQuery ?? '', message.restarted ?? false);
  void handler.handle(message);
};
