// A leaner dispatch for the engine's own programs (kernelBuilder.ts): what tfjs-webgpu's runWebGPUProgram and
// recordAndSubmit redo at every dispatch is done once per distinct dispatch instead. tfjs builds the shader key from
// strings, reads the device's limits, lays out and writes a uniform buffer (NaN, Infinity, every input's and the
// output's shape and strides, the program's uniforms) into a pooled buffer it releases at the next submission, and asks
// the pipeline for its bind group layout: about 65 µs of the 86 dispatches of the default step (BENCHMARKS.md,
// "Recording a step"). Here a dispatch seen before, keyed by its program's name, its inputs' types and sizes, its
// output's size and its uniforms' values, reuses its pipeline, its layout, a uniform buffer written once, and a bind
// group made for the same buffers in a recent step; uniforms not seen before are written as tfjs writes them, into a
// pooled buffer, but without tfjs's key, layout and lookups, and uniforms that change at every run (the optimizer's)
// are written into a uniform buffer kept for them, which keeps its bind groups too (rewritableSlot).
//
// Everything else is tfjs's: the output is a tensor of its tensor map, the commands go into its command encoder and
// compute pass, the tensors a pass uses join commandQueueOwnedIds, and the pass is ended and submitted every
// WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE dispatches as recordAndSubmit does. The first dispatch of a pipeline, and every one
// while tfjs times kernels (tf.profile, tf.time: activeTimers), compiles only (WEBGPU_ENGINE_COMPILE_ONLY), spreads
// past one dimension's workgroup limit, or has an empty output, goes through tfjs's own path.
//
// Only for tfjs-backend-webgpu 4.22 (pinned in package.json), like programs.ts.
import * as tf from '@tensorflow/tfjs';
import { MAX_WORKGROUPS_PER_DIMENSION } from './limits';
import { placeOnGPU, PreferredBuffers, type ProgramUniform } from './programs';

/** On by default; tests and benchmarks turn it off to compare with tfjs's path. */
export const LEAN_DISPATCH_FLAG = 'TABCLR_LEAN_DISPATCH';
if (!(LEAN_DISPATCH_FLAG in (tf.env() as unknown as { flagRegistry: Record<string, unknown> }).flagRegistry)) {
  tf.env().registerFlag(LEAN_DISPATCH_FLAG, () => true);
}

/**
 * Distinct dispatches remembered per backend, each with a uniform buffer of a few dozen bytes; the least recently used
 * goes past it. The default step has 86 dispatches, ResNet-18's 286; a uniform that changes every step (the
 * optimizer's bias corrections) adds one a step that is never used again and is the first to go.
 */
export const LEAN_DISPATCH_CAPACITY = 1024;

/** What a program has to be for the lean path: kernelBuilder.ts's KernelProgram (flat, one output, no size uniform). */
export interface LeanProgram {
  /** The shader key before tfjs appends to it ('tabclr_relu'). */
  readonly baseKey: string;
  shaderKey: string;
  dispatch: [number, number, number];
  readonly outputShape: number[];
}

interface TensorData {
  dtype: tf.DataType;
  resource: GPUBuffer | GPUTexture | null;
}

/** The parts of tfjs-webgpu's WebGPUBackend the lean path reads and writes (private in its typings). */
interface Backend {
  device: GPUDevice;
  queue: GPUQueue;
  runWebGPUProgram(program: object, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms?: ProgramUniform[], output?: tf.TensorInfo): tf.TensorInfo;
  makeTensorInfo(shape: number[], dtype: tf.DataType): tf.TensorInfo;
  uploadToGPU(dataId: object): void;
  tensorMap: { get(dataId: object): TensorData };
  pipelineCache: Record<string, GPUComputePipeline | Promise<GPUComputePipeline>>;
  bufferManager: { acquireBuffer(size: number, usage: number): GPUBuffer; releaseBuffer(buffer: GPUBuffer): void; freeBuffers: Map<string, GPUBuffer[]> };
  uniformPendingDisposal: GPUBuffer[];
  activeTimers: unknown[] | null | undefined;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  commandQueueOwnedIds: WeakSet<object>;
  dispatchCountInPass: number;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/** A program's pipeline for inputs of given types and sizes: tfjs's full shader key, the pipeline and its layout. */
interface Pipeline {
  key: string;
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  /** Dispatches of it whose uniforms were new, once it had run (see rewritableSlot). */
  misses?: number;
  /** Uniform buffers rewritten for uniforms that change at every run, each with its bind groups (see rewritableSlot). */
  slots?: Slot[];
}

/** One distinct dispatch: its pipeline, and (from its second run) its uniform buffer. */
interface Entry {
  pipe: Pipeline;
  uniform: { buffer: GPUBuffer; offset: number; size: number } | null;
  /** The bind groups last made for it, newest first, each with the buffers it binds (the output's first). */
  bindGroups?: { buffers: GPUBuffer[]; group: GPUBindGroup }[];
  /** The buffers its output had in recent runs, asked for again so that its bind groups stay the same. */
  outputs?: PreferredBuffers;
}

/** An entry whose uniform buffer is rewritten (queue.writeBuffer) for each run's uniforms: see rewritableSlot. */
interface Slot extends Entry {
  uniform: { buffer: GPUBuffer; offset: number; size: number };
  /** The command encoder its last run was recorded in: its buffer may be rewritten once that one has been submitted. */
  encoder: GPUCommandEncoder | null;
}

/**
 * Dispatches of one pipeline with new uniforms after which they count as uniforms that change at every run (the
 * optimizer's learning rate and bias corrections): past these, a dispatch whose uniforms are new takes a rewritable
 * slot instead of a pooled buffer and a bind group of its own. It is still remembered as an entry, as every dispatch
 * is, so that a set of uniforms that recurs (a layer's, first seen late) finds its own entry from its next run.
 */
const MISSES_BEFORE_SLOTS = 4;

/** Rewritable slots per pipeline: as many as the runs of it one command encoder may record (one per pack here). */
const SLOTS_PER_PIPELINE = 4;

/**
 * Bind groups kept per distinct dispatch. tfjs's pool does not hand a layer's tensors the same buffers every step, but
 * it often hands them a set it handed them in a recent step, and a bind group is the costliest call left (about 18 µs
 * in Dawn): with 16 kept, 52 of the default step's 74 lean dispatches found theirs (4 kept: 29; 64 kept: no more).
 * A kept group only holds its buffers' objects: tfjs destroys a pooled buffer only when the backend goes, and a group
 * is used again only for buffers that are live tensors' now.
 */
const BIND_GROUPS_PER_DISPATCH = 16;

/**
 * Output buffers remembered per distinct dispatch: as many as the times one dispatch recurs in a step (ResNet-18's
 * blocks of the same shapes) with room to spare.
 */
const OUTPUT_BUFFERS_PER_DISPATCH = 8;

export class DispatchCache {
  private readonly entries = new Map<string, Entry>();
  /** When each entry was last used (a counter), for evicting the least recently used without reordering the map. */
  private readonly used = new Map<string, number>();
  private clock = 0;
  /** By pipelineSignature: what a dispatch whose uniforms are new needs (emptied past the capacity). */
  readonly pipelines = new Map<string, Pipeline>();
  /** Dispatches recorded by the lean path (for tests). */
  recorded = 0;
  constructor(public capacity = LEAN_DISPATCH_CAPACITY) {}

  get size(): number {
    return this.entries.size;
  }

  /** The entry for `signature`, now the most recently used. */
  get(signature: string): Entry | undefined {
    const entry = this.entries.get(signature);
    if (entry) this.used.set(signature, ++this.clock);
    return entry;
  }

  /**
   * Adds an entry; returns those that went past the capacity (their uniform buffers to release): the least recently
   * used eighth of them at once, so that a full cache, which a uniform new at every step keeps full, looks for them once
   * in many additions.
   */
  add(signature: string, entry: Entry): Entry[] {
    this.entries.set(signature, entry);
    this.used.set(signature, ++this.clock);
    if (this.entries.size <= this.capacity) return [];
    const excess = this.entries.size - this.capacity;
    const oldest = [...this.used].sort((a, b) => a[1] - b[1]).slice(0, Math.max(excess, Math.floor(this.capacity / 8)));
    return oldest.map(([key]) => {
      const old = this.entries.get(key)!;
      this.entries.delete(key);
      this.used.delete(key);
      return old;
    });
  }

  has(signature: string): boolean {
    return this.entries.has(signature);
  }
}

const caches = new WeakMap<object, DispatchCache>();

/** The lean path's cache of a backend (for tests). */
export function dispatchCacheOf(backend: object): DispatchCache {
  let cache = caches.get(backend);
  if (!cache) {
    cache = new DispatchCache();
    caches.set(backend, cache);
  }
  return cache;
}

/**
 * What makes two dispatches of a program the same: the inputs' types and sizes (which fix tfjs's shader key, since the
 * engine's inputs are flat, and the uniform buffer's shapes), the output's size, and every uniform's type and value
 * (−0 apart from 0: their bits differ).
 */
export function dispatchSignature(baseKey: string, dtypes: readonly string[], sizes: readonly number[], outputSize: number, uniforms: readonly ProgramUniform[]): string {
  return pipelineSignature(baseKey, dtypes, sizes, outputSize) + uniformSignature(uniforms);
}

/** The part of dispatchSignature that fixes the pipeline (all but the uniforms' values). */
export function pipelineSignature(baseKey: string, dtypes: readonly string[], sizes: readonly number[], outputSize: number): string {
  let s = `${baseKey}|${outputSize}|`;
  for (let i = 0; i < sizes.length; i++) s += `${dtypes[i]}${sizes[i]},`;
  return s;
}

function uniformSignature(uniforms: readonly ProgramUniform[]): string {
  let s = '|';
  for (const u of uniforms) {
    if (u.type === 'float32') {
      s += 'f';
      for (const v of u.data) s += v === 0 && 1 / v < 0 ? '-0,' : `${v},`;
    } else {
      // An integer's −0 is 0 in the buffer.
      s += `${u.type[0]}${u.data.join(',')},`;
    }
  }
  return s;
}

/**
 * The bytes tfjs-webgpu's recordAndSubmit and makeUniforms write for a flat program (no `size` uniform) with inputs of
 * `sizes` and an output of `outputSize`: NaN, Infinity, each input's and the output's shape and strides (a rank-1
 * array's strides are empty, which tfjs writes as [1]), then the program's uniforms, laid out by WGSL's alignment
 * rules as tfjs lays them out.
 */
export function uniformBytes(sizes: readonly number[], outputSize: number, programUniforms: readonly ProgramUniform[]): ArrayBuffer {
  const fields: ProgramUniform[] = [
    { type: 'float32', data: [NaN] },
    { type: 'float32', data: [Infinity] },
  ];
  for (const n of [...sizes, outputSize]) fields.push({ type: 'int32', data: [n] }, { type: 'int32', data: [1] });
  for (const u of programUniforms) fields.push({ type: u.type, data: u.data.length === 0 ? [1] : u.data });
  // tfjs-webgpu 4.22's makeUniforms, without its buffer.
  let currentOffset = 0;
  let preLength = 0;
  let maxAlignment = 1;
  const offsets: number[] = [];
  for (const d of fields) {
    const n = d.data.length;
    if (n < 1 || n > 6) throw new Error(`Unsupported ${n}D shape`);
    let alignment = n === 1 ? 4 : n === 2 ? 8 : 16;
    if (preLength === 5 || preLength === 6) alignment = 16;
    if (alignment > maxAlignment) maxAlignment = alignment;
    currentOffset = Math.ceil(currentOffset / alignment) * alignment;
    preLength = n;
    offsets.push(currentOffset);
    currentOffset += n * 4;
  }
  currentOffset = Math.ceil(currentOffset / maxAlignment) * maxAlignment;
  const bytes = new ArrayBuffer(currentOffset);
  fields.forEach((d, i) => {
    const View = d.type === 'int32' ? Int32Array : d.type === 'uint32' ? Uint32Array : Float32Array;
    new View(bytes, offsets[i]!, d.data.length).set(d.data);
  });
  return bytes;
}

/**
 * Runs `program` on flat `inputs` (each shape [size]) as tfjs-webgpu's runWebGPUProgram would, and returns its float32
 * output, owned by the caller. `run` is the backend's own runWebGPUProgram, for what the lean path leaves to tfjs.
 */
export function runLean(
  backend: Backend,
  run: Backend['runWebGPUProgram'],
  program: LeanProgram,
  inputs: tf.TensorInfo[],
  uniforms: ProgramUniform[],
): tf.TensorInfo {
  const outputSize = program.outputShape[0]!;
  const env = tf.env();
  if (
    !env.getBool(LEAN_DISPATCH_FLAG) ||
    backend.activeTimers != null ||
    env.getBool('WEBGPU_ENGINE_COMPILE_ONLY') ||
    outputSize === 0 ||
    program.dispatch[0] > MAX_WORKGROUPS_PER_DIMENSION ||
    program.dispatch[1] !== 1 ||
    program.dispatch[2] !== 1
  ) {
    return run.call(backend, program, inputs, 'float32', uniforms);
  }
  const { tensorMap } = backend;
  const dtypes: string[] = [];
  const sizes: number[] = [];
  const data: TensorData[] = [];
  for (const input of inputs) {
    if (input.shape.length !== 1) return run.call(backend, program, inputs, 'float32', uniforms);
    const d = tensorMap.get(input.dataId);
    if (d.resource == null) backend.uploadToGPU(input.dataId);
    data.push(d);
    dtypes.push(d.dtype);
    sizes.push(input.shape[0]!);
  }
  const pipelineKey = pipelineSignature(program.baseKey, dtypes, sizes, outputSize);
  const signature = pipelineKey + uniformSignature(uniforms);
  const cache = dispatchCacheOf(backend);
  let entry: Entry | undefined = cache.get(signature);
  // A dispatch whose uniforms are new (a first run, or uniforms that change every step, as the optimizer's bias
  // corrections do) writes them into a pooled buffer released at the next submission, as tfjs does; a second run of
  // the same uniforms keeps a buffer of its own. Past a few new sets of one pipeline's uniforms, a rewritable slot of
  // the pipeline takes them instead.
  let once = false;
  if (!entry) {
    const pipe = cache.pipelines.get(pipelineKey);
    if (!pipe) {
      // The first of its kind through tfjs, which compiles its pipeline and appends to program.shaderKey what makes it.
      const output = run.call(backend, program, inputs, 'float32', uniforms);
      const pipeline = backend.pipelineCache[program.shaderKey];
      if (pipeline && !(pipeline instanceof Promise)) {
        if (cache.pipelines.size >= cache.capacity) {
          releaseSlots(backend, cache.pipelines.values());
          cache.pipelines.clear();
        }
        const made = { key: program.shaderKey, pipeline, layout: pipeline.getBindGroupLayout(0) };
        cache.pipelines.set(pipelineKey, made);
        remember(backend, cache, signature, made);
      }
      return output;
    }
    // Remembered either way (its uniform buffer made at its second run), so that uniforms that do recur find their entry.
    const remembered = remember(backend, cache, signature, pipe);
    const bytes = (pipe.misses = (pipe.misses ?? 0) + 1) > MISSES_BEFORE_SLOTS ? uniformBytes(sizes, outputSize, uniforms) : null;
    entry = (bytes && rewritableSlot(backend, pipe, bytes)) || remembered;
    once = entry === remembered;
  }
  let uniform: GPUBufferBinding;
  if (once) {
    uniform = writeUniforms(backend, uniformBytes(sizes, outputSize, uniforms));
    backend.uniformPendingDisposal.push(uniform.buffer);
  } else {
    uniform = entry.uniform ??= writeUniforms(backend, uniformBytes(sizes, outputSize, uniforms));
  }
  program.shaderKey = entry.pipe.key;
  cache.recorded++;

  const output = backend.makeTensorInfo(program.outputShape, 'float32');
  placeOnGPU(backend, output, 4 * outputSize, (entry.outputs ??= new PreferredBuffers(OUTPUT_BUFFERS_PER_DISPATCH)));
  const buffers = [bufferOf(tensorMap.get(output.dataId))];
  for (let i = 0; i < inputs.length; i++) {
    buffers.push(bufferOf(data[i]!));
    backend.commandQueueOwnedIds.add(inputs[i]!.dataId);
  }
  backend.commandQueueOwnedIds.add(output.dataId);
  const bindGroup = once ? makeBindGroup(backend.device, entry.pipe, buffers, uniform) : bindGroupFor(backend.device, entry, buffers);

  // recordAndSubmit's recording when no timer is active.
  backend.ensureCommandEncoderReady();
  if (!backend.computePassEncoder) backend.computePassEncoder = backend.commandEncoder!.beginComputePass({});
  const pass = backend.computePassEncoder;
  pass.setPipeline(entry.pipe.pipeline);
  pass.setBindGroup(0, bindGroup);
  pass.dispatchWorkgroups(program.dispatch[0], program.dispatch[1], program.dispatch[2]);
  backend.dispatchCountInPass++;
  if ((env.get('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE') as number) <= backend.dispatchCountInPass) {
    backend.endComputePassEncoder();
    backend.submitQueue();
  }
  return output;
}

/**
 * A slot of `pipe` holding `bytes` as its uniforms, for a dispatch about to be recorded, or undefined when each of its
 * slots is named by a command of the encoder being recorded. tfjs's way for new uniforms, a pooled buffer and a bind
 * group made for it, costs a createBindGroup at every run (about 100 µs in Dawn); a slot keeps its buffer and its bind
 * groups, and its uniforms are written with queue.writeBuffer, which the queue runs before any command submitted after
 * the call and after every one submitted before it. A slot whose last run is in the encoder being recorded (not yet
 * submitted) would have that run read the new values, so it is not rewritten: tfjs submits an encoder whole and then
 * starts another, so a slot last used in another encoder is free.
 */
function rewritableSlot(backend: Backend, pipe: Pipeline, bytes: ArrayBuffer): Slot | undefined {
  backend.ensureCommandEncoderReady();
  const encoder = backend.commandEncoder;
  const slots = (pipe.slots ??= []);
  let slot = slots.find((s) => s.encoder !== encoder && s.uniform.size === bytes.byteLength);
  if (slot) {
    backend.queue.writeBuffer(slot.uniform.buffer, 0, bytes, 0, bytes.byteLength);
  } else {
    if (slots.length >= SLOTS_PER_PIPELINE) return undefined;
    slots.push((slot = { pipe, uniform: writeUniforms(backend, bytes), encoder: null }));
  }
  slot.encoder = encoder;
  return slot;
}

/** Releases the uniform buffers of pipelines dropped from the cache (at the next submission, after the commands that use them). */
function releaseSlots(backend: Backend, pipelines: Iterable<Pipeline>): void {
  for (const pipe of pipelines) for (const slot of pipe.slots ?? []) backend.uniformPendingDisposal.push(slot.uniform.buffer);
}

/** Adds a dispatch seen for the first time, its uniform buffer not yet made; releases what goes past the capacity. */
function remember(backend: Backend, cache: DispatchCache, signature: string, pipe: Pipeline): Entry {
  const entry: Entry = { pipe, uniform: null };
  // Released at the next submission, after the commands that may use them, as tfjs releases its own uniforms.
  for (const e of cache.add(signature, entry)) if (e.uniform) backend.uniformPendingDisposal.push(e.uniform.buffer);
  return entry;
}

function writeUniforms(backend: Backend, bytes: ArrayBuffer): { buffer: GPUBuffer; offset: number; size: number } {
  const buffer = backend.bufferManager.acquireBuffer(bytes.byteLength, GPUBufferUsage.COPY_DST | GPUBufferUsage.UNIFORM);
  backend.queue.writeBuffer(buffer, 0, bytes, 0, bytes.byteLength);
  return { buffer, offset: 0, size: bytes.byteLength };
}

function makeBindGroup(device: GPUDevice, pipe: Pipeline, buffers: GPUBuffer[], uniform: GPUBufferBinding): GPUBindGroup {
  const entries: GPUBindGroupEntry[] = buffers.map((buffer, i) => ({ binding: i, resource: { buffer } }));
  entries.push({ binding: buffers.length, resource: uniform });
  return device.createBindGroup({ layout: pipe.layout, entries });
}

function bindGroupFor(device: GPUDevice, entry: Entry, buffers: GPUBuffer[]): GPUBindGroup {
  const kept = (entry.bindGroups ??= []);
  for (let k = 0; k < kept.length; k++) {
    const candidate = kept[k]!;
    let same = true;
    for (let i = 0; i < buffers.length && same; i++) same = candidate.buffers[i] === buffers[i];
    if (same) {
      if (k > 0) kept.unshift(...kept.splice(k, 1));
      return candidate.group;
    }
  }
  const group = makeBindGroup(device, entry.pipe, buffers, entry.uniform!);
  kept.unshift({ buffers, group });
  if (kept.length > BIND_GROUPS_PER_DISPATCH) kept.pop();
  return group;
}

function bufferOf(data: TensorData): GPUBuffer {
  // Textures are tfjs's image inputs; the engine's programs read buffers only.
  if (!(data.resource instanceof GPUBuffer)) throw new Error('the lean dispatch path needs tensors in GPU buffers');
  return data.resource;
}

const installed = new WeakMap<object, Backend['runWebGPUProgram']>();

/**
 * Puts the lean path in front of the backend's runWebGPUProgram, for the programs that say `baseKey` (the engine's);
 * the rest, tfjs's own programs, go straight to tfjs. It is installed as the backend's own property, so that what
 * counts or inspects dispatches by wrapping runWebGPUProgram (the engine benchmark, the tests' countDispatches) still
 * sees every one; it is installed only over tfjs's own method (a wrapper in place stays, and so does the path under
 * it), and again after a wrapper put back tfjs's method. Cheap enough to call before every dispatch.
 */
export function installLeanDispatch(backend: object): void {
  const b = backend as Backend;
  const own = Object.getPrototypeOf(b).runWebGPUProgram as Backend['runWebGPUProgram'];
  if (b.runWebGPUProgram !== own) return;
  let lean = installed.get(b);
  if (!lean) {
    lean = function (this: Backend, program: object, inputs: tf.TensorInfo[], outputDtype: tf.DataType, uniforms?: ProgramUniform[], output?: tf.TensorInfo) {
      if (output === undefined && outputDtype === 'float32' && typeof (program as Partial<LeanProgram>).baseKey === 'string') {
        return runLean(b, own, program as LeanProgram, inputs, uniforms ?? []);
      }
      return own.call(b, program, inputs, outputDtype, uniforms, output);
    };
    installed.set(b, lean);
  }
  b.runWebGPUProgram = lean;
}
