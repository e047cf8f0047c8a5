// The page's automation handle, installed only with `?automation` in the URL: scripts that drive the built app in a
// headless browser (scripts/train.ts, the benchmarks) read the trainer's messages and the store through it, and
// otherwise use the page as a person does. Nothing here changes what the page does.
import { onWorkerMessages } from './store/automation';
import { useStore } from './store/store';

export interface TabclrAutomation {
  onWorkerMessages: typeof onWorkerMessages;
  store: typeof useStore;
}

declare global {
  interface Window {
    tabclrAutomation?: TabclrAutomation;
  }
}

export function installAutomation(): void {
  window.tabclrAutomation = { onWorkerMessages, store: useStore };
}
