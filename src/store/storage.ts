// The worker's databases as another tabclr tab leaves them: usable, kept from opening by an older version's tab, or
// taken over by a newer version's (src/data/database.ts). The page says what that means and what to do.
import type { StateCreator } from 'zustand';
import type { DatabaseStatus } from '../data/database';
import type { FromWorker, StoreName } from '../worker/protocol';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

export interface StorageSlice {
  /** Each database's status as the worker last told it; absent before the worker opened it. */
  storage: Partial<Record<StoreName, DatabaseStatus>>;
  receiveStorage(message: Extract<FromWorker, { type: 'storage' }>): void;
}

export const storageLifecycle: LifecycleOf = (set, get) => ({
  onTrainerRestart() {
    // A new worker opens the databases again and says how it finds them. 'replaced' stays: this tab's code is still
    // older than the databases, and its new worker would find the same on first use.
    const storage = get().storage;
    set({ storage: Object.fromEntries(Object.entries(storage).filter(([, status]) => status === 'replaced')) });
  },
  onRequestFailed() {},
});

export const createStorageSlice: StateCreator<Store, [], [], StorageSlice> = (set, get) => ({
  storage: {},

  receiveStorage({ store, status }) {
    const before = get().storage[store];
    set({ storage: { ...get().storage, [store]: status } });
    // The saved runs could not be listed while another tab held the store: they can now.
    if (store === 'checkpoints' && status === 'open' && before === 'blocked') get().send({ type: 'list-runs' });
  },
});
