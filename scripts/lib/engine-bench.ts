// The engine's own training step (src/engine: trainStep, as the worker runs it), measured in this process on the
// backend that is set: where a step's time goes, and how many kernels and GPU dispatches it takes, by phase.
// Pure of browsers and of the command line, so that `npm run pack:gpu` bundles it into one file with Node and Dawn.
import * as tf from '@tensorflow/tfjs';
import { openSync, readSync } from 'node:fs';
import { PerformanceObserver } from 'node:perf_hooks';
import { defaultTrainConfig, type Channels, type EncoderName, type OptimizerName, type TrainConfig } from '../../src/engine/config';
import { stepFlops } from '../../src/engine/flops';
import { Random } from '../../src/engine/random';
import { compilePipelines, createTrainState, disposeTrainState, settled, trainStep, type StepPhase, type TrainState } from '../../src/engine/step';
import { syntheticImages } from '../../src/engine/synthetic';
import { gatherBatch } from '../../src/engine/batches';
import { median, round } from './stats';
import { groupDispatches, launchedInvocations, tfjsSerialLoop, tooSerial, type DispatchFields, type DispatchParallelism } from './engine-report';
import type { ProgramParallelism } from '../../src/engine/webgpu/limits';
import '../../src/engine/webgpu/programs';
import { installLeanDispatch } from '../../src/engine/webgpu/leanDispatch';

export interface EngineConfig {
  encoder: EncoderName;
  width: number;
  batch: number;
  imageSize: number;
  channels: Channels;
  /**
   * The warm-up steps bench:engine runs unless told (--warmup auto): enough for the step's JavaScript to settle. V8
   * optimises the code a step runs only once it has run it many times, so a small step's recording takes a dozen or
   * so steps to reach its steady cost (the default's: a median of 6.8–8.2 ms of CPU over steps 3–12, about 5 ms from step 13
   * on; BENCHMARKS.md, "Recording a step"), where a step of seconds is warm after one or two. A fixed count, not a time, so that the loss
   * after the steps stays the same from run to run.
   */
  warmup?: number;
}

/** The configurations: the app's default run, a colour convnet at full width, and ResNet-18. */
export const ENGINE_CONFIGS: Record<string, EngineConfig> = {
  default: { encoder: 'convnet4', width: 0.25, batch: 16, imageSize: 28, channels: 1, warmup: 20 },
  colour: { encoder: 'convnet4', width: 1, batch: 64, imageSize: 32, channels: 3, warmup: 2 },
  resnet18: { encoder: 'resnet18', width: 1, batch: 32, imageSize: 32, channels: 3, warmup: 2 },
};

/** Warm-up steps for a configuration that names none (EngineConfig.warmup). */
export const DEFAULT_WARMUP_STEPS = 2;

/** What a phase of a step recorded; StepPhase 'wait' and 'end' only mark time, so they own no work. */
export const PHASES = ['augment', 'forwardBackward', 'gradNorm', 'update'] as const;
export type Phase = (typeof PHASES)[number];
type ByPhase = Record<Phase, number>;

const zeroByPhase = (): ByPhase => ({ augment: 0, forwardBackward: 0, gradNorm: 0, update: 0 });

export function trainConfigFor(c: EngineConfig, optimizer: OptimizerName, seed = 1): TrainConfig {
  const config = defaultTrainConfig(c.imageSize, c.channels);
  config.model.encoder = c.encoder;
  config.model.width = c.width;
  config.batchSize = c.batch;
  config.optim.optimizer = optimizer;
  config.seed = seed;
  return config;
}

/** The fields of a program object the dispatch counter reads (tfjs-webgpu's, and the engine's own). */
interface ProgramFields {
  constructor: { name: string };
  shaderKey?: string;
  dispatch?: number[];
  workgroupSize?: number[];
  uniforms?: string;
  isVec4?: boolean;
  splitedDimInner?: number;
  /** The engine's kernels built with src/engine/webgpu/kernelBuilder.ts say it themselves. */
  parallelism?: ProgramParallelism;
}

/** One dispatch of the counted step, before its serial loop is worked out. */
interface DispatchRecord extends DispatchFields {
  phase: Phase;
  /** tfjs-webgpu's class name, or the engine's shader key ('tabclr_bn_normalize'). */
  program: string;
  known: ProgramParallelism | null;
}

interface WebGPUBackendInternals {
  runWebGPUProgram: (program: ProgramFields, inputs?: { shape: number[] }[], dtype?: unknown, uniforms?: { data: number[] }[], ...rest: unknown[]) => unknown;
  pipelineCache: Record<string, unknown>;
  bufferManager: {
    acquireBuffer: (size: number, usage: number, ...rest: unknown[]) => GPUBuffer;
    numBytesAllocated: number;
  };
  device: GPUDevice;
}

/** Counts what the engine and the backend do while `active`: kernels, dispatches, copies, buffer traffic. */
class Counter {
  active = false;
  phase: Phase = 'augment';
  kernels = zeroByPhase();
  dispatches = zeroByPhase();
  copies = zeroByPhase();
  /** Queue submissions while `countSubmits` is on: a step and the read that ends it. */
  countSubmits = false;
  submits = 0;
  bytesAcquired = 0;
  kernelNames = new Map<string, number>();
  programNames = new Map<string, number>();
  dispatchList: DispatchRecord[] = [];
  private restore: (() => void)[] = [];

  install(webgpu: boolean): void {
    const engine = tf.engine() as unknown as { runKernelFunc: (params: { kernelName?: string }) => unknown };
    const runKernelFunc = engine.runKernelFunc;
    engine.runKernelFunc = (params) => {
      if (this.active) {
        this.kernels[this.phase] += 1;
        const name = params.kernelName ?? 'customGrad';
        this.kernelNames.set(name, (this.kernelNames.get(name) ?? 0) + 1);
      }
      return runKernelFunc.call(engine, params);
    };
    this.restore.push(() => (engine.runKernelFunc = runKernelFunc));
    if (!webgpu) return;
    const backend = tf.backend() as unknown as WebGPUBackendInternals;
    const run = backend.runWebGPUProgram;
    backend.runWebGPUProgram = (program, inputs, dtype, uniforms, ...rest) => {
      if (this.active && !tf.env().getBool('WEBGPU_ENGINE_COMPILE_ONLY')) {
        this.dispatches[this.phase] += 1;
        const name = program.constructor.name;
        this.programNames.set(name, (this.programNames.get(name) ?? 0) + 1);
        // Read before the run: tfjs reshapes a dispatch past the per-dimension limit, and appends to the shader key.
        this.dispatchList.push({
          phase: this.phase,
          program: program.shaderKey?.startsWith('tabclr_') ? program.shaderKey : name,
          className: name,
          dispatch: [...(program.dispatch ?? [1, 1, 1])],
          workgroupSize: [...(program.workgroupSize ?? [1, 1, 1])],
          uniformDeclaration: program.uniforms,
          uniformData: uniforms?.map((u) => [...u.data]),
          inputShapes: inputs?.map((i) => [...i.shape]),
          isVec4: program.isVec4,
          splitedDimInner: program.splitedDimInner,
          known: program.parallelism ?? null,
        });
      }
      return run.call(backend, program, inputs, dtype, uniforms, ...rest);
    };
    this.restore.push(() => (backend.runWebGPUProgram = run));
    const manager = backend.bufferManager;
    const acquire = manager.acquireBuffer;
    manager.acquireBuffer = (size, usage, ...rest) => {
      // Storage buffers are tensors; uniforms and staging buffers are the backend's own traffic.
      if (this.active && usage & GPUBufferUsage.STORAGE) this.bytesAcquired += size;
      return acquire.call(manager, size, usage, ...rest);
    };
    this.restore.push(() => (manager.acquireBuffer = acquire));
    const encoder = (globalThis as unknown as { GPUCommandEncoder: { prototype: GPUCommandEncoder } }).GPUCommandEncoder.prototype;
    const copy = encoder.copyBufferToBuffer;
    const counter = this;
    encoder.copyBufferToBuffer = function (this: GPUCommandEncoder, ...args: unknown[]) {
      if (counter.active) counter.copies[counter.phase] += 1;
      return (copy as (...a: unknown[]) => void).apply(this, args);
    } as GPUCommandEncoder['copyBufferToBuffer'];
    this.restore.push(() => (encoder.copyBufferToBuffer = copy));
    const queue = (globalThis as unknown as { GPUQueue: { prototype: GPUQueue } }).GPUQueue.prototype;
    const submit = queue.submit;
    queue.submit = function (this: GPUQueue, ...args: unknown[]) {
      if (counter.countSubmits) counter.submits += 1;
      return (submit as (...a: unknown[]) => void).apply(this, args);
    } as GPUQueue['submit'];
    this.restore.push(() => (queue.submit = submit));
  }

  reset(): void {
    this.kernels = zeroByPhase();
    this.dispatches = zeroByPhase();
    this.copies = zeroByPhase();
    this.submits = 0;
    this.bytesAcquired = 0;
    this.kernelNames.clear();
    this.programNames.clear();
    this.dispatchList = [];
  }

  uninstall(): void {
    for (const r of this.restore.reverse()) r();
    this.restore = [];
  }
}

export interface KernelTime {
  name: string;
  count: number;
  ms: number;
}

export interface EngineResult {
  kind: 'config';
  config: string;
  /** Whether the engine's fused WebGPU kernels ran (TABCLR_FUSED_KERNELS); false means tfjs ops only. */
  fused: boolean;
  encoder: EncoderName;
  width: number;
  batch: number;
  image_size: number;
  channels: Channels;
  optimizer: OptimizerName;
  backend: string;
  adapter: string;
  /** Trainable parameters (batch norm's moving statistics are not counted, as PyTorch does not count its buffers). */
  parameters: number;
  steps: number;
  warmup_steps: number;
  /** Source images per second over the median steady step (each image is seen as two views). */
  images_per_sec: number;
  /** Median wall time of a steady step, one step's start to the next (unprofiled). */
  step_ms: number;
  step_ms_all: number[];
  /** Medians over the profiled steps (a one-element read closes each phase). */
  phase_ms: { augment: number; forward_backward: number; grad_norm: number; update: number };
  kernels_per_step: number;
  kernels_by_phase: ByPhase;
  /** Compute passes' dispatches (one per GPU program run); null off WebGPU. */
  dispatches_per_step: number | null;
  dispatches_by_phase: ByPhase | null;
  /** Buffer-to-buffer copies (uploads, read-backs, packing): commands, but no shader runs. */
  copies_per_step: number | null;
  /** Dispatches between queue submissions (tfjs's WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE: 15 unless --submit-batch sets it). */
  submit_batch: number | null;
  /** Queue submissions in one steady step. */
  submits_per_step: number | null;
  /**
   * JavaScript time to record a step, without the waits for the GPU and without the garbage collector's pauses that
   * fell inside it (median over the steady steps). In Node the wait for the GPU polls Dawn from the event loop, which
   * makes tens of megabytes of garbage a step (a browser waits in its GPU process); collecting it lands in whatever
   * JavaScript runs next, usually the recording of the update, where it is no cost of recording.
   */
  record_ms: number;
  /** The garbage collector's pauses inside the recording windows, per steady step (mean): what record_ms leaves out. */
  record_gc_ms: number;
  /**
   * CPU time of the JavaScript thread in the recording windows, GC pauses left out (median; Linux's per-thread
   * schedstat, null elsewhere): record_ms without the time other processes and the software adapter's own threads
   * took the cores from it, which on a loaded machine is most of the difference.
   */
  record_cpu_ms: number | null;
  /**
   * Time the JavaScript thread spent in the recording windows ready to run but waiting for a core (median; schedstat's
   * run-queue delay, null elsewhere): the cores the software adapter's threads and V8's own (the compiler's, the
   * collector's) held. record_ms ≈ record_cpu_ms + this + the time the thread blocked.
   */
  record_runq_ms: number | null;
  /**
   * The dispatches of one step with fewer than 8,192 invocations that each loop more than 4,096 times (engine-report.ts,
   * tooSerial): what leaves a GPU idle; empty when none (and off WebGPU).
   */
  parallelism_flags: DispatchParallelism[];
  /** Every kind of dispatch of one step: program, invocations, longest serial loop (null: not known), count, phases. */
  parallelism: DispatchParallelism[] | null;
  pipelines_compiled: number | null;
  compile_ms: number;
  /** Bytes of the storage buffers a step takes from the pool (tensors made on the GPU in one step). */
  gpu_bytes_per_step: number | null;
  /** Bytes newly allocated by a steady step (0 once the pool holds every size a step needs). */
  gpu_bytes_new_per_step: number | null;
  flops_per_step: number;
  achieved_gflops: number;
  final_loss: number;
  tensors_flat: boolean;
  top_kernels_by_count: { name: string; count: number }[];
  top_programs_by_count: { name: string; count: number }[] | null;
  /** Per-kernel GPU time of one step (timestamp queries) when asked for; null otherwise. */
  kernel_times: { source: string; total_ms: number; by_time: KernelTime[]; programs_by_time: KernelTime[] } | null;
}

export interface EngineBenchOptions {
  steps: number;
  /** Warm-up steps before the steady ones. */
  warmup: number;
  profiledSteps: number;
  optimizer: OptimizerName;
  adapter: string;
  /** Time each kernel of one extra step (tf.profile; on WebGPU, timestamp queries). */
  kernelTimes: boolean;
  log: (line: string) => void;
}

const top = (m: Map<string, number>, n = 12) =>
  [...m]
    .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
    .slice(0, n)
    .map(([name, count]) => ({ name, count }));

/** CPU time this thread has run, in ms (Linux: /proc/thread-self/schedstat, nanoseconds); null where unknown. */
let schedstat: number | null | undefined;
const schedstatBytes = Buffer.alloc(128);

/**
 * CPU time of the calling thread so far (Linux's /proc/thread-self/schedstat, kept open: the marks fall inside the
 * windows they measure), or null where there is none. The kernel brings a running thread's figure up to date only at
 * its scheduler tick (every 4 ms at HZ=250) or when the thread is switched out, so a bare read may be up to a tick
 * old; getrusage (process.cpuUsage) brings the calling thread's up to date first, which makes the read exact (Node 20
 * has no per-thread CPU clock; 23.9's process.threadCpuUsage is one).
 */
export function threadCpuMs(): number | null {
  return threadSchedMs()?.cpu ?? null;
}

/**
 * The calling thread's CPU time and its time spent ready to run but waiting for a core (schedstat's second field, the
 * run-queue delay), in ms, as threadCpuMs reads them; null where there are none.
 */
export function threadSchedMs(): { cpu: number; waiting: number } | null {
  try {
    if (schedstat === undefined) schedstat = openSync('/proc/thread-self/schedstat', 'r');
    if (schedstat === null) return null;
    process.cpuUsage();
    const n = readSync(schedstat, schedstatBytes, 0, schedstatBytes.length, 0);
    const [cpu, waiting] = schedstatBytes.toString('latin1', 0, n).split(' ');
    return { cpu: Number(cpu) / 1e6, waiting: Number(waiting) / 1e6 };
  } catch {
    schedstat = null;
    return null;
  }
}

/** One configuration on the current tfjs backend. */
export async function benchConfig(name: string, c: EngineConfig, o: EngineBenchOptions): Promise<EngineResult> {
  const webgpu = tf.getBackend() === 'webgpu';
  const config = trainConfigFor(c, o.optimizer);
  const pixels = syntheticImages(Math.max(4 * c.batch, 64), c.imageSize, c.channels, 7);
  const pick = new Random(11);
  const nextBatch = () => {
    const indices = pick.permutation(pixels.length / (c.imageSize * c.imageSize * c.channels)).slice(0, c.batch);
    return gatherBatch(pixels, indices, c.imageSize, c.channels);
  };
  const state: TrainState = createTrainState(config);
  const backend = tf.backend() as unknown as WebGPUBackendInternals;
  const pipelinesBefore = webgpu ? Object.keys(backend.pipelineCache).length : 0;
  const counter = new Counter();
  // Before the counter wraps runWebGPUProgram, so that the engine's programs take the lean path under it.
  if (webgpu) installLeanDispatch(backend);
  counter.install(webgpu);
  try {
    let t0 = performance.now();
    await compilePipelines(state);
    const compileMs = performance.now() - t0;
    const step = async (options: Parameters<typeof trainStep>[2] = {}) => {
      const batch = nextBatch();
      try {
        return await trainStep(state, batch, options);
      } finally {
        batch.dispose();
      }
    };
    o.log(`${name}: compiled ${webgpu ? Object.keys(backend.pipelineCache).length - pipelinesBefore : 0} pipelines in ${(compileMs / 1000).toFixed(1)} s; ${o.warmup} warm-up steps`);
    for (let i = 0; i < o.warmup; i++) {
      t0 = performance.now();
      await step();
      await settled(state.params[0]!.variable);
      o.log(`${name}: warm-up step ${i + 1}: ${(performance.now() - t0).toFixed(0)} ms`);
    }
    const tensorsBefore = tf.memory().numTensors;

    // Steady steps, back to back as the worker runs them; the phase marks give the recording time.
    const starts: number[] = [];
    const windows: [number, number][][] = [];
    const pauses: { start: number; end: number }[] = [];
    const observer = new PerformanceObserver((list) => {
      for (const e of list.getEntries()) pauses.push({ start: e.startTime, end: e.startTime + e.duration });
    });
    observer.observe({ entryTypes: ['gc'] });
    const cpuInRecords: number[] = [];
    const waitingInRecords: number[] = [];
    let loss = NaN;
    for (let i = 0; i < o.steps; i++) {
      const marks = new Map<StepPhase, number>();
      const cpu = new Map<StepPhase, { cpu: number; waiting: number } | null>();
      starts.push(performance.now());
      const m = await step({
        onPhase: (p) => {
          cpu.set(p, threadSchedMs());
          marks.set(p, performance.now());
        },
      });
      loss = m.loss;
      windows.push([
        [marks.get('augment')!, marks.get('wait')!],
        [marks.get('update')!, marks.get('end')!],
      ]);
      const spent = (a: StepPhase, b: StepPhase, k: 'cpu' | 'waiting') => (cpu.get(a) == null || cpu.get(b) == null ? NaN : cpu.get(b)![k] - cpu.get(a)![k]);
      cpuInRecords.push(spent('augment', 'wait', 'cpu') + spent('update', 'end', 'cpu'));
      waitingInRecords.push(spent('augment', 'wait', 'waiting') + spent('update', 'end', 'waiting'));
    }
    await settled(state.params[0]!.variable);
    starts.push(performance.now());
    // The observer reports pauses after they end: let it deliver the last ones.
    await new Promise((resolve) => setTimeout(resolve, 50));
    observer.disconnect();
    const overlap = (a: number, b: number) => pauses.reduce((sum, p) => sum + Math.max(0, Math.min(b, p.end) - Math.max(a, p.start)), 0);
    const gcInRecords = windows.map((w) => w.reduce((sum, [a, b]) => sum + overlap(a, b), 0));
    const records = windows.map((w, i) => w.reduce((sum, [a, b]) => sum + (b - a), 0) - gcInRecords[i]!);
    const stepMs = starts.slice(1).map((t, i) => t - starts[i]!);
    o.log(`${name}: steady steps (ms): ${stepMs.map((v) => v.toFixed(0)).join(', ')}`);

    // One counted step.
    const bytesAllocatedBefore = webgpu ? backend.bufferManager.numBytesAllocated : 0;
    counter.reset();
    counter.active = true;
    counter.countSubmits = true;
    await step({
      onPhase: (p) => {
        if ((PHASES as readonly string[]).includes(p)) counter.phase = p as Phase;
      },
    });
    counter.active = false;
    await settled(state.params[0]!.variable);
    counter.countSubmits = false;
    const bytesNew = webgpu ? backend.bufferManager.numBytesAllocated - bytesAllocatedBefore : null;
    const parallelism = webgpu ? groupDispatches(counter.dispatchList.map((d) => resolveDispatch(d))) : null;

    // Profiled steps for the split.
    const splits: { augmentMs: number; forwardBackwardMs: number; gradNormMs: number; updateMs: number }[] = [];
    for (let i = 0; i < o.profiledSteps; i++) {
      const m = await step({ profile: true });
      splits.push(m.timings!);
    }
    const split = (k: keyof (typeof splits)[number]) => (splits.length ? round(median(splits.map((s) => s[k])), 1) : NaN);

    let kernelTimes: EngineResult['kernel_times'] = null;
    if (o.kernelTimes) kernelTimes = await timeKernels(step);
    const tensorsAfter = tf.memory().numTensors;

    const medianStep = median(stepMs);
    // Trainable ones, as PyTorch counts parameters (batch norm's moving statistics are buffers there).
    const parameters = state.params.reduce((sum, p) => sum + p.variable.size, 0);
    const flops = stepFlops(state.model, c.batch, config.model.projectionDim, parameters);
    const sum = (b: ByPhase) => PHASES.reduce((a, p) => a + b[p], 0);
    return {
      kind: 'config',
      config: name,
      fused: webgpu && tf.env().getBool('TABCLR_FUSED_KERNELS'),
      encoder: c.encoder,
      width: c.width,
      batch: c.batch,
      image_size: c.imageSize,
      channels: c.channels,
      optimizer: o.optimizer,
      backend: tf.getBackend(),
      adapter: o.adapter,
      parameters,
      steps: o.steps,
      warmup_steps: o.warmup,
      images_per_sec: round((c.batch * 1000) / medianStep, 2),
      step_ms: round(medianStep, 1),
      step_ms_all: stepMs.map((v) => round(v, 1)),
      phase_ms: { augment: split('augmentMs'), forward_backward: split('forwardBackwardMs'), grad_norm: split('gradNormMs'), update: split('updateMs') },
      kernels_per_step: sum(counter.kernels),
      kernels_by_phase: counter.kernels,
      dispatches_per_step: webgpu ? sum(counter.dispatches) : null,
      dispatches_by_phase: webgpu ? counter.dispatches : null,
      copies_per_step: webgpu ? sum(counter.copies) : null,
      submit_batch: webgpu ? tf.env().getNumber('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') : null,
      submits_per_step: webgpu ? counter.submits : null,
      record_ms: round(median(records), 1),
      record_gc_ms: round(gcInRecords.reduce((a, b) => a + b, 0) / Math.max(1, gcInRecords.length), 1),
      record_cpu_ms: cpuInRecords.every(Number.isFinite) && cpuInRecords.length > 0 ? round(median(cpuInRecords.map((c, i) => Math.max(0, c - gcInRecords[i]!))), 1) : null,
      record_runq_ms: waitingInRecords.every(Number.isFinite) && waitingInRecords.length > 0 ? round(median(waitingInRecords), 1) : null,
      parallelism_flags: parallelism ? parallelism.filter(tooSerial) : [],
      parallelism,
      pipelines_compiled: webgpu ? Object.keys(backend.pipelineCache).length - pipelinesBefore : null,
      compile_ms: round(compileMs, 0),
      gpu_bytes_per_step: webgpu ? counter.bytesAcquired : null,
      gpu_bytes_new_per_step: bytesNew,
      flops_per_step: flops,
      achieved_gflops: round(flops / (medianStep / 1000) / 1e9, 3),
      final_loss: round(loss, 5),
      tensors_flat: tensorsAfter === tensorsBefore,
      top_kernels_by_count: top(counter.kernelNames),
      top_programs_by_count: webgpu ? top(counter.programNames) : null,
      kernel_times: kernelTimes,
    };
  } finally {
    counter.uninstall();
    disposeTrainState(state);
  }
}

/**
 * The program, invocations and longest serial loop of one dispatch: every program of the engine says its own
 * (kernelBuilder.ts); tfjs-webgpu's come from their class and shapes (engine-report.ts, tfjsSerialLoop).
 */
function resolveDispatch(d: DispatchRecord) {
  const out = (invocations: number, serialLoop: number | null) => ({ program: d.program, invocations, serial_loop: serialLoop, phase: d.phase });
  if (d.known) return out(d.known.invocations, d.known.serialLoop);
  return out(launchedInvocations(d), d.program.startsWith('tabclr_') ? null : tfjsSerialLoop(d));
}

/**
 * Per-kernel times of one step through tf.profile: on WebGPU each program runs in a compute pass of its own between
 * timestamp queries (the backend's own profiling), so the times are the GPU's; elsewhere each kernel's wall time.
 */
async function timeKernels(step: () => Promise<unknown>): Promise<NonNullable<EngineResult['kernel_times']>> {
  const webgpu = tf.getBackend() === 'webgpu';
  const hasTimestamps = webgpu && (tf.backend() as unknown as WebGPUBackendInternals).device.features.has('timestamp-query');
  const profile = await tf.profile(async () => {
    await step();
  });
  const byKernel = new Map<string, KernelTime>();
  const byProgram = new Map<string, KernelTime>();
  let total = 0;
  for (const k of profile.kernels) {
    const ms = typeof k.kernelTimeMs === 'number' ? k.kernelTimeMs : 0;
    total += ms;
    const e = byKernel.get(k.name) ?? { name: k.name, count: 0, ms: 0 };
    e.count += 1;
    e.ms += ms;
    byKernel.set(k.name, e);
    // extraInfo: "Program: ms, Program: ms" on WebGPU.
    for (const part of String(k.extraInfo ?? '').split(', ')) {
      const match = /^(\w+): ([\d.e+-]+)$/.exec(part.trim());
      if (!match) continue;
      const p = byProgram.get(match[1]!) ?? { name: match[1]!, count: 0, ms: 0 };
      p.count += 1;
      p.ms += Number(match[2]);
      byProgram.set(match[1]!, p);
    }
  }
  const sorted = (m: Map<string, KernelTime>) =>
    [...m.values()].sort((a, b) => b.ms - a.ms).map((k) => ({ ...k, ms: round(k.ms, 2) }));
  return {
    source: webgpu ? (hasTimestamps ? 'timestamp queries (a compute pass per program)' : 'none: the device has no timestamp-query') : 'wall time per kernel',
    total_ms: round(total, 1),
    by_time: sorted(byKernel).slice(0, 15),
    programs_by_time: sorted(byProgram).slice(0, 15),
  };
}
