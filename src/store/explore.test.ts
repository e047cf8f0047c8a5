import { beforeEach, describe, expect, it, vi } from 'vitest';
import { connections, readyMessage } from '../test/fakeTrainer';
import { stepReport } from '../test/stepReport';
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

  it('new images retire the run with its last step, so that nothing offers to explore a run the worker let go', async () => {
    const useStore = await store();
    const images = { type: 'dataset' as const, dataset: { name: 'x', count: 5, imageSize: 4, channels: 3 as const, classNames: [], labelled: false } };
    connections[0]!.deliver([images, { type: 'metrics', report: stepReport(2, { totalSteps: 2 }) }]);
    expect(useStore.getState().latest!.step).toBe(2);
    connections[0]!.deliver([{ ...images, dataset: { ...images.dataset, name: 'y' } }]);
    expect(useStore.getState().latest).toBeNull();
    expect(useStore.getState().runInfo).toBeNull();
  });

  it('an image that cannot be searched for says why and keeps the search before it', async () => {
    const useStore = await store();
    connections[0]!.deliver([{ type: 'dataset', dataset: { name: 'x', count: 5, imageSize: 4, channels: 3, classNames: [], labelled: false } }]);
    connections[0]!.deliver([{ type: 'explore-result', result: result(5) }]);
    useStore.getState().refuseSearch('notes.txt is not an image (text/plain).');
    expect(useStore.getState().searchNotice).toBe('notes.txt is not an image (text/plain). Nothing was searched for.');
    const answer = { step: 3, representation: 'trained' as const, neighbours: [{ index: 2, similarity: 0.9 }] };
    useStore.setState({ search: { pixels: new Uint8Array(48), name: 'query.jpg', answer } });
    // Bytes no decoder takes (here: no decoder at all, as in Node): the earlier search stays, the notice says so.
    const sent = connections[0]!.sent.length;
    await useStore.getState().searchByImage(new Blob([Uint8Array.from([1, 2, 3])], { type: 'image/png' }), 'broken.png');
    expect(useStore.getState().searchNotice).toMatch(/^broken\.png could not be read as an image \(.+\)\. The search for query\.jpg stays\.$/);
    expect(useStore.getState().search).toEqual({ pixels: new Uint8Array(48), name: 'query.jpg', answer });
    expect(connections[0]!.sent.length).toBe(sent);
    expect(useStore.getState().problem).toBeNull();
    useStore.getState().clearSearch();
    expect(useStore.getState().searchNotice).toBeNull();
  });

  it('sorts into a new folder inside the one picked, never over what is there, and says so when the picker is closed or refused', async () => {
    /** An in-memory folder with the File System Access API's calls the page makes. */
    class Folder {
      readonly folders = new Map<string, Folder>();
      readonly files = new Map<string, Blob>();
      async getDirectoryHandle(name: string, { create }: { create: boolean }) {
        if (!this.folders.has(name)) {
          if (!create) throw new DOMException(`${name} not found`, 'NotFoundError');
          this.folders.set(name, new Folder());
        }
        return this.folders.get(name)!;
      }
      async getFileHandle(name: string) {
        return { createWritable: async () => ({ write: async (data: Blob) => void this.files.set(name, data), close: async () => {} }) };
      }
    }
    const picked = new Folder();
    let answer: () => Promise<Folder> = async () => picked;
    (globalThis as { showDirectoryPicker?: unknown }).showDirectoryPicker = () => answer();
    try {
      const useStore = await store();
      const r = { ...result(3), names: ['a/x.png', 'b/x.png', 'c.jpg'], groups: Int32Array.from([0, 0, 1]) };
      connections[0]!.deliver([{ type: 'explore-result', result: r }]);
      const blobs = ['one', 'two', 'three'].map((t) => new Blob([t]));
      useStore.getState().keepOriginals(r.names.map((path, i) => ({ path, file: blobs[i] as File })));
      answer = async () => {
        throw new DOMException('The user aborted a request.', 'AbortError');
      };
      await useStore.getState().sortIntoFolders('folder');
      expect(useStore.getState().sortStatus).toBe('No folder was chosen: nothing was written.');
      answer = async () => {
        throw new DOMException('Permission denied.', 'NotAllowedError');
      };
      await useStore.getState().sortIntoFolders('folder');
      expect(useStore.getState().sortStatus).toMatch(/^The browser did not let the page write there \(NotAllowedError: Permission denied\.\): nothing was written\./);
      expect(picked.folders.size).toBe(0);
      answer = async () => picked;
      await useStore.getState().sortIntoFolders('folder');
      expect(useStore.getState().sortStatus).toBe('Wrote 3 files into tabclr-groups-trained-k2, in 2 group folders, inside the folder you chose.');
      const sorted = picked.folders.get('tabclr-groups-trained-k2')!;
      expect([...sorted.folders.keys()]).toEqual(['group 01', 'group 02']);
      expect([...sorted.folders.get('group 01')!.files.entries()]).toEqual([['x.png', blobs[0]], ['x (2).png', blobs[1]]]);
      expect([...sorted.folders.get('group 02')!.files.entries()]).toEqual([['c.jpg', blobs[2]]]);
      // Again into the same folder: a second folder beside the first, which stays as it was.
      await useStore.getState().sortIntoFolders('folder');
      expect([...picked.folders.keys()]).toEqual(['tabclr-groups-trained-k2', 'tabclr-groups-trained-k2 (2)']);
      expect(useStore.getState().sortStatus).toMatch(/^Wrote 3 files into tabclr-groups-trained-k2 \(2\),/);
    } finally {
      delete (globalThis as { showDirectoryPicker?: unknown }).showDirectoryPicker;
    }
  });
});
