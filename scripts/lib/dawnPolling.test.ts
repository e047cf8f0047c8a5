// The gentle poll's policy and its wrapper of setImmediate, without Dawn (dawnPolling-webgpu.test.ts has the real wait).
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { gentlePolling, IMMEDIATE_MS, isAddonCallback, MAX_SLEEP_MS, pollDelay, TIMER_AFTER_MS } from './dawnPolling';

// Callbacks that stand for the binding's (which processes Dawn's events and asks for the next one while anything is
// pending): the wrapper is told to space out these and no other.
const standIns = new WeakSet<object>();
const nativeCallback = <T extends (...args: never[]) => void>(fn: T): T => {
  standIns.add(fn);
  return fn;
};
const gentle = () => gentlePolling((fn) => typeof fn === 'function' && standIns.has(fn));

describe('isAddonCallback', () => {
  it('tells no function written in JavaScript, and no built-in one, for an addon’s', () => {
    let resolve: unknown;
    void new Promise((r) => (resolve = r));
    for (const fn of [function named() {}, function () {}, () => {}, async () => {}, (() => {}).bind(null), resolve, Math.max, console.log, setImmediate, class {}]) {
      expect(isAddonCallback(fn)).toBe(false);
    }
    expect(isAddonCallback(undefined)).toBe(false);
    // The binding's own is told in dawnPolling-webgpu.test.ts, where a real wait runs.
  });
});

describe('pollDelay', () => {
  it('answers at once at the start of a wait, then sleeps a growing fraction of it, then takes a timer', () => {
    expect(pollDelay(0)).toEqual({ kind: 'now' });
    expect(pollDelay(IMMEDIATE_MS / 2)).toEqual({ kind: 'now' });
    expect(pollDelay(IMMEDIATE_MS)).toEqual({ kind: 'sleep', ms: IMMEDIATE_MS / 8 });
    expect(pollDelay(1)).toEqual({ kind: 'sleep', ms: 1 / 8 });
    expect(pollDelay(TIMER_AFTER_MS - 0.01)).toEqual({ kind: 'sleep', ms: MAX_SLEEP_MS });
    expect(pollDelay(TIMER_AFTER_MS)).toEqual({ kind: 'timer', ms: 1 });
    expect(pollDelay(60_000)).toEqual({ kind: 'timer', ms: 1 });
    // A clock that went wrong is the start of a wait, never a sleep of NaN.
    expect(pollDelay(Number.NaN)).toEqual({ kind: 'now' });
    expect(pollDelay(-1)).toEqual({ kind: 'now' });
  });

  it('is never late by more than an eighth of the wait or a millisecond', () => {
    for (let waited = 0; waited < 50; waited += 0.01) {
      const d = pollDelay(waited);
      const late = d.kind === 'now' ? 0 : d.ms;
      expect(late).toBeLessThanOrEqual(Math.max(Math.min(waited / 8, 1), 0) + 1e-12);
    }
  });
});

describe('gentlePolling', () => {
  const original = globalThis.setImmediate;
  afterEach(() => {
    expect(globalThis.setImmediate).toBe(original);
  });

  it('leaves JavaScript callbacks alone: they run at once, in order, with their arguments', async () => {
    const polling = gentle();
    try {
      const seen: string[] = [];
      await new Promise<void>((resolve) => {
        setImmediate((a: string) => seen.push(a), 'first');
        setImmediate((a: string) => seen.push(a), 'second');
        setImmediate(resolve);
      });
      expect(seen).toEqual(['first', 'second']);
      expect(polling.ticks).toBe(0);
    } finally {
      polling.uninstall();
    }
  });

  it('spaces out a native callback that keeps asking for itself: a 60 ms wait takes tens of ticks, not thousands', async () => {
    const polling = gentle();
    try {
      const start = performance.now();
      let ticks = 0;
      await new Promise<void>((resolve) => {
        const tick = nativeCallback(() => {
          ticks += 1;
          // The binding asks for the next callback while anything is pending.
          if (performance.now() - start < 60) setImmediate(tick);
          else resolve();
        });
        setImmediate(tick);
      });
      const elapsed = performance.now() - start;
      expect(polling.ticks).toBe(ticks);
      const { now, sleep, timer } = polling.delays;
      expect(now + sleep + timer).toBe(ticks);
      expect(now).toBeGreaterThan(0);
      expect(sleep).toBeGreaterThan(0);
      // Past 10 ms, about one a millisecond (a loaded machine's timers fire later, never sooner).
      expect(timer).toBeGreaterThanOrEqual(20);
      // After the first millisecond (at full speed, however fast the machine), spaced out: at full speed a 60 ms wait
      // is tens of thousands of ticks.
      expect(sleep + timer).toBeLessThan(100 + elapsed);
      // Late by at most a timer's millisecond and the scheduler's slack.
      expect(elapsed).toBeLessThan(60 + 50);
    } finally {
      polling.uninstall();
    }
  });

  it('starts each wait afresh: the first callback of a new wait comes at once', async () => {
    const polling = gentle();
    try {
      // A long wait first, so that a wait carried over would already be on the timer.
      await new Promise<void>((resolve) => {
        const start = performance.now();
        const tick = nativeCallback(() => (performance.now() - start < 15 ? setImmediate(tick) : resolve()));
        setImmediate(tick);
      });
      const before = polling.delays;
      expect(before.timer).toBeGreaterThan(0);
      await new Promise<void>((resolve) => setImmediate(nativeCallback(resolve)));
      const after = polling.delays;
      expect(after.now - before.now).toBe(1);
      expect(after.timer - before.timer).toBe(0);
    } finally {
      polling.uninstall();
    }
  });

  it('keeps what util.promisify finds on Node’s setImmediate', async () => {
    const polling = gentle();
    try {
      expect(await promisify(setImmediate)('value')).toBe('value');
    } finally {
      polling.uninstall();
    }
  });

  it('leaves a wrapper installed after it in place, and passes everything through once uninstalled', async () => {
    const polling = gentle();
    const mine = globalThis.setImmediate;
    const theirs = Object.assign((cb: () => void) => mine(cb), { __promisify__: mine.__promisify__ }) as unknown as typeof setImmediate;
    globalThis.setImmediate = theirs;
    try {
      polling.uninstall();
      expect(globalThis.setImmediate).toBe(theirs);
      const ticks = polling.ticks;
      await new Promise<void>((resolve) => setImmediate(nativeCallback(resolve)));
      expect(polling.ticks).toBe(ticks);
    } finally {
      globalThis.setImmediate = original;
    }
  });

  it('installs once for any number of users and puts setImmediate back when the last leaves', () => {
    const a = gentle();
    const wrapped = globalThis.setImmediate;
    expect(wrapped).not.toBe(original);
    const b = gentlePolling();
    expect(globalThis.setImmediate).toBe(wrapped);
    a.uninstall();
    a.uninstall();
    expect(globalThis.setImmediate).toBe(wrapped);
    b.uninstall();
    expect(globalThis.setImmediate).toBe(original);
  });
});
