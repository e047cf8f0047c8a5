// The parallelism report's arithmetic (engine-report.ts): tfjs-webgpu's programs' loops from their shapes, the flag,
// the grouping and the lines the benchmark prints.
import { describe, expect, it } from 'vitest';
import { FLAG_INVOCATIONS, FLAG_LOOP, groupDispatches, launchedInvocations, namedUniforms, parallelismFlagLine, parallelismReport, tfjsSerialLoop, tooSerial } from './engine-report';

/** Conv2DDerFilterProgram as tfjs-webgpu 4.22 dispatches it: one invocation per weight, its uniforms in its order. */
function derFilter(filterShape: number[], batch: number, outHeight: number, outWidth: number) {
  const size = filterShape.reduce((a, b) => a * b, 1);
  return {
    className: 'Conv2DDerFilterProgram',
    dispatch: [Math.ceil(size / 64), 1, 1],
    workgroupSize: [64, 1, 1],
    uniformDeclaration: 'pads : vec2<i32>, strides : vec2<i32>, batchSize : i32, outHeight : i32, outWidth : i32, inHeight : i32, inWidth : i32,',
    uniformData: [[1, 1], [1, 1], [batch], [outHeight], [outWidth], [outHeight], [outWidth]],
  };
}

describe('the parallelism report', () => {
  it('names a program’s uniforms from its declaration, vectors whole', () => {
    expect(namedUniforms('filterDims : vec2<i32>, pads : vec2<i32>, dimInner : i32,', [[3, 3], [1, 1], [576]])).toEqual({ filterDims: [3, 3], pads: [1, 1], dimInner: [576] });
    expect(namedUniforms(undefined, [[1]])).toEqual({});
  });

  it('works out tfjs-webgpu’s filter gradient as the issue counts it, and flags it', () => {
    // A colour convnet4's first layer at batch 128 (256 views of 32 px): 864 invocations of 262,144 iterations.
    const colour = derFilter([3, 3, 3, 32], 256, 32, 32);
    expect(tfjsSerialLoop(colour)).toBe(262_144);
    expect(launchedInvocations(colour)).toBe(896);
    expect(tooSerial({ invocations: 864, serial_loop: 262_144 })).toBe(true);
    // ResNet-18's stem at batch 256: 1,728 invocations of 524,288.
    expect(tfjsSerialLoop(derFilter([3, 3, 3, 64], 512, 32, 32))).toBe(524_288);
  });

  it('works out the input gradient, matrix products and reductions from their uniforms', () => {
    const input = { className: 'Conv2DDerInputProgram', dispatch: [1, 1, 1], workgroupSize: [4, 4, 4], uniformDeclaration: 'filterDims : vec2<i32>, pads : vec2<i32>, strides : vec2<i32>, outBackprop : vec4<i32>,', uniformData: [[3, 3], [1, 1], [2, 2], [256, 16, 16, 64]] };
    expect(tfjsSerialLoop({ ...input, isVec4: true })).toBe(9 * 16);
    expect(tfjsSerialLoop({ ...input, isVec4: false })).toBe(9 * 64);
    const matmul = { dispatch: [4, 4, 1], workgroupSize: [8, 8, 1], uniformDeclaration: 'dimAOuter : i32, dimBOuter : i32, dimInner : i32,', uniformData: [[256], [128], [512]] };
    expect(tfjsSerialLoop({ ...matmul, className: 'MatMulPackedProgram' })).toBe(512);
    expect(tfjsSerialLoop({ ...matmul, className: 'MatMulReduceProgram' })).toBe(64);
    expect(tfjsSerialLoop({ className: 'ReduceProgram', dispatch: [10, 1, 1], workgroupSize: [256, 1, 1], uniformDeclaration: 'reduceSize : i32,', uniformData: [[5000]] })).toBe(20);
    expect(tfjsSerialLoop({ className: 'BinaryOpProgram', dispatch: [1, 1, 1], workgroupSize: [64, 1, 1] })).toBe(1);
    expect(tfjsSerialLoop({ className: 'SomethingNewProgram', dispatch: [1, 1, 1], workgroupSize: [64, 1, 1] })).toBeNull();
  });

  it('flags fewer than 8,192 invocations each looping more than 4,096 times, and nothing unknown', () => {
    expect(tooSerial({ invocations: FLAG_INVOCATIONS - 1, serial_loop: FLAG_LOOP + 1 })).toBe(true);
    expect(tooSerial({ invocations: FLAG_INVOCATIONS, serial_loop: FLAG_LOOP + 1 })).toBe(false);
    expect(tooSerial({ invocations: FLAG_INVOCATIONS - 1, serial_loop: FLAG_LOOP })).toBe(false);
    expect(tooSerial({ invocations: 1, serial_loop: null })).toBe(false);
  });

  it('groups a step’s dispatches by program, invocations and loop, and says which are flagged', () => {
    const rows = groupDispatches([
      { program: 'Conv2DDerFilterProgram', invocations: 896, serial_loop: 262_144, phase: 'forwardBackward' },
      { program: 'tabclr_bn_normalize', invocations: 4096, serial_loop: 1, phase: 'forwardBackward' },
      { program: 'tabclr_bn_normalize', invocations: 4096, serial_loop: 1, phase: 'forwardBackward' },
      { program: 'tabclr_augment_pixels', invocations: 2048, serial_loop: null, phase: 'augment' },
    ]);
    expect(rows.map((r) => [r.program, r.count])).toEqual([
      ['Conv2DDerFilterProgram', 1],
      ['tabclr_bn_normalize', 2],
      ['tabclr_augment_pixels', 1],
    ]);
    expect(parallelismFlagLine(rows)).toBe(
      'Flagged dispatches (fewer than 8,192 invocations each looping more than 4,096 times): Conv2DDerFilterProgram ×1 (896 invocations, loop 262,144) (1 dispatches of programs whose loop the report does not know, marked ?).',
    );
    expect(parallelismFlagLine(rows.slice(1, 2))).toBe('Flagged dispatches (fewer than 8,192 invocations each looping more than 4,096 times): none.');
    const report = parallelismReport(rows);
    // Longest loop first, the flagged one marked; unknown loops last, as ?.
    expect(report.split('\n')[2]).toContain('Conv2DDerFilterProgram ⚠');
    expect(report).toMatch(/tabclr_augment_pixels\s+\|\s+1 \|\s+2,048 \|\s+\? \|/);
  });
});
