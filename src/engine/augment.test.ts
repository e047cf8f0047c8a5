import * as tf from '@tensorflow/tfjs';
import { describe, expect, it } from 'vitest';
import {
  resizeTaps,
  applyView,
  augmentPair,
  blurKernelSize,
  gaussianKernel,
  hueMatrix,
  sampleViewParams,
  stageFactors,
  type ViewParams,
} from './augment';
import { type AugmentConfig, type Channels, defaultAugmentConfig, identityAugmentConfig } from './config';
import { Random } from './random';

/** Uniform random pixels in [0, 1], reproducible from a seed. */
function randomImages(n: number, size: number, channels: Channels, seed = 7): tf.Tensor4D {
  const rng = new Random(seed);
  return tf.tensor4d(
    Array.from({ length: n * size * size * channels }, () => rng.next()),
    [n, size, size, channels],
  );
}

/** Largest absolute elementwise difference. */
async function maxAbsDiff(a: tf.Tensor, b: tf.Tensor): Promise<number> {
  const d = tf.max(tf.abs(tf.sub(a, b)));
  const value = (await d.data())[0]!;
  d.dispose();
  return value;
}

function only(overrides: Partial<AugmentConfig>): AugmentConfig {
  return { ...identityAugmentConfig(), ...overrides };
}

function view(images: tf.Tensor4D, config: AugmentConfig, seed: number): tf.Tensor4D {
  const [n, size, , c] = images.shape;
  return applyView(images, sampleViewParams(n, size, c as Channels, config, new Random(seed)));
}

function variance(values: number[]): number {
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  return values.reduce((a, v) => a + (v - mean) ** 2, 0) / values.length;
}

describe('augmentPair with the default config', () => {
  it.each([
    [32, 3, 4],
    [32, 1, 4],
    [64, 3, 2],
  ] as const)('keeps shape and range at %i px, %i channel(s)', async (size, channels, n) => {
    const config = defaultAugmentConfig(size, channels);
    const images = randomImages(n, size, channels);
    const [v1, v2] = augmentPair(images, config, new Random(1));
    for (const v of [v1, v2]) {
      expect(v.shape).toEqual([n, size, size, channels]);
      expect(v.dtype).toBe('float32');
      const data = await v.data();
      let lo = Infinity;
      let hi = -Infinity;
      for (const x of data) {
        lo = Math.min(lo, x);
        hi = Math.max(hi, x);
      }
      expect(lo).toBeGreaterThanOrEqual(0);
      expect(hi).toBeLessThanOrEqual(1);
    }
    tf.dispose([images, v1, v2]);
  });

  it('uses blur at 64 px (the case above exercises it)', () => {
    const params = sampleViewParams(64, 64, 3, defaultAugmentConfig(64, 3), new Random(1));
    expect(params.blur).not.toBeNull();
    expect(params.blur!.kernelSize).toBe(7);
  });
});

describe('identity and flip', () => {
  it('reproduces the input with identityAugmentConfig, and skips every optional step', async () => {
    const images = randomImages(4, 12, 3);
    const params = sampleViewParams(4, 12, 3, identityAugmentConfig(), new Random(3));
    expect(params.jitter).toBeNull();
    expect(params.grayscale).toBeNull();
    expect(params.blur).toBeNull();
    expect(params.crops).toEqual(Array(4).fill({ top: 0, left: 0, height: 12, width: 12, flip: false }));
    const out = applyView(images, params);
    expect(await maxAbsDiff(out, images)).toBeLessThan(1e-5);
    tf.dispose([images, out]);
  });

  it('reproduces the input when every probability is 0, whatever the strengths', async () => {
    const config: AugmentConfig = {
      ...defaultAugmentConfig(64, 3),
      cropAreaMin: 1,
      cropAreaMax: 1,
      aspectMin: 1,
      aspectMax: 1,
      flipProb: 0,
      jitterProb: 0,
      grayscaleProb: 0,
      blurProb: 0,
    };
    const images = randomImages(4, 10, 3);
    const out = view(images, config, 5);
    expect(await maxAbsDiff(out, images)).toBeLessThan(1e-5);
    tf.dispose([images, out]);
  });

  it('flips horizontally, and flipping twice is the identity', async () => {
    const images = randomImages(4, 9, 3);
    const params = sampleViewParams(4, 9, 3, only({ flipProb: 1 }), new Random(2));
    const once = applyView(images, params);
    const mirrored = tf.reverse(images, 2);
    expect(await maxAbsDiff(once, mirrored)).toBeLessThan(1e-5);
    const twice = applyView(once, params);
    expect(await maxAbsDiff(twice, images)).toBeLessThan(1e-5);
    tf.dispose([images, once, mirrored, twice]);
  });

  it('crops whole pixels inside the image, with the configured area and aspect ratio up to rounding each side', () => {
    const config = only({ cropAreaMin: 0.2, cropAreaMax: 0.9, aspectMin: 3 / 4, aspectMax: 4 / 3 });
    const size = 16;
    const params = sampleViewParams(200, size, 3, config, new Random(11));
    for (const { top, left, height, width } of params.crops) {
      expect(Math.min(top, left)).toBeGreaterThanOrEqual(0);
      expect(top + height).toBeLessThanOrEqual(size);
      expect(left + width).toBeLessThanOrEqual(size);
      // Sides of whole pixels, as torchvision rounds them.
      expect(Number.isInteger(height) && Number.isInteger(width)).toBe(true);
      // Each side is within half a pixel of the drawn one, so the area within that of the configured range.
      expect(height * width).toBeGreaterThanOrEqual((Math.sqrt(0.2 * 3 / 4) * size - 0.5) * (Math.sqrt(0.2 / (4 / 3)) * size - 0.5) - 1e-9);
      expect(height * width).toBeLessThanOrEqual(Math.min(size, Math.sqrt(0.9 * 4 / 3) * size + 0.5) * Math.min(size, Math.sqrt(0.9 / (3 / 4)) * size + 0.5) + 1e-9);
      const aspect = width / height;
      expect(aspect).toBeGreaterThan(0.5);
      expect(aspect).toBeLessThan(2);
    }
  });

  it("samples the points torchvision's resized_crop samples: half-pixel centres, clamped at the crop's edges", () => {
    // A 6-px crop at 3 resized to 16: samples at 3 + (u + ½)·6/16 − ½, clamped to [3, 8].
    const taps = resizeTaps(3, 6, 16, false);
    for (let u = 0; u < 16; u++) {
      const position = Math.min(Math.max((u + 0.5) * 6 / 16 - 0.5, 0), 5);
      expect(taps.lo[u]! + taps.weight[u]!).toBeCloseTo(3 + position, 12);
      expect(taps.lo[u]!).toBeGreaterThanOrEqual(3);
      expect(taps.hi[u]!).toBeLessThanOrEqual(8);
    }
    // The outermost samples repeat the crop's edge pixels (torchvision's clamp), not the image beyond them.
    expect([taps.lo[0], taps.weight[0]]).toEqual([3, 0]);
    expect([taps.lo[15], taps.hi[15], taps.weight[15]]).toEqual([8, 8, 0]);
    // The whole image is copied; a flip reverses the samples.
    expect(resizeTaps(0, 16, 16, false)).toEqual({ lo: [...Array(16).keys()], hi: [...Array(16).keys()].map((i) => Math.min(i + 1, 15)), weight: Array(16).fill(0) });
    const flipped = resizeTaps(3, 6, 16, true);
    expect(flipped.lo).toEqual([...taps.lo].reverse());
    expect(flipped.weight).toEqual([...taps.weight].reverse());
    expect(() => resizeTaps(0, 17, 16, false)).toThrow(/cannot be shrunk/);
  });

  it('falls back to the whole image when no crop fits', () => {
    // Area 1 with aspect 2 never fits a square image.
    const params = sampleViewParams(3, 8, 1, only({ aspectMin: 2, aspectMax: 2 }), new Random(1));
    expect(params.crops).toEqual(Array(3).fill({ top: 0, left: 0, height: 8, width: 8, flip: false }));
  });
});

describe('colour', () => {
  it('grayscaleProb 1 gives three equal channels', async () => {
    const images = randomImages(4, 8, 3);
    const out = view(images, only({ grayscaleProb: 1 }), 1);
    const data = (await out.data()) as Float32Array;
    for (let p = 0; p < data.length; p += 3) {
      expect(data[p + 1]).toBe(data[p]);
      expect(data[p + 2]).toBe(data[p]);
    }
    // And it is the BT.601 luma of the input.
    const [r, g, b] = tf.split(images, 3, 3) as [tf.Tensor4D, tf.Tensor4D, tf.Tensor4D];
    const luma = tf.addN([tf.mul(r, 0.299), tf.mul(g, 0.587), tf.mul(b, 0.114)]);
    const [outR] = tf.split(out, 3, 3);
    expect(await maxAbsDiff(outR!, luma)).toBeLessThan(1e-5);
    tf.dispose([images, out, r, g, b, luma, outR!]);
  });

  it('grayscale and chroma jitter are no-ops for one channel', () => {
    const config = { ...defaultAugmentConfig(32, 3), grayscaleProb: 1, jitterProb: 1 };
    const params = sampleViewParams(8, 16, 1, config, new Random(4));
    expect(params.grayscale).toBeNull();
    expect(params.jitter!.ops).toEqual(['brightness', 'contrast']);
  });

  it('brightness only scales a mid-grey image by a factor in [1 - s, 1 + s]', async () => {
    const n = 8;
    const strength = 0.4;
    const images = tf.fill([n, 8, 8, 3], 0.5) as tf.Tensor4D;
    const out = view(images, only({ jitterProb: 1, brightness: strength }), 9);
    const rows = (await out.reshape([n, -1]).array()) as number[][];
    const factors = rows.map((row) => {
      // A uniform scale keeps the image constant.
      for (const v of row) expect(v).toBeCloseTo(row[0]!, 6);
      return row[0]! / 0.5;
    });
    for (const f of factors) {
      expect(f).toBeGreaterThanOrEqual(1 - strength - 1e-6);
      expect(f).toBeLessThanOrEqual(1 + strength + 1e-6);
    }
    expect(new Set(factors).size).toBe(n);
    tf.dispose([images, out]);
  });

  it('contrast only keeps the grayscale mean of each image', async () => {
    // Values in [0.4, 0.6] so that a factor up to 1.8 cannot clip.
    const images = tf.tidy(() => tf.add(tf.mul(randomImages(4, 8, 3), 0.2), 0.4)) as tf.Tensor4D;
    const out = view(images, only({ jitterProb: 1, contrast: 0.8 }), 3);
    const meanLuma = (x: tf.Tensor4D) =>
      tf.tidy(() => tf.mean(tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), 3), [1, 2]));
    const before = meanLuma(images);
    const after = meanLuma(out);
    expect(await maxAbsDiff(before, after)).toBeLessThan(1e-5);
    expect(await maxAbsDiff(out, images)).toBeGreaterThan(1e-3);
    tf.dispose([images, out, before, after]);
  });

  it('hue turns chroma but keeps luma, and is the identity at 0 turns', async () => {
    expect(hueMatrix(0)).toEqual([
      [1, 0, 0],
      [0, 1, 0],
      [0, 0, 1],
    ]);
    // A full turn comes back to the identity.
    hueMatrix(1).forEach((row, r) => row.forEach((v, k) => expect(v).toBeCloseTo(r === k ? 1 : 0, 12)));
    const images = tf.tidy(() => tf.add(tf.mul(randomImages(4, 8, 3), 0.2), 0.4)) as tf.Tensor4D;
    const out = view(images, only({ jitterProb: 1, hue: 0.1 }), 3);
    const luma = (x: tf.Tensor4D) => tf.tidy(() => tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), 3));
    const [before, after] = [luma(images), luma(out)];
    expect(await maxAbsDiff(before, after)).toBeLessThan(1e-5);
    expect(await maxAbsDiff(out, images)).toBeGreaterThan(1e-3);
    tf.dispose([images, out, before, after]);
  });

  it('applies the four ops in a random order per image, one op per stage', () => {
    const config = { ...defaultAugmentConfig(32, 3), jitterProb: 1 };
    const params = sampleViewParams(16, 16, 3, config, new Random(8));
    const jitter = params.jitter!;
    expect(jitter.ops).toHaveLength(4);
    const orders = new Set(jitter.perImage.map((steps) => steps.map((s) => s.op).join()));
    expect(orders.size).toBeGreaterThan(1);
    for (const steps of jitter.perImage) expect(new Set(steps.map((s) => s.op)).size).toBe(4);
    const identity = { brightness: 1, contrast: 1, saturation: 1, hue: 0 };
    for (let stage = 0; stage < 4; stage++) {
      for (const op of jitter.ops) {
        const factors = stageFactors(jitter, stage, op);
        // Each image departs from the identity only in the op it picked for this stage.
        jitter.perImage.forEach((steps, i) =>
          expect(factors[i]).toBe(steps[stage]!.op === op ? steps[stage]!.factor : identity[op]),
        );
      }
    }
  });
});

describe('blur', () => {
  it('sizes the kernel at the odd number nearest 10% of the side, at least 3', () => {
    expect([8, 32, 64, 96, 128, 224].map(blurKernelSize)).toEqual([3, 3, 7, 9, 13, 23]);
    expect(gaussianKernel(5, 0)).toEqual([0, 0, 1, 0, 0]);
    expect(gaussianKernel(5, 1.3).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
  });

  it('keeps a constant image constant (reflect padding: no dark edges)', async () => {
    const images = tf.fill([4, 16, 16, 3], 0.3) as tf.Tensor4D;
    const out = view(images, only({ blurProb: 1, blurSigmaMin: 1, blurSigmaMax: 2 }), 1);
    expect(await maxAbsDiff(out, images)).toBeLessThan(1e-5);
    tf.dispose([images, out]);
  });

  it('reduces the variance of every random image, and leaves unblurred images alone', async () => {
    const n = 6;
    const images = randomImages(n, 16, 3);
    const config = only({ blurProb: 1, blurSigmaMin: 1, blurSigmaMax: 2 });
    const out = view(images, config, 2);
    const inRows = (await images.reshape([n, -1]).array()) as number[][];
    const outRows = (await out.reshape([n, -1]).array()) as number[][];
    for (let i = 0; i < n; i++) expect(variance(outRows[i]!)).toBeLessThan(0.5 * variance(inRows[i]!));

    // With p = 0.5 some images get the delta kernel and come out unchanged.
    const params: ViewParams = sampleViewParams(n, 16, 3, only({ blurProb: 0.5 }), new Random(6));
    const sigmas = params.blur!.sigmas;
    expect(sigmas.some((s) => s === 0)).toBe(true);
    const mixed = applyView(images, params);
    const mixedRows = (await mixed.reshape([n, -1]).array()) as number[][];
    sigmas.forEach((sigma, i) => {
      const diff = Math.max(...mixedRows[i]!.map((v, p) => Math.abs(v - inRows[i]![p]!)));
      if (sigma === 0) expect(diff).toBeLessThan(1e-6);
      else expect(diff).toBeGreaterThan(1e-3);
    });
    tf.dispose([images, out, mixed]);
  });
});

describe('randomness', () => {
  const config = defaultAugmentConfig(16, 3);

  it('same seed gives identical views; different seeds give different views', async () => {
    const images = randomImages(4, 16, 3);
    const [a1, a2] = augmentPair(images, config, new Random(42));
    const [b1, b2] = augmentPair(images, config, new Random(42));
    const [c1, c2] = augmentPair(images, config, new Random(43));
    expect(await a1.array()).toEqual(await b1.array());
    expect(await a2.array()).toEqual(await b2.array());
    expect(await maxAbsDiff(a1, c1)).toBeGreaterThan(1e-3);
    expect(await maxAbsDiff(a2, c2)).toBeGreaterThan(1e-3);
    tf.dispose([images, a1, a2, b1, b2, c1, c2]);
  });

  it('the two views of augmentPair differ', async () => {
    const images = randomImages(4, 16, 3);
    const [v1, v2] = augmentPair(images, config, new Random(1));
    const perImage = tf.max(tf.abs(tf.sub(v1, v2)), [1, 2, 3]);
    for (const d of await perImage.data()) expect(d).toBeGreaterThan(1e-3);
    tf.dispose([images, v1, v2, perImage]);
  });

  it('gives different views to identical images in one batch', async () => {
    const n = 6;
    const one = randomImages(1, 16, 3);
    const images = tf.tile(one, [n, 1, 1, 1]) as tf.Tensor4D;
    for (const channels of [3, 1] as const) {
      const input = channels === 3 ? images : (tf.slice(images, [0, 0, 0, 0], [n, 16, 16, 1]) as tf.Tensor4D);
      const out = view(input, defaultAugmentConfig(16, channels), 5);
      const rows = (await out.reshape([n, -1]).array()) as number[][];
      for (let i = 0; i < n; i++) {
        for (let j = i + 1; j < n; j++) {
          const diff = Math.max(...rows[i]!.map((v, p) => Math.abs(v - rows[j]![p]!)));
          expect(diff).toBeGreaterThan(1e-3);
        }
      }
      tf.dispose(channels === 3 ? [out] : [out, input]);
    }
    tf.dispose([one, images]);
  });
});

describe('memory', () => {
  it.each([
    [16, 3],
    [16, 1],
    [64, 3],
  ] as const)('leaves no tensor behind at %i px, %i channel(s)', (size, channels) => {
    const images = randomImages(2, size, channels);
    // Every optional step on, so that each code path is counted.
    const config = { ...defaultAugmentConfig(size, channels), jitterProb: 1, grayscaleProb: 0.5, blurProb: 1 };
    const before = tf.memory().numTensors;
    const [v1, v2] = augmentPair(images, config, new Random(1));
    expect(tf.memory().numTensors).toBe(before + 2);
    tf.dispose([v1, v2]);
    expect(tf.memory().numTensors).toBe(before);
    images.dispose();
  });
});

describe('augmentedPairs', () => {
  it('gives two uint8 views per image, interleaved, and identity views equal the images', async () => {
    const { augmentedPairs } = await import('./augment');
    const { identityAugmentConfig, defaultAugmentConfig } = await import('./config');
    const { Random } = await import('./random');
    const store = { pixels: Uint8Array.from({ length: 3 * 4 * 4 * 3 }, (_, i) => (i * 7) % 256), imageSize: 4, channels: 3 };
    const same = await augmentedPairs(store, [2, 0], identityAugmentConfig(), new Random(1));
    expect(same.length).toBe(2 * 2 * 48);
    expect(Array.from(same.subarray(0, 48))).toEqual(Array.from(store.pixels.subarray(96, 144)));
    expect(Array.from(same.subarray(48, 96))).toEqual(Array.from(store.pixels.subarray(96, 144)));
    expect(Array.from(same.subarray(96, 144))).toEqual(Array.from(store.pixels.subarray(0, 48)));
    const before = tf.memory().numTensors;
    const views = await augmentedPairs(store, [0, 1], defaultAugmentConfig(4, 3), new Random(2));
    expect(tf.memory().numTensors).toBe(before);
    expect(Array.from(views.subarray(0, 48))).not.toEqual(Array.from(views.subarray(48, 96)));
  });
});
