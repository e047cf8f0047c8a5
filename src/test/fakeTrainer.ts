// The page's store against fake trainer connections (src/worker/client.ts mocked): each connection records what the
// page sends, and the test delivers the worker's messages or crashes it. A store test mocks the client with
//   vi.mock('../worker/client', () => import('../test/fakeTrainer'))
// and empties `connections` before each test (with vi.resetModules(), so that every test gets a fresh store).
import type { BackendReport, FromWorker, ToWorker } from '../worker/protocol';

export interface FakeConnection {
  sent: ToWorker[];
  deliver(messages: FromWorker[]): void;
  crash(message: string): void;
  terminated: boolean;
}

/** Every connection made, oldest first: one list whatever copy of this module a reset module registry loads. */
export const connections: FakeConnection[] = ((globalThis as { __fakeTrainerConnections?: FakeConnection[] }).__fakeTrainerConnections ??= []);

export function connectTrainer(deliver: (messages: FromWorker[]) => void, onCrash: (message: string) => void) {
  const connection: FakeConnection = { sent: [], deliver, crash: onCrash, terminated: false };
  connections.push(connection);
  return { send: (m: ToWorker) => connection.sent.push(m), terminate: () => (connection.terminated = true) };
}

export const fakeBackend: BackendReport = { backend: 'webgpu', vendor: 'v', architecture: 'a', device: '', isFallbackAdapter: true, scope: 'w', fallbackReason: null, choice: null, maxBufferBytes: 2 ** 27 };

/** The worker's first message: its backend is up and computes the known result. */
export const readyMessage: FromWorker = { type: 'ready', backend: fakeBackend, check: { expression: '1', expected: [1], actual: [1], ok: true } };
