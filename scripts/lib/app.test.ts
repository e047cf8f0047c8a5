import { describe, expect, it } from 'vitest';
import { IMPORT_SIZES } from '../../src/store/data';
import { Refusal } from './args';
import { TRAINING_SIZES, TrainerEvents, importStalled, trainingSize, type WorkerMessage } from './app';

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

const counts = (processed: number, found = 10) => ({ found, processed, decoded: processed, fromCache: 0, skipped: 0, duplicates: 0, leftOut: 0, budgetBytes: 1e9 });
const progress = (processed: number): WorkerMessage => ({ type: 'import-progress', counts: counts(processed), elapsedMs: processed * 10 });
const importDone: WorkerMessage = { type: 'import-done', counts: counts(10), skipped: [], elapsedMs: 100, cacheProblem: null };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** The wait importFolder makes, with a short stall time. */
const waitForImport = (events: TrainerEvents, stallMs: number) =>
  events.waitWhileAlive((m) => (m.type === 'import-done' ? m : undefined), {
    from: events.mark(),
    idleMs: stallMs,
    alive: (m) => m.type === 'import-progress',
    stalled: importStalled('/photos', stallMs),
  });

describe('the import watchdog', () => {
  it('waits as long as the import reports progress, however long it takes in all', async () => {
    const events = new TrainerEvents();
    const waiting = waitForImport(events, 100);
    // Four times the stall time in all, never more than half of it without a report.
    for (let i = 1; i <= 8; i++) {
      await sleep(50);
      events.push([progress(i)]);
    }
    events.push([importDone]);
    await expect(waiting).resolves.toMatchObject({ type: 'import-done' });
  });

  it('fails when the import stops reporting, saying how far it got', async () => {
    const events = new TrainerEvents();
    const waiting = waitForImport(events, 100);
    events.push([progress(3)]);
    // Other messages are no sign that the import goes on.
    await sleep(60);
    events.push([state('compiling')]);
    await expect(waiting).rejects.toThrow('the import of /photos made no progress for 0.1 s (3 of 10 files done)');
  });

  it('fails when the import never begins: the page took no files', async () => {
    const events = new TrainerEvents();
    const started = Date.now();
    await expect(waitForImport(events, 1000)).rejects.toThrow('the page took no files from /photos: no import began within 1 s of choosing the folder');
    expect(Date.now() - started).toBeGreaterThanOrEqual(990);
  });
});
