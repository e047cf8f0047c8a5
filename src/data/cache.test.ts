import 'fake-indexeddb/auto';
import { IDBFactory } from 'fake-indexeddb';
import { openDB } from 'idb';
import { beforeEach, describe, expect, it } from 'vitest';
import { DECODE_CACHE_VERSION, DecodeCache, decodeCacheDatabase } from './cache';

beforeEach(() => {
  globalThis.indexedDB = new IDBFactory();
});

const entry = (key: string) => ({ key, hash: 'h', pixels: new Uint8Array([1, 2, 3]) });

describe('DecodeCache', () => {
  it('gives back what was put, by key, and forgets it when cleared', async () => {
    const database = decodeCacheDatabase();
    const cache = new DecodeCache(database);
    await cache.putMany([entry('a'), entry('b')]);
    const [a, missing] = await cache.getMany(['a', 'c']);
    expect(a).toEqual(entry('a'));
    expect(missing).toBeUndefined();
    expect(await cache.count()).toBe(2);
    await cache.clear();
    expect(await cache.count()).toBe(0);
    expect(cache.writeProblem).toBeNull();
    database.close();
  });

  it('drops the pixels an older decoder cached (version 1: the browser\'s resize), and keeps its own across openings', async () => {
    const old = await openDB('tabclr-decode-cache', 1, { upgrade: (db) => void db.createObjectStore('images', { keyPath: 'key' }) });
    await old.put('images', entry('decoded-by-the-browser'));
    old.close();
    const database = decodeCacheDatabase();
    const cache = new DecodeCache(database);
    expect(DECODE_CACHE_VERSION).toBeGreaterThan(1);
    expect(await cache.getMany(['decoded-by-the-browser'])).toEqual([undefined]);
    await cache.putMany([entry('mine')]);
    database.close();
    const again = decodeCacheDatabase();
    expect(await new DecodeCache(again).count()).toBe(1);
    again.close();
  });
});
