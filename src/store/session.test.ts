import { beforeEach, describe, expect, it, vi } from 'vitest';
import { stepReport } from '../test/stepReport';
import { connections, readyMessage } from '../test/fakeTrainer';
import type { FromWorker } from '../worker/protocol';

// The page's side of a trainer that crashes or loses its GPU, against fake connections.
vi.mock('../worker/client', () => import('../test/fakeTrainer'));
const ready = readyMessage;

describe('trainer restarts', () => {
  beforeEach(() => {
    connections.length = 0;
    vi.resetModules();
  });

  async function store() {
    const { useStore } = await import('./store');
    useStore.getState().connect('auto', 'test-nan-at-step=3&test-checkpoint-delay=10');
    connections[0]!.deliver([ready, { type: 'state', state: 'training', step: 4, runId: 'run-1' }, { type: 'checkpoint', status: 'saved', runId: 'run-1', step: 4, message: null }]);
    return useStore;
  }

  it('a lost GPU device replaces the worker, told it is a restart (no one-off faults), and resumes the active run once ready', async () => {
    const useStore = await store();
    const fault: FromWorker = {
      type: 'fault',
      fault: { kind: 'device-lost', message: 'The GPU device was lost (destroyed).', step: 5, runId: 'run-1', restoredStep: null, learningRate: null, suggestedBatch: null },
    };
    connections[0]!.deliver([fault]);
    expect(connections[0]!.terminated).toBe(true);
    expect(connections).toHaveLength(2);
    expect(connections[0]!.sent[0]).toEqual({ type: 'init', backend: 'auto', restarted: false, testQuery: 'test-nan-at-step=3&test-checkpoint-delay=10' });
    expect(connections[1]!.sent[0]).toEqual({ type: 'init', backend: 'auto', restarted: true, testQuery: 'test-nan-at-step=3&test-checkpoint-delay=10' });
    expect(useStore.getState().problem!.message).toMatch(/GPU device was lost.*restarted its trainer and continues the run from its last checkpoint/);
    expect(useStore.getState().trainerState).toBe('idle');
    connections[1]!.deliver([ready]);
    expect(connections[1]!.sent.map((m) => m.type)).toEqual(['init', 'resume-run', 'list-runs']);
    expect(connections[1]!.sent[1]).toEqual({ type: 'resume-run', id: 'run-1' });
    // Messages a replaced worker still had queued are dropped.
    connections[0]!.deliver([{ type: 'state', state: 'training', step: 9, runId: 'run-1' }]);
    expect(useStore.getState().step).toBe(0);
  });

  it('a crashed worker is restarted and its run resumed; after three restarts in a minute the page stops trying', async () => {
    const useStore = await store();
    connections[0]!.crash('out of memory');
    expect(connections).toHaveLength(2);
    expect(useStore.getState().problem!.message).toMatch(/^The trainer stopped unexpectedly \(out of memory\)\. tabclr restarted its trainer/);
    connections[1]!.deliver([ready]);
    expect(connections[1]!.sent).toContainEqual({ type: 'resume-run', id: 'run-1' });
    // A failed resume (no checkpoint) still leaves images to work with.
    connections[1]!.deliver([{ type: 'error', code: 'no-dataset', message: 'that saved run is gone', recoverable: true, request: 'resume-run' }]);
    expect(connections[1]!.sent.at(-1)!.type).toBe('load-sample');
    connections[1]!.crash('again');
    connections[2]!.crash('again');
    expect(connections).toHaveLength(4);
    connections[3]!.crash('again');
    expect(connections).toHaveLength(4);
    expect(useStore.getState().phase).toBe('failed');
    expect(useStore.getState().problem!.message).toMatch(/three restarts in a minute.*reload the page/);
  });
});

describe('a frame of worker messages', () => {
  beforeEach(() => {
    connections.length = 0;
    vi.resetModules();
  });

  const step = (n: number, loss: number) =>
    stepReport(n, { loss, methodLoss: loss, finite: Number.isFinite(loss), gradNorm: Number.isFinite(loss) ? 2 : NaN, totalSteps: 10 });

  it('a rewind in the same frame as the bad step leaves no trace of that step on the curves or in the step count', async () => {
    const { useStore } = await import('./store');
    const { metricsHistory } = await import('./metricsHistory');
    useStore.getState().connect('auto');
    const { memory: _m, timings: _t, ...kept } = step(1, 2.5);
    connections[0]!.deliver([
      ready,
      { type: 'metrics', report: step(1, 2.5) },
      { type: 'metrics', report: step(2, NaN) },
      { type: 'run-rewound', step: 1, history: [kept] },
      { type: 'state', state: 'paused', step: 1, runId: 'run-1' },
    ]);
    const c = metricsHistory.columns();
    expect(Array.from(c.step)).toEqual([1]);
    expect(Array.from(c.loss)).toEqual([2.5]);
    expect(useStore.getState().step).toBe(1);
    expect(useStore.getState().latest?.step).toBe(1);
  });
});
