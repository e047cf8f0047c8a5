import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig, type ModelConfig } from './config';
import { createEncoder, representationDim } from './encoders';
import { batchMeanEntropy, createMlp } from './head';
import { allWeights, countParams, createNetwork, disposeNetwork, trainableParams } from './model';
import { isExcludedFromDecay } from './optim';

const base: ModelConfig = { ...defaultTrainConfig(16, 3).model, width: 1 / 8 };
const network = (model: ModelConfig) => createNetwork({ ...defaultTrainConfig(16, 3), model, seed: 1 });

describe('encoders', () => {
  it('convnet4: four conv+BN blocks, pooled, then dense; h has 256·width dims', () => {
    const encoder = createEncoder({ ...base, encoder: 'convnet4', width: 0.25 }, 1);
    const convs = encoder.layers.filter((l) => l.getClassName() === 'Conv2D');
    const bns = encoder.layers.filter((l) => l.getClassName() === 'BatchNormalization');
    expect(convs).toHaveLength(4);
    expect(bns).toHaveLength(4);
    expect(convs.map((c) => (c.getConfig() as { filters: number }).filters)).toEqual([8, 16, 32, 64]);
    expect(encoder.layers.some((l) => l.getClassName() === 'GlobalAveragePooling2D')).toBe(true);
    expect(encoder.layers.at(-1)!.getClassName()).toBe('Dense');
    const h = encoder.predict(tf.zeros([2, 16, 16, 3])) as tf.Tensor;
    expect(h.shape).toEqual([2, 64]);
    expect(representationDim(encoder)).toBe(64);
    encoder.dispose();
  });

  it('resnet18: 3×3 stride-1 stem, no max-pool, 8 basic blocks, 512·width-d pooled output', () => {
    const encoder = createEncoder({ ...base, encoder: 'resnet18', width: 1 / 16, imageSize: 16, channels: 1 }, 1);
    const stem = encoder.getLayer('stem_conv').getConfig() as { kernelSize: number[]; strides: number[] };
    expect(stem.kernelSize).toEqual([3, 3]);
    expect(stem.strides).toEqual([1, 1]);
    expect(encoder.layers.some((l) => l.getClassName().includes('MaxPooling'))).toBe(false);
    expect(encoder.layers.filter((l) => l.getClassName() === 'Add')).toHaveLength(8);
    // 1 stem + 8 blocks × 2 convs + 3 projection shortcuts = 20 convolutions.
    expect(encoder.layers.filter((l) => l.getClassName() === 'Conv2D')).toHaveLength(20);
    const h = encoder.predict(tf.zeros([2, 16, 16, 1])) as tf.Tensor;
    expect(h.shape).toEqual([2, 32]);
    encoder.dispose();
  });

  it('same seed gives the same weights, another seed different ones', async () => {
    const a = createEncoder(base, 3);
    const b = createEncoder(base, 3);
    const c = createEncoder(base, 4);
    const [wa, wb, wc] = await Promise.all([a, b, c].map((m) => m.getWeights()[0]!.data()));
    expect(Array.from(wa!)).toEqual(Array.from(wb!));
    expect(Array.from(wa!)).not.toEqual(Array.from(wc!));
    [a, b, c].forEach((m) => m.dispose());
  });

  it('refuses an unknown encoder and a non-positive width', () => {
    expect(() => createEncoder({ ...base, encoder: 'vgg' as 'convnet4' }, 1)).toThrow(/unknown encoder/);
    expect(() => createEncoder({ ...base, width: 0 }, 1)).toThrow(/width/);
  });
});

describe('MLP heads', () => {
  it.each([2, 3] as const)('SimCLR\'s projection head with %i layers: dense+BN(+ReLU) blocks to projectionDim, hidden as wide as h', (layers) => {
    const model = network({ ...base, headLayers: layers, projectionDim: 8 });
    const head = model.method.heads.projection_head!;
    const dense = head.layers.filter((l) => l.getClassName() === 'Dense');
    expect(dense.map((l) => (l.getConfig() as { units: number }).units)).toEqual([...Array<number>(layers - 1).fill(32), 8]);
    expect(head.layers.filter((l) => l.getClassName() === 'BatchNormalization')).toHaveLength(layers);
    expect(head.layers.filter((l) => l.getClassName() === 'ReLU')).toHaveLength(layers - 1);
    const z = head.predict(tf.randomNormal([4, 32])) as tf.Tensor;
    expect(z.shape).toEqual([4, 8]);
    disposeNetwork(model);
  });

  it('a predictor-style MLP ends in a dense layer with a bias and no batch norm', () => {
    const mlp = createMlp({ name: 'predictor', layerPrefix: 'pred', inputDim: 8, hidden: [4], outputDim: 8, outputBatchNorm: false, seed: 1 });
    expect(mlp.trainableWeights.map((w) => w.originalName)).toEqual(['pred1_dense/kernel', 'pred1_bn/gamma', 'pred1_bn/beta', 'pred2_dense/kernel', 'pred2_dense/bias']);
    mlp.dispose();
  });
});

describe('entropy term', () => {
  it('H of the batch-mean softmax is ln K when spread evenly and 0 when all agree', async () => {
    const k = 4;
    const spread = batchMeanEntropy(tf.mul(tf.eye(k), 50) as tf.Tensor2D);
    expect((await spread.data())[0]).toBeCloseTo(Math.log(k), 4);
    const same = batchMeanEntropy(tf.tensor2d([[50, 0, 0, 0], [50, 0, 0, 0]]));
    expect((await same.data())[0]).toBeCloseTo(0, 4);
  });

  it('the entropy head exists only when λ > 0', () => {
    const off = network(base);
    const on = network({ ...base, entropyWeight: 0.1, entropyClusters: 5 });
    expect(off.entropyHead).toBeNull();
    expect(on.entropyHead!.outputs[0]!.shape).toEqual([null, 5]);
    expect(trainableParams(on).length).toBe(trainableParams(off).length + 2);
    disposeNetwork(off);
    disposeNetwork(on);
  });
});

describe('trainable parameters', () => {
  it('have stable layer-path names, and BN/bias ones are excluded from decay', () => {
    const model = network(base);
    const names = trainableParams(model).map((p) => p.name);
    expect(names).toContain('block1_conv/kernel');
    expect(names).toContain('block1_bn/gamma');
    expect(names).toContain('head1_dense/kernel');
    expect(new Set(names).size).toBe(names.length);
    expect(names.filter(isExcludedFromDecay)).toEqual(names.filter((n) => /_bn\/|bias$/.test(n)));
    // Creating a second model does not rename the first model's parameters.
    const again = network(base);
    expect(trainableParams(again).map((p) => p.name)).toEqual(names);
    expect(countParams(again)).toBe(countParams(model));
    expect(allWeights(model).map((w) => w.name)).toEqual(allWeights(again).map((w) => w.name));
    disposeNetwork(model);
    disposeNetwork(again);
  });
});

describe('the model new runs get, and the one saved configs had (parity with the PyTorch reference)', () => {
  const networkConfig = (model: Partial<ModelConfig>) => {
    const config = defaultTrainConfig(16, 1);
    return { ...config, model: { ...config.model, ...model }, seed: 1 };
  };
  const values = (t: tf.Tensor) => Array.from(t.dataSync());

  it("initialises every conv and dense kernel as PyTorch does: uniform in ±1/√fan-in (kaiming_uniform, a = √5), dense biases too", () => {
    const model = createNetwork(networkConfig({ width: 0.25 }));
    const layers = [...model.encoder.layers, ...model.method.heads.projection_head!.layers].filter((l) => ['Conv2D', 'Dense'].includes(l.getClassName()));
    expect(layers.map((l) => l.name)).toEqual(['block1_conv', 'block2_conv', 'block3_conv', 'block4_conv', 'representation', 'head1_dense', 'head2_dense']);
    for (const layer of layers) {
      const [kernel, bias] = layer.getWeights();
      const shape = kernel!.shape;
      const fanIn = shape.slice(0, -1).reduce((a: number, d: number) => a * d, 1);
      const bound = 1 / Math.sqrt(fanIn);
      const w = values(kernel!);
      // Uniform in ±bound: its support, and its variance bound²/3 (within 10 % for ≥ 1,000 draws).
      expect(Math.max(...w.map(Math.abs))).toBeLessThanOrEqual(bound);
      expect(Math.max(...w.map(Math.abs))).toBeGreaterThan(0.9 * bound);
      const variance = w.reduce((a, v) => a + v * v, 0) / w.length;
      expect(Math.abs(variance / (bound * bound / 3) - 1)).toBeLessThan(w.length >= 1000 ? 0.1 : 0.35);
      if (bias) {
        const b = values(bias);
        expect(Math.max(...b.map(Math.abs))).toBeLessThanOrEqual(bound);
        expect(b.some((v) => v !== 0)).toBe(true);
      }
    }
    disposeNetwork(model);
  });

  it('has no ReLU on h and a head at least as wide as its 128-d output; a saved config without the fields is the old model', () => {
    const fresh = createNetwork(networkConfig({ width: 0.25 }));
    expect((fresh.encoder.getLayer('representation').getConfig() as { activation: string }).activation).toBe('linear');
    expect(fresh.method.heads.projection_head!.getLayer('head1_dense').getWeights()[0]!.shape).toEqual([64, 128]);
    disposeNetwork(fresh);
    const old = createNetwork(networkConfig({ width: 0.25, init: 'keras', representationRelu: true, headHidden: 'representation' }));
    expect((old.encoder.getLayer('representation').getConfig() as { activation: string }).activation).toBe('relu');
    expect(old.method.heads.projection_head!.getLayer('head1_dense').getWeights()[0]!.shape).toEqual([64, 64]);
    expect(values(old.encoder.getLayer('representation').getWeights()[1]!).every((v) => v === 0)).toBe(true);
    disposeNetwork(old);
  });
});
