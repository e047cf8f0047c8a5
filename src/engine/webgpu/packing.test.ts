// The packed optimiser's layout (packing.ts), without a GPU: packs that fit a limit, the pieces of parameters that lie
// across them, the block sums' ranges, and a plan that refuses what cannot fit.
import { describe, expect, it } from 'vitest';
import { BufferLimitError } from './limits';
import { CHUNK, DIRECT_CHUNKS, optimizerParallelism, optimizerPlan, packedLayout, packLength, reductionPlan, splitPacks } from './packing';

describe('packs under a per-buffer limit', () => {
  it('are as long as the update output (parameters and slots) allows, in whole chunks', () => {
    // Adam: 3 floats per parameter, 12 bytes; 128 MiB holds 11,184,810 floats, 43,690 whole chunks.
    expect(packLength(128 * 2 ** 20, 2)).toBe(43690 * CHUNK);
    expect(packLength(4 * 2 * CHUNK, 1)).toBe(CHUNK);
    expect(() => packLength(4 * 2 * CHUNK - 1, 1)).toThrow(/cannot hold one chunk/);
  });

  it('cut the packed array into slices, a parameter across two packs in two pieces', () => {
    // Chunks: 2, 1, 5 (the third parameter straddles packs of 3 chunks: 0–2 | 3–5 | 6–7).
    const layout = packedLayout([CHUNK + 1, 7, 4 * CHUNK + 10], [false, true, false]);
    const { packs, pieces } = splitPacks(layout, 3 * CHUNK);
    expect(packs).toEqual([
      { offset: 0, length: 3 * CHUNK },
      { offset: 3 * CHUNK, length: 3 * CHUNK },
      { offset: 6 * CHUNK, length: 2 * CHUNK },
    ]);
    expect(pieces).toEqual([
      { param: 0, pack: 0, start: 0, packOffset: 0, count: CHUNK + 1 },
      { param: 1, pack: 0, start: 0, packOffset: 2 * CHUNK, count: 7 },
      { param: 2, pack: 1, start: 0, packOffset: 0, count: 3 * CHUNK },
      { param: 2, pack: 2, start: 3 * CHUNK, packOffset: 0, count: CHUNK + 10 },
    ]);
    // Every element of every parameter is in exactly one piece.
    for (const [k, size] of layout.sizes.entries()) {
      const mine = pieces.filter((p) => p.param === k);
      expect(mine.reduce((a, p) => a + p.count, 0)).toBe(size);
      mine.forEach((p) => expect(packs[p.pack]!.offset + p.packOffset).toBe(layout.offsets[k]! + p.start));
    }
  });

  it('add chunks directly while there are few, and blocks of about √chunks of one parameter beyond', () => {
    const few = reductionPlan(packedLayout([3 * CHUNK, 10], [false, false]));
    expect(few.blocks).toBe(0);
    expect(Array.from(few.ranges)).toEqual([0, 3, 3, 1, 0, 4]);
    // 300 + 2 chunks: blocks of ⌈√302⌉ = 18 chunks, 17 for the first parameter (the last of 12), 1 for the second.
    const many = reductionPlan(packedLayout([300 * CHUNK, CHUNK + 1], [false, false]));
    expect(300 + 2).toBeGreaterThan(DIRECT_CHUNKS);
    expect(many.blockChunks).toBe(18);
    expect(many.blocks).toBe(18);
    expect(Array.from(many.blockTable.slice(0, 4))).toEqual([0, 18, 18, 18]);
    expect(Array.from(many.blockTable.slice(32))).toEqual([288, 12, 300, 2]);
    expect(Array.from(many.ranges)).toEqual([0, 17, 17, 1, 0, 18]);
    expect(many.longestRange).toBe(18);
  });

  it('plan every buffer within the limit, or refuse with the one that is not', () => {
    const sizes = [5000, 300, 70000, 9];
    const plan = optimizerPlan(sizes, sizes.map(() => false), 2, 4 * 3 * 64 * CHUNK);
    expect(plan.packs.length).toBe(Math.ceil(plan.layout.total / (64 * CHUNK)));
    expect(plan.largestBufferBytes).toBe(4 * 3 * 64 * CHUNK);
    expect(plan.buffers.every((b) => b.bytes <= 4 * 3 * 64 * CHUNK)).toBe(true);
    // Packs of one chunk: the sums over every pack (16 bytes a chunk) outgrow a 3-chunk buffer.
    expect(() => optimizerPlan(sizes, sizes.map(() => false), 2, 4 * 3 * CHUNK)).toThrow(BufferLimitError);
  });

  it('dispatch one partials and one update per pack, the blocks when there are, and the totals', () => {
    expect(optimizerParallelism([10, 20], 'sgd').map((p) => p.program)).toEqual(['tabclr_optim_partials', 'tabclr_optim_totals', 'tabclr_optim_update_sgd']);
    const split = optimizerParallelism([300 * CHUNK, 5], 'adam', 4 * 3 * 128 * CHUNK);
    expect(split.map((p) => p.program)).toEqual([
      'tabclr_optim_partials',
      'tabclr_optim_partials',
      'tabclr_optim_partials',
      'tabclr_optim_blocks',
      'tabclr_optim_totals',
      'tabclr_optim_update_adam',
      'tabclr_optim_update_adam',
      'tabclr_optim_update_adam',
    ]);
    expect(split.map((p) => p.invocations)).toEqual([128, 128, 45, 18, 3, 128 * CHUNK, 128 * CHUNK, 45 * CHUNK]);
    expect(split.map((p) => p.serialLoop)).toEqual([CHUNK, CHUNK, CHUNK, 18, 18, 1, 1, 1]);
  });
});
