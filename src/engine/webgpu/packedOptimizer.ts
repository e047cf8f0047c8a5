// The optimiser on WebGPU in three dispatches per step, whatever the number of parameters: the gradients and the
// parameters are packed into two flat buffers by copies (commands, not dispatches), one program sums squares per
// chunk, one adds them up per parameter (the global gradient norm, and LARS's trust ratios), and one updates every
// parameter and its slots (Adam/AdamW, SGD or LARS, exactly the rules of ../optim.ts). The new parameters are copied
// out into fresh tensors that the variables take, as tfjs's assign() would; the slots stay packed in one tensor.
//
// A WebGPU shader stage binds at most 8 storage buffers by default, so an update cannot bind every parameter; packed,
// it binds six buffers for any model.
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
import { flatProgram, copyRegions, fusedBackend, runProgram, uninitialised, type WebGPUBackendInternals } from './programs';

/** Elements per chunk: a parameter starts on a chunk boundary, so that a chunk belongs to one parameter. */
export const CHUNK = 256;

/** Where each parameter lies in the packed buffers. */
export interface PackedLayout {
  offsets: number[];
  sizes: number[];
  /** Length of a packed buffer: the last parameter's end, rounded up to a whole chunk. */
  total: number;
  chunks: number;
  /**
   * int32, read by the programs: per parameter [offset, size, first chunk, excluded (1: no decay, no LARS ratio)],
   * then per chunk the index of its parameter.
   */
  table: Int32Array;
}

export function packedLayout(sizes: number[], excluded: boolean[]): PackedLayout {
  const offsets: number[] = [];
  let total = 0;
  for (const size of sizes) {
    offsets.push(total);
    total += Math.max(1, Math.ceil(size / CHUNK)) * CHUNK;
  }
  const chunks = total / CHUNK;
  const table = new Int32Array(4 * sizes.length + chunks);
  sizes.forEach((size, k) => {
    table.set([offsets[k]!, size, offsets[k]! / CHUNK, excluded[k] ? 1 : 0], 4 * k);
    for (let c = offsets[k]! / CHUNK; c < (offsets[k]! + Math.max(1, Math.ceil(size / CHUNK)) * CHUNK) / CHUNK; c++) table[4 * sizes.length + c] = k;
  });
  return { offsets, sizes, total, chunks, table };
}

/** WGSL's reading of a JS number: the same float32 tfjs makes of it. */
const f32 = (x: number) => {
  const text = String(x);
  return /[.e]/.test(text) ? text : `${text}.0`;
};

// Per chunk: Σg², Σp², Σ(g + wd·p)² (LARS's gradient with decay; excluded parameters take none).
const partialsProgram = (chunks: number) =>
  flatProgram(
    'optim_partials',
    ['P', 'G', 'T'],
    4 * chunks,
    chunks,
    'chunks : i32, params : i32, wd : f32,',
    `
  if (index >= uniforms.chunks) { return; }
  let k = T[4 * uniforms.params + index];
  let offset = T[4 * k];
  let end = offset + T[4 * k + 1];
  let decay = select(uniforms.wd, 0.0, T[4 * k + 3] != 0);
  var gg = 0.0;
  var pp = 0.0;
  var dd = 0.0;
  let start = index * ${CHUNK};
  let stop = min(start + ${CHUNK}, end);
  for (var i = start; i < stop; i++) {
    let g = G[i];
    let p = P[i];
    let d = g + decay * p;
    gg += g * g;
    pp += p * p;
    dd += d * d;
  }
  result[4 * index] = gg;
  result[4 * index + 1] = pp;
  result[4 * index + 2] = dd;
  result[4 * index + 3] = 0.0;`,
  );

// Per parameter: the sums of its chunks; then one more row: Σg² over everything and its square root.
const totalsProgram = (params: number) =>
  flatProgram(
    'optim_totals',
    ['S', 'T'],
    4 * (params + 1),
    params + 1,
    'chunks : i32, params : i32,',
    `
  if (index > uniforms.params) { return; }
  var first = 0;
  var count = uniforms.chunks;
  if (index < uniforms.params) {
    first = T[4 * index + 2];
    count = (T[4 * index + 1] + ${CHUNK - 1}) / ${CHUNK};
  }
  var gg = 0.0;
  var pp = 0.0;
  var dd = 0.0;
  for (var c = first; c < first + count; c++) {
    gg += S[4 * c];
    pp += S[4 * c + 1];
    dd += S[4 * c + 2];
  }
  result[4 * index] = gg;
  result[4 * index + 1] = select(pp, sqrt(gg), index == uniforms.params);
  result[4 * index + 2] = dd;
  result[4 * index + 3] = 0.0;`,
  );

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

// Output: [p' | slot 0 | slot 1] over the packed length; the slots in (Z) are laid out the same way.
const updateProgram = (name: OptimizerName, total: number, slots: number) => {
  const rule = ruleCode(name);
  return flatProgram(
    `optim_update_${name}`,
    ['P', 'G', 'Z', 'T', 'A', 'N'],
    (1 + slots) * total,
    total,
    `total : i32, params : i32, ${rule.uniforms}`,
    `
  if (index >= uniforms.total) { return; }
  // Layout 'auto' binds only what the code uses, and tfjs binds every input: N is used by LARS alone.
  _ = N[0];
  let k = T[4 * uniforms.params + index / ${CHUNK}];
  if (index - T[4 * k] >= T[4 * k + 1]) { return; }
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
  );
};

interface Entry {
  name: string;
  variable: tf.Variable;
  shape: number[];
  index: number;
}

/** The fused optimiser when the fused WebGPU kernels can run here, else null (the caller builds the tfjs one). */
export function createPackedOptimizer(params: TrainableParam[], config: OptimConfig): Optimizer | null {
  const backend = fusedBackend();
  if (!backend || params.length === 0) return null;
  return new PackedOptimizer(backend, params, config);
}

class PackedOptimizer implements Optimizer {
  readonly name: OptimizerName;
  private readonly entries: Entry[];
  private readonly byName: Map<string, Entry>;
  private readonly layout: PackedLayout;
  private readonly slotCount: number;
  private readonly table: tf.Tensor;
  private readonly allActive: tf.Tensor;
  /** [unused | slot 0 | slot 1] over the packed length: the last update's output, or the initial zeros. */
  private slots: tf.Tensor;
  private step = 0;
  private disposed = false;

  constructor(
    private readonly backend: WebGPUBackendInternals,
    params: TrainableParam[],
    private readonly config: OptimConfig,
  ) {
    this.name = config.optimizer;
    if (new Set(params.map((p) => p.name)).size !== params.length) throw new Error(`${this.name}: duplicate parameter names`);
    this.entries = params.map((p, index) => ({ name: p.name, variable: p.variable, shape: p.variable.shape.slice(), index }));
    this.byName = new Map(this.entries.map((e) => [e.name, e]));
    this.layout = packedLayout(
      this.entries.map((e) => e.variable.size),
      this.entries.map((e) => isExcludedFromDecay(e.name)),
    );
    this.slotCount = OPTIMIZER_SLOTS[this.name].length;
    this.table = tf.keep(tf.tensor1d(this.layout.table, 'int32'));
    this.allActive = tf.keep(tf.ones([params.length], 'int32'));
    this.slots = tf.keep(tf.zeros([(1 + this.slotCount) * this.layout.total]));
  }

  private assertLive(): void {
    if (this.disposed) throw new Error(`${this.name} optimiser used after dispose()`);
  }

  prepare(grads: Record<string, tf.Tensor>): PreparedUpdate {
    this.assertLive();
    const work = matchGradients(this.name, grads, this.byName);
    const { backend, layout } = this;
    const P = tf.keep(uninitialised(backend, [layout.total]));
    const G = tf.keep(uninitialised(backend, [layout.total]));
    copyRegions(backend, [
      ...this.entries.map((e) => ({ src: e.variable, srcOffset: 0, dst: P, dstOffset: layout.offsets[e.index]!, count: layout.sizes[e.index]! })),
      ...work.map(({ entry, grad }) => ({ src: grad, srcOffset: 0, dst: G, dstOffset: layout.offsets[entry.index]!, count: layout.sizes[entry.index]! })),
    ]);
    const active =
      work.length === this.entries.length
        ? null
        : tf.keep(tf.tensor1d(this.entries.map((e) => (e.name in grads ? 1 : 0)), 'int32'));
    // A parameter without a gradient has none to add to the norm: its packed gradient is zero.
    if (active) {
      const zero = tf.keep(tf.zeros([layout.total]));
      copyRegions(
        backend,
        this.entries.filter((e) => !(e.name in grads)).map((e) => ({ src: zero, srcOffset: 0, dst: G, dstOffset: layout.offsets[e.index]!, count: layout.sizes[e.index]! })),
      );
      zero.dispose();
    }
    const uniforms = [
      { type: 'int32' as const, data: [layout.chunks] },
      { type: 'int32' as const, data: [this.entries.length] },
    ];
    const partials = runProgram(backend, partialsProgram(layout.chunks), [P, G, this.table], [...uniforms, { type: 'float32', data: [this.config.weightDecay] }]);
    const totals = tf.keep(runProgram(backend, totalsProgram(this.entries.length), [partials, this.table], uniforms));
    partials.dispose();
    const gradNorm = tf.keep(uninitialised(backend, []) as tf.Scalar);
    copyRegions(backend, [{ src: totals, srcOffset: 4 * this.entries.length + 1, dst: gradNorm, dstOffset: 0, count: 1 }]);
    let applied = false;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      tf.dispose([P, G, totals, gradNorm]);
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

  private update(P: tf.Tensor, G: tf.Tensor, totals: tf.Tensor, active: tf.Tensor, lr: number): void {
    const { backend, layout, config } = this;
    this.step += 1;
    const t = this.step;
    const ruleUniforms: number[] =
      this.name === 'adam' ? [lr, 1 - ADAM_BETA1 ** t, 1 - ADAM_BETA2 ** t, config.weightDecay] : [lr, config.momentum, config.weightDecay];
    const next = runProgram(backend, updateProgram(this.name, layout.total, this.slotCount), [P, G, this.slots, this.table, active, totals], [
      { type: 'int32', data: [layout.total] },
      { type: 'int32', data: [this.entries.length] },
      ...ruleUniforms.map((v) => ({ type: 'float32' as const, data: [v] })),
    ]);
    tf.keep(next);
    const fresh = this.entries.map((e) => uninitialised(backend, e.shape));
    copyRegions(
      backend,
      this.entries.map((e, i) => ({ src: next, srcOffset: layout.offsets[e.index]!, dst: fresh[i]!, dstOffset: 0, count: layout.sizes[e.index]! })),
    );
    this.entries.forEach((e, i) => e.variable.assign(fresh[i]!));
    tf.dispose(fresh);
    this.slots.dispose();
    this.slots = next;
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
    const { layout } = this;
    const names = OPTIMIZER_SLOTS[this.name];
    // A snapshot now (the slots tensor is replaced, never written, by later updates), read after.
    const snapshot = tf.clone(this.slots);
    const t = this.step;
    try {
      const data = (await snapshot.data()) as Float32Array;
      const state: StateTensor[] = this.entries.flatMap((e) =>
        names.map((slot, s) => {
          const start = (1 + s) * layout.total + layout.offsets[e.index]!;
          return { name: slotStateName(this.name, e.name, slot), shape: e.shape.slice(), values: data.slice(start, start + layout.sizes[e.index]!) };
        }),
      );
      state.push({ name: stepStateName(this.name), shape: [], values: Float32Array.of(t) });
      return state;
    } finally {
      snapshot.dispose();
    }
  }

  setState(state: StateTensor[]): void {
    this.assertLive();
    const { layout } = this;
    const read = readOptimizerState(this.name, this.entries.map((e) => ({ name: e.name, shape: e.shape })), state);
    const packed = new Float32Array((1 + this.slotCount) * layout.total);
    this.entries.forEach((e, k) => read.slots[k]!.forEach((values, s) => packed.set(values, (1 + s) * layout.total + layout.offsets[e.index]!)));
    const next = tf.keep(tf.tensor1d(packed));
    this.slots.dispose();
    this.slots = next;
    this.step = read.step;
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    tf.dispose([this.slots, this.table, this.allActive]);
  }
}
