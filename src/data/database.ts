// Opening tabclr's IndexedDB databases (the decode cache, src/data/cache.ts; the checkpoints,
// src/export/checkpoints.ts) so that two tabs of different versions never wait on each other for ever.
//
// IndexedDB upgrades a database only once every other connection to it has closed. A tab that holds an older version
// open without a `versionchange` handler (a tab of a release before this one) therefore stalls a newer tab's open until
// it closes, and the newer tab's import or checkpoint would wait that long. Here:
// - this tab's connection closes as soon as another tab asks for a newer version (`versionchange`): that tab's upgrade
//   goes on, and this one is told it was replaced and must reload (its code is older than the database now);
// - an open that another tab keeps blocked is reported ('blocked'), and no use waits for it: each use gets no
//   connection, at once, until the open completes, which it does by itself when the other tab closes;
// - no use waits longer than `patienceMs` for any open (one queued behind another tab's blocked upgrade gets no
//   `blocked` event at all);
// - a connection the browser closed on its own (`close`: storage cleared, a disk error) is opened again on next use.
import { openDB, type DBSchema, type IDBPDatabase, type OpenDBCallbacks } from 'idb';

/** What the page is told of a database: usable; kept from opening by another tab; taken over by a newer version. */
export type DatabaseStatus = 'open' | 'blocked' | 'replaced';

export interface DatabaseSpec<S extends DBSchema> {
  name: string;
  version: number;
  /** What a person calls it, for messages: 'image cache', 'saved runs'. */
  label: string;
  /** Brings the database from any older version (0: none yet) to `version`. */
  upgrade: NonNullable<OpenDBCallbacks<S>['upgrade']>;
  /** The longest a use waits for the database to open before going on without it. */
  patienceMs: number;
  /** Told of every change of status the page should know of. */
  onStatus?(status: DatabaseStatus): void;
}

/** The database cannot be used now; the message says why, in words for the page. */
export class StorageUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StorageUnavailable';
  }
}

/**
 * How long another tab may keep an open blocked before the page hears of it. A tab of this version or later closes on
 * `versionchange` at once, but browsers may fire `blocked` before its close arrives: only a tab still open after
 * this is worth telling a person about.
 */
export const BLOCKED_GRACE_MS = 300;

/** Why there is no connection now: null while there is one, or none was tried yet, or the browser closed it. */
type Problem = 'blocked' | 'late' | 'replaced' | 'unavailable' | 'closed';

/**
 * One tabclr database, opened on first use and held until `close` (its owner: the worker, for the worker's life; a
 * test). At most one connection at a time.
 */
export class Database<S extends DBSchema> {
  private db: IDBPDatabase<S> | null = null;
  private opening: Promise<IDBPDatabase<S> | null> | null = null;
  private problem: Problem | null = null;
  private unavailableBecause = '';
  /** Uses waiting for the open in progress: each resolves with the connection, or null when it will not come soon. */
  private readonly waiting = new Set<() => void>();

  constructor(private readonly spec: DatabaseSpec<S>) {}

  /** Whether IndexedDB failed to open the database at all (missing, refused, broken): not a state another tab causes. */
  get unavailable(): boolean {
    return this.problem === 'unavailable';
  }

  /**
   * The connection, or null when there is none within `patienceMs` (see `why`). An open in progress goes on, and
   * is used from the moment it completes; meanwhile, once it is blocked or late, uses get null at once.
   */
  async connection(): Promise<IDBPDatabase<S> | null> {
    if (this.db) return this.db;
    if (this.problem === 'replaced' || this.problem === 'closed') return null;
    if (typeof indexedDB === 'undefined') {
      this.markUnavailable('IndexedDB is missing in this browser');
      return null;
    }
    if (this.opening && (this.problem === 'blocked' || this.problem === 'late')) return null;
    if (!this.opening) this.open();
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.stall('late'), this.spec.patienceMs);
      const release = () => {
        clearTimeout(timer);
        this.waiting.delete(release);
        resolve(this.db);
      };
      this.waiting.add(release);
    });
  }

  /**
   * `work` on the connection. Throws StorageUnavailable when there is none (see `why`), or when the connection
   * closed under the work (another tab's upgrade, the browser): that is the database gone, not a fault of the work.
   */
  async use<T>(work: (db: IDBPDatabase<S>) => Promise<T>): Promise<T> {
    const db = await this.connection();
    if (!db) throw new StorageUnavailable(this.why());
    try {
      return await work(db);
    } catch (e) {
      if (this.db !== db) throw new StorageUnavailable(this.why());
      throw e;
    }
  }

  /** Why there is no connection now, in words. */
  why(): string {
    const { label } = this.spec;
    switch (this.problem) {
      case 'blocked':
        return `another tabclr tab has an older version of the ${label} open; close or reload that tab`;
      case 'late':
        return `the ${label} did not open within ${this.spec.patienceMs / 1000} s (another tabclr tab may be upgrading it)`;
      case 'replaced':
        return `tabclr was updated in another tab, which now uses the ${label}; reload this tab`;
      case 'unavailable':
        return `the ${label} cannot be opened: ${this.unavailableBecause}`;
      case 'closed':
        return `the ${label} was closed`;
      case null:
        return `the browser closed the ${label}`;
    }
  }

  /** Closes the connection, and one still opening as soon as it opens; every later use gets none. */
  close(): void {
    this.problem = 'closed';
    this.db?.close();
    this.db = null;
    this.releaseWaiting();
  }

  private open(): void {
    this.problem = null;
    let blockedTimer: ReturnType<typeof setTimeout> | undefined;
    // (In an async function, an open that throws at once, as a page of an opaque origin's does, rejects like any other.)
    const opening: Promise<IDBPDatabase<S> | null> = (async () => openDB<S>(this.spec.name, this.spec.version, {
      upgrade: this.spec.upgrade,
      blocked: () => {
        blockedTimer ??= setTimeout(() => {
          if (this.opening !== opening || this.problem === 'closed') return;
          this.problem = 'blocked';
          this.spec.onStatus?.('blocked');
          this.releaseWaiting();
        }, BLOCKED_GRACE_MS);
      },
      // Another tab asks for a newer version: this connection goes at once, whatever this tab is doing (IndexedDB lets
      // its running transactions finish; new ones fail), so that tab's upgrade is not kept waiting by this one.
      blocking: (_current, next) => {
        this.db?.close();
        this.db = null;
        // A database deleted elsewhere (version null) is made again on next use; a newer version is for newer code.
        if (next === null) return;
        this.problem = 'replaced';
        this.spec.onStatus?.('replaced');
      },
      terminated: () => {
        this.db = null;
      },
    }))().then(
      (db) => {
        clearTimeout(blockedTimer);
        this.opening = null;
        if (this.problem === 'closed') {
          db.close();
          return null;
        }
        this.db = db;
        this.problem = null;
        this.spec.onStatus?.('open');
        this.releaseWaiting();
        return db;
      },
      (error: unknown) => {
        clearTimeout(blockedTimer);
        this.opening = null;
        if (this.problem === 'closed') return null;
        // The database is at a newer version than this code asks for: another tab of a newer release upgraded it.
        if ((error as Error)?.name === 'VersionError') {
          this.problem = 'replaced';
          this.spec.onStatus?.('replaced');
        } else {
          this.markUnavailable((error as Error)?.message ?? String(error));
        }
        this.releaseWaiting();
        return null;
      },
    );
    this.opening = opening;
  }

  private markUnavailable(because: string): void {
    this.problem = 'unavailable';
    this.unavailableBecause = because;
  }

  /** The open in progress will not come soon: no use waits for it any longer. */
  private stall(problem: 'late'): void {
    if (!this.opening) return;
    if (this.problem === null) this.problem = problem;
    this.releaseWaiting();
  }

  private releaseWaiting(): void {
    for (const release of [...this.waiting]) release();
  }
}
