import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { withLeanSaves, withoutUnusedDys } from './tape';

/** A loss whose gradient needs saved tensors of several kernels (inputs and outputs), one of them disposed inside. */
function loss(w: tf.Variable, x: tf.Tensor2D): tf.Scalar {
  const h = tf.matMul(x, w as tf.Tensor2D);
  const a = tf.relu(h);
  const e = tf.exp(tf.mul(a, 0.1));
  h.dispose(); // the tape's saved copy of h (relu's input) must outlive it
  return tf.mean(tf.mul(e, tf.sigmoid(a)));
}

function gradients(lean: boolean, w: tf.Variable, x: tf.Tensor2D) {
  const run = () => tf.variableGrads(() => loss(w, x), [w]);
  return lean ? withLeanSaves(run) : run();
}

async function kernelsOf(fn: () => { value: tf.Scalar; grads: Record<string, tf.Tensor> }): Promise<string[]> {
  let out: { value: tf.Scalar; grads: Record<string, tf.Tensor> } | null = null;
  const profile = await tf.profile(() => {
    out = fn();
    return [out.value, ...Object.values(out.grads)];
  });
  tf.dispose([out!.value, ...Object.values(out!.grads)]);
  return profile.kernels.map((k) => k.name);
}

describe('withLeanSaves', () => {
  const x = tf.keep(tf.tensor2d(Array.from({ length: 24 }, (_, i) => Math.sin(i) * 2), [4, 6]));
  const w = tf.variable(tf.tensor2d(Array.from({ length: 18 }, (_, i) => Math.cos(i * 0.7)), [6, 3]));

  it('gives the same loss and gradients as tfjs’s own saving, bit for bit, with no Identity kernel', async () => {
    const mine = gradients(true, w, x);
    const theirs = gradients(false, w, x);
    expect(await mine.value.data()).toEqual(await theirs.value.data());
    expect(await mine.grads[w.name]!.data()).toEqual(await theirs.grads[w.name]!.data());
    expect(Array.from(await mine.grads[w.name]!.data()).some((v) => v !== 0)).toBe(true);
    tf.dispose([mine.value, theirs.value, mine.grads[w.name]!, theirs.grads[w.name]!]);

    const leanKernels = await kernelsOf(() => gradients(true, w, x));
    const ownKernels = await kernelsOf(() => gradients(false, w, x));
    expect(ownKernels.filter((k) => k === 'Identity').length).toBeGreaterThanOrEqual(4);
    expect(leanKernels).not.toContain('Identity');
    expect(leanKernels.length).toBe(ownKernels.filter((k) => k !== 'Identity').length);
  });

  it('leaves no tensor and no reference behind, and the saved tensors outlive their originals', async () => {
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) {
      const { value, grads } = gradients(true, w, x);
      tf.dispose([value, ...Object.values(grads)]);
    }
    expect(tf.memory().numTensors).toBe(before);
    // The data of x and w still has exactly its own references: disposing them frees it.
    const x2 = tf.clone(x);
    const { value, grads } = gradients(true, w, x2);
    x2.dispose();
    expect(Array.from(await grads[w.name]!.data()).every(Number.isFinite)).toBe(true);
    tf.dispose([value, ...Object.values(grads)]);
    expect(tf.memory().numTensors).toBe(before);
  });

  it('puts tfjs’s saving back after the call, after a throw, and only after the outermost of nested calls', () => {
    const engine = tf.engine() as unknown as Record<string, unknown>;
    const own = engine['saveTensorsForBackwardMode'];
    let inner: unknown = null;
    withLeanSaves(() =>
      withLeanSaves(() => {
        inner = engine['saveTensorsForBackwardMode'];
      }),
    );
    expect(inner).not.toBe(own);
    expect(engine['saveTensorsForBackwardMode']).toBe(own);
    expect(Object.prototype.hasOwnProperty.call(engine, 'saveTensorsForBackwardMode')).toBe(false);
    expect(() =>
      withLeanSaves(() => {
        throw new Error('inside');
      }),
    ).toThrow('inside');
    expect(engine['saveTensorsForBackwardMode']).toBe(own);
    expect(Object.prototype.hasOwnProperty.call(engine, 'addTapeNode')).toBe(false);
  });

  it('leaves a gradient of a gradient to tfjs’s own saving, outside it', () => {
    // d²/dx² of x³ at 2 is 12: tfjs needs the clones' tape nodes for it, which is why the lean saving is only scoped.
    const second = tf.grad(tf.grad((v: tf.Tensor) => tf.pow(v, 3)));
    const at2 = () => tf.tidy(() => second(tf.scalar(2)).dataSync()[0]!);
    // Inside, the saved tensors are cut from the tape: the second derivative has no path back to x.
    expect(() => withLeanSaves(at2)).toThrow(/Cannot compute gradient/);
    // After it, tfjs's saving is back, and so is the right value.
    expect(at2()).toBeCloseTo(12, 5);
  });

  describe('a kernel whose gradient reads its first output’s dy only', () => {
    // Two outputs, y = 2x and its sum; the gradient reads y's dy alone, and records what it was handed.
    const handed: string[][] = [];
    const kernels = new Map<string, boolean>();
    const register = (name: string, firstDyOnly: boolean) => {
      tf.registerKernel({
        kernelName: name,
        backendName: tf.getBackend(),
        kernelFunc: ({ inputs, backend }) => {
          const x = (inputs as { x: tf.TensorInfo }).x;
          const values = (backend as unknown as { readSync(id: object): Float32Array }).readSync(x.dataId);
          const b = backend as unknown as { makeTensorInfo(shape: number[], dtype: string, values: Float32Array): tf.TensorInfo };
          return [b.makeTensorInfo(x.shape, 'float32', values.map((v) => 2 * v)), b.makeTensorInfo([], 'float32', Float32Array.of(2 * values.reduce((a, v) => a + v, 0)))];
        },
      });
      tf.registerGradient({
        kernelName: name,
        gradFunc: (dys) => {
          const list = dys as (tf.Tensor | null)[];
          handed.push(list.map((d) => (d === null ? 'null' : `${d.shape.length === 0 ? 'scalar' : 'tensor'}:${Array.from(d.dataSync()).join(',')}`)));
          return { x: () => tf.mul(list[0] ?? tf.zerosLike(list[1]!), 2) };
        },
      });
      if (firstDyOnly) withoutUnusedDys(name);
      kernels.set(name, firstDyOnly);
    };
    register('TabclrTestTwoOutputs', true);
    register('TabclrTestTwoOutputsZeros', false);
    const x = tf.keep(tf.tensor1d([1, -2, 3]));
    const gradOf = (name: string, use: 'first' | 'second', lean: boolean) => {
      handed.length = 0;
      const f = (v: tf.Tensor) => {
        const [y, total] = tf.engine().runKernel(name, { x: v }) as tf.Tensor[];
        return use === 'first' ? tf.sum(tf.square(y!)) : tf.mul(total!, 1);
      };
      const run = () => tf.tidy(() => Array.from(tf.grad(f)(x).dataSync()));
      return { grad: lean ? withLeanSaves(run) : run(), handed: handed.slice() };
    };

    it('hands it null, not zeros, for the outputs nothing used, inside the scope alone', () => {
      const lean = gradOf('TabclrTestTwoOutputs', 'first', true);
      const own = gradOf('TabclrTestTwoOutputs', 'first', false);
      // d/dx Σ(2x)² = 8x, either way.
      expect(lean.grad).toEqual([8, -16, 24]);
      expect(own.grad).toEqual(lean.grad);
      expect(lean.handed).toEqual([['tensor:4,-8,12', 'null']]);
      // Outside the scope, tfjs's zeros; and a kernel that did not say so gets them inside it too.
      expect(own.handed).toEqual([['tensor:4,-8,12', 'scalar:0']]);
      expect(gradOf('TabclrTestTwoOutputsZeros', 'first', true).handed).toEqual([['tensor:4,-8,12', 'scalar:0']]);
    });

    it('still hands it zeros for the first output when only another was used, and leaves no tensor behind', () => {
      const before = tf.memory().numTensors;
      const lean = gradOf('TabclrTestTwoOutputs', 'second', true);
      expect(lean.handed).toEqual([['tensor:0,0,0', 'scalar:1']]);
      expect(tf.memory().numTensors).toBe(before);
    });
  });
});
