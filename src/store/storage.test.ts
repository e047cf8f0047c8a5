import { beforeEach, describe, expect, it, vi } from 'vitest';
import { connections, readyMessage } from '../test/fakeTrainer';

// The page's side of the worker's databases meeting another tabclr tab, against fake connections.
vi.mock('../worker/client', () => import('../test/fakeTrainer'));

describe('storage', () => {
  beforeEach(() => {
    connections.length = 0;
    vi.resetModules();
  });

  async function store() {
    const { useStore } = await import('./store');
    useStore.getState().connect();
    connections[0]!.deliver([readyMessage]);
    return useStore;
  }

  it('keeps each store\'s status; the saved runs are asked for again once a blocked store opens', async () => {
    const useStore = await store();
    const sent = () => connections[0]!.sent.filter((m) => m.type === 'list-runs').length;
    const before = sent();
    connections[0]!.deliver([
      { type: 'storage', store: 'checkpoints', status: 'blocked' },
      { type: 'storage', store: 'image-cache', status: 'open' },
    ]);
    expect(useStore.getState().storage).toEqual({ checkpoints: 'blocked', 'image-cache': 'open' });
    expect(sent()).toBe(before);
    connections[0]!.deliver([{ type: 'storage', store: 'checkpoints', status: 'open' }]);
    expect(useStore.getState().storage.checkpoints).toBe('open');
    expect(sent()).toBe(before + 1);
  });

  it('a restarted trainer keeps "replaced" (this tab is still the older version) and forgets the rest', async () => {
    const useStore = await store();
    connections[0]!.deliver([
      { type: 'storage', store: 'checkpoints', status: 'replaced' },
      { type: 'storage', store: 'image-cache', status: 'blocked' },
    ]);
    connections[0]!.crash('gone');
    expect(connections).toHaveLength(2);
    expect(useStore.getState().storage).toEqual({ checkpoints: 'replaced' });
  });
});
