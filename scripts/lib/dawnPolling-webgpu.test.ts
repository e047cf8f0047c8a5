// Dawn's own wait, spaced out (dawnPolling.ts): a read that waits on a long computation keeps the JavaScript thread
// nearly idle, where the binding's poll alone would spin it at full speed, and answers as soon as the computation ends.
import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { useDawn } from '../../src/test/dawn';
import { gentlePolling } from './dawnPolling';
import { threadCpuMs } from './engine-bench';

const session = useDawn();

describe('Dawn’s wait in Node', () => {
  // TABCLR_DAWN_POLLING=full asks for the binding's own poll, to compare: then there is nothing here to test.
  it.skipIf(process.env.TABCLR_DAWN_POLLING === 'full')('spaces out the binding’s poll while a read waits on the device', async () => {
    expect(session.dawn.gentlePolling).toBe(true);
    // startDawn put the wrapper in place (the handle below would otherwise install one of its own).
    expect(globalThis.setImmediate).not.toBe((await import('node:timers')).setImmediate);
    // The wrapper startDawn installed; this handle only reads its counts.
    const polling = gentlePolling();
    try {
      const a = tf.randomUniform([384, 384], -1, 1, 'float32', 1);
      // Warm: the programs compile outside the measured wait.
      tf.dispose(await tf.matMul(a, a).data());
      const ticksBefore = polling.ticks;
      const timersBefore = polling.delays.timer;
      let product = a;
      for (let i = 0; i < 3; i++) {
        const next = tf.tidy(() => tf.matMul(product, a).div(20));
        if (product !== a) product.dispose();
        product = next;
      }
      const cpuBefore = threadCpuMs();
      const start = performance.now();
      const values = await product.data();
      const waited = performance.now() - start;
      const cpu = cpuBefore === null ? null : threadCpuMs()! - cpuBefore;
      const ticks = polling.ticks - ticksBefore;
      tf.dispose([a, product]);
      expect(values.every(Number.isFinite)).toBe(true);
      // The binding's callback is recognised (it polled at least once), and spaced out: at full speed a wait is a tick
      // every few microseconds.
      expect(ticks).toBeGreaterThan(0);
      expect(ticks).toBeLessThan(300 + 1.5 * waited);
      if (waited > 50) {
        expect(polling.delays.timer - timersBefore).toBeGreaterThan(0);
        // The thread waits rather than spins (the binding's own poll: 80% of the wait and more here).
        if (cpu !== null) expect(cpu).toBeLessThan(0.35 * waited);
      }
    } finally {
      polling.uninstall();
    }
  }, 120_000);
});
