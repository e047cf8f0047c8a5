// bench:engine's parallelism report on WebGPU (Dawn in Node), one step of a small colour convnet4 with the fused
// kernels: every dispatch of the engine's own programs says its parallelism; tfjs-webgpu's matrix products come from
// their uniforms; nothing is flagged.
// (tfjs-webgpu's own filter gradient, flagged at these sizes, is engine-report.test.ts's: its path compiles a hundred
// pipelines more, 20 s on SwiftShader.)
import { describe, expect, it } from 'vitest';
import { useDawn, withFusedKernels } from '../../src/test/dawn';
import { benchConfig } from './engine-bench';

useDawn();

const CONFIG = { encoder: 'convnet4', width: 1 / 8, batch: 16, imageSize: 16, channels: 3 } as const;
const options = { steps: 1, warmup: 0, profiledSteps: 0, optimizer: 'adam', adapter: 'dawn', kernelTimes: false, log: () => {} } as const;

describe('the parallelism report of bench:engine on WebGPU', () => {
  it('knows the loops of the fused kernels’ step and flags none of its dispatches', async () => {
    const r = await withFusedKernels(true, () => benchConfig('small', CONFIG, options));
    const rows = r.parallelism!;
    expect(r.parallelism_flags).toEqual([]);
    expect(rows.reduce((a, d) => a + d.count, 0)).toBe(r.dispatches_per_step);
    const count = (prefix: string) => rows.filter((d) => d.program.startsWith(prefix)).reduce((a, d) => a + d.count, 0);
    // Forward and filter gradient of the 4 layers, the input gradient of the 3 after the first (nothing trains on the
    // image: webgpu/convLayer.ts); and the same of the 3 dense layers (the representation, the head's two), which run as
    // 1×1 convolutions (webgpu/denseLayer.ts), each with its input gradient.
    const dense = 3;
    expect(count('tabclr_conv_forward')).toBe(4 + dense);
    expect(count('tabclr_conv_input_grad')).toBe(3 + dense);
    expect(count('tabclr_conv_filter_grad_partials')).toBe(4 + dense);
    expect(count('Conv2D')).toBe(0);
    expect(count('MatMul')).toBe(0);
    for (const d of rows) if (/^tabclr_(conv|bn|optim|dense)_/.test(d.program)) expect(d.serial_loop, d.program).not.toBeNull();
    // None of tfjs's own programs is left in the step.
    expect(rows.filter((d) => !d.program.startsWith('tabclr_'))).toEqual([]);
    // The tape keeps the tensors a gradient needs without an Identity kernel each (engine/tape.ts).
    expect(r.top_kernels_by_count.map((k) => k.name)).not.toContain('Identity');
    expect(r.kernels_per_step).toBeLessThan(r.dispatches_per_step!);
  }, 120_000);
});
