// The trainer worker's entry: tfjs lives here, never on the page.
import { runKnownResult, selectBackend } from './backend';
import { TrainerHandler } from './handler';
import type { FromWorker, ToWorker } from './protocol';

const scope = self as unknown as DedicatedWorkerGlobalScope;

// A message to ourselves is a task without setTimeout's 4 ms clamping.
const channel = new MessageChannel();
function nextTask(): Promise<void> {
  return new Promise((resolve) => {
    channel.port1.onmessage = () => resolve();
    channel.port2.postMessage(null);
  });
}

const handler = new TrainerHandler((message: FromWorker, transfer: Transferable[] = []) => scope.postMessage(message, transfer), {
  selectBackend,
  runKnownResult,
  now: () => performance.now(),
  nextTask,
});

scope.onmessage = (event: MessageEvent<ToWorker>) => void handler.handle(event.data);
