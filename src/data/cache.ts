// The decode cache: pixels of decoded images in IndexedDB, keyed by path, size, modification time and training
// size, so that opening the same folder again skips decoding. Works in the worker.
import { openDB, type DBSchema, type IDBPDatabase } from 'idb';
import type { CacheEntry, ImageCache } from './importer';

// Entries hold RGB pixels (imageSize² × 3 bytes) and the SHA-256 of the file, so duplicates are found without
// reading the file again; or the reason a file could not be decoded, so it is not tried again.
interface CacheSchema extends DBSchema {
  images: { key: string; value: CacheEntry };
}

const DB_NAME = 'tabclr-decode-cache';
/**
 * Bumped whenever a file's decoded pixels would change; opening an older cache empties it. 2: PIL's bilinear resize
 * (src/data/resample.ts) in place of the browser's.
 */
export const DECODE_CACHE_VERSION = 2;

export class DecodeCache implements ImageCache {
  /** Set when a write failed (quota exhausted, private mode): the import goes on without caching. */
  writeProblem: string | null = null;

  private constructor(private readonly db: IDBPDatabase<CacheSchema>) {}

  /** The cache, or null where IndexedDB is unavailable (the import then simply decodes everything). */
  static async open(): Promise<DecodeCache | null> {
    if (typeof indexedDB === 'undefined') return null;
    try {
      const db = await openDB<CacheSchema>(DB_NAME, DECODE_CACHE_VERSION, {
        upgrade(database, oldVersion, _newVersion, transaction) {
          if (oldVersion === 0) database.createObjectStore('images', { keyPath: 'key' });
          else void transaction.objectStore('images').clear();
        },
      });
      return new DecodeCache(db);
    } catch {
      return null;
    }
  }

  async getMany(keys: string[]): Promise<(CacheEntry | undefined)[]> {
    const tx = this.db.transaction('images', 'readonly');
    const found = await Promise.all(keys.map((k) => tx.store.get(k)));
    await tx.done;
    return found;
  }

  async putMany(items: CacheEntry[]): Promise<void> {
    if (!items.length || this.writeProblem) return;
    try {
      const tx = this.db.transaction('images', 'readwrite');
      await Promise.all([...items.map((item) => tx.store.put(item)), tx.done]);
    } catch (e) {
      this.writeProblem = (e as Error).name === 'QuotaExceededError' ? 'browser storage is full' : (e as Error).message;
    }
  }

  async count(): Promise<number> {
    return this.db.count('images');
  }

  async clear(): Promise<void> {
    await this.db.clear('images');
  }

  close(): void {
    this.db.close();
  }
}
