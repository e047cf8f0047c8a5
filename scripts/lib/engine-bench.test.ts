import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { chooseIcd, SWIFTSHADER_ICD } from './dawn';
import { PHASES, benchConfig } from './engine-bench';
import { engineTable } from './engine-report';

describe('benchConfig on the CPU backend', () => {
  it('runs the engine’s step and accounts for every kernel by phase, leaving no tensor behind', async () => {
    const before = tf.memory().numTensors;
    const r = await benchConfig(
      'tiny',
      { encoder: 'convnet4', width: 1 / 8, batch: 4, imageSize: 16, channels: 1 },
      { steps: 2, warmup: 1, profiledSteps: 1, optimizer: 'adam', adapter: 'cpu', kernelTimes: false, log: () => {} },
    );
    expect(r.backend).toBe('cpu');
    expect(r.step_ms_all).toHaveLength(2);
    expect(r.images_per_sec).toBeGreaterThan(0);
    expect(r.kernels_per_step).toBe(PHASES.reduce((a, p) => a + r.kernels_by_phase[p], 0));
    for (const p of PHASES) expect(r.kernels_by_phase[p]).toBeGreaterThan(0);
    // No GPU, so no dispatches to count.
    expect(r.dispatches_per_step).toBeNull();
    expect(r.parallelism).toBeNull();
    expect(r.parallelism_flags).toEqual([]);
    expect(r.tensors_flat).toBe(true);
    expect(Number.isFinite(r.final_loss)).toBe(true);
    expect(r.phase_ms.forward_backward).toBeGreaterThan(0);
    expect(tf.memory().numTensors).toBe(before);
    expect(engineTable([r])).toContain('| Kernels per step');
  });
});

describe('chooseIcd', () => {
  it('keeps a driver the environment names, lets the loader search when the system has one, else takes SwiftShader', () => {
    expect(chooseIcd({ VK_DRIVER_FILES: '/x/nvidia_icd.json' }, false, true)).toBe('/x/nvidia_icd.json');
    expect(chooseIcd({ VK_ICD_FILENAMES: '/y.json' }, true, true)).toBe('/y.json');
    expect(chooseIcd({}, true, true)).toBeNull();
    expect(chooseIcd({}, false, true)).toBe(SWIFTSHADER_ICD);
    expect(chooseIcd({}, false, false)).toBeNull();
  });
});
