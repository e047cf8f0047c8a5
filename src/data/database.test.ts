// Two tabs of different versions on one IndexedDB (fake-indexeddb: one factory is one browser profile, each
// connection a tab's): nothing waits for ever, and each side hears what it must do.
import 'fake-indexeddb/auto';
import { forceCloseDatabase, IDBFactory } from 'fake-indexeddb';
import { openDB, unwrap, type DBSchema } from 'idb';
import { beforeEach, describe, expect, it } from 'vitest';
import { defaultTrainConfig } from '../engine/config';
import { CHECKPOINT_DB, checkpointDatabase, CheckpointStore, type CheckpointState, type RunRecord } from '../export/checkpoints';
import { DECODE_CACHE_DB, DECODE_CACHE_VERSION, DecodeCache, decodeCacheDatabase } from './cache';
import { BLOCKED_GRACE_MS, Database, StorageUnavailable, type DatabaseStatus } from './database';

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

interface Schema extends DBSchema {
  things: { key: string; value: { id: string } };
}

/** A database of this tab, at `version`, that records what it tells the page. */
function database(version: number, patienceMs = 2000) {
  const statuses: DatabaseStatus[] = [];
  const db = new Database<Schema>({
    name: 'things',
    version,
    label: 'things',
    patienceMs,
    onStatus: (status) => statuses.push(status),
    upgrade(database) {
      if (!database.objectStoreNames.contains('things')) database.createObjectStore('things', { keyPath: 'id' });
    },
  });
  return { db, statuses };
}

/** Another tab of an older release: it opens `version` and has no handler, so it never closes on its own. */
function olderTab(name: string, version: number) {
  return openDB(name, version, {
    upgrade: (db) => {
      if (!db.objectStoreNames.contains('things')) db.createObjectStore('things', { keyPath: 'id' });
    },
  });
}

/** Milliseconds `work` took, and what it gave. */
async function timed<T>(work: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const value = await work();
  return [value, performance.now() - start];
}

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('Database', () => {
  it('opens on first use, says so, and holds one connection for every use', async () => {
    const { db, statuses } = database(1);
    const first = await db.connection();
    expect(first).not.toBeNull();
    expect(await db.connection()).toBe(first);
    await db.use((c) => c.put('things', { id: 'a' }));
    expect(await db.use((c) => c.count('things'))).toBe(1);
    expect(statuses).toEqual(['open']);
    db.close();
    expect(await db.connection()).toBeNull();
  });

  it('gives way at once to a newer version opened in another tab, says this tab was replaced, and fails every later use cleanly', async () => {
    const { db, statuses } = database(1);
    await db.use((c) => c.put('things', { id: 'kept' }));
    // The newer tab's open would wait for ever if this connection stayed open.
    const [newer, ms] = await timed(() => olderTab('things', 2));
    expect(ms).toBeLessThan(1000);
    expect(newer.version).toBe(2);
    expect(await newer.count('things')).toBe(1);
    expect(statuses).toEqual(['open', 'replaced']);
    expect(await db.connection()).toBeNull();
    await expect(db.use((c) => c.count('things'))).rejects.toThrow(new StorageUnavailable('tabclr was updated in another tab, which now uses the things; reload this tab'));
    newer.close();
  });

  it('says it was replaced when another tab already upgraded the database past this version', async () => {
    (await olderTab('things', 3)).close();
    const { db, statuses } = database(2);
    expect(await db.connection()).toBeNull();
    expect(statuses).toEqual(['replaced']);
    await expect(db.use(async () => 0)).rejects.toThrow(/reload this tab/);
  });

  it('an open another tab keeps blocked is reported, never waited for, and used once the other tab closes', async () => {
    const holder = await olderTab('things', 1);
    const { db, statuses } = database(2);
    const [none, ms] = await timed(() => db.connection());
    expect(none).toBeNull();
    // Answered after the grace period, not after the patience (2 s), let alone the other tab's life.
    expect(ms).toBeGreaterThanOrEqual(BLOCKED_GRACE_MS - 5);
    expect(ms).toBeLessThan(1500);
    expect(statuses).toEqual(['blocked']);
    // Meanwhile uses are refused at once, with the reason.
    const [refused, again] = await timed(() => db.use(async () => 'never').catch((e: Error) => e));
    expect(again).toBeLessThan(150);
    expect(refused).toEqual(new StorageUnavailable('another tabclr tab has an older version of the things open; close or reload that tab'));

    holder.close();
    await expect.poll(() => statuses).toEqual(['blocked', 'open']);
    const connection = (await db.connection())!;
    expect(connection.version).toBe(2);
    await connection.put('things', { id: 'b' });
    db.close();
  });

  it('a tab that closes on versionchange within the grace period is never reported as blocking', async () => {
    const older = database(1);
    await older.db.connection();
    const newer = database(2);
    expect(await newer.db.connection()).not.toBeNull();
    expect(newer.statuses).toEqual(['open']);
    expect(older.statuses).toEqual(['open', 'replaced']);
    newer.db.close();
  });

  it('waits no longer than its patience for an open that never hears "blocked" (queued behind another blocked upgrade)', async () => {
    const holder = await olderTab('things', 1);
    // A third tab's upgrade to 2, blocked by the holder, is ahead of this tab's open in the queue.
    const queuedAhead = olderTab('things', 2);
    await wait(20);
    const { db, statuses } = database(2, 400);
    const [none, ms] = await timed(() => db.connection());
    expect(none).toBeNull();
    expect(ms).toBeLessThan(1200);
    expect(db.why()).toMatch(/did not open within 0.4 s/);
    // Later uses do not wait again.
    const [, again] = await timed(() => db.connection());
    expect(again).toBeLessThan(150);
    holder.close();
    (await queuedAhead).close();
    await expect.poll(() => statuses.at(-1)).toBe('open');
    expect(await db.connection()).not.toBeNull();
    db.close();
  });

  it('a connection the browser closes (terminated) is opened again on next use', async () => {
    const { db, statuses } = database(1);
    const first = (await db.connection())!;
    forceCloseDatabase(unwrap(first) as unknown as Parameters<typeof forceCloseDatabase>[0]);
    const second = await db.connection();
    expect(second).not.toBeNull();
    expect(second).not.toBe(first);
    await db.use((c) => c.put('things', { id: 'after' }));
    expect(statuses).toEqual(['open', 'open']);
    db.close();
  });

  it('a connection closed under a use makes that use fail as unavailable, not as the work\'s own error', async () => {
    const { db } = database(1);
    await db.connection();
    const use = db.use(async (c) => {
      await wait(10);
      // The other tab's upgrade arrives between two transactions of this use.
      await olderTab('things', 2).then((other) => other.close());
      return c.count('things');
    });
    await expect(use).rejects.toBeInstanceOf(StorageUnavailable);
  });
});

describe('the decode cache with another tab', () => {
  const entry = (key: string) => ({ key, hash: 'h', pixels: new Uint8Array([1, 2, 3]) });

  it('blocked: an import finds nothing and caches nothing, says why, and uses the cache once the other tab closes', async () => {
    const holder = await openDB(DECODE_CACHE_DB, DECODE_CACHE_VERSION, { upgrade: (db) => void db.createObjectStore('images', { keyPath: 'key' }) });
    await holder.put('images', entry('old'));
    const statuses: DatabaseStatus[] = [];
    const database = decodeCacheDatabase({ version: DECODE_CACHE_VERSION + 1, onStatus: (s) => statuses.push(s) });
    const cache = new DecodeCache(database);
    const [found, ms] = await timed(() => cache.getMany(['old', 'x']));
    expect(found).toEqual([undefined, undefined]);
    expect(ms).toBeLessThan(1500);
    await cache.putMany([entry('x')]);
    expect(cache.writeProblem).toBe('another tabclr tab has an older version of the image cache open; close or reload that tab');
    await expect(cache.clear()).rejects.toBeInstanceOf(StorageUnavailable);

    holder.close();
    await expect.poll(() => statuses).toEqual(['blocked', 'open']);
    const next = new DecodeCache(database);
    // The newer version emptied what the older cached.
    expect(await next.getMany(['old'])).toEqual([undefined]);
    await next.putMany([entry('y')]);
    expect(next.writeProblem).toBeNull();
    expect(await next.count()).toBe(1);
    database.close();
  });

  it('replaced: a held cache closes for a newer version, and the rest of an import decodes and says why nothing was cached', async () => {
    const statuses: DatabaseStatus[] = [];
    const database = decodeCacheDatabase({ onStatus: (s) => statuses.push(s) });
    const cache = new DecodeCache(database);
    await cache.putMany([entry('a')]);
    const newer = await openDB(DECODE_CACHE_DB, DECODE_CACHE_VERSION + 1);
    expect(statuses).toEqual(['open', 'replaced']);
    expect(await cache.getMany(['a'])).toEqual([undefined]);
    await cache.putMany([entry('b')]);
    expect(cache.writeProblem).toMatch(/tabclr was updated in another tab, which now uses the image cache; reload this tab/);
    newer.close();
  });

  it('an upgrade mends a cache left without its store, whatever its version', async () => {
    (await openDB(DECODE_CACHE_DB, 1)).close();
    const database = decodeCacheDatabase();
    const cache = new DecodeCache(database);
    await cache.putMany([entry('a')]);
    expect(cache.writeProblem).toBeNull();
    expect(await cache.count()).toBe(1);
    database.close();
  });
});

describe('the checkpoints with another tab', () => {
  const record = (id: string, step: number): Omit<RunRecord, 'generation'> => ({
    id,
    name: id,
    createdAt: 1,
    updatedAt: step,
    step,
    totalSteps: 10,
    encoder: 'convnet4',
    imageSize: 8,
    datasetName: 'tiny',
    imageCount: 2,
    lastLoss: null,
    config: defaultTrainConfig(8, 3),
    monitor: { snapshotEvery: 10, probeCount: 2, profileSteps: false },
    checkpointEvery: 1,
  });
  const state = (step: number): CheckpointState => ({
    trainState: { step, weights: { specs: [], data: new Float32Array(0) }, optimizer: { specs: [], data: new Float32Array(0) }, random: step },
    sampler: { order: [0, 1], position: 0, epoch: 0, random: 1 },
    history: { steps: [], snapshots: [], baselines: null },
    dataset: { name: 'tiny', count: 2, imageSize: 8, channels: 3, fingerprint: 'f', source: { kind: 'memory' }, labels: null, classNames: [], names: ['a', 'b'] },
    lastMetrics: null,
  });

  it('blocked: the store opens all the same, a save fails within a bound and says why, and saves work once the other tab closes', async () => {
    const holder = await openDB(CHECKPOINT_DB, 1, {
      upgrade: (db) => {
        db.createObjectStore('runs', { keyPath: 'id' });
        db.createObjectStore('states', { keyPath: ['runId', 'generation'] }).createIndex('byRun', 'runId');
      },
    });
    const statuses: DatabaseStatus[] = [];
    const database = checkpointDatabase({ version: 2, onStatus: (s) => statuses.push(s) });
    const [store, ms] = await timed(() => CheckpointStore.open(database));
    expect(store).not.toBeNull();
    expect(ms).toBeLessThan(1500);
    await expect(store!.save(record('a', 1), state(1))).rejects.toThrow('another tabclr tab has an older version of the saved runs open; close or reload that tab');
    await expect(store!.list()).rejects.toBeInstanceOf(StorageUnavailable);

    holder.close();
    await expect.poll(() => statuses).toEqual(['blocked', 'open']);
    await store!.save(record('a', 2), state(2));
    expect((await store!.list()).map((r) => r.step)).toEqual([2]);
    store!.close();
  });

  it('replaced: a save fails cleanly, saying this tab must reload; the runs saved before are the newer version\'s', async () => {
    const statuses: DatabaseStatus[] = [];
    const store = (await CheckpointStore.open(checkpointDatabase({ onStatus: (s) => statuses.push(s) })))!;
    await store.save(record('a', 1), state(1));
    // The newer release's upgrade (here one that adds nothing) keeps the runs.
    const newer = (await CheckpointStore.open(checkpointDatabase({ version: 2 })))!;
    expect(statuses).toEqual(['open', 'replaced']);
    await expect(store.save(record('a', 2), state(2))).rejects.toThrow(/tabclr was updated in another tab, which now uses the saved runs; reload this tab/);
    expect((await newer.list()).map((r) => r.step)).toEqual([1]);
    newer.close();
  });
});
