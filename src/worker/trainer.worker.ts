// The trainer worker's entry: tfjs lives here, never on the page.
import { runKnownResult, selectBackend } from './backend';
import { TrainerHandler } from './handler';
import type { FromWorker, ToWorker } from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;
const handler = new TrainerHandler((message: FromWorker, transfer: Transferable[] = []) => scope.postMessage(message, transfer), {
  selectBackend,
  runKnownResult,
  now: () => performance.now(),
});

scope.onmessage = (event: MessageEvent<ToWorker>) => void handler.handle(event.data);
