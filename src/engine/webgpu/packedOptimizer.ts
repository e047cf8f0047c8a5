// The optimiser on WebGPU in a few dispatches per step, whatever the number of parameters: the gradients and the
// parameters are packed into flat buffers by copies (commands, not dispatches), one program sums squares per chunk
// (and counts the non-finite gradients by their bits), one or two add them up per parameter (the global gradient
// norm, and LARS's trust ratios), and one updates every parameter and its slots (Adam/AdamW, SGD or LARS, exactly the
// rules of ../optim.ts). The new parameters are copied out into the variables' own buffers (or, where another tensor
// shares one or a read of it is in flight, into fresh tensors that the variables take, as tfjs's assign() would); the
// slots stay packed.
//
// A WebGPU shader stage binds at most 8 storage buffers by default, so an update cannot bind every parameter; packed,
// it binds seven buffers for any model. One buffer holds at most the device's per-buffer limit (128 MiB where
// requestDevice asks for nothing; ResNet-18 with Adam needs 138 MB for its parameters and two slots), so the packed
// array is cut into packs that each fit (packing.ts): a partials and an update dispatch per pack, the sums over all.
import * as tf from '@tensorflow/tfjs';
import type { OptimConfig, OptimizerName } from '../config';
import {
  ADAM_BETA1,
  ADAM_BETA2,
  ADAM_EPSILON,
  LARS_EETA,
  OPTIMIZER_SLOTS,
  isExcludedFromDecay,
  matchGradients,
  readOptimizerState,
  slotStateName,
  stepStateName,
  type Optimizer,
  type PreparedUpdate,
  type StateTensor,
  type TrainableParam,
} from '../optim';
import { bufferLimitBytes } from './limits';
import { CHUNK, optimizerPlan, type OptimizerPlan, type Piece } from './packing';
import { kernelProgram, runKernelOnTensors } from './kernelBuilder';
import { copyRegions, fusedBackend, PreferredBuffers, uninitialised, writeTargets, type WebGPUBackendInternals } from './programs';

export { CHUNK, packedLayout, type PackedLayout } from './packing';

/** WGSL's reading of a JS number: the same float32 tfjs makes of it. */
const f32 = (x: number) => {
  const text = String(x);
  return /[.e]/.test(text) ? text : `${text}.0`;
};

let fastMathSimulated = false;

/**
 * For tests: the partials' float sums take a non-finite gradient as 0, as a compiler that assumes no NaN or infinity
 * may (WGSL allows it; Metal compiles with fast math); the count by bits is unchanged. Returns the previous setting.
 */
export function simulateFastMathNorm(on: boolean): boolean {
  const before = fastMathSimulated;
  fastMathSimulated = on;
  return before;
}

// Per chunk of one pack: Σg², Σp², Σ(g + wd·p)² (LARS's gradient with decay; excluded parameters take none), and how
// many gradients are NaN or ±∞, told by their bits (exponent all ones): WGSL lets an implementation assume there are
// none, so a float test (g != g, or a non-finite Σg²) may be compiled away, a bit test may not. Chunks are numbered
// over the whole packed array: this pack's first is firstChunk.
const partialsProgram = (chunks: number) =>
  kernelProgram({
    name: fastMathSimulated ? 'optim_partials_fast_math' : 'optim_partials',
    inputs: [{ name: 'P' }, { name: 'G' }, { name: 'T' }],
    outputSize: 4 * chunks,
    uniforms: 'chunks : i32, params : i32, firstChunk : i32, wd : f32,',
    invocations: chunks,
    serialLoop: CHUNK,
    body: () => `
  if (index >= uniforms.chunks) { return; }
  let chunk = uniforms.firstChunk + index;
  let k = T[4 * uniforms.params + chunk];
  let end = T[4 * k] + T[4 * k + 1];
  let decay = select(uniforms.wd, 0.0, T[4 * k + 3] != 0);
  let base = uniforms.firstChunk * ${CHUNK};
  var gg = 0.0;
  var pp = 0.0;
  var dd = 0.0;
  var nonFinite = 0.0;
  let start = chunk * ${CHUNK};
  let stop = min(start + ${CHUNK}, end);
  for (var i = start; i < stop; i++) {
    let g0 = G[i - base];
    let p = P[i - base];
    let bad = (bitcast<u32>(g0) & 0x7f800000u) == 0x7f800000u;
    nonFinite += select(0.0, 1.0, bad);
    let g = ${fastMathSimulated ? 'select(g0, 0.0, bad)' : 'g0'};
    let d = g + decay * p;
    gg += g * g;
    pp += p * p;
    dd += d * d;
  }
  result[4 * index] = gg;
  result[4 * index + 1] = pp;
  result[4 * index + 2] = dd;
  result[4 * index + 3] = nonFinite;`,
  });

// Per block of about √chunks chunks of one parameter: the four sums of its chunks (packing.ts reductionPlan).
const blocksProgram = (blocks: number, blockChunks: number) =>
  kernelProgram({
    name: 'optim_blocks',
    inputs: [{ name: 'S' }, { name: 'B' }],
    outputSize: 4 * blocks,
    uniforms: 'blocks : i32,',
    invocations: blocks,
    serialLoop: blockChunks,
    body: () => `
  if (index >= uniforms.blocks) { return; }
  let first = B[2 * index];
  var sums = vec4<f32>(0.0);
  for (var c = first; c < first + B[2 * index + 1]; c++) {
    sums += vec4<f32>(S[4 * c], S[4 * c + 1], S[4 * c + 2], S[4 * c + 3]);
  }
  result[4 * index] = sums.x;
  result[4 * index + 1] = sums.y;
  result[4 * index + 2] = sums.z;
  result[4 * index + 3] = sums.w;`,
  });

// Per parameter: the sums of its items (blocks, or chunks when there are few); then one more row over every item:
// [Σg², the global gradient norm, Σd², the count of non-finite gradients]. The norm is NaN when the count is not 0,
// so that the step, which skips an update whose norm is not finite, takes its verdict from the count; the NaN comes
// from a uniform, which no compiler can assume away.
const totalsProgram = (params: number, longestRange: number) =>
  kernelProgram({
    name: 'optim_totals',
    inputs: [{ name: 'S' }, { name: 'R' }],
    outputSize: 4 * (params + 1),
    uniforms: 'params : i32, nan : f32,',
    invocations: params + 1,
    serialLoop: longestRange,
    body: () => `
  if (index > uniforms.params) { return; }
  let first = R[2 * index];
  var sums = vec4<f32>(0.0);
  for (var c = first; c < first + R[2 * index + 1]; c++) {
    sums += vec4<f32>(S[4 * c], S[4 * c + 1], S[4 * c + 2], S[4 * c + 3]);
  }
  let norm = select(sqrt(sums.x), uniforms.nan, sums.w > 0.0);
  result[4 * index] = sums.x;
  result[4 * index + 1] = select(sums.y, norm, index == uniforms.params);
  result[4 * index + 2] = sums.z;
  result[4 * index + 3] = sums.w;`,
  });

/** The update of one element by rule: p, g, the slots s0 (and s1) in; p1, n0 (and n1) out. */
function ruleCode(name: OptimizerName): { uniforms: string; code: string } {
  switch (name) {
    case 'adam':
      return {
        uniforms: 'lr : f32, bc1 : f32, bc2 : f32, wd : f32,',
        code: `
    let n0 = ${f32(ADAM_BETA1)} * s0 + ${f32(1 - ADAM_BETA1)} * g;
    let n1 = ${f32(ADAM_BETA2)} * s1 + ${f32(1 - ADAM_BETA2)} * (g * g);
    var stepValue = (n0 / uniforms.bc1) / (sqrt(n1 / uniforms.bc2) + ${f32(ADAM_EPSILON)});
    if (!excluded && uniforms.wd > 0.0) { stepValue = stepValue + uniforms.wd * p; }
    let p1 = p - uniforms.lr * stepValue;`,
      };
    case 'sgd':
      return {
        uniforms: 'lr : f32, mu : f32, wd : f32,',
        code: `
    var grad = g;
    if (!excluded && uniforms.wd > 0.0) { grad = g + uniforms.wd * p; }
    let n0 = uniforms.mu * s0 + grad;
    let n1 = 0.0;
    let p1 = p - uniforms.lr * n0;`,
      };
    case 'lars':
      return {
        uniforms: 'lr : f32, mu : f32, wd : f32,',
        code: `
    var grad = g;
    var scaledLr = uniforms.lr;
    if (!excluded) {
      if (uniforms.wd > 0.0) { grad = g + uniforms.wd * p; }
      let wNorm = sqrt(N[4 * k + 1]);
      let gNorm = sqrt(N[4 * k + 2]);
      // The reference falls back to a ratio of 1 when either norm is 0.
      let ratio = select(1.0, (${f32(LARS_EETA)} * wNorm) / gNorm, wNorm > 0.0 && gNorm > 0.0);
      scaledLr = uniforms.lr * ratio;
    }
    let n0 = uniforms.mu * s0 + scaledLr * grad;
    let n1 = 0.0;
    let p1 = p - n0;`,
      };
  }
}

// Output: [p' | slot 0 | slot 1] over one pack's length; the slots in (Z) are laid out the same way. Elements are
// numbered within the pack; the pack starts at element `base` of the whole packed array, where the table counts.
const updateProgram = (name: OptimizerName, total: number, slots: number) => {
  const rule = ruleCode(name);
  return kernelProgram({
    name: `optim_update_${name}`,
    inputs: [{ name: 'P' }, { name: 'G' }, { name: 'Z' }, { name: 'T' }, { name: 'A' }, { name: 'N' }],
    outputSize: (1 + slots) * total,
    uniforms: `total : i32, params : i32, base : i32, ${rule.uniforms}`,
    invocations: total,
    serialLoop: 1,
    body: () => `
  if (index >= uniforms.total) { return; }
  // Layout 'auto' binds only what the code uses, and tfjs binds every input: N is used by LARS alone.
  _ = N[0];
  let at = uniforms.base + index;
  let k = T[4 * uniforms.params + at / ${CHUNK}];
  if (at - T[4 * k] >= T[4 * k + 1]) { return; }
  let excluded = T[4 * k + 3] != 0;
  let p = P[index];
  let g = G[index];
  let s0 = Z[uniforms.total + index];
  let s1 = ${slots > 1 ? 'Z[2 * uniforms.total + index]' : '0.0'};
  if (A[k] == 0) {
    result[index] = p;
    result[uniforms.total + index] = s0;
    ${slots > 1 ? 'result[2 * uniforms.total + index] = s1;' : ''}
    return;
  }
  ${rule.code}
  result[index] = p1;
  result[uniforms.total + index] = n0;
  ${slots > 1 ? 'result[2 * uniforms.total + index] = n1;' : ''}`,
  });
};

interface Entry {
  name: string;
  variable: tf.Variable;
  shape: number[];
  index: number;
  /** Where it lies: one piece, or one per pack it spans. */
  pieces: Piece[];
  /** The buffers of its last values (it alternates between two), asked for again so that bind groups stay the same. */
  buffers: PreferredBuffers;
}

export interface PackedOptimizerOptions {
  /** Bytes one buffer may hold, when less than the device allows (tests cut packs small with it). */
  limitBytes?: number;
}

/** The fused optimiser when the fused WebGPU kernels can run here, else null (the caller builds the tfjs one). */
export function createPackedOptimizer(params: TrainableParam[], config: OptimConfig, options: PackedOptimizerOptions = {}): Optimizer | null {
  const backend = fusedBackend();
  if (!backend || params.length === 0) return null;
  return new PackedOptimizer(backend, params, config, options);
}

const int32 = (values: Int32Array) => tf.keep(tf.tensor1d(values, 'int32'));

class PackedOptimizer implements Optimizer {
  readonly name: OptimizerName;
  private readonly entries: Entry[];
  private readonly byName: Map<string, Entry>;
  private readonly plan: OptimizerPlan;
  private readonly slotCount: number;
  private readonly table: tf.Tensor;
  private readonly blockTable: tf.Tensor | null;
  private readonly ranges: tf.Tensor;
  private readonly allActive: tf.Tensor;
  /**
   * Per pack, [parameters | slot 0 | slot 1] over its length: the last update's output, or the initial zeros (whose
   * first part is unused).
   */
  private slots: tf.Tensor[];
  /**
   * Each variable's tensor (its dataId) as the last update left it, when the slots' first part holds the values of
   * them all; null before the first update and after setState. A variable given other values since (assign, a checkpoint
   * restored) has another dataId: tfjs never writes a tensor's buffer in place.
   */
  private packedParams: object[] | null = null;
  private step = 0;
  private disposed = false;

  constructor(
    private readonly backend: WebGPUBackendInternals,
    params: TrainableParam[],
    private readonly config: OptimConfig,
    options: PackedOptimizerOptions,
  ) {
    this.name = config.optimizer;
    if (new Set(params.map((p) => p.name)).size !== params.length) throw new Error(`${this.name}: duplicate parameter names`);
    this.slotCount = OPTIMIZER_SLOTS[this.name].length;
    const limit = Math.min(bufferLimitBytes(backend.device.limits), options.limitBytes ?? Infinity);
    // Throws, before anything is made, when even the sums over every pack would not fit a buffer.
    this.plan = optimizerPlan(
      params.map((p) => p.variable.size),
      params.map((p) => isExcludedFromDecay(p.name)),
      this.slotCount,
      limit,
    );
    this.entries = params.map((p, index) => ({
      name: p.name,
      variable: p.variable,
      shape: p.variable.shape.slice(),
      index,
      pieces: this.plan.pieces.filter((piece) => piece.param === index),
      buffers: new PreferredBuffers(2),
    }));
    this.byName = new Map(this.entries.map((e) => [e.name, e]));
    const { layout, reduction, packs } = this.plan;
    this.table = int32(layout.table);
    this.blockTable = reduction.blocks > 0 ? int32(reduction.blockTable) : null;
    this.ranges = int32(reduction.ranges);
    this.allActive = tf.keep(tf.ones([params.length], 'int32'));
    this.slots = packs.map((p) => tf.keep(tf.zeros([(1 + this.slotCount) * p.length])));
  }

  /** How many packs the parameters were cut into (1 unless one buffer could not hold them all). */
  get packCount(): number {
    return this.plan.packs.length;
  }

  private assertLive(): void {
    if (this.disposed) throw new Error(`${this.name} optimiser used after dispose()`);
  }

  prepare(grads: Record<string, tf.Tensor>): PreparedUpdate {
    this.assertLive();
    const work = matchGradients(this.name, grads, this.byName);
    const { backend } = this;
    const { packs, layout, reduction } = this.plan;
    // The parameters packed: the last update's output already holds them unless a variable was given other values
    // since, when they are copied in afresh.
    const current = this.packedParams !== null && this.entries.every((e, i) => e.variable.dataId === this.packedParams![i]);
    const P = current ? this.slots : packs.map((p) => tf.keep(uninitialised(backend, [p.length])));
    const G = packs.map((p) => tf.keep(uninitialised(backend, [p.length])));
    copyRegions(backend, [
      ...(current
        ? []
        : this.entries.flatMap((e) => e.pieces.map((piece) => ({ src: e.variable, srcOffset: piece.start, dst: P[piece.pack]!, dstOffset: piece.packOffset, count: piece.count })))),
      ...work.flatMap(({ entry, grad }) =>
        entry.pieces.map((piece) => ({ src: grad, srcOffset: piece.start, dst: G[piece.pack]!, dstOffset: piece.packOffset, count: piece.count })),
      ),
    ]);
    const missing = this.entries.filter((e) => !(e.name in grads));
    const active = missing.length === 0 ? null : tf.keep(tf.tensor1d(this.entries.map((e) => (e.name in grads ? 1 : 0)), 'int32'));
    // A parameter without a gradient has none to add to the norm: its packed gradient is zero.
    if (missing.length > 0) {
      const zero = tf.zeros([Math.max(...missing.flatMap((e) => e.pieces.map((piece) => piece.count)), 1)]);
      copyRegions(
        backend,
        missing.flatMap((e) => e.pieces.map((piece) => ({ src: zero, srcOffset: 0, dst: G[piece.pack]!, dstOffset: piece.packOffset, count: piece.count }))),
      );
      zero.dispose();
    }
    const params = this.entries.length;
    const partials = packs.map((p, i) =>
      runKernelOnTensors(backend, partialsProgram(p.length / CHUNK), [P[i]!, G[i]!, this.table], [
        { type: 'int32', data: [p.length / CHUNK] },
        { type: 'int32', data: [params] },
        { type: 'int32', data: [p.offset / CHUNK] },
        { type: 'float32', data: [this.config.weightDecay] },
      ]),
    );
    // The chunks' sums of every pack, in the packed array's order (a single pack's are that already).
    let sums: tf.Tensor = partials[0]!;
    if (packs.length > 1) {
      sums = uninitialised(backend, [4 * layout.chunks]);
      copyRegions(
        backend,
        packs.map((p, i) => ({ src: partials[i]!, srcOffset: 0, dst: sums, dstOffset: (4 * p.offset) / CHUNK, count: (4 * p.length) / CHUNK })),
      );
      tf.dispose(partials);
    }
    if (this.blockTable) {
      const blocks = runKernelOnTensors(backend, blocksProgram(reduction.blocks, reduction.blockChunks), [sums, this.blockTable], [{ type: 'int32', data: [reduction.blocks] }]);
      sums.dispose();
      sums = blocks;
    }
    const totals = tf.keep(
      runKernelOnTensors(backend, totalsProgram(params, reduction.longestRange), [sums, this.ranges], [
        { type: 'int32', data: [params] },
        { type: 'float32', data: [NaN] },
      ]),
    );
    sums.dispose();
    const gradNorm = tf.keep(uninitialised(backend, []) as tf.Scalar);
    copyRegions(backend, [{ src: totals, srcOffset: 4 * params + 1, dst: gradNorm, dstOffset: 0, count: 1 }]);
    let applied = false;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      tf.dispose([...(current ? [] : P), ...G, totals, gradNorm]);
      active?.dispose();
    };
    return {
      gradNorm,
      apply: (lr: number) => {
        this.assertLive();
        if (applied || released) throw new Error(`${this.name}: a prepared update is applied once, before it is disposed`);
        if (!Number.isFinite(lr)) throw new Error(`${this.name}: learning rate ${lr} is not finite`);
        applied = true;
        this.update(P, G, totals, active ?? this.allActive, lr);
      },
      dispose: release,
    };
  }

  private update(P: tf.Tensor[], G: tf.Tensor[], totals: tf.Tensor, active: tf.Tensor, lr: number): void {
    const { backend, config } = this;
    const { packs } = this.plan;
    this.step += 1;
    const t = this.step;
    const ruleUniforms: number[] =
      this.name === 'adam' ? [lr, 1 - ADAM_BETA1 ** t, 1 - ADAM_BETA2 ** t, config.weightDecay] : [lr, config.momentum, config.weightDecay];
    const next = packs.map((p, i) =>
      tf.keep(
        runKernelOnTensors(backend, updateProgram(this.name, p.length, this.slotCount), [P[i]!, G[i]!, this.slots[i]!, this.table, active, totals], [
          { type: 'int32', data: [p.length] },
          { type: 'int32', data: [this.entries.length] },
          { type: 'int32', data: [p.offset] },
          ...ruleUniforms.map((v) => ({ type: 'float32' as const, data: [v] })),
        ]),
      ),
    );
    // The new values into each variable's own buffer where nothing else can see it change, else into a new tensor that
    // the variable takes, as tfjs's assign() would.
    writeTargets(
      backend,
      this.entries.map((e) => ({ tensor: e.variable, take: (value) => e.variable.assign(value), preferred: e.buffers })),
      (dst) =>
        this.entries.flatMap((e, i) => e.pieces.map((piece) => ({ src: next[piece.pack]!, srcOffset: piece.packOffset, dst: dst(i), dstOffset: piece.start, count: piece.count }))),
    );
    // P may be the slots (see prepare): the update above has been recorded, so the buffers go back to the pool after it.
    tf.dispose(this.slots);
    this.slots = next;
    this.packedParams = this.entries.map((e) => e.variable.dataId);
  }

  apply(grads: Record<string, tf.Tensor>, lr: number): void {
    this.assertLive();
    if (!Number.isFinite(lr)) throw new Error(`${this.name}: learning rate ${lr} is not finite`);
    const prepared = this.prepare(grads);
    try {
      prepared.apply(lr);
    } finally {
      prepared.dispose();
    }
  }

  async getState(): Promise<StateTensor[]> {
    this.assertLive();
    const { packs } = this.plan;
    const names = OPTIMIZER_SLOTS[this.name];
    // A snapshot now (the slots tensors are replaced, never written, by later updates), read after.
    const snapshot = this.slots.map((s) => tf.clone(s));
    const t = this.step;
    try {
      const data = (await Promise.all(snapshot.map((s) => s.data()))) as Float32Array[];
      const state: StateTensor[] = this.entries.flatMap((e) =>
        names.map((slot, s) => {
          const values = new Float32Array(e.variable.size);
          for (const piece of e.pieces) {
            const start = (1 + s) * packs[piece.pack]!.length + piece.packOffset;
            values.set(data[piece.pack]!.subarray(start, start + piece.count), piece.start);
          }
          return { name: slotStateName(this.name, e.name, slot), shape: e.shape.slice(), values };
        }),
      );
      state.push({ name: stepStateName(this.name), shape: [], values: Float32Array.of(t) });
      return state;
    } finally {
      tf.dispose(snapshot);
    }
  }

  setState(state: StateTensor[]): void {
    this.assertLive();
    const { packs } = this.plan;
    const read = readOptimizerState(this.name, this.entries.map((e) => ({ name: e.name, shape: e.shape })), state);
    const packed = packs.map((p) => new Float32Array((1 + this.slotCount) * p.length));
    this.entries.forEach((e, k) =>
      read.slots[k]!.forEach((values, s) => {
        for (const piece of e.pieces) {
          packed[piece.pack]!.set(values.subarray(piece.start, piece.start + piece.count), (1 + s) * packs[piece.pack]!.length + piece.packOffset);
        }
      }),
    );
    const next = packed.map((values) => tf.keep(tf.tensor1d(values)));
    tf.dispose(this.slots);
    this.slots = next;
    this.packedParams = null;
    this.step = read.step;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose([...this.slots, this.table, this.ranges, this.allActive, ...(this.blockTable ? [this.blockTable] : [])]);
  }
}
