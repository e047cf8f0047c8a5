import { beforeEach, describe, expect, it, vi } from 'vitest';
import { connections, readyMessage } from '../test/fakeTrainer';
import type { ExploreResult } from '../worker/protocol';

// The Explore slice against a fake trainer: requests sent, answers taken, the selection's modes, and what a failed
// request or a restarted trainer leaves.
vi.mock('../worker/client', () => import('../test/fakeTrainer'));

function result(count: number): ExploreResult {
  return {
    representation: 'trained',
    step: 3,
    count,
    dim: 2,
    vectors: new Float32Array(count * 2),
    neighbours: { k: 1, indices: new Int32Array(count), similarities: new Float32Array(count) },
    outlierScores: new Float32Array(count),
    k: 2,
    groups: new Int32Array(count),
    sizes: [count, 0],
    typical: [[0], []],
    suggestion: null,
    coords: new Float32Array(count * 2),
    agreement: null,
    names: Array.from({ length: count }, (_, i) => `img${i}.png`),
    labels: null,
    classNames: [],
    thumbnails: new Uint8Array(count * 4 * 4 * 3),
    thumbnailSide: 4,
    channels: 3,
    timings: { embeddingMs: 1, totalMs: 2 },
  };
}

describe('explore slice', () => {
  beforeEach(() => {
    connections.length = 0;
    vi.resetModules();
  });

  async function store() {
    const { useStore } = await import('./store');
    useStore.getState().connect('auto');
    connections[0]!.deliver([readyMessage]);
    return useStore;
  }

  it('sends the settings, shows progress, takes the answer, and settles on refusal or cancel', async () => {
    const useStore = await store();
    useStore.getState().setExploreSettings({ representation: 'pixels', k: 4 });
    useStore.getState().startExplore();
    expect(connections[0]!.sent.at(-1)).toEqual({ type: 'explore', request: { representation: 'pixels', k: 4, neighbours: 10 } });
    connections[0]!.deliver([{ type: 'explore-progress', progress: { stage: 'embedding', representation: 'pixels', done: 3, total: 9 } }]);
    expect(useStore.getState().exploring).toEqual({ stage: 'embedding', representation: 'pixels', done: 3, total: 9 });
    connections[0]!.deliver([{ type: 'explore-result', result: result(5) }]);
    expect(useStore.getState().exploring).toBeNull();
    expect(useStore.getState().explored!.count).toBe(5);
    useStore.getState().startExplore();
    connections[0]!.deliver([{ type: 'error', code: 'busy', message: 'no', recoverable: true, request: 'explore' }]);
    expect(useStore.getState().exploring).toBeNull();
    useStore.getState().startExplore();
    useStore.getState().cancelExplore();
    expect(connections[0]!.sent.at(-1)).toEqual({ type: 'cancel-explore' });
    connections[0]!.deliver([{ type: 'explore-cancelled', reason: 'cancelled' }]);
    expect(useStore.getState().exploring).toBeNull();
    expect(useStore.getState().exploreNotice).toBe('Exploring cancelled.');
    // Stopped by other images: the person reads why, after the new images have replaced the answer.
    useStore.getState().startExplore();
    expect(useStore.getState().exploreNotice).toBeNull();
    connections[0]!.deliver([{ type: 'explore-cancelled', reason: 'other images are being loaded' }]);
    expect(useStore.getState().exploreNotice).toBe('Exploring stopped: other images are being loaded.');
    // The earlier answer stays until new images or a new trainer.
    expect(useStore.getState().explored).not.toBeNull();
  });

  it('replaces, adds to and removes from the selection, kept in index order', async () => {
    const useStore = await store();
    const { select } = useStore.getState();
    select([4, 1], 'replace');
    expect(useStore.getState().selection).toEqual([1, 4]);
    select([2, 4], 'add');
    expect(useStore.getState().selection).toEqual([1, 2, 4]);
    select([1, 9], 'remove');
    expect(useStore.getState().selection).toEqual([2, 4]);
    // A selection with no answer behind it goes with the first answer; a later answer for as many images keeps it, one
    // for other images drops it.
    connections[0]!.deliver([{ type: 'explore-result', result: result(5) }]);
    expect(useStore.getState().selection).toEqual([]);
    select([4, 0, 2], 'add');
    connections[0]!.deliver([{ type: 'explore-result', result: result(5) }]);
    expect(useStore.getState().selection).toEqual([0, 2, 4]);
    connections[0]!.deliver([{ type: 'explore-result', result: result(7) }]);
    expect(useStore.getState().selection).toEqual([]);
  });

  it('forgets the exploration when the images change and when the trainer is replaced', async () => {
    const useStore = await store();
    connections[0]!.deliver([{ type: 'explore-result', result: result(5) }]);
    useStore.getState().select([1], 'add');
    connections[0]!.deliver([{ type: 'dataset', dataset: { name: 'x', count: 5, imageSize: 4, channels: 3, classNames: [], labelled: false } }]);
    expect(useStore.getState().explored).toBeNull();
    expect(useStore.getState().selection).toEqual([]);
    connections[0]!.deliver([{ type: 'explore-result', result: result(5) }]);
    useStore.getState().forgetTrainer();
    expect(useStore.getState().explored).toBeNull();
  });
});
