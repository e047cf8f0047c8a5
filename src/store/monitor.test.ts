import { beforeEach, describe, expect, it, vi } from 'vitest';
import type { FromWorker, SnapshotReport, ToWorker } from '../worker/protocol';

// The page's side of the map and held-out accuracy, driven with worker messages through a fake connection.
const sent: ToWorker[] = [];
let deliver: (messages: FromWorker[]) => void = () => {};
vi.mock('../worker/client', () => ({
  connectTrainer: (onMessages: (messages: FromWorker[]) => void) => {
    deliver = onMessages;
    return { send: (m: ToWorker) => sent.push(m), terminate: () => {} };
  },
}));

const snapshot = (step: number, knnAccuracy: number | null, probeAccuracy: number | null = null): FromWorker => ({
  type: 'snapshot',
  snapshot: { step, coords: new Float32Array(4), knnAccuracy, probeAccuracy, method: 'pca' } satisfies SnapshotReport,
});

describe('the monitor slice', () => {
  beforeEach(() => {
    sent.length = 0;
    vi.resetModules();
  });

  async function store() {
    const { useStore } = await import('./store');
    const { metricsHistory } = await import('./metricsHistory');
    useStore.getState().connect('auto');
    return { useStore, metricsHistory };
  }

  it('takes the untrained encoder\'s map (step 0) arriving after later ones: snapshots, curve and replay stay in step order', async () => {
    const { useStore, metricsHistory } = await store();
    deliver([snapshot(2, 0.4, 0.45), snapshot(4, 0.5, 0.55)]);
    // The person replays the step-2 map on the slider.
    useStore.getState().showSnapshot(0);
    deliver([snapshot(0, 0.3, 0.35), { type: 'baselines', randomInit: 0.3, rawPixels: 0.6, probe: { randomInit: 0.35, rawPixels: 0.7 } }]);
    const { snapshots, shownSnapshot, baselines } = useStore.getState();
    expect(snapshots.map((s) => s.step)).toEqual([0, 2, 4]);
    expect(snapshots[shownSnapshot!]!.step).toBe(2);
    expect(baselines).toEqual({ randomInit: 0.3, rawPixels: 0.6, probe: { randomInit: 0.35, rawPixels: 0.7 } });
    const knn = metricsHistory.knnColumns();
    expect(Array.from(knn.step)).toEqual([0, 2, 4]);
    expect(Array.from(knn.probe)).toEqual([0.35, 0.45, 0.55]);
    expect(metricsHistory.baselines).toEqual({ randomInit: 0.3, rawPixels: 0.6, probeRandomInit: 0.35, probeRawPixels: 0.7 });
  });

  it('a new run forgets the last one\'s baselines, which arrive only beside its first steps', async () => {
    const { useStore, metricsHistory } = await store();
    deliver([{ type: 'baselines', randomInit: 0.3, rawPixels: 0.6 }]);
    expect(metricsHistory.baselines.randomInit).toBe(0.3);
    useStore.getState().resetMonitor();
    expect(useStore.getState().baselines).toBeNull();
    expect(metricsHistory.baselines).toEqual({ randomInit: null, rawPixels: null, probeRandomInit: null, probeRawPixels: null });
  });

  it('a run saved before the linear probe existed charts kNN alone', async () => {
    const { useStore, metricsHistory } = await store();
    deliver([{ type: 'baselines', randomInit: 0.3, rawPixels: 0.6 }, { type: 'snapshot', snapshot: { step: 5, coords: new Float32Array(4), knnAccuracy: 0.5, method: 'pca' } }]);
    expect(useStore.getState().baselines!.probe).toBeNull();
    expect(Number.isNaN(metricsHistory.knnColumns().probe[0])).toBe(true);
  });
});
