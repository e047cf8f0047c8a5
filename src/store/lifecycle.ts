// What every slice of the store does when the trainer is replaced and when one of its requests fails, so that no
// slice is left holding state of a trainer that is gone, or a spinner for an answer that will not come. store.ts keeps
// one lifecycle per slice, in a record typed by the slices: a slice without one does not compile.
import type { StoreApi } from 'zustand';
import type { ToWorker } from '../worker/protocol';
import type { Store } from './store';

export interface SliceLifecycle {
  /** The trainer was replaced (lost device, crash): what the old one held or was about to answer is gone. */
  onTrainerRestart(): void;
  /** The worker refused or failed `request`: the slice's pending state for it goes. */
  onRequestFailed(request: ToWorker['type']): void;
}

export type LifecycleOf = (set: StoreApi<Store>['setState'], get: StoreApi<Store>['getState']) => SliceLifecycle;
