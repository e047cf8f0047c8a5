import 'fake-indexeddb/auto';
import * as tf from '@tensorflow/tfjs';
import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import { cacheKey } from '../data/files';
import { CheckpointStore } from '../export/checkpoints';
import { zipFiles } from '../export/download';
import { TORCH_MODULE_SOURCE } from '../export/torchModule';
import { EXPLODING_FACTOR, recentGradNorm } from '../engine/divergence';
import { selfTestConfig } from '../engine/selftest';
import { syntheticImages } from '../engine/synthetic';
import type { DeviceWatcher, HandlerEnvironment } from './environment';
import { faultPlanFromQuery, withInjectedFaults, type FaultPlan, type FaultTargets } from './faults';
import { TrainerHandler } from './handler';
import type { BackendReport, FromWorker } from './protocol';

// The handler is a plain class: these tests drive it with plain messages, on the CPU backend, with no Worker.
const cpuBackend: BackendReport = {
  backend: 'webgl',
  vendor: 'test',
  architecture: 'cpu',
  device: '',
  isFallbackAdapter: true,
  scope: 'node',
  fallbackReason: null,
  choice: null,
  maxBufferBytes: 128 * 2 ** 20,
};

/** The decode cache as the fake import leaves it: RGB pixels by key. */
const cached = new Map<string, Uint8Array>();

beforeEach(() => {
  // A fresh, empty IndexedDB for every test.
  globalThis.indexedDB = new IDBFactory();
  cached.clear();
});

interface Setup {
  /** Replaces parts of the fake environment (a checkpoint store whose disk is full). */
  change?: Partial<HandlerEnvironment>;
  /** Faults to inject, as a build for the browser tests does (faults.ts). */
  faults?: FaultPlan;
  /** Sees every message after it is recorded (a user who presses Pause on seeing a step). */
  onMessage?: (message: FromWorker, handler: TrainerHandler) => void;
}

/** A handler on the fake environment. */
function setup({ change = {}, faults = {}, onMessage }: Setup = {}) {
  const messages: FromWorker[] = [];
  let clock = 0;
  let device: DeviceWatcher | null = null;
  let crashes = 0;
  const env: HandlerEnvironment = {
    selectBackend: async () => {
      await tf.setBackend('cpu');
      return cpuBackend;
    },
    runKnownResult: async () => ({ expression: '1', expected: [1], actual: [1], ok: true }),
    loadSample: async (url) => {
      if (url !== 'sample.json') throw new Error('404 Not Found');
      return { ...dataset(), labels: Int32Array.from({ length: 12 }, (_, i) => i % 3), classNames: ['a', 'b', 'c'] };
    },
    importImages: async (files, options) => {
      const usable = files.filter((f) => f.file.size > 0);
      options.onProgress({ found: files.length, processed: files.length, decoded: usable.length, fromCache: 0, skipped: files.length - usable.length, duplicates: 0 });
      const base = dataset();
      const bytes = options.imageSize * options.imageSize * 3;
      const pixels = base.pixels.subarray(0, usable.length * bytes);
      // As the real import does: each decoded image goes into the decode cache under its file's key.
      usable.forEach((f, i) => cached.set(cacheKey(f.path, f.file.size, f.file.lastModified, options.imageSize), pixels.slice(i * bytes, (i + 1) * bytes)));
      return {
        dataset: { ...base, name: options.name, count: usable.length, imageSize: options.imageSize, pixels, names: usable.map((f) => f.path) },
        skipped: files.filter((f) => f.file.size === 0).map((f) => ({ path: f.path, reason: 'empty' as const, message: 'empty file (0 bytes)' })),
        counts: { found: files.length, processed: files.length, decoded: usable.length, fromCache: 0, skipped: files.length - usable.length, duplicates: 0 },
        cacheProblem: null,
      };
    },
    clearCache: async () => {},
    openCheckpoints: () => CheckpointStore.open(),
    watchDevice: (watcher) => {
      device = watcher;
    },
    readCachedImages: async (keys, visit) => keys.forEach((k, i) => visit(i, cached.get(k) ?? null)),
    spritePng: async (d, thumb, columns) => Uint8Array.from([d.count, thumb, columns]),
    now: () => (clock += 10),
    nextTask: () => new Promise((resolve) => setImmediate(resolve)),
  };
  const targets: FaultTargets = {
    loseDevice: () => device?.lost('destroyed by the test'),
    reportOutOfMemory: () => device?.error('out-of-memory', 'out of memory (injected by the test)'),
    crash: () => {
      crashes += 1;
    },
  };
  const handler: TrainerHandler = new TrainerHandler((m) => {
    messages.push(m);
    onMessage?.(m, handler);
  }, withInjectedFaults({ ...env, ...change }, () => faults, targets));
  const of = <T extends FromWorker['type']>(type: T) => messages.filter((m): m is Extract<FromWorker, { type: T }> => m.type === type);
  return { handler, messages, of, crashes: () => crashes, device: () => device! };
}

const config = selfTestConfig();
/** The run's config with its learning-rate schedule spanning `steps`, as the page sends it. */
const schedule = (steps: number) => ({ ...config, optim: { ...config.optim, totalSteps: steps } });
/** No snapshot before the end of these short runs; a small map. */
const monitor = { snapshotEvery: 1000, probeCount: 6, profileSteps: false };
const size = config.model.imageSize;
const dataset = () => ({
  name: 'synthetic',
  pixels: syntheticImages(12, size, 3, 1),
  count: 12,
  imageSize: size,
  channels: 3 as const,
  labels: null,
  classNames: [],
  names: Array.from({ length: 12 }, (_, i) => `img${i}.png`),
});

async function ready() {
  const t = setup();
  await t.handler.handle({ type: 'init', backend: 'auto' });
  await t.handler.handle({ type: 'set-dataset', dataset: dataset() });
  return t;
}

/** Lets the handler's loop run until `predicate` holds. */
async function until(predicate: () => boolean, limit = 20_000): Promise<void> {
  const start = Date.now();
  while (!predicate()) {
    if (Date.now() - start > limit) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 5));
  }
}

describe('TrainerHandler', () => {
  it('reports its backend and the known result on init', async () => {
    const { handler, of } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    expect(of('ready')).toEqual([{ type: 'ready', backend: cpuBackend, check: { expression: '1', expected: [1], actual: [1], ok: true } }]);
  });

  it('trains to the requested step count with one metrics message per step, then stops', async () => {
    const { handler, of, messages } = await ready();
    const before = tf.memory().numTensors;
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(4), steps: 4, monitor });
    await handler.idle();
    expect(of('metrics').map((m) => m.report.step)).toEqual([1, 2, 3, 4]);
    const report = of('metrics')[0]!.report;
    expect(report.totalSteps).toBe(4);
    expect(report.stepMs).toBe(10);
    expect(report.imagesPerSec).toBeCloseTo((config.batchSize * 1000) / 10);
    expect(of('state').map((s) => s.state)).toEqual(['compiling', 'training', 'stopped']);
    // The map before training and at the last step, over a fixed probe set.
    expect(of('probe')[0]!.probe.indices).toHaveLength(6);
    // The step-0 map comes beside the first steps (after step 1), the last at the end; the checkpoint keeps them in step order.
    expect(of('snapshot').map((s) => s.snapshot.step).sort((a, b) => a - b)).toEqual([0, 4]);
    expect(messages.findIndex((m) => m.type === 'metrics')).toBeLessThan(messages.findIndex((m) => m.type === 'snapshot'));
    expect(of('snapshot').find((s) => s.snapshot.step === 4)!.snapshot.coords).toHaveLength(12);
    // Unlabelled images: no kNN, no linear probe and no baselines.
    expect(of('snapshot')[1]!.snapshot.knnAccuracy).toBeNull();
    expect(of('snapshot')[1]!.snapshot.probeAccuracy).toBeNull();
    expect(of('baselines')).toHaveLength(0);
    // A finished run keeps its model for neighbours and maps; new images retire it, with every tensor it made.
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('a labelled run reports baselines once, kNN in every snapshot, and neighbours on request', async () => {
    const { handler, of, messages } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    const labelled = { ...dataset(), labels: Int32Array.from({ length: 12 }, (_, i) => i % 2), classNames: ['odd', 'even'] };
    await handler.handle({ type: 'set-dataset', dataset: labelled });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(4), steps: 4, monitor: { snapshotEvery: 2, probeCount: 10, profileSteps: true } });
    await handler.idle();
    // Profiled steps report their split; the run's cost comes once.
    const reports = of('metrics').map((m) => m.report);
    for (const r of reports) {
      expect(r.timings!.augmentMs).toBeGreaterThanOrEqual(0);
      expect(r.timings!.forwardBackwardMs).toBeGreaterThan(0);
      expect(r.timings!.gradNormMs).toBeGreaterThanOrEqual(0);
      expect(r.timings!.updateMs).toBeGreaterThanOrEqual(0);
    }
    // Step 1 starts before the untrained encoder is measured (from a copy, beside the next steps); once it is, the
    // copy is released and every step reports the same tensor count, fewer than while the copy lived.
    expect(messages.findIndex((m) => m.type === 'metrics')).toBeLessThan(messages.findIndex((m) => m.type === 'baselines'));
    const afterBaselines = messages.slice(messages.findIndex((m) => m.type === 'baselines')).filter((m) => m.type === 'metrics').map((m) => m.report);
    expect(afterBaselines.length).toBeGreaterThan(0);
    for (const r of afterBaselines) expect(r.memory.numTensors).toBe(afterBaselines[0]!.memory.numTensors);
    expect(reports[0]!.memory.numTensors).toBeGreaterThan(afterBaselines[0]!.memory.numTensors);
    const [info] = of('run-info').map((m) => m.info);
    expect(info!.parameters).toBeGreaterThan(0);
    expect(info!.flopsPerStep).toBeGreaterThan(info!.parameters);
    const baselines = of('baselines');
    expect(baselines).toHaveLength(1);
    const { randomInit, rawPixels, probe } = baselines[0]!;
    for (const v of [randomInit, rawPixels, probe!.randomInit, probe!.rawPixels]) {
      expect(v).toBeGreaterThanOrEqual(0);
      expect(v).toBeLessThanOrEqual(1);
    }
    expect(of('snapshot').map((s) => s.snapshot.step)).toEqual([0, 2, 4]);
    for (const s of of('snapshot')) {
      expect(s.snapshot.knnAccuracy).toBeGreaterThanOrEqual(0);
      expect(s.snapshot.probeAccuracy).toBeGreaterThanOrEqual(0);
    }
    // The untrained encoder's baselines are the first map's accuracies.
    const first = of('snapshot')[0]!.snapshot;
    expect([first.knnAccuracy, first.probeAccuracy]).toEqual([randomInit, probe!.randomInit]);
    expect(of('probe')[0]!.probe.labels).toHaveLength(10);

    await handler.handle({ type: 'neighbours', position: 3, k: 4 });
    const answer = of('neighbours')[0]!;
    expect(answer.position).toBe(3);
    expect(answer.step).toBe(4);
    expect(answer.neighbours).toHaveLength(4);
    expect(answer.neighbours.map((n) => n.position)).not.toContain(3);

    await handler.handle({ type: 'umap-snapshot' });
    const umap = of('snapshot').at(-1)!.snapshot;
    expect(umap.method).toBe('umap');
    expect(umap.step).toBe(4);
    expect(umap.coords).toHaveLength(20);
    expect(of('umap-progress').at(-1)).toMatchObject({ epoch: expect.any(Number) });
    await handler.handle({ type: 'stop' });
  });

  it('refuses a learning-rate schedule that does not span the run', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(10), steps: 4, monitor });
    expect(of('error').at(-1)).toMatchObject({ code: 'bad-config', request: 'start', message: expect.stringMatching(/spans 10 steps but the run has 4/) });
  });

  it('after a stop, neighbours still work on the stopped run; a new data set retires it', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(50), steps: 50, monitor });
    await until(() => of('metrics').length >= 1);
    await handler.handle({ type: 'stop' });
    const tensors = tf.memory().numTensors;
    await handler.handle({ type: 'neighbours', position: 1, k: 2 });
    expect(of('neighbours').at(-1)!.neighbours).toHaveLength(2);
    expect(tf.memory().numTensors).toBe(tensors);
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    expect(tf.memory().numTensors).toBeLessThan(tensors);
    await handler.handle({ type: 'neighbours', position: 1, k: 2 });
    expect(of('error').at(-1)).toMatchObject({ request: 'neighbours', code: 'no-run' });
  });

  it('a stop during a neighbours request waits for it, and start cannot slip in while stopping', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(50), steps: 50, monitor });
    await until(() => of('metrics').length >= 1);
    const pending = [handler.handle({ type: 'neighbours', position: 0, k: 3 }), handler.handle({ type: 'stop' }), handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(5), steps: 5, monitor })];
    await Promise.all(pending);
    await handler.idle();
    expect(of('neighbours').at(-1)!.neighbours).toHaveLength(3);
    expect(of('error').filter((e) => e.request === 'start').map((e) => e.code)).toEqual(['busy']);
    expect(of('error').filter((e) => e.request !== 'start')).toEqual([]);
  });

  it('a stop as soon as step 1 is reported: the untrained encoder is never measured, and its copy is freed', async () => {
    const { handler, of, messages } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    const labelled = { ...dataset(), labels: Int32Array.from({ length: 12 }, (_, i) => i % 2), classNames: ['odd', 'even'] };
    await handler.handle({ type: 'set-dataset', dataset: labelled });
    const before = tf.memory().numTensors;
    // Stop is handled the moment step 1's report is posted, before the loop goes on.
    let stopping: Promise<void> | null = null;
    const push = messages.push.bind(messages);
    messages.push = (...items: FromWorker[]) => {
      const length = push(...items);
      if (!stopping && items.some((m) => m.type === 'metrics')) stopping = handler.handle({ type: 'stop' });
      return length;
    };
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(50), steps: 50, monitor: { snapshotEvery: 1000, probeCount: 12, profileSteps: false } });
    await until(() => stopping !== null);
    await stopping;
    expect(of('state').at(-1)!.state).toBe('stopped');
    expect(of('metrics')).toHaveLength(1);
    expect(of('snapshot')).toHaveLength(0);
    expect(of('error')).toEqual([]);
    await handler.handle({ type: 'set-dataset', dataset: labelled });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('pausing while the GPU compiles still sends the map and the probe set', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(20), steps: 20, monitor });
    await handler.handle({ type: 'pause' });
    await handler.idle();
    expect(of('probe')).toHaveLength(1);
    expect(of('snapshot').map((s) => s.snapshot.step)).toEqual([0]);
    expect(of('state').at(-1)!.state).toBe('paused');
    await handler.handle({ type: 'resume' });
    await until(() => of('metrics').length >= 1);
    await handler.handle({ type: 'stop' });
  });

  it('exports the trained encoder as a loadable Layers model, PyTorch safetensors and module, ONNX, config and README', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'export-model', includeHead: false });
    expect(of('error').at(-1)).toMatchObject({ request: 'export-model', code: 'no-run' });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    await handler.handle({ type: 'export-model', includeHead: true });
    const exported = of('export').at(-1)!;
    expect(exported.fileName).toBe('tabclr-convnet4-step2.zip');
    const files = new Map(exported.files.map((f) => [f.name, f.bytes]));
    expect([...files.keys()].sort()).toEqual([
      'README.md', 'config.json', 'encoder.onnx', 'encoder/group1-shard1of1.bin', 'encoder/model.json',
      'projection_head/group1-shard1of1.bin', 'projection_head/model.json', 'tabclr_torch.py', 'weights.safetensors',
    ]);
    expect(new TextDecoder().decode(files.get('tabclr_torch.py')!)).toBe(TORCH_MODULE_SOURCE);
    // model.json loads with tfjs and gives a representation of the size config.json states.
    const modelJson = JSON.parse(new TextDecoder().decode(files.get('encoder/model.json')!));
    const weights = files.get('encoder/group1-shard1of1.bin')!;
    const loaded = await tf.loadLayersModel(tf.io.fromMemory(modelJson.modelTopology, modelJson.weightsManifest[0].weights, weights.slice().buffer));
    const x = tf.randomUniform([3, size, size, 3], 0, 1, 'float32', 4);
    const fromFile = (loaded.predict(x) as tf.Tensor).arraySync() as number[][];
    const config = JSON.parse(new TextDecoder().decode(files.get('config.json')!));
    expect(config.step).toBe(2);
    expect(config.input).toMatchObject({ size: [size, size], channels: 3 });
    expect(config.training.model.encoder).toBe('convnet4');
    expect(fromFile[0]).toHaveLength(config.representation_dim);
    const { readSafetensorsHeader } = await import('../export/safetensors');
    const header = readSafetensorsHeader(files.get('weights.safetensors')!);
    expect(header.tensors['encoder.block1_conv.weight']!.shape).toEqual([Math.round(32 / 8), 3, 3, 3]);
    expect(header.tensors['encoder.block1_bn.running_var']).toBeDefined();
    expect(header.tensors['projection_head.head1_dense.weight']).toBeDefined();
    expect(header.metadata.format).toBe('pt');
    const readme = new TextDecoder().decode(files.get('README.md')!);
    expect(readme).toMatch(/encoder = tabclr_torch\.load_encoder\("."\)/);
    expect(readme).toMatch(/net = cv2\.dnn\.readNetFromONNX\("encoder\.onnx"\)/);
    // Only what was tested is given as the way to do it; the TensorFlow routes are named as untested.
    expect(readme).toMatch(/## TensorFlow and Keras \(not tested by tabclr\)/);
    loaded.dispose();
  });

  it('exports every image\'s representation in the Embedding Projector\'s format', async () => {
    const { handler, of } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    const labelled = { ...dataset(), labels: Int32Array.from({ length: 12 }, (_, i) => i % 2), classNames: ['odd', 'even'] };
    await handler.handle({ type: 'set-dataset', dataset: labelled });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(1), steps: 1, monitor });
    await handler.idle();
    await handler.handle({ type: 'export-embeddings' });
    const files = new Map(of('export').at(-1)!.files.map((f) => [f.name, new TextDecoder().decode(f.bytes)]));
    const vectors = files.get('vectors.tsv')!.trimEnd().split('\n');
    const metadata = files.get('metadata.tsv')!.trimEnd().split('\n');
    expect(vectors).toHaveLength(12);
    expect(metadata).toEqual(['name\tlabel', ...Array.from({ length: 12 }, (_, i) => `img${i}.png\t${['odd', 'even'][i % 2]}`)]);
    const row = vectors[0]!.split('\t').map(Number);
    expect(Math.hypot(...row)).toBeCloseTo(1, 4);
    expect(JSON.parse(files.get('projector_config.json')!).embeddings[0]).toMatchObject({ tensorShape: [12, row.length], tensorPath: 'vectors.tsv', metadataPath: 'metadata.tsv' });
    expect(of('export-progress').at(-1)).toMatchObject({ kind: 'embeddings', done: 12, total: 12 });
  });

  it('refuses absurd monitoring settings', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(4), steps: 4, monitor: { snapshotEvery: 0, probeCount: 1, profileSteps: false } });
    expect(of('error').at(-1)!.message).toMatch(/monitor.snapshotEvery: must be a whole number of steps from 1 .*; monitor.probeCount: must be a whole number from 2/);
  });

  it('pause stops steps between two steps; resume goes on from the same step', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(50), steps: 50, monitor });
    await until(() => of('metrics').length >= 2);
    await handler.handle({ type: 'pause' });
    await handler.idle();
    const paused = of('metrics').length;
    await new Promise((r) => setTimeout(r, 100));
    expect(of('metrics').length).toBe(paused);
    await handler.handle({ type: 'resume' });
    await until(() => of('metrics').length >= paused + 2);
    const steps = of('metrics').map((m) => m.report.step);
    expect(steps).toEqual(steps.map((_, i) => i + 1));
    await handler.handle({ type: 'stop' });
    expect(of('state').at(-1)!.state).toBe('stopped');
    expect(of('metrics').length).toBeLessThan(50);
  });

  it('refuses to train without images, with a bad config, or twice at once', async () => {
    const { handler, of } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(3), steps: 3, monitor });
    expect(of('error').at(-1)).toMatchObject({ code: 'no-dataset' });
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: { ...schedule(3), method: { name: 'simclr', temperature: -1 }, batchSize: 40 }, steps: 3, monitor });
    const bad = of('error').at(-1)!;
    expect(bad.code).toBe('bad-config');
    expect(bad.message).toMatch(/temperature/);
    expect(bad.message).toMatch(/batchSize: the data set has only 12 images/);
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(3), steps: 3, monitor });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(3), steps: 3, monitor });
    expect(of('error').at(-1)).toMatchObject({ code: 'busy' });
    await handler.idle();
  });

  it('refuses images whose size does not match the model, and pixel data of the wrong length', async () => {
    const { handler, of } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: { ...dataset(), count: 13 } });
    expect(of('error').at(-1)!.message).toMatch(/expected/);
    await handler.handle({ type: 'set-dataset', dataset: { ...dataset(), pixels: syntheticImages(12, 16, 1, 1), imageSize: 16, channels: 1 } });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(3), steps: 3, monitor });
    expect(of('error').at(-1)!.message).toMatch(/16 px × 1 channels/);
  });

  it('loads the sample set and summarises it for the page; a missing one is reported', async () => {
    const { handler, of } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'load-sample', url: 'sample.json' });
    expect(of('dataset').at(-1)!.dataset).toEqual({ name: 'synthetic', count: 12, imageSize: size, channels: 3, classNames: ['a', 'b', 'c'], labelled: true });
    await handler.handle({ type: 'load-sample', url: 'missing.json' });
    expect(of('error').at(-1)).toMatchObject({ code: 'dataset-failed', message: expect.stringMatching(/404/) });
  });

  it('imports files into a data set, and reports what was skipped', async () => {
    const { handler, of } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    const files = [...Array.from({ length: 5 }, (_, i) => ({ path: `p/${i}.png`, file: new File(['x'], `${i}.png`) })), { path: 'p/e.png', file: new File([], 'e.png') }];
    await handler.handle({ type: 'import', files, imageSize: size, name: 'p' });
    expect(of('import-progress')).toHaveLength(1);
    expect(of('import-done')[0]!.skipped).toEqual([{ path: 'p/e.png', reason: 'empty', message: 'empty file (0 bytes)' }]);
    expect(of('dataset').at(-1)!.dataset).toMatchObject({ name: 'p', count: 5 });
  });

  it('an import with fewer than two usable images leaves no data set and says why', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'import', files: [{ path: 'a.png', file: new File(['x'], 'a.png') }, { path: 'b.txt', file: new File([], 'b.txt') }], imageSize: size, name: '2 files' });
    expect(of('dataset').at(-1)!.dataset).toBeNull();
    expect(of('error').at(-1)!.message).toMatch(/Only one usable image among the 2 files.*at least 2 images/);
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    expect(of('error').at(-1)!.code).toBe('no-dataset');
  });

  it('refuses an absurd import size', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'import', files: [], imageSize: 5000, name: 'x' });
    expect(of('error').at(-1)).toMatchObject({ code: 'bad-config', message: expect.stringMatching(/from 8 to 256/) });
  });

  it('pause, resume and stop without a run are refused with a reason, not a crash', async () => {
    const { handler, of } = await ready();
    for (const type of ['pause', 'resume', 'stop'] as const) await handler.handle({ type });
    // Nothing is busy: there is no run to control (the page's buttons were out of date).
    expect(of('error').map((e) => e.code)).toEqual(['no-run', 'no-run', 'no-run']);
    expect(of('error').map((e) => e.message)).toEqual(['there is no training to pause', 'there is no paused training to resume', 'there is no training to stop']);
  });

  it('runs the self-test and reports learning and agreement', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'self-test', steps: 3 });
    expect(of('self-test-progress').filter((p) => p.stage === 'training')).toHaveLength(3);
    const result = of('self-test-result')[0]!;
    expect(result.training.steps).toBe(3);
    expect(result.agreement.backends).toEqual(['cpu', 'cpu']);
    expect(result.agreement.ok).toBe(true);
  });

  it('measures the matmul rate, and refuses absurd sizes', async () => {
    const { handler, of } = await ready();
    await handler.handle({ type: 'measure-matmul', size: 64, repeats: 3 });
    expect(of('matmul-rate')[0]!.flopsPerSec).toBeGreaterThan(0);
    await handler.handle({ type: 'measure-matmul', size: 1e6, repeats: 3 });
    expect(of('error').at(-1)!.code).toBe('bad-config');
  });
});

describe('TrainerHandler checkpoints', () => {
  /** A handler that pauses itself once step `pauseAt` is reported: the user pressing Pause at that moment. */
  function pausingAt(pauseAt: number) {
    return setup({
      onMessage: (m, handler) => {
        if (m.type === 'metrics' && m.report.step === pauseAt) void handler.handle({ type: 'pause' });
      },
    });
  }

  it('saves every N steps and on pause; after a "reload" the run resumes at the same step and takes the same steps', async () => {
    // The reference: four steps straight through.
    const reference = await ready();
    await reference.handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(4), steps: 4, monitor });
    await reference.handler.idle();
    const expected = reference.of('metrics').map((m) => m.report.loss);
    await reference.handler.handle({ type: 'set-dataset', dataset: dataset() });
    expect(reference.of('runs')).toHaveLength(0);

    // The same run, paused after step 3 with checkpoints every 2 steps.
    const first = pausingAt(3);
    await first.handler.handle({ type: 'init', backend: 'auto' });
    await first.handler.handle({ type: 'set-dataset', dataset: dataset() });
    await first.handler.handle({ type: 'start', checkpointEvery: 2, config: schedule(4), steps: 4, monitor });
    await first.handler.idle();
    expect(first.of('metrics').map((m) => m.report.step)).toEqual([1, 2, 3]);
    expect(first.of('checkpoint').filter((c) => c.status === 'saved').map((c) => c.step)).toEqual([2, 3]);
    const runs = first.of('runs').at(-1)!.runs;
    expect(runs).toHaveLength(1);
    expect(runs[0]!.step).toBe(3);
    expect(runs[0]!.totalSteps).toBe(4);
    // The tab closes: its memory goes. A new page (handler) on the same IndexedDB, with the same images loaded.
    await first.handler.handle({ type: 'set-dataset', dataset: dataset() });

    const second = await ready();
    await second.handler.handle({ type: 'list-runs' });
    expect(second.of('runs')[0]!.runs.map((r) => r.id)).toEqual([runs[0]!.id]);
    await second.handler.handle({ type: 'resume-run', id: runs[0]!.id });
    await second.handler.idle();
    const restored = second.of('run-restored')[0]!;
    expect(restored.history.map((h) => h.step)).toEqual([1, 2, 3]);
    expect(restored.history.map((h) => h.loss)).toEqual(expected.slice(0, 3));
    expect(restored.checkpointEvery).toBe(2);
    expect(second.of('probe')).toHaveLength(1);
    // The step-0 map comes back from the checkpoint, then training goes on from step 4 with the same loss.
    expect(second.of('snapshot').map((s) => s.snapshot.step)).toEqual([0, 4]);
    const resumed = second.of('metrics').map((m) => m.report);
    expect(resumed.map((r) => r.step)).toEqual([4]);
    expect(resumed[0]!.loss).toBeCloseTo(expected[3]!, 4);
    expect(second.of('state').map((s) => s.state)).toEqual(['compiling', 'training', 'stopped']);
    expect(second.of('checkpoint').filter((c) => c.status === 'saved').map((c) => c.step)).toEqual([4]);
  });

  it('finds the sample images again by itself, and refuses other images with the reason', async () => {
    const first = pausingAt(2);
    await first.handler.handle({ type: 'init', backend: 'auto' });
    await first.handler.handle({ type: 'load-sample', url: 'sample.json' });
    await first.handler.handle({ type: 'start', checkpointEvery: 5, config: schedule(4), steps: 4, monitor });
    await first.handler.idle();
    const id = first.of('runs').at(-1)!.runs[0]!.id;
    await first.handler.handle({ type: 'set-dataset', dataset: dataset() });

    // Other images loaded: the run's own come back from the sample set.
    const second = await ready();
    await second.handler.handle({ type: 'resume-run', id });
    await second.handler.idle();
    expect(second.of('error')).toEqual([]);
    expect(second.of('dataset').at(-1)!.dataset!.labelled).toBe(true);
    expect(second.of('metrics').map((m) => m.report.step)).toEqual([3, 4]);
    await second.handler.handle({ type: 'set-dataset', dataset: dataset() });

    // A run on images that are not kept anywhere cannot come back on other images.
    const third = pausingAt(1);
    await third.handler.handle({ type: 'init', backend: 'auto' });
    await third.handler.handle({ type: 'set-dataset', dataset: dataset() });
    await third.handler.handle({ type: 'start', checkpointEvery: 5, config: schedule(4), steps: 4, monitor });
    await third.handler.idle();
    const memoryRun = third.of('runs').at(-1)!.runs.find((r) => r.step === 1)!;
    const other = { ...dataset(), pixels: syntheticImages(12, size, 3, 99) };
    await third.handler.handle({ type: 'stop' });
    await third.handler.handle({ type: 'set-dataset', dataset: other });
    await third.handler.handle({ type: 'resume-run', id: memoryRun.id });
    const error = third.of('error').at(-1)!;
    expect(error.request).toBe('resume-run');
    expect(error.message).toMatch(/not kept in this browser/);
    expect(third.of('run-restored')).toHaveLength(0);
  });

  it('finds imported images again in the decode cache; a cleared cache is refused with what to do', async () => {
    const files = Array.from({ length: 12 }, (_, i) => ({ path: `photos/${i}.png`, file: new File(['x'.repeat(i + 1)], `${i}.png`, { lastModified: 1000 + i }) }));
    const first = pausingAt(2);
    await first.handler.handle({ type: 'init', backend: 'auto' });
    await first.handler.handle({ type: 'import', files, imageSize: size, name: 'photos' });
    const imported = first.of('dataset').at(-1)!.dataset!;
    await first.handler.handle({ type: 'start', checkpointEvery: 5, config: schedule(4), steps: 4, monitor });
    await first.handler.idle();
    const id = first.of('runs').at(-1)!.runs[0]!.id;

    // A new trainer, as after a reload: the images come back from the cache, and the run takes the same steps.
    const second = setup();
    await second.handler.handle({ type: 'init', backend: 'auto' });
    await second.handler.handle({ type: 'resume-run', id });
    await second.handler.idle();
    expect(second.of('error')).toEqual([]);
    expect(second.of('dataset').at(-1)!.dataset).toMatchObject({ name: 'photos', count: 12, imageSize: imported.imageSize });
    expect(second.of('metrics').map((m) => m.report.step)).toEqual([3, 4]);

    cached.clear();
    const third = setup();
    await third.handler.handle({ type: 'init', backend: 'auto' });
    await third.handler.handle({ type: 'resume-run', id });
    expect(third.of('error').at(-1)).toMatchObject({ code: 'no-dataset', request: 'resume-run' });
    expect(third.of('error').at(-1)!.message).toMatch(/12 of the run's 12 images are no longer in this browser's image cache\. Choose the same folder \("photos"\) again/);
  });

  it('while a saved run is being loaded, nothing else may change the run or the images', async () => {
    const first = pausingAt(1);
    await first.handler.handle({ type: 'init', backend: 'auto' });
    await first.handler.handle({ type: 'set-dataset', dataset: dataset() });
    await first.handler.handle({ type: 'start', checkpointEvery: 1, config: schedule(4), steps: 4, monitor });
    await first.handler.idle();
    await first.handler.handle({ type: 'stop' });
    const id = first.of('runs').at(-1)!.runs[0]!.id;
    const resuming = first.handler.handle({ type: 'resume-run', id });
    await first.handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(4), steps: 4, monitor });
    await first.handler.handle({ type: 'load-sample', url: 'sample.json' });
    await resuming;
    expect(first.of('error').map((e) => [e.request, e.message])).toEqual([
      ['start', 'wait until the saved run or the model is loaded before starting another run'],
      ['load-sample', 'wait until the saved run or the model is loaded before loading other images'],
    ]);
    expect(first.of('run-restored')).toHaveLength(1);
    await first.handler.idle();
    expect(first.of('metrics').map((m) => m.report.step)).toEqual([1, 2, 3, 4]);
  });

  it('lists and deletes runs, but not the one training', async () => {
    const first = pausingAt(1);
    await first.handler.handle({ type: 'init', backend: 'auto' });
    await first.handler.handle({ type: 'set-dataset', dataset: dataset() });
    await first.handler.handle({ type: 'start', checkpointEvery: 1, config: schedule(4), steps: 4, monitor });
    await first.handler.idle();
    const id = first.of('runs').at(-1)!.runs[0]!.id;
    await first.handler.handle({ type: 'delete-run', id });
    expect(first.of('error').at(-1)!.message).toMatch(/stop this run before deleting it/);
    await first.handler.handle({ type: 'stop' });
    await first.handler.handle({ type: 'delete-run', id });
    expect(first.of('runs').at(-1)!.runs).toEqual([]);
    await first.handler.handle({ type: 'resume-run', id });
    expect(first.of('error').at(-1)!.message).toMatch(/gone/);
  });
});

describe('TrainerHandler model zips', () => {
  async function downloadedZip(): Promise<{ zip: Uint8Array; vectors: string }> {
    const t = await ready();
    await t.handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await t.handler.idle();
    await t.handler.handle({ type: 'export-model', includeHead: true });
    const exported = t.of('export').at(-1)!;
    await t.handler.handle({ type: 'export-embeddings' });
    const vectors = t.of('export').at(-1)!.files.find((f) => f.name === 'vectors.tsv')!.bytes;
    await t.handler.handle({ type: 'set-dataset', dataset: dataset() });
    return { zip: zipFiles(exported.files), vectors: new TextDecoder().decode(vectors) };
  }

  it('a loaded zip explores the images with its encoder: the representation the trained run gave', async () => {
    const trainedRun = await ready();
    await trainedRun.handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await trainedRun.handler.idle();
    await trainedRun.handler.handle({ type: 'explore', request: { representation: 'trained', k: 2, neighbours: 3 } });
    const before = trainedRun.of('explore-result').at(-1)!.result;
    await trainedRun.handler.handle({ type: 'export-model', includeHead: false });
    const zip = zipFiles(trainedRun.of('export').at(-1)!.files);
    const { handler, of } = await ready();
    await handler.handle({ type: 'load-model', bytes: zip, fileName: 'model.zip', monitor });
    await handler.handle({ type: 'explore', request: { representation: 'trained', k: 2, neighbours: 3 } });
    const after = of('explore-result').at(-1)!.result;
    expect(after.step).toBe(2);
    expect(after.dim).toBe(before.dim);
    for (let i = 0; i < after.vectors.length; i++) expect(after.vectors[i]).toBeCloseTo(before.vectors[i]!, 5);
    expect(Array.from(after.neighbours.indices)).toEqual(Array.from(before.neighbours.indices));
  });

  it('a loaded zip maps the images, and the next run starts from its weights', async () => {
    const { zip, vectors } = await downloadedZip();
    const { handler, of } = await ready();
    await handler.handle({ type: 'load-model', bytes: zip, fileName: 'tabclr-convnet4-step2.zip', monitor });
    expect(of('error')).toEqual([]);
    const loaded = of('model-loaded').at(-1)!.model!;
    expect(loaded).toMatchObject({ fileName: 'tabclr-convnet4-step2.zip', step: 2, hasHead: true, fitsImages: true });
    // A finished run at step 2 with the loaded encoder: its map, and embeddings to download.
    expect(of('state').at(-1)).toMatchObject({ state: 'stopped', step: 2 });
    expect(of('snapshot').at(-1)!.snapshot.step).toBe(2);
    await handler.handle({ type: 'export-embeddings' });
    expect(of('export').at(-1)!.fileName).toBe('tabclr-embeddings-step2.zip');
    // The very representation the trained run gave: the weights came back whole.
    expect(new TextDecoder().decode(of('export').at(-1)!.files.find((f) => f.name === 'vectors.tsv')!.bytes)).toBe(vectors);

    // Other settings than the model's are refused with the reason; its own train on from it.
    await handler.handle({ type: 'start', checkpointEvery: 0, config: { ...schedule(2), model: { ...config.model, width: config.model.width * 2 } }, steps: 2, monitor });
    expect(of('error').at(-1)!.message).toMatch(/the loaded model \(tabclr-convnet4-step2.zip\) is a convnet4/);
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    expect(of('metrics').map((m) => m.report.step)).toEqual([1, 2]);

    // A new folder is embedded with the loaded model as soon as it arrives.
    const snapshots = of('snapshot').length;
    await handler.handle({ type: 'set-dataset', dataset: { ...dataset(), name: 'new folder', pixels: syntheticImages(12, size, 3, 5) } });
    expect(of('state').at(-1)).toMatchObject({ state: 'stopped', step: 2 });
    expect(of('snapshot')).toHaveLength(snapshots + 1);
    await handler.handle({ type: 'export-embeddings' });
    expect(of('export').at(-1)!.files.find((f) => f.name === 'vectors.tsv')!.bytes.length).toBeGreaterThan(0);

    // Forgotten: the next run starts from scratch, whatever the settings.
    await handler.handle({ type: 'forget-model' });
    expect(of('model-loaded').at(-1)!.model).toBeNull();
  });

  it('refuses a truncated or foreign zip with the reason and leaves the run as it was', async () => {
    const { zip } = await downloadedZip();
    const { handler, of } = await ready();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    const states = of('state').length;
    await handler.handle({ type: 'load-model', bytes: zip.slice(0, 1000), fileName: 'cut.zip', monitor });
    expect(of('error').at(-1)).toMatchObject({ code: 'bad-model', request: 'load-model' });
    expect(of('error').at(-1)!.message).toMatch(/^cut.zip cannot be loaded: it is not a zip file/);
    await handler.handle({ type: 'load-model', bytes: zipFiles([{ name: 'photo.txt', bytes: new Uint8Array(3) }]), fileName: 'other.zip', monitor });
    expect(of('error').at(-1)!.message).toMatch(/other.zip cannot be loaded: it has no config.json/);
    expect(of('model-loaded')).toHaveLength(0);
    expect(of('state')).toHaveLength(states);
    // The finished run is still there: neighbours work on it.
    await handler.handle({ type: 'neighbours', position: 0, k: 2 });
    expect(of('neighbours')).toHaveLength(1);
  });
});

describe('TrainerHandler faults', () => {
  it('a non-finite loss pauses the run, goes back to the last checkpoint with half the learning rate, and resume goes on', async () => {
    const { handler, of } = setup({ faults: { nanAtStep: 4 } });
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    const before = tf.memory().numTensors;
    await handler.handle({ type: 'start', checkpointEvery: 2, config: schedule(6), steps: 6, monitor });
    await handler.idle();
    const fault = of('fault')[0]!.fault;
    expect(fault).toMatchObject({ kind: 'non-finite', step: 4, restoredStep: 2, learningRate: config.optim.learningRate / 2 });
    expect(fault.message).toMatch(/Step 4 gave a non-finite loss.*went back to step 2.*Press Resume/);
    expect(of('run-rewound')[0]).toMatchObject({ step: 2 });
    expect(of('run-rewound')[0]!.history.map((h) => h.step)).toEqual([1, 2]);
    expect(of('state').at(-1)).toMatchObject({ state: 'paused', step: 2 });
    // The lowered rate is in the checkpoint: a reload keeps it.
    const saved = (await (await CheckpointStore.open())!.load(of('runs').at(-1)!.runs[0]!.id))!;
    expect(saved.record.config.optim.learningRate).toBe(config.optim.learningRate / 2);

    await handler.handle({ type: 'resume' });
    await handler.idle();
    const steps = of('metrics').map((m) => m.report);
    expect(steps.map((r) => r.step)).toEqual([1, 2, 3, 4, 3, 4, 5, 6]);
    expect(steps.slice(4).every((r) => r.finite && Number.isFinite(r.loss))).toBe(true);
    expect(steps[3]!.finite).toBe(false);
    expect(of('state').at(-1)!.state).toBe('stopped');
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    expect(tf.memory().numTensors).toBe(before);
  });

  it('exploding gradients with a finite loss: the update is skipped and the run goes back to the last checkpoint', async () => {
    const { handler, of } = setup({ faults: { explodeAtStep: 13 } });
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    await handler.handle({ type: 'start', checkpointEvery: 5, config: schedule(14), steps: 14, monitor });
    await handler.idle();
    const steps = of('metrics').map((m) => m.report);
    expect(steps.map((r) => r.step)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
    const bad = steps.at(-1)!;
    const median = recentGradNorm(steps.slice(0, -1))!;
    expect(bad.finite).toBe(true);
    expect(Number.isFinite(bad.loss)).toBe(true);
    expect(bad.exploding).toBe(true);
    expect(bad.gradNorm).toBeGreaterThan(EXPLODING_FACTOR * median);
    expect(steps.slice(0, -1).every((r) => !r.exploding && r.gradNorm > 0)).toBe(true);
    const fault = of('fault')[0]!.fault;
    expect(fault).toMatchObject({ kind: 'exploding', step: 13, restoredStep: 10, learningRate: config.optim.learningRate / 2 });
    expect(fault.message).toMatch(/Step 13's gradients exploded: their norm was .*× the recent median .* went back to step 10.*Press Resume/);
    expect(of('state').at(-1)).toMatchObject({ state: 'paused', step: 10 });
    await handler.handle({ type: 'resume' });
    await handler.idle();
    expect(of('metrics').map((m) => m.report.step).slice(13)).toEqual([11, 12, 13, 14]);
    expect(of('metrics').slice(13).every((m) => !m.report.exploding)).toBe(true);
    expect(of('state').at(-1)!.state).toBe('stopped');
  });

  it('out of GPU memory: the step is undone, the run pauses offering half the batch, and goes on at that batch', async () => {
    const { handler, of, device } = setup({ faults: { outOfMemoryAtStep: 4 } });
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    const batch = config.batchSize;
    await handler.handle({ type: 'start', checkpointEvery: 2, config: schedule(6), steps: 6, monitor });
    await handler.idle();
    const fault = of('fault')[0]!.fault;
    expect(fault).toMatchObject({ kind: 'out-of-memory', step: 4, restoredStep: 2, learningRate: null, suggestedBatch: batch / 2 });
    expect(fault.message).toMatch(new RegExp(`ran out of memory at step 4 with a batch of ${batch} \\(out of memory \\(injected by the test\\)\\)\\. The run went back to step 2.*Continue with a batch of ${batch / 2}`));
    expect(of('run-rewound')[0]!.history.map((h) => h.step)).toEqual([1, 2]);
    expect(of('state').at(-1)).toMatchObject({ state: 'paused', step: 2 });

    // A batch the images cannot fill is refused; the run stays paused as it was.
    await handler.handle({ type: 'resume', batchSize: 1000 });
    expect(of('error').at(-1)).toMatchObject({ code: 'bad-config', request: 'resume' });
    expect(of('error').at(-1)!.message).toMatch(/batchSize: the data set has only 12 images/);
    expect(of('state').at(-1)).toMatchObject({ state: 'paused', step: 2 });

    // An error from work done while paused (a map, an export) is not held against the resumed run's steps.
    device().error('validation', 'from a map made while paused');
    await handler.handle({ type: 'resume', batchSize: batch / 2 });
    await handler.idle();
    expect(of('fault')).toHaveLength(1);
    expect(of('metrics').map((m) => m.report.step)).toEqual([1, 2, 3, 4, 3, 4, 5, 6]);
    expect(of('state').map((m) => m.state).slice(-3)).toEqual(['compiling', 'training', 'stopped']);
    // The new batch is the run's from now on: its size and FLOPs are reported again, and the checkpoint keeps it.
    expect(of('run-info')).toHaveLength(2);
    expect(of('run-info')[1]!.info.flopsPerStep).toBeLessThan(of('run-info')[0]!.info.flopsPerStep);
    const saved = (await (await CheckpointStore.open())!.load(of('runs').at(-1)!.runs[0]!.id))!;
    expect(saved.record.config.batchSize).toBe(batch / 2);
    expect(saved.record.step).toBe(6);
  });

  it('any other error the GPU reports undoes the step it hit and pauses the run with a message to report', async () => {
    const { handler, of, device } = setup();
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    // An error from before the run (other work) is not held against its first step.
    device().error('out-of-memory', 'while measuring');
    await handler.handle({ type: 'start', checkpointEvery: 1, config: schedule(3), steps: 3, monitor });
    // As a refused pipeline does: reported while step 1 runs, whose numbers are then zeros.
    device().error('validation', 'Invalid ComputePipeline "AddNPackedProgram"');
    await handler.idle();
    const fault = of('fault')[0]!.fault;
    expect(fault).toMatchObject({ kind: 'gpu-error', step: 1, restoredStep: 0, suggestedBatch: null });
    expect(fault.message).toMatch(/refused part of step 1 \(validation error: Invalid ComputePipeline "AddNPackedProgram"\).*went back to step 0.*please report it/);
    expect(of('state').at(-1)).toMatchObject({ state: 'paused', step: 0 });
    await handler.handle({ type: 'resume' });
    await handler.idle();
    expect(of('metrics').map((m) => m.report.step)).toEqual([1, 1, 2, 3]);
    expect(of('state').at(-1)!.state).toBe('stopped');
  });

  it('a crash injected by a test throws from the worker once, at its step', async () => {
    const { handler, of, crashes } = setup({ faults: { crashAtStep: 2 } });
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    await handler.handle({ type: 'start', checkpointEvery: 1, config: schedule(3), steps: 3, monitor });
    await handler.idle();
    // The page terminates a crashed worker (src/store/session.test.ts); the handler itself goes on.
    expect(crashes()).toBe(1);
    expect(of('metrics').map((m) => m.report.step)).toEqual([1, 2, 3]);
  });

  it('a lost device is reported with the run to resume, and the loop stops without a second error', async () => {
    const { handler, of } = setup({ faults: { loseDeviceAtStep: 2 } });
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    await handler.handle({ type: 'start', checkpointEvery: 1, config: schedule(4), steps: 4, monitor });
    await handler.idle();
    const fault = of('fault')[0]!.fault;
    expect(fault.kind).toBe('device-lost');
    expect(fault.message).toMatch(/GPU device was lost \(destroyed by the test\)/);
    expect(fault.runId).toBe(of('runs').at(-1)!.runs[0]!.id);
    expect(of('metrics').map((m) => m.report.step)).toEqual([1, 2]);
    expect(of('error')).toEqual([]);
  });

  it('a full disk fails the checkpoint with the reason, and training goes on in memory', async () => {
    const full = (await CheckpointStore.open())!;
    full.save = () => Promise.reject(new DOMException('The quota has been exceeded.', 'QuotaExceededError'));
    const { handler, of } = setup({ change: { openCheckpoints: async () => full } });
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: dataset() });
    await handler.handle({ type: 'start', checkpointEvery: 1, config: schedule(3), steps: 3, monitor });
    await handler.idle();
    const failed = of('checkpoint').filter((c) => c.status === 'failed');
    expect(failed.map((c) => c.step)).toEqual([1, 2, 3]);
    expect(failed[0]!.message).toBe('browser storage is full; training goes on in memory');
    expect(of('metrics').map((m) => m.report.step)).toEqual([1, 2, 3]);
    expect(of('state').at(-1)!.state).toBe('stopped');
  });
});

describe('TrainerHandler: Explore', () => {
  const labelled = () => ({ ...dataset(), labels: Int32Array.from({ length: 12 }, (_, i) => i % 3), classNames: ['a', 'b', 'c'] });

  async function trained() {
    const t = setup();
    await t.handler.handle({ type: 'init', backend: 'auto' });
    await t.handler.handle({ type: 'set-dataset', dataset: labelled() });
    return t;
  }

  it('refuses before a run, then explores every image under each representation, leaving no tensor behind', async () => {
    const { handler, of } = await trained();
    await handler.handle({ type: 'explore', request: { representation: 'trained', k: 3, neighbours: 4 } });
    expect(of('error').at(-1)).toMatchObject({ code: 'no-run', request: 'explore' });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    const before = tf.memory().numTensors;
    for (const representation of ['trained', 'untrained', 'pixels'] as const) {
      await handler.handle({ type: 'explore', request: { representation, k: 3, neighbours: 4 } });
      const { result } = of('explore-result').at(-1)!;
      expect(result.representation).toBe(representation);
      expect(result.count).toBe(12);
      expect(result.vectors).toHaveLength(12 * result.dim);
      expect(result.neighbours.k).toBe(4);
      expect(result.neighbours.indices).toHaveLength(48);
      expect(result.outlierScores).toHaveLength(12);
      expect(result.groups).toHaveLength(12);
      expect(result.sizes.reduce((a, b) => a + b)).toBe(12);
      expect(result.coords).toHaveLength(24);
      expect(result.names).toEqual(dataset().names);
      expect(result.thumbnails).toHaveLength(12 * size * size * 3);
      // With labels: the same k-means under all three representations, scored against them.
      for (const r of ['trained', 'untrained', 'pixels'] as const) expect(result.agreement![r]!.purity).toBeGreaterThan(0);
      if (representation === 'pixels') expect(result.dim).toBe(Math.min(size, 32) ** 2 * 3);
      // The frozen encoder a search needs is the one tensor set kept beyond the run's.
      if (representation === 'pixels') expect(tf.memory().numTensors).toBe(before);
    }
    const progress = of('explore-progress').map((m) => m.progress.stage);
    expect(progress).toContain('embedding');
    expect(progress).toContain('neighbours');
    // A suggested k, from the silhouette over a range.
    await handler.handle({ type: 'explore', request: { representation: 'pixels', k: null, neighbours: 3 } });
    const suggested = of('explore-result').at(-1)!.result;
    expect(suggested.suggestion!.scores.length).toBeGreaterThan(0);
    expect(suggested.k).toBe(suggested.suggestion!.k);
    // New images retire the run and what was kept for searches.
    await handler.handle({ type: 'set-dataset', dataset: labelled() });
    await handler.handle({ type: 'explore-search', pixels: new Uint8Array(size * size * 3), k: 3 });
    expect(of('error').at(-1)).toMatchObject({ request: 'explore-search' });
  });

  it('finds an image of the set first when searched with its own pixels, with the trained encoder as it was explored', async () => {
    const { handler, of } = await trained();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    await handler.handle({ type: 'explore', request: { representation: 'trained', k: 2, neighbours: 3 } });
    const bytes = size * size * 3;
    const pixels = labelled().pixels.slice(5 * bytes, 6 * bytes);
    await handler.handle({ type: 'explore-search', pixels, k: 4 });
    const answer = of('explore-search-result').at(-1)!;
    expect(answer.neighbours).toHaveLength(4);
    expect(answer.neighbours[0]!.index).toBe(5);
    expect(answer.neighbours[0]!.similarity).toBeCloseTo(1, 4);
    expect(answer.representation).toBe('trained');
    await handler.handle({ type: 'explore-search', pixels: new Uint8Array(7), k: 4 });
    expect(of('error').at(-1)).toMatchObject({ code: 'bad-config', request: 'explore-search' });
  });

  it('cancels between batches and says so, leaving no tensor behind', async () => {
    const { handler, of } = await trained();
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    const before = tf.memory().numTensors;
    const exploring = handler.handle({ type: 'explore', request: { representation: 'untrained', k: 2, neighbours: 3 } });
    await handler.handle({ type: 'cancel-explore' });
    await exploring;
    expect(of('explore-cancelled')).toHaveLength(1);
    expect(of('explore-result')).toHaveLength(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('frees the encoder kept for searches when a new run starts, other images come or a model opens: tensor counts stay flat', async () => {
    const { handler, of } = await trained();
    const noRun = tf.memory().numTensors;
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    const oneRun = tf.memory().numTensors;
    await handler.handle({ type: 'explore', request: { representation: 'trained', k: 2, neighbours: 3 } });
    // The frozen encoder a search needs: every weight of the encoder once more.
    const kept = tf.memory().numTensors - oneRun;
    expect(kept).toBeGreaterThan(0);
    // A new run: the old run's tensors and the kept encoder go; a search says to explore again.
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    expect(tf.memory().numTensors).toBe(oneRun);
    await handler.handle({ type: 'explore-search', pixels: new Uint8Array(size * size * 3), k: 3 });
    expect(of('error').at(-1)).toMatchObject({ code: 'no-run', request: 'explore-search' });
    // Explored again, then other images: nothing of the run or the exploration is left.
    await handler.handle({ type: 'explore', request: { representation: 'untrained', k: 2, neighbours: 3 } });
    expect(tf.memory().numTensors).toBe(oneRun + kept);
    await handler.handle({ type: 'set-dataset', dataset: labelled() });
    expect(tf.memory().numTensors).toBe(noRun);
    // And a model opened from a zip after an exploration: its run replaces the explored one, the kept encoder goes.
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    await handler.handle({ type: 'export-model', includeHead: false });
    const zip = zipFiles(of('export').at(-1)!.files);
    await handler.handle({ type: 'explore', request: { representation: 'trained', k: 2, neighbours: 3 } });
    expect(tf.memory().numTensors).toBe(oneRun + kept);
    await handler.handle({ type: 'load-model', bytes: zip, fileName: 'm.zip', monitor });
    expect(of('error').filter((e) => e.request === 'load-model')).toEqual([]);
    await handler.handle({ type: 'explore-search', pixels: new Uint8Array(size * size * 3), k: 3 });
    expect(of('error').at(-1)).toMatchObject({ code: 'no-run', request: 'explore-search' });
  });

  it("a test build's held exploration (test-explore-chunk-delay) waits before its chunk, and a cancel cuts the wait short", async () => {
    expect(faultPlanFromQuery('?test-explore-chunk-delay=2500', true)).toEqual({ exploreChunkDelayMs: 2500 });
    const { handler, of } = setup({ faults: { exploreChunkDelayMs: 60_000 } });
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: labelled() });
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    const before = tf.memory().numTensors;
    const started = Date.now();
    const exploring = handler.handle({ type: 'explore', request: { representation: 'trained', k: 2, neighbours: 3 } });
    // Held: no image is embedded while the test acts.
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(of('explore-progress').filter((m) => m.progress.stage === 'embedding' && m.progress.done > 0)).toEqual([]);
    await handler.handle({ type: 'cancel-explore' });
    await exploring;
    expect(Date.now() - started).toBeLessThan(10_000);
    expect(of('explore-cancelled')).toHaveLength(1);
    expect(of('explore-result')).toHaveLength(0);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('another folder dropped mid-exploration cancels it at its next batch, says why, and is imported without waiting', async () => {
    let importing: Promise<void> | null = null;
    const files = Array.from({ length: 12 }, (_, i) => ({ path: `new/${i}.png`, file: new File(['x'], `${i}.png`) }));
    const { handler, of, messages } = setup({
      onMessage: (m, h) => {
        // The person drops the folder as soon as the progress bar moves.
        if (m.type === 'explore-progress' && m.progress.stage === 'embedding' && !importing) importing = h.handle({ type: 'import', files, imageSize: size, name: 'new' });
      },
    });
    await handler.handle({ type: 'init', backend: 'auto' });
    await handler.handle({ type: 'set-dataset', dataset: labelled() });
    const noRun = tf.memory().numTensors;
    await handler.handle({ type: 'start', checkpointEvery: 0, config: schedule(2), steps: 2, monitor });
    await handler.idle();
    await handler.handle({ type: 'explore', request: { representation: 'untrained', k: 2, neighbours: 3 } });
    expect(importing).not.toBeNull();
    await importing;
    expect(of('explore-cancelled')).toEqual([{ type: 'explore-cancelled', reason: 'other images are being loaded' }]);
    expect(of('explore-result')).toHaveLength(0);
    expect(of('error')).toEqual([]);
    expect(of('dataset').at(-1)!.dataset).toMatchObject({ name: 'new', count: 12 });
    // Cancelled before the new images were in: the page says why, then shows them.
    expect(messages.findIndex((m) => m.type === 'explore-cancelled')).toBeLessThan(messages.findLastIndex((m) => m.type === 'dataset'));
    expect(tf.memory().numTensors).toBe(noRun);
  });
});
