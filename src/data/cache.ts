// The decode cache: pixels of decoded images in IndexedDB, keyed by path, size, modification time and training
// size, so that opening the same folder again skips decoding. Works in the worker.
import type { DBSchema } from 'idb';
import { Database, StorageUnavailable, type DatabaseStatus } from './database';
import type { CacheEntry, ImageCache } from './importer';

// Entries hold RGB pixels (imageSize² × 3 bytes) and the SHA-256 of the file, so duplicates are found without
// reading the file again; or the reason a file could not be decoded, so it is not tried again.
interface CacheSchema extends DBSchema {
  images: { key: string; value: CacheEntry };
}

export const DECODE_CACHE_DB = 'tabclr-decode-cache';
/**
 * Bumped whenever a file's decoded pixels would change; opening an older cache empties it. 2: PIL's bilinear resize
 * (src/data/resample.ts) in place of the browser's.
 */
export const DECODE_CACHE_VERSION = 2;

/**
 * How long a use waits for the cache to open. Opening takes milliseconds; an upgrade that empties a large cache can
 * take a few seconds. Past this the import decodes without the cache rather than wait for it.
 */
const PATIENCE_MS = 3000;

export type DecodeCacheDatabase = Database<CacheSchema>;

/**
 * The decode cache's database, opened on first use. The worker holds one for its life rather than opening it per
 * import: an import starts without the cost of an open, and a held connection closes on another tab's upgrade
 * (src/data/database.ts) as the checkpoints' does, so the two stores meet other tabs the same way. `version` is
 * for the browser tests, which play a newer release (src/worker/faults.ts).
 */
export function decodeCacheDatabase(options: { version?: number; onStatus?(status: DatabaseStatus): void } = {}): DecodeCacheDatabase {
  return new Database<CacheSchema>({
    name: DECODE_CACHE_DB,
    version: options.version ?? DECODE_CACHE_VERSION,
    label: 'image cache',
    patienceMs: PATIENCE_MS,
    onStatus: options.onStatus,
    upgrade(database) {
      // What an older version cached goes (today's decoder may give other pixels). Making the store afresh also mends
      // one missing or made otherwise, whatever version left it so.
      if (database.objectStoreNames.contains('images')) database.deleteObjectStore('images');
      database.createObjectStore('images', { keyPath: 'key' });
    },
  });
}

/** One import's (or one reader's) view of the cache; the database is its owner's, who closes it. */
export class DecodeCache implements ImageCache {
  /** Set when a write failed (quota exhausted, private mode, the cache unusable now): the import goes on without caching. */
  writeProblem: string | null = null;

  constructor(private readonly database: DecodeCacheDatabase) {}

  /** The entries under `keys` (undefined where none). Throws StorageUnavailable when the cache cannot be read now. */
  read(keys: string[]): Promise<(CacheEntry | undefined)[]> {
    return this.database.use(async (db) => {
      const tx = db.transaction('images', 'readonly');
      const found = await Promise.all(keys.map((k) => tx.store.get(k)));
      await tx.done;
      return found;
    });
  }

  /** As `read`, but a cache that cannot be used now finds nothing: the import decodes every file. */
  async getMany(keys: string[]): Promise<(CacheEntry | undefined)[]> {
    try {
      return await this.read(keys);
    } catch (e) {
      if (e instanceof StorageUnavailable) return keys.map(() => undefined);
      throw e;
    }
  }

  async putMany(items: CacheEntry[]): Promise<void> {
    if (!items.length || this.writeProblem) return;
    try {
      await this.database.use(async (db) => {
        const tx = db.transaction('images', 'readwrite');
        await Promise.all([...items.map((item) => tx.store.put(item)), tx.done]);
      });
    } catch (e) {
      const { name, message } = e as Error;
      this.writeProblem = name === 'QuotaExceededError' ? 'browser storage is full' : message;
    }
  }

  /** Throws StorageUnavailable when the cache cannot be used now. */
  count(): Promise<number> {
    return this.database.use((db) => db.count('images'));
  }

  /** Throws StorageUnavailable when the cache cannot be used now. */
  clear(): Promise<void> {
    return this.database.use((db) => db.clear('images'));
  }
}
