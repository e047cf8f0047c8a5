// Lets a script that drives the page in a headless browser (npm run train, the benchmarks) follow the trainer's
// messages as they arrive, without a second code path: the page applies them, then tells the listeners.
import type { FromWorker } from '../worker/protocol';

type Listener = (messages: FromWorker[]) => void;

const listeners = new Set<Listener>();

export function onWorkerMessages(listener: Listener): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

export function notifyWorkerMessages(messages: FromWorker[]): void {
  for (const listener of listeners) listener(messages);
}
