// A software adapter's worker threads, behind the JavaScript thread. SwiftShader computes a GPU's work on the machine's
// own cores, in worker threads (marl's, named "Thread<00>", "Thread<01>", …) that Dawn's device starts in this process.
// While the JavaScript thread records a step, the work already submitted runs on them, and on two cores the threads
// share: in the default step the recording thread spent 3–5 ms of its 9–11 ms ready to run but waiting for a core
// (schedstat's run-queue time, the engine benchmark's record_runq_ms). A GPU computes beside the CPU and never takes
// the recording thread's core. Here the workers run only when a core is otherwise idle (Linux's SCHED_IDLE, set with
// util-linux's chrt, and the lowest priority, nice 19, which is all there is where chrt is missing): the recording gets
// its core whenever it has work, and on an otherwise idle machine the workers still get every core it is not using, so
// the device loses no time it could compute in; the engine benchmark's steps took as long either way (BENCHMARKS.md,
// "Recording a step"). On a loaded machine they lose to every other process's threads too: a benchmark's figures
// mean little there anyway.
//
// Linux only (a thread's policy and niceness are set by its thread id; /proc lists the threads): elsewhere nothing is
// lowered. Only threads that appeared while the adapter started and that are named as marl names its workers are
// touched, and only on a software adapter (dawn.ts).
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { setPriority } from 'node:os';

/** The niceness the workers get: the lowest priority an unprivileged process can give a thread of its own. */
export const SOFTWARE_ADAPTER_NICE = 19;

/** Linux's SCHED_IDLE, as /proc/<tid>/stat's policy field gives it. */
export const SCHED_IDLE = 5;

/** How marl, SwiftShader's task scheduler, names its worker threads. */
const WORKER_NAME = /^Thread<\d+>$/;

/** This process's threads, by thread id, with their names; an empty map where /proc is not there. */
export function processThreads(taskDir = '/proc/self/task'): Map<number, string> {
  const threads = new Map<number, string>();
  let ids: string[];
  try {
    ids = readdirSync(taskDir);
  } catch {
    return threads;
  }
  for (const id of ids) {
    try {
      threads.set(Number(id), readFileSync(`${taskDir}/${id}/comm`, 'utf8').trim());
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return threads;
}

/** The threads of `after` that `before` did not have and that are named as a software adapter's workers. */
export function newWorkerThreads(before: ReadonlyMap<number, string>, after: ReadonlyMap<number, string>): number[] {
  return [...after].filter(([id, name]) => !before.has(id) && WORKER_NAME.test(name)).map(([id]) => id);
}

export interface LoweredThreads {
  /** The thread ids lowered. */
  threads: number[];
  nice: number;
  /** Whether they also run only when a core is otherwise idle (SCHED_IDLE); false where chrt is missing or refused. */
  idle: boolean;
}

/**
 * Lowers the software adapter's worker threads that appeared since `before` (a processThreads() taken before the device
 * started): niceness `nice`, and SCHED_IDLE when `idle` and chrt can set it. Returns those lowered; a thread the system
 * refuses (gone, or a limit) is left as it was.
 */
export function lowerAdapterThreads(before: ReadonlyMap<number, string>, { nice = SOFTWARE_ADAPTER_NICE, idle = true } = {}): LoweredThreads {
  const threads: number[] = [];
  let chrt = idle;
  for (const id of newWorkerThreads(before, processThreads())) {
    // The policy first: a chrt that sets it through sched_setattr may reset the niceness.
    if (chrt) chrt = spawnSync('chrt', ['--idle', '--pid', '0', String(id)], { stdio: 'ignore', timeout: 5000 }).status === 0;
    try {
      setPriority(id, nice);
    } catch {
      continue; // Left at its priority (a thread that ended, or a limit).
    }
    threads.push(id);
  }
  // Read back, so that a chrt that worked for some threads and not others is not reported as having worked.
  return { threads, nice, idle: threads.length > 0 && threads.every((id) => threadPolicy(id) === SCHED_IDLE) };
}

/** A thread's scheduling policy (Linux's number: 0 normal, 5 SCHED_IDLE), from /proc; null where unknown. */
export function threadPolicy(id: number, taskDir = '/proc/self/task'): number | null {
  try {
    const stat = readFileSync(`${taskDir}/${id}/stat`, 'utf8');
    // The fields after the name, which is in parentheses and may hold spaces; policy is the stat's 41st field.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const policy = Number(fields[41 - 3]);
    return Number.isInteger(policy) ? policy : null;
  } catch {
    return null;
  }
}
