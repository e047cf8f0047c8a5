// How Node waits for Dawn. Dawn's Node binding (the npm package `webgpu`, AsyncRunner::ScheduleProcessEvents) waits for
// a GPU operation (a buffer's mapAsync, which every tfjs read is, or onSubmittedWorkDone) by handing the global
// setImmediate a native callback that processes Dawn's events and hands itself over again while anything is pending:
// a poll at the event loop's full speed. While the device computes, the JavaScript thread burns a whole core (368 ms
// of CPU in a 456 ms wait of the default step on SwiftShader) and makes about 40 MB of garbage per step, which the
// collector then pays for in pauses of 15 ms (several a step) and 100–200 ms (every few steps) on that thread. On a
// software adapter that core is one the device itself needed (SwiftShader computes on the machine's cores): the default
// step took 1.8 times as long. The package's issue #17 (dawn-gpu/node-webgpu) traces the same loop to that function;
// 0.6.2, its latest release, still polls so.
//
// Here, while one such wait lasts, the binding's callbacks (isAddonCallback: any anonymous N-API function, which in
// these processes is Dawn's; every other setImmediate is left alone) are spaced out by how long it has lasted: at once
// for its first millisecond (a fast GPU's read loses nothing), then after a sleep of an eighth of the time waited so
// far, at most a quarter of a millisecond (the thread blocks without spinning: Atomics.wait), then, past ten
// milliseconds, on a one-millisecond timer (the event loop stays free; Node's fires after 1–1.3 ms). A wait is thus
// answered late by about an eighth of it or a millisecond, whichever is less. The binding keeps one chain of callbacks
// for every pending operation, so a read that starts while another wait goes on inherits that wait's age (at worst a
// millisecond late however short it is), and a wait that never ended would cost a tick a millisecond. A browser has
// none of this: its GPU process answers maps.
// Node only, for the engine benchmark, the pack for GPU machines and the Dawn tests.

import { promisify } from 'node:util';

/** Callbacks handed over at once at the start of a wait, in milliseconds of waiting. */
export const IMMEDIATE_MS = 1;
/** The fraction of the time waited so far that a sleep between two callbacks lasts. */
export const SLEEP_FRACTION = 1 / 8;
/** The longest blocking sleep between two callbacks, in milliseconds. */
export const MAX_SLEEP_MS = 0.25;
/** Past this much waiting, in milliseconds, callbacks go on a 1 ms timer instead. */
export const TIMER_AFTER_MS = 10;

export type PollDelay = { kind: 'now' } | { kind: 'sleep'; ms: number } | { kind: 'timer'; ms: number };

/** How long to put off the binding's next callback, `waitedMs` into a wait. */
export function pollDelay(waitedMs: number): PollDelay {
  if (!(waitedMs >= IMMEDIATE_MS)) return { kind: 'now' };
  if (waitedMs < TIMER_AFTER_MS) return { kind: 'sleep', ms: Math.min(MAX_SLEEP_MS, waitedMs * SLEEP_FRACTION) };
  return { kind: 'timer', ms: 1 };
}

type Immediate = typeof globalThis.setImmediate;

/**
 * Whether a callback is one a native addon made (N-API's napi_create_function, as the binding's is): native code, no
 * name, and a `prototype` of its own, which a built-in function handed to setImmediate (a promise's resolve, a bound
 * function) does not have.
 */
export function isAddonCallback(fn: unknown): boolean {
  return (
    typeof fn === 'function' &&
    fn.name === '' &&
    Object.prototype.hasOwnProperty.call(fn, 'prototype') &&
    /\{\s*\[native code\]\s*\}\s*$/.test(Function.prototype.toString.call(fn))
  );
}

export interface GentlePolling {
  /** The binding's callbacks run so far (each one processes Dawn's events once). */
  readonly ticks: number;
  /** How the binding's callbacks so far were put off, by kind (pollDelay). */
  readonly delays: Readonly<Record<PollDelay['kind'], number>>;
  /** Puts the global setImmediate back as it was. */
  uninstall(): void;
}

/**
 * Spaces out Dawn's polling (see above) by wrapping the global setImmediate; installed once per process however often
 * it is called, uninstalled when every caller has uninstalled it. `polled` tells the callbacks to space out (tests
 * name their own); it is the first caller's while the wrapper stays installed.
 */
export function gentlePolling(polled: (callback: unknown) => boolean = isAddonCallback): GentlePolling {
  const state = (installed ??= install(polled));
  state.users += 1;
  let done = false;
  return {
    get ticks() {
      return state.ticks;
    },
    get delays() {
      return { ...state.delays };
    },
    uninstall() {
      if (done) return;
      done = true;
      state.users -= 1;
      if (state.users === 0) {
        // Unless something wrapped it since (its wrapper calls this one, which then passes everything through).
        if (globalThis.setImmediate === state.wrapper) globalThis.setImmediate = state.original;
        else state.passThrough = true;
        installed = null;
      }
    },
  };
}

interface Installed {
  original: Immediate;
  wrapper?: Immediate;
  /** Uninstalled while another wrapper held on to it: every callback goes straight to the original. */
  passThrough: boolean;
  users: number;
  ticks: number;
  delays: Record<PollDelay['kind'], number>;
}

let installed: Installed | null = null;

function install(polled: (callback: unknown) => boolean): Installed {
  const original = globalThis.setImmediate;
  const state: Installed = { original, users: 0, ticks: 0, delays: { now: 0, sleep: 0, timer: 0 }, passThrough: false };
  const cell = new Int32Array(new SharedArrayBuffer(4));
  // A wait starts at a callback asked for from outside one of the binding's callbacks and goes on while each asks for
  // the next.
  let insideTick = false;
  let waitStart = 0;
  const gentle = function (this: unknown, callback: (...args: unknown[]) => void, ...args: unknown[]) {
    if (state.passThrough || !polled(callback)) return original.call(globalThis, callback as never, ...(args as [])) as ReturnType<Immediate>;
    const now = performance.now();
    if (!insideTick) waitStart = now;
    const delay = pollDelay(now - waitStart);
    state.delays[delay.kind] += 1;
    const run = () => {
      if (delay.kind === 'sleep') Atomics.wait(cell, 0, 0, delay.ms);
      state.ticks += 1;
      insideTick = true;
      try {
        callback(...args);
      } finally {
        insideTick = false;
      }
    };
    if (delay.kind === 'timer') return setTimeout(run, delay.ms) as unknown as ReturnType<Immediate>;
    return original.call(globalThis, run as never) as ReturnType<Immediate>;
  };
  // What util.promisify finds on Node's own (timers/promises' setImmediate), kept.
  const custom = promisify.custom;
  state.wrapper = Object.assign(gentle, { [custom]: (original as unknown as Record<symbol, unknown>)[custom] }) as unknown as Immediate;
  globalThis.setImmediate = state.wrapper;
  return state;
}
