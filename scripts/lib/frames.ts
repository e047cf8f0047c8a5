// The page's frame times: requestAnimationFrame intervals recorded in the page over a window, with the main thread's
// long tasks and the map updates seen, and their summary (median, p95, p99, max; nearest-rank). Used by bench:frames
// (idle against training) and by bench (the frame time while training).
import type { Page } from '@playwright/test';
import { percentile, round } from './stats';

/** A frame interval above this counts as a long frame (the same threshold as a long task). */
export const LONG_FRAME_MS = 50;

/** What the page recorded over one window. */
export interface Recording {
  /** requestAnimationFrame timestamps (ms, performance.now clock), first to last. */
  stamps: number[];
  /** Long tasks that began inside the window; null when the browser does not report them. */
  longTasks: { start: number; duration: number }[] | null;
  stateBefore: string;
  stateAfter: string;
  /** Distinct map steps seen while the window was open ("Embedding map: … at step N"). */
  mapSteps: number[];
}

/**
 * Records rAF timestamps for `ms` milliseconds in the page (or, with `untilTrainingEnds`, until the run state stops
 * reading "Training", at most `ms`), with a long-task observer and a watch on the map, and nothing else running on the
 * page's side: Playwright waits on one promise and does not poll meanwhile.
 */
export async function record(page: Page, ms: number, options: { untilTrainingEnds?: boolean } = {}): Promise<Recording> {
  return page.evaluate(async ({ ms, untilTrainingEnds }) => {
    const runState = () => document.querySelector('.run-state')?.textContent ?? '';
    const hasLongTask = typeof PerformanceObserver !== 'undefined' && (PerformanceObserver.supportedEntryTypes ?? []).includes('longtask');
    const tasks: { start: number; duration: number }[] = [];
    const taskObserver = hasLongTask
      ? new PerformanceObserver((list) => {
          for (const e of list.getEntries()) tasks.push({ start: e.startTime, duration: e.duration });
        })
      : null;
    taskObserver?.observe({ type: 'longtask' });

    const mapSteps = new Set<number>();
    const seeMap = () => {
      const label = document.querySelector('[role="img"][aria-label^="Embedding map:"]')?.getAttribute('aria-label') ?? '';
      const m = / at step (\d+)/.exec(label);
      if (m) mapSteps.add(Number(m[1]));
    };
    const mapObserver = new MutationObserver(seeMap);
    mapObserver.observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['aria-label'] });

    const stamps: number[] = [];
    let stateBefore = '';
    let stateAfter = '';
    await new Promise<void>((resolve) => {
      const tick = (t: number) => {
        if (stamps.length === 0) {
          stateBefore = runState();
          seeMap();
        }
        stamps.push(t);
        if (t - stamps[0]! >= ms || (untilTrainingEnds && !runState().startsWith('Training'))) {
          stateAfter = runState();
          resolve();
        } else requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
    mapObserver.disconnect();
    // Long-task entries are delivered a little after the task: give the last ones time to arrive.
    await new Promise((r) => setTimeout(r, 300));
    if (taskObserver) {
      for (const e of taskObserver.takeRecords()) tasks.push({ start: e.startTime, duration: e.duration });
      taskObserver.disconnect();
    }
    const first = stamps[0]!;
    const last = stamps[stamps.length - 1]!;
    return {
      stamps,
      longTasks: taskObserver ? tasks.filter((t) => t.start >= first && t.start < last) : null,
      stateBefore,
      stateAfter,
      mapSteps: [...mapSteps].sort((a, b) => a - b),
    };
  }, { ms, untilTrainingEnds: options.untilTrainingEnds ?? false });
}

// ---------------------------------------------------------------------------------------------------------------
// Figures.

export interface Phase {
  phase: 'idle' | 'training' | 'zooming';
  /** Length of the window, first to last frame, in seconds. */
  seconds: number;
  /** Frame intervals measured (callbacks − 1). */
  frames: number;
  fps: number;
  median_ms: number;
  p95_ms: number;
  p99_ms: number;
  max_ms: number;
  /** Intervals above LONG_FRAME_MS. */
  long_frames: number;
  /** Time spent in long frames, as a share of the window. */
  long_frame_share: number;
  /** null when the browser does not report long tasks. */
  long_tasks: number | null;
  long_task_ms: number | null;
  long_task_max_ms: number | null;
  /** Training steps completed inside the window (0 when idle). */
  steps: number;
  steps_per_sec: number;
  /** Map snapshots that replaced the shown map inside the window. */
  map_updates: number;
  state_before: string;
  state_after: string;
}

const stepOf = (text: string) => {
  const m = /step (\d+) of (\d+)/.exec(text);
  return m ? Number(m[1]) : null;
};

export function figures(phase: Phase['phase'], r: Recording): Phase {
  const intervals = r.stamps.slice(1).map((t, i) => t - r.stamps[i]!);
  if (intervals.length === 0) throw new Error(`${phase}: the page drew no frames`);
  const sorted = [...intervals].sort((a, b) => a - b);
  const windowMs = r.stamps[r.stamps.length - 1]! - r.stamps[0]!;
  const long = intervals.filter((x) => x > LONG_FRAME_MS);
  const before = stepOf(r.stateBefore);
  const after = stepOf(r.stateAfter);
  const steps = before !== null && after !== null ? after - before : 0;
  const tasks = r.longTasks;
  return {
    phase,
    seconds: round(windowMs / 1000, 2),
    frames: intervals.length,
    fps: round((intervals.length * 1000) / windowMs),
    median_ms: round(percentile(sorted, 50)),
    p95_ms: round(percentile(sorted, 95)),
    p99_ms: round(percentile(sorted, 99)),
    max_ms: round(sorted[sorted.length - 1]!),
    long_frames: long.length,
    long_frame_share: round(long.reduce((a, b) => a + b, 0) / windowMs, 3),
    long_tasks: tasks ? tasks.length : null,
    long_task_ms: tasks ? round(tasks.reduce((a, t) => a + t.duration, 0), 0) : null,
    long_task_max_ms: tasks ? round(Math.max(0, ...tasks.map((t) => t.duration)), 0) : null,
    steps,
    steps_per_sec: round(steps / (windowMs / 1000), 2),
    map_updates: r.mapSteps.filter((s) => before === null || s > before).length,
    state_before: r.stateBefore,
    state_after: r.stateAfter,
  };
}
