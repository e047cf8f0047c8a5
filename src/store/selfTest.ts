// The GPU self-test: does this device train, and does it compute what the CPU computes?
import type { StateCreator } from 'zustand';
import type { FromWorker } from '../worker/protocol';
import type { LifecycleOf } from './lifecycle';
import type { Store } from './store';

type SelfTestMessage = Extract<FromWorker, { type: 'self-test-progress' | 'self-test-result' }> | { type: 'error'; message: string };
type SelfTestResult = Extract<FromWorker, { type: 'self-test-result' }>;

export interface SelfTestState {
  status: 'idle' | 'running' | 'done' | 'failed';
  stage: 'training' | 'agreement' | null;
  step: number;
  total: number;
  result: Omit<SelfTestResult, 'type'> | null;
  error: string | null;
}

export interface SelfTestSlice {
  selfTest: SelfTestState;
  runSelfTest(steps?: number): void;
  receiveSelfTest(message: SelfTestMessage): void;
}

/** Enough steps for the tiny model to leave the collapse level, few enough for a software adapter. */
export const SELF_TEST_STEPS = 30;

const idle: SelfTestState = { status: 'idle', stage: null, step: 0, total: 0, result: null, error: null };

export const selfTestLifecycle: LifecycleOf = (_set, get) => ({
  onTrainerRestart() {
    if (get().selfTest.status === 'running') get().receiveSelfTest({ type: 'error', message: 'the trainer was restarted during the self-test' });
  },
  onRequestFailed(request) {
    if (request === 'self-test') get().receiveSelfTest({ type: 'error', message: get().problem?.message ?? 'the self-test failed' });
  },
});

export const createSelfTestSlice: StateCreator<Store, [], [], SelfTestSlice> = (set, get) => ({
  selfTest: idle,

  runSelfTest(steps = SELF_TEST_STEPS) {
    set({ selfTest: { ...idle, status: 'running', stage: 'training', total: steps } });
    get().send({ type: 'self-test', steps });
  },

  receiveSelfTest(message) {
    const current = get().selfTest;
    switch (message.type) {
      case 'self-test-progress':
        set({ selfTest: { ...current, stage: message.stage, step: message.step, total: message.total } });
        break;
      case 'self-test-result':
        set({ selfTest: { ...current, status: 'done', stage: null, result: { training: message.training, agreement: message.agreement } } });
        break;
      case 'error':
        set({ selfTest: { ...current, status: 'failed', stage: null, error: message.message } });
        break;
    }
  },
});
