// Where the packed optimiser (packedOptimizer.ts) puts every parameter, and what that costs in buffers and in
// parallelism: plain arithmetic on the parameters' sizes, no tfjs, so that the page's batch pre-check (../memory.ts)
// and the engine benchmark can ask the same questions the optimiser answers on the GPU.
//
// The parameters lie one after another in one virtual packed array, each starting on a chunk. That array is cut into
// packs, each small enough that its largest buffer (the update's output: the new parameters and every slot) fits the
// device's per-buffer limit; a parameter may lie across two packs. A pack is a slice of the virtual array with its own
// parameter, gradient and slot buffers and its own dispatches; the sums (the gradient norm, LARS's per-parameter norms,
// the count of non-finite gradients) are over the virtual array's chunks, so they do not depend on the packing.
import type { OptimizerName } from '../config';
import { assertWithinLimit, type PlannedBuffer, type ProgramParallelism } from './limits';

/** Elements per chunk: a parameter starts on a chunk boundary, so that a chunk belongs to one parameter. */
export const CHUNK = 256;

/** Slots per parameter of each rule: Adam keeps m and v, SGD and LARS a velocity (../optim.ts OPTIMIZER_SLOTS). */
export const SLOT_COUNT: Record<OptimizerName, number> = { adam: 2, sgd: 1, lars: 1 };

/** Where each parameter lies in the virtual packed array. */
export interface PackedLayout {
  offsets: number[];
  sizes: number[];
  /** Length of the packed array: the last parameter's end, rounded up to a whole chunk. */
  total: number;
  chunks: number;
  /**
   * int32, read by the programs: per parameter [offset, size, first chunk, excluded (1: no decay, no LARS ratio)],
   * then per chunk the index of its parameter.
   */
  table: Int32Array;
}

const chunksOf = (size: number) => Math.max(1, Math.ceil(size / CHUNK));

export function packedLayout(sizes: number[], excluded: boolean[]): PackedLayout {
  const offsets: number[] = [];
  let total = 0;
  for (const size of sizes) {
    offsets.push(total);
    total += chunksOf(size) * CHUNK;
  }
  const chunks = total / CHUNK;
  const table = new Int32Array(4 * sizes.length + chunks);
  sizes.forEach((size, k) => {
    const first = offsets[k]! / CHUNK;
    table.set([offsets[k]!, size, first, excluded[k] ? 1 : 0], 4 * k);
    table.fill(k, 4 * sizes.length + first, 4 * sizes.length + first + chunksOf(size));
  });
  return { offsets, sizes, total, chunks, table };
}

/** A slice [offset, offset + length) of the packed array, with buffers and dispatches of its own. */
export interface Pack {
  offset: number;
  length: number;
}

/** The part of a parameter that lies in one pack. */
export interface Piece {
  param: number;
  pack: number;
  /** Its first element within the parameter. */
  start: number;
  /** Its first element within the pack. */
  packOffset: number;
  count: number;
}

/**
 * Floats of the longest pack whose update output, the new parameters and `slots` slots of each (1 + slots floats
 * per parameter), fits in `limitBytes`; a whole number of chunks.
 */
export function packLength(limitBytes: number, slots: number): number {
  const length = Math.floor(limitBytes / (4 * (1 + slots) * CHUNK)) * CHUNK;
  if (length < CHUNK) throw new Error(`a buffer limit of ${limitBytes} bytes cannot hold one chunk of the optimiser (${4 * (1 + slots) * CHUNK} bytes)`);
  return length;
}

/** The packed array cut into packs of at most `maxLength` floats (a whole number of chunks), and each parameter's pieces. */
export function splitPacks(layout: PackedLayout, maxLength: number): { packs: Pack[]; pieces: Piece[] } {
  if (maxLength % CHUNK !== 0 || maxLength <= 0) throw new Error(`a pack must be a positive whole number of chunks, got ${maxLength} floats`);
  const packs: Pack[] = [];
  for (let offset = 0; offset < layout.total; offset += maxLength) packs.push({ offset, length: Math.min(maxLength, layout.total - offset) });
  const pieces: Piece[] = [];
  layout.sizes.forEach((size, param) => {
    const begin = layout.offsets[param]!;
    const last = Math.floor((begin + Math.max(size, 1) - 1) / maxLength);
    for (let pack = Math.floor(begin / maxLength); pack <= last; pack++) {
      const offset = pack * maxLength;
      const from = Math.max(begin, offset);
      const to = Math.min(begin + size, offset + maxLength);
      pieces.push({ param, pack, start: from - begin, packOffset: from - offset, count: Math.max(0, to - from) });
    }
  });
  return { packs, pieces };
}

/**
 * Up to this many chunks the totals add the chunks' sums directly (one loop no longer than a chunk's own); beyond,
 * a middle pass adds blocks of about √chunks chunks first, so that no invocation adds more than about √chunks numbers.
 */
export const DIRECT_CHUNKS = CHUNK;

/** The second stage of the sums over chunks. */
export interface Reduction {
  /** Chunks per block; 0 when the totals add the chunks directly. */
  blockChunks: number;
  blocks: number;
  /** int32 [first chunk, chunk count] per block (empty without blocks). */
  blockTable: Int32Array;
  /** int32 [first item, item count] per parameter, then [0, items] for the global row; items are blocks, or chunks. */
  ranges: Int32Array;
  /** The longest range: the most numbers one invocation of the totals adds. */
  longestRange: number;
}

export function reductionPlan(layout: PackedLayout): Reduction {
  const params = layout.sizes.length;
  const ranges = new Int32Array(2 * (params + 1));
  if (layout.chunks <= DIRECT_CHUNKS) {
    layout.sizes.forEach((size, k) => ranges.set([layout.offsets[k]! / CHUNK, chunksOf(size)], 2 * k));
    ranges.set([0, layout.chunks], 2 * params);
    return { blockChunks: 0, blocks: 0, blockTable: new Int32Array(0), ranges, longestRange: layout.chunks };
  }
  const blockChunks = Math.ceil(Math.sqrt(layout.chunks));
  const table: number[] = [];
  let longestRange = 0;
  layout.sizes.forEach((size, k) => {
    const first = layout.offsets[k]! / CHUNK;
    const count = chunksOf(size);
    const blocks = Math.ceil(count / blockChunks);
    ranges.set([table.length / 2, blocks], 2 * k);
    longestRange = Math.max(longestRange, blocks);
    for (let b = 0; b < blocks; b++) table.push(first + b * blockChunks, Math.min(blockChunks, count - b * blockChunks));
  });
  const blocks = table.length / 2;
  ranges.set([0, blocks], 2 * params);
  return { blockChunks, blocks, blockTable: Int32Array.from(table), ranges, longestRange: Math.max(longestRange, blocks) };
}

/** Everything the optimiser lays out for these parameters under a per-buffer limit. */
export interface OptimizerPlan {
  layout: PackedLayout;
  packs: Pack[];
  pieces: Piece[];
  reduction: Reduction;
  /** Every buffer the optimiser's programs and copies make, each within the limit (optimizerPlan throws otherwise). */
  buffers: PlannedBuffer[];
  largestBufferBytes: number;
}

export function optimizerPlan(sizes: number[], excluded: boolean[], slots: number, limitBytes: number): OptimizerPlan {
  const layout = packedLayout(sizes, excluded);
  const { packs, pieces } = splitPacks(layout, Math.min(packLength(limitBytes, slots), layout.total));
  const reduction = reductionPlan(layout);
  const params = sizes.length;
  const f32 = 4;
  const buffers: PlannedBuffer[] = [
    { name: 'the optimiser’s parameter table', bytes: f32 * layout.table.length },
    { name: 'the optimiser’s active-parameter flags', bytes: f32 * params },
    { name: 'the optimiser’s totals', bytes: f32 * 4 * (params + 1) },
    { name: 'the optimiser’s ranges', bytes: f32 * reduction.ranges.length },
  ];
  if (packs.length > 1) buffers.push({ name: 'the optimiser’s partial sums of every pack', bytes: f32 * 4 * layout.chunks });
  if (reduction.blocks > 0) {
    buffers.push({ name: 'the optimiser’s block table', bytes: f32 * reduction.blockTable.length });
    buffers.push({ name: 'the optimiser’s block sums', bytes: f32 * 4 * reduction.blocks });
  }
  packs.forEach(({ length }, i) => {
    const name = `the optimiser’s pack ${i + 1} of ${packs.length}`;
    buffers.push({ name: `${name} (parameters)`, bytes: f32 * length });
    buffers.push({ name: `${name} (gradients)`, bytes: f32 * length });
    buffers.push({ name: `${name} (partial sums)`, bytes: f32 * 4 * (length / CHUNK) });
    buffers.push({ name: `${name} (new parameters and ${slots} slot${slots === 1 ? '' : 's'})`, bytes: f32 * (1 + slots) * length });
  });
  return { layout, packs, pieces, reduction, buffers, largestBufferBytes: assertWithinLimit(buffers, limitBytes) };
}

/**
 * Invocations and the longest serial loop of every dispatch of one optimiser step over parameters of these sizes
 * (one partials and one update per pack, the block sums when there are enough chunks, the totals), in the order they
 * run. The same arithmetic as the programs' own: packedOptimizer.ts dispatches from this plan.
 */
export function optimizerParallelism(sizes: number[], optimizer: OptimizerName, limitBytes = Number.MAX_SAFE_INTEGER): ProgramParallelism[] {
  const plan = optimizerPlan(sizes, sizes.map(() => false), SLOT_COUNT[optimizer], limitBytes);
  return [
    ...plan.packs.map((p) => ({ program: 'tabclr_optim_partials', invocations: p.length / CHUNK, serialLoop: CHUNK })),
    ...(plan.reduction.blocks > 0 ? [{ program: 'tabclr_optim_blocks', invocations: plan.reduction.blocks, serialLoop: plan.reduction.blockChunks }] : []),
    { program: 'tabclr_optim_totals', invocations: sizes.length + 1, serialLoop: plan.reduction.longestRange },
    ...plan.packs.map((p) => ({ program: `tabclr_optim_update_${optimizer}`, invocations: p.length, serialLoop: 1 })),
  ];
}
