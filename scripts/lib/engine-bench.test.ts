import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { chooseIcd, SWIFTSHADER_ICD } from './dawn';
import { PHASES, benchConfig, threadSchedMs } from './engine-bench';
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
    // The recording's time, its CPU time and its wait for a core (Linux's schedstat; null elsewhere): the wait is
    // a part of the wall time, which the CPU time does not exceed by more than the clocks' granularity.
    if (process.platform === 'linux') {
      expect(r.record_cpu_ms).not.toBeNull();
      expect(r.record_runq_ms).toBeGreaterThanOrEqual(0);
      // Medians of windows whose thread-clock and wall-clock marks are a read apart: a margin for a preemption there.
      expect(r.record_runq_ms!).toBeLessThanOrEqual(r.record_ms + 2 * r.record_gc_ms + 2);
      expect(r.record_cpu_ms!).toBeLessThanOrEqual(r.record_ms + 2);
      expect(engineTable([r])).toContain('its wait for a core');
    } else {
      expect(r.record_runq_ms).toBeNull();
    }
  });
});

describe('the thread clock', () => {
  it.runIf(process.platform === 'linux')('counts this thread’s CPU time exactly and its wait for a core apart from it', () => {
    // The wall clock's interval encloses the thread clock's, so that a preemption between two reads counts in both.
    const start = performance.now();
    const before = threadSchedMs()!;
    let x = 0;
    while (performance.now() - start < 30) x += Math.sqrt(x + 1);
    const after = threadSchedMs()!;
    const wall = performance.now() - start;
    expect(x).toBeGreaterThan(0);
    const cpu = after.cpu - before.cpu;
    const waiting = after.waiting - before.waiting;
    // A busy loop of 30 ms runs or waits for a core for all of it, and the two never add up to more than the wall time.
    expect(waiting).toBeGreaterThanOrEqual(0);
    expect(cpu).toBeGreaterThan(0);
    expect(cpu + waiting).toBeGreaterThan(0.8 * wall - 1);
    expect(cpu + waiting).toBeLessThanOrEqual(wall + 0.5);
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
