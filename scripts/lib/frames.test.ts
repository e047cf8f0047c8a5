import { describe, expect, it } from 'vitest';
import { figures, type Recording } from './frames';

describe('frame figures', () => {
  it('intervals, nearest-rank percentiles, long frames and the steps inside the window', () => {
    // 19 frames of 16.7 ms and one of 100 ms.
    const stamps = [0];
    for (let i = 0; i < 20; i++) stamps.push(stamps.at(-1)! + (i === 10 ? 100 : 16.7));
    const recording: Recording = {
      stamps,
      longTasks: [{ start: 170, duration: 80 }],
      stateBefore: 'Training · step 3 of 20',
      stateAfter: 'Finished · step 20 of 20',
      mapSteps: [0, 10, 20],
    };
    const f = figures('training', recording);
    expect(f.frames).toBe(20);
    expect(f.median_ms).toBe(16.7);
    expect(f.p95_ms).toBe(16.7);
    expect(f.max_ms).toBe(100);
    expect(f.long_frames).toBe(1);
    expect(f.long_tasks).toBe(1);
    expect(f.long_task_ms).toBe(80);
    expect(f.steps).toBe(17);
    expect(f.map_updates).toBe(2);
  });

  it('no frames is an error; no long-task support is n/a', () => {
    expect(() => figures('idle', { stamps: [5], longTasks: null, stateBefore: '', stateAfter: '', mapSteps: [] })).toThrow('no frames');
    const f = figures('idle', { stamps: [0, 16, 33], longTasks: null, stateBefore: 'Ready to train', stateAfter: 'Ready to train', mapSteps: [] });
    expect(f.long_tasks).toBeNull();
    expect(f.steps).toBe(0);
  });
});
