// The page's side of the worker contract: starts the trainer worker and delivers its messages at most once per
// animation frame, so a fast training loop never makes the page render more often than the screen refreshes.
import type { FromWorker, ToWorker } from './protocol';

export interface TrainerConnection {
  send(message: ToWorker, transfer?: Transferable[]): void;
  terminate(): void;
}

export function connectTrainer(deliver: (messages: FromWorker[]) => void, onCrash: (message: string) => void): TrainerConnection {
  const worker = new Worker(new URL('./trainer.worker.ts', import.meta.url), { type: 'module', name: 'tabclr-trainer' });
  let queue: FromWorker[] = [];
  let scheduled = false;
  const flush = () => {
    scheduled = false;
    const batch = queue;
    queue = [];
    deliver(batch);
  };
  let frame = 0;
  let timer = 0;
  const deliverOnce = () => {
    cancelAnimationFrame(frame);
    clearTimeout(timer);
    if (scheduled) flush();
  };
  worker.onmessage = (event: MessageEvent<FromWorker>) => {
    queue.push(event.data);
    if (!scheduled) {
      scheduled = true;
      // The next frame, or a timer where frames stop (a hidden tab): whichever comes first delivers.
      frame = requestAnimationFrame(deliverOnce);
      timer = window.setTimeout(deliverOnce, 250);
    }
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    onCrash(event.message || 'the trainer worker failed to load');
  };
  worker.onmessageerror = () => onCrash('a message from the trainer worker could not be read');
  return {
    send: (message, transfer = []) => worker.postMessage(message, transfer),
    terminate: () => worker.terminate(),
  };
}
