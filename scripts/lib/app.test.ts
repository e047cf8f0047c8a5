import { describe, expect, it } from 'vitest';
import { IMPORT_SIZES } from '../../src/store/data';
import { Refusal } from './args';
import { TRAINING_SIZES, TrainerEvents, trainingSize, type WorkerMessage } from './app';

describe('the page as the scripts see it', () => {
  it('offers the training sizes the Images panel offers', () => {
    expect([...TRAINING_SIZES]).toEqual([...IMPORT_SIZES]);
    expect(trainingSize('24')).toBe(24);
    expect(trainingSize('28')).toBeInstanceOf(Refusal);
    expect(trainingSize('16px')).toBeInstanceOf(Refusal);
  });
});

const state = (s: 'compiling' | 'paused', step = 0): WorkerMessage => ({ type: 'state', state: s, step, runId: 'run-1' });

describe('TrainerEvents', () => {
  it('finds a message that arrived after the mark, even before the wait began', async () => {
    const events = new TrainerEvents();
    events.push([state('compiling')]);
    const from = events.mark();
    events.push([state('paused', 0)]);
    const paused = await events.waitFor('pause', (m) => (m.type === 'state' && m.state === 'paused' ? m : undefined), { from, timeoutMs: 1000 });
    expect(paused.step).toBe(0);
    // Before the mark does not count.
    const waiting = events.waitFor('compiling', (m) => (m.type === 'state' && m.state === 'compiling' ? m : undefined), { from, timeoutMs: 50 });
    await expect(waiting).rejects.toThrow('timed out after 0 s waiting for compiling');
  });

  it('resolves on a later message, fails on a worker error with its words, and keeps messages by type', async () => {
    const events = new TrainerEvents();
    const from = events.mark();
    const later = events.waitFor('matmul', (m) => (m.type === 'matmul-rate' ? m.flopsPerSec : undefined), { from, timeoutMs: 1000 });
    events.push([{ type: 'matmul-rate', size: 64, flopsPerSec: 5e9 }]);
    await expect(later).resolves.toBe(5e9);
    const failing = events.waitFor('the import', (m) => (m.type === 'import-done' ? m : undefined), { from: events.mark(), timeoutMs: 1000 });
    events.push([{ type: 'error', code: 'no-dataset', message: 'No usable image among the 3 files chosen.', recoverable: true, request: 'import' }]);
    await expect(failing).rejects.toThrow("No usable image among the 3 files chosen. (the page's import request)");
    expect(events.all('matmul-rate').map((r) => r.message.size)).toEqual([64]);
  });
});
