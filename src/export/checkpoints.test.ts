import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { beforeEach, describe, expect, it } from 'vitest';
import { defaultTrainConfig } from '../engine/config';
import { stepReport } from '../test/stepReport';
import { CHECKPOINT_DB, CheckpointStore, type CheckpointState, type RunRecord } from './checkpoints';

function record(id: string, step: number, updatedAt = step): Omit<RunRecord, 'generation'> {
  return {
    id,
    name: `run ${id}`,
    createdAt: 1,
    updatedAt,
    step,
    totalSteps: 100,
    encoder: 'convnet4',
    imageSize: 8,
    datasetName: 'tiny',
    imageCount: 4,
    lastLoss: 3,
    config: defaultTrainConfig(8, 3),
    monitor: { snapshotEvery: 10, probeCount: 4, profileSteps: false },
    checkpointEvery: 5,
  };
}

function state(step: number): CheckpointState {
  return {
    trainState: { step, weights: { specs: [{ name: 'w', shape: [2] }], data: Float32Array.of(step, -step) }, optimizer: { specs: [], data: new Float32Array(0) }, random: step },
    sampler: { order: [1, 0, 3, 2], position: step % 4, epoch: 1, random: 7 },
    history: { steps: [], snapshots: [], baselines: null },
    dataset: { name: 'tiny', count: 4, imageSize: 8, channels: 3, fingerprint: 'abc', source: { kind: 'memory' }, labels: null, classNames: [], names: ['a', 'b', 'c', 'd'] },
    lastMetrics: null,
  };
}

async function open(): Promise<CheckpointStore> {
  const store = await CheckpointStore.open();
  if (!store) throw new Error('no IndexedDB');
  return store;
}

async function stateKeys(): Promise<IDBValidKey[]> {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(CHECKPOINT_DB);
    request.onerror = () => reject(request.error);
    request.onsuccess = () => {
      const db = request.result;
      const keys = db.transaction('states').objectStore('states').getAllKeys();
      keys.onsuccess = () => {
        resolve(keys.result);
        db.close();
      };
    };
  });
}

describe('CheckpointStore', () => {
  beforeEach(() => {
    globalThis.indexedDB = new IDBFactory();
  });

  it('loads a run saved by an earlier version in today\'s shape: SimCLR, its curves\' NT-Xent and accuracy, its state', async () => {
    const store = await open();
    const { method: _method, ...oldConfig } = defaultTrainConfig(8, 3);
    const oldStep = { ...stepReport(1), ntXent: 3.5, contrastiveAcc: 0.25 } as Record<string, unknown>;
    delete oldStep.methodLoss;
    delete oldStep.diagnostics;
    const { trainState, ...rest } = state(1);
    const old = { ...rest, snapshot: trainState, history: { steps: [oldStep], snapshots: [], baselines: null }, lastMetrics: oldStep } as unknown as CheckpointState;
    await store.save({ ...record('old', 1), config: { ...oldConfig, temperature: 0.3 } } as unknown as Omit<RunRecord, 'generation'>, old);
    const loaded = (await store.load('old'))!;
    expect(loaded.record.config.method).toEqual({ name: 'simclr', temperature: 0.3 });
    expect(loaded.state.history.steps[0]).toMatchObject({ methodLoss: 3.5, diagnostics: { contrastiveAcc: 0.25 } });
    expect(loaded.state.history.steps[0]).not.toHaveProperty('ntXent');
    expect(loaded.state.lastMetrics).toMatchObject({ methodLoss: 3.5, diagnostics: { contrastiveAcc: 0.25 } });
    expect(loaded.state.trainState).toEqual(trainState);
    store.close();
  });

  it('keeps the latest checkpoint of each run, lists runs newest first, and deletes a run with its states', async () => {
    const store = await open();
    await store.save(record('a', 5), state(5));
    await store.save(record('a', 10), state(10));
    await store.save(record('b', 3, 50), state(3));
    expect((await store.list()).map((r) => [r.id, r.step])).toEqual([
      ['b', 3],
      ['a', 10],
    ]);
    const loaded = await store.load('a');
    expect(loaded!.record.step).toBe(10);
    expect(Array.from(loaded!.state.trainState.weights.data)).toEqual([10, -10]);
    expect(loaded!.state.sampler.position).toBe(2);
    // Only the current generation is kept.
    expect(await stateKeys()).toHaveLength(2);
    await store.delete('a');
    expect(await store.load('a')).toBeNull();
    expect((await store.list()).map((r) => r.id)).toEqual(['b']);
    expect(await stateKeys()).toHaveLength(1);
    store.close();
  });

  it('a save interrupted before its commit leaves the previous checkpoint whole, and the orphan goes at the next open', async () => {
    const store = await open();
    await store.save(record('a', 5), state(5));
    const closedTab = new Error('tab closed');
    await expect(store.save(record('a', 10), state(10), { beforeCommit: async () => Promise.reject(closedTab) })).rejects.toBe(closedTab);
    const loaded = await store.load('a');
    expect(loaded!.record.step).toBe(5);
    expect(Array.from(loaded!.state.trainState.weights.data)).toEqual([5, -5]);
    expect(await stateKeys()).toHaveLength(2);
    store.close();

    // Another tab opening meanwhile leaves the newer state alone (it may be mid-save); the next save replaces it.
    const reopened = await open();
    expect(await stateKeys()).toHaveLength(2);
    await reopened.save(record('a', 15), state(15));
    expect((await reopened.load('a'))!.record.step).toBe(15);
    expect(await stateKeys()).toEqual([['a', 2]]);
    reopened.close();
  });

  it('a tab that opens while another is between the two transactions of a save does not break it', async () => {
    const saving = await open();
    await saving.save(record('a', 5), state(5));
    let other: CheckpointStore | null = null;
    await saving.save(record('a', 10), state(10), { beforeCommit: async () => void (other = await open()) });
    expect((await saving.load('a'))!.record.step).toBe(10);
    expect(Array.from((await other!.load('a'))!.state.trainState.weights.data)).toEqual([10, -10]);
    saving.close();
    other!.close();
  });

  it('a run deleted in another tab during a save stays deleted, and the save says so', async () => {
    const saving = await open();
    await saving.save(record('a', 5), state(5));
    const other = await open();
    await expect(saving.save(record('a', 10), state(10), { beforeCommit: () => other.delete('a') })).rejects.toThrow(/deleted in another tab/);
    expect(await saving.list()).toEqual([]);
    saving.close();
    other.close();
  });

  it('a first save interrupted leaves no run at all', async () => {
    const store = await open();
    await expect(store.save(record('a', 5), state(5), { beforeCommit: () => Promise.reject(new Error('closed')) })).rejects.toThrow();
    expect(await store.list()).toEqual([]);
    expect(await store.load('a')).toBeNull();
    store.close();
  });
});
