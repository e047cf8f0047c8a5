import { beforeEach, describe, expect, it, vi } from 'vitest';
import { connections, readyMessage } from '../test/fakeTrainer';
import type { DatasetSummary, FromWorker, ToWorker } from '../worker/protocol';
import { waitReason, type WaitView } from './pending';

// Input chosen at the wrong moment, as people choose it: before the trainer is ready, during an import, during a run.
vi.mock('../worker/client', () => import('../test/fakeTrainer'));

const folder = (name: string, count = 3) => Array.from({ length: count }, (_, i) => ({ file: new File([new Uint8Array([i])], `${i}.png`), path: `${name}/${i}.png` }));
const dataset = (name: string): DatasetSummary => ({ name, count: 3, imageSize: 32, channels: 3, classNames: [], labelled: false });
const counts = { found: 3, processed: 3, decoded: 3, fromCache: 0, skipped: 0, duplicates: 0 };
const state = (s: 'idle' | 'compiling' | 'training' | 'paused' | 'stopped', step = 0): FromWorker => ({ type: 'state', state: s, step, runId: s === 'idle' ? null : 'run-1' });
const types = (sent: ToWorker[]) => sent.map((m) => m.type);

describe('input taken at any moment', () => {
  beforeEach(() => {
    connections.length = 0;
    vi.resetModules();
  });

  async function store() {
    const { useStore } = await import('./store');
    useStore.getState().connect('auto');
    return { useStore, worker: connections[0]! };
  }

  /** A trainer that is ready with the sample set loaded. */
  async function readyStore() {
    const s = await store();
    s.worker.deliver([readyMessage, { type: 'dataset', dataset: dataset('Fashion-MNIST sample') }]);
    return s;
  }

  it('a folder chosen while the trainer starts is imported once it is ready, in place of the sample set', async () => {
    const { useStore, worker } = await store();
    useStore.getState().chooseImages(folder('photos'));
    expect(types(worker.sent)).toEqual(['init']);
    expect(useStore.getState().pendingImages?.choice.name).toBe('photos (3 files)');
    expect(waitReason(useStore.getState())).toBe('starting');
    worker.deliver([readyMessage]);
    expect(types(worker.sent)).toEqual(['init', 'import', 'list-runs']);
    expect(worker.sent[1]).toMatchObject({ type: 'import', name: 'photos', imageSize: 32 });
    expect(useStore.getState().pendingImages).toBeNull();
    expect(useStore.getState().importState?.status).toBe('running');
  });

  it('with nothing chosen, a ready trainer loads the sample set', async () => {
    const { worker } = await store();
    worker.deliver([readyMessage]);
    expect(types(worker.sent)).toEqual(['init', 'load-sample', 'list-runs']);
  });

  it('a model chosen while the trainer starts is loaded first, then the images chosen with it', async () => {
    const { useStore, worker } = await store();
    useStore.getState().chooseImages(folder('photos'));
    useStore.getState().chooseModel(new File([new Uint8Array([80, 75])], 'encoder.zip'));
    worker.deliver([readyMessage]);
    // The model's bytes are read from the file first.
    await vi.waitFor(() => expect(types(worker.sent)).toContain('load-model'));
    expect(types(worker.sent)).not.toContain('import');
    worker.deliver([{ type: 'model-loaded', model: null }]);
    expect(types(worker.sent).at(-1)).toBe('import');
  });

  it('newer images replace an import under way: it is cancelled once, then they are imported', async () => {
    const { useStore, worker } = await readyStore();
    useStore.getState().chooseImages(folder('first'));
    worker.deliver([{ type: 'import-progress', counts: { ...counts, processed: 1 }, elapsedMs: 10 }]);
    useStore.getState().chooseImages(folder('second'));
    useStore.getState().chooseImages(folder('third'));
    expect(types(worker.sent).filter((t) => t === 'cancel-import')).toHaveLength(1);
    expect(useStore.getState().choiceNote).toMatch(/third \(3 files\) replaces second \(3 files\), which was waiting/);
    worker.deliver([{ type: 'import-cancelled' }, { type: 'dataset', dataset: dataset('Fashion-MNIST sample') }]);
    const imports = worker.sent.filter((m) => m.type === 'import');
    expect(imports.map((m) => m.name)).toEqual(['first', 'third']);
  });

  it('images chosen during a run wait for the person: "use for the next run" imports them when the run ends', async () => {
    const { useStore, worker } = await readyStore();
    worker.deliver([state('training', 3)]);
    useStore.getState().chooseImages(folder('photos'));
    expect(waitReason(useStore.getState())).toBe('run');
    expect(useStore.getState().pendingImages?.decision).toBe('undecided');
    useStore.getState().decidePending('images', 'after-run');
    worker.deliver([state('training', 4), state('paused', 4)]);
    expect(types(worker.sent)).not.toContain('import');
    worker.deliver([state('stopped', 10)]);
    expect(types(worker.sent).at(-1)).toBe('import');
  });

  it('"stop the run and switch" stops the run, then imports once the worker reports it stopped', async () => {
    const { useStore, worker } = await readyStore();
    worker.deliver([state('training', 3)]);
    useStore.getState().chooseImages(folder('photos'));
    useStore.getState().decidePending('images', 'stop-now');
    expect(types(worker.sent).at(-1)).toBe('stop');
    worker.deliver([state('training', 4)]);
    expect(types(worker.sent)).not.toContain('import');
    worker.deliver([state('stopped', 4)]);
    expect(types(worker.sent).at(-1)).toBe('import');
  });

  it('discarding forgets the waiting images; a run that ends imports nothing', async () => {
    const { useStore, worker } = await readyStore();
    worker.deliver([state('training', 3)]);
    useStore.getState().chooseImages(folder('photos'));
    useStore.getState().decidePending('images', 'discard');
    worker.deliver([state('stopped', 10)]);
    expect(types(worker.sent)).not.toContain('import');
    expect(useStore.getState().pendingImages).toBeNull();
  });

  it('an import the worker refuses as busy (a run had just started) waits again, with no problem shown', async () => {
    const { useStore, worker } = await readyStore();
    useStore.getState().chooseImages(folder('photos'));
    expect(types(worker.sent).at(-1)).toBe('import');
    worker.deliver([
      { type: 'error', code: 'busy', message: 'stop training before loading other images', recoverable: true, request: 'import' },
      state('compiling'),
    ]);
    expect(useStore.getState().problem).toBeNull();
    expect(useStore.getState().importState).toBeNull();
    expect(useStore.getState().pendingImages?.choice.name).toBe('photos (3 files)');
    expect(waitReason(useStore.getState())).toBe('run');
    worker.deliver([state('stopped', 5)]);
    expect(worker.sent.filter((m) => m.type === 'import')).toHaveLength(2);
  });

  it('a refusal for another reason is shown and not retried', async () => {
    const { useStore, worker } = await readyStore();
    useStore.getState().chooseImages(folder('photos'));
    worker.deliver([{ type: 'error', code: 'dataset-failed', message: 'no usable image', recoverable: true, request: 'import' }]);
    expect(useStore.getState().problem?.message).toBe('no usable image');
    worker.deliver([state('stopped', 0)]);
    expect(worker.sent.filter((m) => m.type === 'import')).toHaveLength(1);
  });

  it('an import in flight when the trainer is replaced is handed to the new trainer', async () => {
    const { useStore, worker } = await readyStore();
    useStore.getState().chooseImages(folder('photos'));
    worker.crash('out of memory');
    const second = connections[1]!;
    second.deliver([readyMessage]);
    expect(types(second.sent)).toEqual(['init', 'import', 'list-runs']);
  });

  it('an empty folder is said, not ignored', async () => {
    const { useStore, worker } = await readyStore();
    useStore.getState().chooseImages([]);
    expect(useStore.getState().choiceNote).toMatch(/no files/);
    expect(types(worker.sent)).not.toContain('import');
  });
});

describe('waitReason', () => {
  const idle: WaitView = { phase: 'ready', trainerState: 'idle', datasetLoading: false, importState: null, resuming: null, loadingModel: null, selfTest: { status: 'idle', stage: null, step: 0, total: 0, result: null, error: null } };
  it('names what holds input back, the run before anything else', () => {
    expect(waitReason(idle)).toBeNull();
    expect(waitReason({ ...idle, trainerState: 'stopped' })).toBeNull();
    expect(waitReason({ ...idle, phase: 'starting' })).toBe('starting');
    expect(waitReason({ ...idle, phase: 'failed' })).toBe('no-trainer');
    expect(waitReason({ ...idle, trainerState: 'paused', datasetLoading: true })).toBe('run');
    expect(waitReason({ ...idle, datasetLoading: true })).toBe('loading-sample');
    expect(waitReason({ ...idle, resuming: 'run-1' })).toBe('opening-run');
    expect(waitReason({ ...idle, loadingModel: 'a.zip' })).toBe('loading-model');
    expect(waitReason({ ...idle, selfTest: { ...idle.selfTest, status: 'running' } })).toBe('self-test');
  });
});
