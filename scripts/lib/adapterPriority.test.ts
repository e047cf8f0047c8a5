// Which threads adapterPriority.ts lowers: only those that appeared while the adapter started and that are named as
// SwiftShader's task scheduler (marl) names its workers.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { newWorkerThreads, processThreads, SCHED_IDLE, threadPolicy } from './adapterPriority';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** A /proc/self/task of threads `names` (id → name), one without its comm file (a thread that ended meanwhile). */
function taskDir(names: Record<number, string>, ended: number[] = []): string {
  const dir = mkdtempSync(join(tmpdir(), 'tabclr-task-'));
  dirs.push(dir);
  for (const [id, name] of Object.entries(names)) {
    mkdirSync(join(dir, id));
    writeFileSync(join(dir, id, 'comm'), `${name}\n`);
  }
  for (const id of ended) mkdirSync(join(dir, String(id)));
  return dir;
}

describe('the software adapter’s worker threads', () => {
  it('reads a process’s threads and their names, leaving out one that ended while it read', () => {
    const threads = processThreads(taskDir({ 100: 'node', 101: 'Thread<00>' }, [102]));
    expect([...threads].sort()).toEqual([
      [100, 'node'],
      [101, 'Thread<00>'],
    ]);
    expect(processThreads('/nonexistent/task').size).toBe(0);
  });

  it('finds this process’s own thread', () => {
    // Linux's /proc; elsewhere there is nothing to read and nothing is lowered.
    const own = processThreads();
    if (process.platform === 'linux') expect(own.get(process.pid)).toBeDefined();
    else expect(own.size).toBe(0);
  });

  it('reads a thread’s scheduling policy from its stat, whatever its name holds', () => {
    const dir = taskDir({ 7: 'a b) c' });
    // /proc/<tid>/stat: pid, (comm), then state as the 3rd field … policy as the 41st.
    const after = ['S', ...Array.from({ length: 37 }, (_, i) => String(i + 4)), String(SCHED_IDLE), '0', '0'];
    writeFileSync(join(dir, '7', 'stat'), `7 (a b) c) ${after.join(' ')}\n`);
    expect(threadPolicy(7, dir)).toBe(SCHED_IDLE);
    expect(threadPolicy(8, dir)).toBeNull();
    if (process.platform === 'linux') expect(threadPolicy(process.pid)).toBe(0);
  });

  it('picks the new threads named as marl’s workers, and no other', () => {
    const before = new Map([
      [1, 'node'],
      [2, 'Thread<00>'], // there before the adapter started: someone else's
    ]);
    const after = new Map([
      ...before,
      [3, 'Thread<00>'],
      [4, 'Thread<01>'],
      [5, 'node'], // new, but not a worker's name (Dawn's or libuv's)
      [6, 'Thread<>'],
      [7, 'MyThread<02>'],
      [12, 'Thread<12>'],
    ]);
    expect(newWorkerThreads(before, after)).toEqual([3, 4, 12]);
    expect(newWorkerThreads(after, after)).toEqual([]);
  });
});
