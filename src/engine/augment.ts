// SimCLR augmentation on the GPU, batched: random resized crop + flip, colour jitter, random grayscale and
// Gaussian blur, in the order of google-research/simclr data_util.py (Chen et al. 2020, appendix A).
// Parameters are drawn on the CPU from a seeded Random and uploaded as small tensors; the pixels never come
// back to the CPU (no dataSync/arraySync: slow on WebGPU and zeros on some adapters, see webgpu-notes.md).
import * as tf from '@tensorflow/tfjs';
import type { AugmentConfig, Channels } from './config';
import type { Random } from './random';
import { fusedAugmentViews } from './webgpu/augment';

/**
 * A random resized crop as torchvision's RandomResizedCrop draws it: a rectangle of whole pixels of the (square) image,
 * resized back to the image's side; `flip` mirrors the view left to right.
 */
export interface PixelCrop {
  top: number;
  left: number;
  height: number;
  width: number;
  flip: boolean;
}

export type JitterOp = 'brightness' | 'contrast' | 'saturation' | 'hue';

/** One jitter op as an image applies it: a factor for brightness/contrast/saturation, a shift in turns for hue. */
export interface JitterStep {
  op: JitterOp;
  factor: number;
}

export interface JitterParams {
  /** The ops that can change anything in this view (strength > 0, and meaningful for the channel count). */
  ops: JitterOp[];
  /** Per image, its ops in the order it applies them (a permutation of `ops`); empty when it skips jitter. */
  perImage: JitterStep[][];
}

export interface BlurParams {
  /** Odd kernel side, shared by the batch. */
  kernelSize: number;
  /** Per image; 0 means not blurred (the delta kernel, the limit of a Gaussian as sigma → 0). */
  sigmas: number[];
}

/** Per-image parameters for one view of a batch, drawn on the CPU. A step that no image uses is null. */
export interface ViewParams {
  /** Output side S; the view is [N, S, S, channels]. */
  imageSize: number;
  channels: Channels;
  /** One crop per image, with its horizontal flip. */
  crops: PixelCrop[];
  jitter: JitterParams | null;
  /** Per image: replace it by its grayscale (RGB only). */
  grayscale: boolean[] | null;
  blur: BlurParams | null;
}

/** ITU-R BT.601 luma weights: torchvision's rgb_to_grayscale and tf.image.rgb_to_grayscale use the same. */
const LUMA: readonly [number, number, number] = [0.299, 0.587, 0.114];

/** torchvision's RandomResizedCrop tries this many boxes before falling back to the whole image. */
const CROP_ATTEMPTS = 10;

/** data_util.py sizes the blur kernel at 10% of the image side. */
const BLUR_KERNEL_FRACTION = 0.1;

// ---------------------------------------------------------------------------------------------------------
// Sampling (CPU, pure JS, consumes only `rng`)

/**
 * Random resized crop as torchvision's RandomResizedCrop draws it (get_params): on the image's pixel grid (`size` px
 * square), area fraction uniform and aspect ratio log-uniform, each side rounded to whole pixels, the position a whole
 * pixel; the whole image when no crop fits in CROP_ATTEMPTS. Whole pixels matter: a crop at a random sub-pixel offset
 * interpolates every sample between two pixels, which blurs the view, so two views of an image look more alike and the
 * task gets easier (the parity work measured NT-Xent about 0.25 lower after 150 steps on Fashion-MNIST with continuous
 * boxes).
 */
export function sampleCrop(config: AugmentConfig, rng: Random, size: number): Omit<PixelCrop, 'flip'> {
  const logAspectMin = Math.log(config.aspectMin);
  const logAspectMax = Math.log(config.aspectMax);
  for (let attempt = 0; attempt < CROP_ATTEMPTS; attempt++) {
    const area = size * size * rng.uniform(config.cropAreaMin, config.cropAreaMax);
    const aspect = Math.exp(rng.uniform(logAspectMin, logAspectMax));
    const width = Math.round(Math.sqrt(area * aspect));
    const height = Math.round(Math.sqrt(area / aspect));
    if (width > 0 && height > 0 && width <= size && height <= size) {
      const top = rng.int(size - height + 1);
      const left = rng.int(size - width + 1);
      return { top, left, height, width };
    }
  }
  // For a square image torchvision's fallback (central crop with the ratio clamped to the range) is the whole image.
  return { top: 0, left: 0, height: size, width: size };
}

/** Along one axis of an output of `outSize` samples: per sample, the two source pixels it blends and the second's weight. */
export interface ResizeTaps {
  lo: number[];
  hi: number[];
  weight: number[];
}

/**
 * Bilinear taps of torchvision's resized_crop along one axis (F.resize with antialias, which for an enlargement is
 * bilinear with half-pixel centres): output sample u reads the crop at (u + ½)·extent/outSize − ½, clamped to the
 * crop, so the outermost samples repeat the crop's edge pixels instead of reading the image beyond it. `flip` reverses
 * the samples. Only enlargement (extent ≤ outSize) is bilinear; a larger crop would need torchvision's antialiasing
 * filter, and tabclr's crops never exceed the image they are resized back to.
 */
export function resizeTaps(offset: number, extent: number, outSize: number, flip: boolean): ResizeTaps {
  if (extent > outSize) throw new Error(`resizeTaps: a crop of ${extent} px cannot be shrunk to ${outSize} bilinearly`);
  const taps: ResizeTaps = { lo: [], hi: [], weight: [] };
  for (let u = 0; u < outSize; u++) {
    const at = flip ? outSize - 1 - u : u;
    const position = Math.min(Math.max(((at + 0.5) * extent) / outSize - 0.5, 0), extent - 1);
    const lo = Math.floor(position);
    taps.lo.push(offset + lo);
    taps.hi.push(offset + Math.min(lo + 1, extent - 1));
    taps.weight.push(position - lo);
  }
  return taps;
}

/** The jitter ops that can change an image: zero strength is the identity, and one channel has no chroma. */
export function activeJitterOps(channels: Channels, config: AugmentConfig): JitterOp[] {
  const ops: JitterOp[] = [];
  if (config.brightness > 0) ops.push('brightness');
  if (config.contrast > 0) ops.push('contrast');
  if (channels === 3 && config.saturation > 0) ops.push('saturation');
  if (channels === 3 && config.hue > 0) ops.push('hue');
  return ops;
}

/** torchvision ColorJitter ranges: factors in [max(0, 1 − s), 1 + s], hue in [−s, s] turns. */
function sampleJitterFactor(op: JitterOp, config: AugmentConfig, rng: Random): number {
  if (op === 'hue') return rng.uniform(-config.hue, config.hue);
  const strength = config[op];
  return rng.uniform(Math.max(0, 1 - strength), 1 + strength);
}

function sampleJitter(count: number, channels: Channels, config: AugmentConfig, rng: Random): JitterParams | null {
  const ops = activeJitterOps(channels, config);
  if (config.jitterProb <= 0 || ops.length === 0) return null;
  const perImage: JitterStep[][] = [];
  for (let i = 0; i < count; i++) {
    if (!rng.bernoulli(config.jitterProb)) {
      perImage.push([]);
      continue;
    }
    // The four ops in a random order per image, as torchvision's ColorJitter and data_util.py's color_jitter_rand.
    const order = rng.permutation(ops.length);
    perImage.push(order.map((k) => ({ op: ops[k]!, factor: sampleJitterFactor(ops[k]!, config, rng) })));
  }
  return perImage.some((steps) => steps.length > 0) ? { ops, perImage } : null;
}

function sampleGrayscale(count: number, channels: Channels, config: AugmentConfig, rng: Random): boolean[] | null {
  if (channels !== 3 || config.grayscaleProb <= 0) return null;
  const flags = Array.from({ length: count }, () => rng.bernoulli(config.grayscaleProb));
  return flags.some(Boolean) ? flags : null;
}

/** The odd number nearest to 10% of the side, at least 3 (data_util.py: kernel_size = image_size // 10). */
export function blurKernelSize(imageSize: number): number {
  return Math.max(3, 2 * Math.round((BLUR_KERNEL_FRACTION * imageSize - 1) / 2) + 1);
}

function sampleBlur(count: number, imageSize: number, config: AugmentConfig, rng: Random): BlurParams | null {
  if (config.blurProb <= 0) return null;
  const sigmas = Array.from({ length: count }, () =>
    rng.bernoulli(config.blurProb) ? rng.uniform(config.blurSigmaMin, config.blurSigmaMax) : 0,
  );
  return sigmas.some((s) => s > 0) ? { kernelSize: blurKernelSize(imageSize), sigmas } : null;
}

/** Draw per-image parameters for one view of a batch of `count` images, from `rng`. */
export function sampleViewParams(
  count: number,
  imageSize: number,
  channels: Channels,
  config: AugmentConfig,
  rng: Random,
): ViewParams {
  const crops = Array.from({ length: count }, () => {
    const crop = sampleCrop(config, rng, imageSize);
    return { ...crop, flip: rng.bernoulli(config.flipProb) };
  });
  return {
    imageSize,
    channels,
    crops,
    jitter: sampleJitter(count, channels, config, rng),
    grayscale: sampleGrayscale(count, channels, config, rng),
    blur: sampleBlur(count, imageSize, config, rng),
  };
}

// ---------------------------------------------------------------------------------------------------------
// Hue as a rotation of chroma in YIQ

/** Row-major 3×3. */
export type Mat3 = number[][];

function mat3Mul(a: Mat3, b: Mat3): Mat3 {
  return a.map((row) => b[0]!.map((_, j) => row.reduce((sum, v, k) => sum + v * b[k]![j]!, 0)));
}

function mat3Inverse(m: Mat3): Mat3 {
  const [a, b, c] = m[0]!;
  const [d, e, f] = m[1]!;
  const [g, h, i] = m[2]!;
  const cofactors = [
    [e * i - f * h, c * h - b * i, b * f - c * e],
    [f * g - d * i, a * i - c * g, c * d - a * f],
    [d * h - e * g, b * g - a * h, a * e - b * d],
  ];
  const det = a * cofactors[0]![0]! + b * cofactors[1]![0]! + c * cofactors[2]![0]!;
  return cofactors.map((row) => row.map((v) => v / det));
}

/** NTSC RGB → YIQ; its Y row is LUMA, so rotating I/Q keeps luma (and grey stays grey: the I, Q rows sum to 0). */
const RGB_TO_YIQ: Mat3 = [[...LUMA], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]];
const YIQ_TO_RGB = mat3Inverse(RGB_TO_YIQ);
/** In RGB, the rotation by θ is I + (cos θ − 1)·HUE_COS + sin θ·HUE_SIN: exactly the identity at θ = 0. */
const HUE_COS = mat3Mul(YIQ_TO_RGB, mat3Mul([[0, 0, 0], [0, 1, 0], [0, 0, 1]], RGB_TO_YIQ));
const HUE_SIN = mat3Mul(YIQ_TO_RGB, mat3Mul([[0, 0, 0], [0, 0, -1], [0, 1, 0]], RGB_TO_YIQ));

/**
 * The RGB matrix that turns chroma by `turns` of a full circle. An approximation of torchvision's HSV hue shift
 * (the hexcone of HSV is not a circle), chosen because it is one batched matMul with no branches per pixel.
 */
export function hueMatrix(turns: number): Mat3 {
  const theta = 2 * Math.PI * turns;
  const c = Math.cos(theta) - 1;
  const s = Math.sin(theta);
  return [0, 1, 2].map((r) => [0, 1, 2].map((k) => (r === k ? 1 : 0) + c * HUE_COS[r]![k]! + s * HUE_SIN[r]![k]!));
}

// ---------------------------------------------------------------------------------------------------------
// Tensor ops (called inside applyView's tidy)

/** One value per image, shaped to broadcast over [N, H, W, C]. */
function perImage(values: number[]): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

function clip01(x: tf.Tensor4D): tf.Tensor4D {
  return tf.clipByValue(x, 0, 1);
}

/** [N, H, W, 1] luma; a single-channel image is its own grayscale. */
function grayscaleOf(x: tf.Tensor4D): tf.Tensor4D {
  if (x.shape[3] === 1) return x;
  return tf.sum(tf.mul(x, tf.tensor1d([...LUMA])), 3, true) as tf.Tensor4D;
}

/**
 * a·(1 − t) + b·t with one t per image (torchvision's _blend). Two products rather than a + (b − a)·t so that
 * t = 0 and t = 1 return a or b exactly: identity jitter stages and the grayscale switch then cost no precision.
 */
function blend(a: tf.Tensor4D, b: tf.Tensor4D, t: number[]): tf.Tensor4D {
  return tf.add(tf.mul(a, perImage(t.map((v) => 1 - v))), tf.mul(b, perImage(t))) as tf.Tensor4D;
}

function adjustBrightness(x: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  return clip01(tf.mul(x, perImage(factors)) as tf.Tensor4D);
}

/** Blend with the mean of the grayscale image, as torchvision's adjust_contrast. */
function adjustContrast(x: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  const mean = tf.mean(grayscaleOf(x), [1, 2, 3], true) as tf.Tensor4D;
  return clip01(blend(mean, x, factors));
}

function adjustSaturation(x: tf.Tensor4D, factors: number[]): tf.Tensor4D {
  return clip01(blend(grayscaleOf(x), x, factors));
}

function adjustHue(x: tf.Tensor4D, turns: number[]): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const matrices = tf.tensor3d(turns.flatMap((t) => hueMatrix(t).flat()), [n, 3, 3]);
  // Pixels as rows: row · Mᵀ = (M · pixel)ᵀ.
  const rotated = tf.matMul(tf.reshape(x, [n, h * w, c]), matrices, false, true);
  return clip01(tf.reshape(rotated, [n, h, w, c]));
}

const JITTER_OPS: Record<JitterOp, (x: tf.Tensor4D, factors: number[]) => tf.Tensor4D> = {
  brightness: adjustBrightness,
  contrast: adjustContrast,
  saturation: adjustSaturation,
  hue: adjustHue,
};

const JITTER_IDENTITY: Record<JitterOp, number> = { brightness: 1, contrast: 1, saturation: 1, hue: 0 };

/** Per image, the factor of `op` at `stage`: its own factor if it picked `op` for that stage, else the identity. */
export function stageFactors(jitter: JitterParams, stage: number, op: JitterOp): number[] {
  return jitter.perImage.map((steps) => {
    const step = steps[stage];
    return step !== undefined && step.op === op ? step.factor : JITTER_IDENTITY[op];
  });
}

/**
 * A per-image random order, yet batched: at each stage every op runs on the whole batch, with identity
 * parameters for the images that picked another op for that stage.
 */
function colourJitter(x: tf.Tensor4D, jitter: JitterParams): tf.Tensor4D {
  let y = x;
  for (let stage = 0; stage < jitter.ops.length; stage++) {
    for (const op of jitter.ops) y = JITTER_OPS[op](y, stageFactors(jitter, stage, op));
  }
  return y;
}

/**
 * Resized crop and flip of every image along one axis (1: rows, 2: columns): two gathers of whole rows or columns
 * per image and a blend. Separable, so two calls make the 2-D bilinear resize.
 */
function resizeAxis(x: tf.Tensor4D, taps: ResizeTaps[], axis: 1 | 2): tf.Tensor4D {
  const n = taps.length;
  const size = taps[0]!.lo.length;
  const lo = tf.tensor2d(taps.flatMap((t) => t.lo), [n, size], 'int32');
  const hi = tf.tensor2d(taps.flatMap((t) => t.hi), [n, size], 'int32');
  const shape: [number, number, number, number] = axis === 1 ? [n, size, 1, 1] : [n, 1, size, 1];
  const weight = taps.flatMap((t) => t.weight);
  const a = tf.gather(x, lo, axis, 1) as tf.Tensor4D;
  const b = tf.gather(x, hi, axis, 1) as tf.Tensor4D;
  // a·(1 − w) + b·w, exact at w = 0, where the whole image is copied.
  return tf.add(tf.mul(a, tf.tensor4d(weight.map((w) => 1 - w), shape)), tf.mul(b, tf.tensor4d(weight, shape)));
}

/** Every image's crop resized back to `size` and flipped where it says so: float32 [N, size, size, C]. */
function resizedCrops(images: tf.Tensor4D, crops: PixelCrop[], size: number): tf.Tensor4D {
  const rows = resizeAxis(tf.cast(images, 'float32'), crops.map((c) => resizeTaps(c.top, c.height, size, false)), 1);
  return resizeAxis(rows, crops.map((c) => resizeTaps(c.left, c.width, size, c.flip)), 2);
}

function randomGrayscale(x: tf.Tensor4D, flags: boolean[]): tf.Tensor4D {
  // The gray image broadcast to 3 channels where the flag is set; blend is exact at 0 and 1.
  return blend(x, grayscaleOf(x), flags.map(Number));
}

/** Normalised 1-D Gaussian taps of radius (size − 1) / 2; sigma 0 gives the delta kernel. */
export function gaussianKernel(size: number, sigma: number): number[] {
  const radius = (size - 1) / 2;
  if (sigma <= 0) return Array.from({ length: size }, (_, t) => (t === radius ? 1 : 0));
  const taps = Array.from({ length: size }, (_, t) => Math.exp(-((t - radius) ** 2) / (2 * sigma * sigma)));
  const total = taps.reduce((a, b) => a + b, 0);
  return taps.map((v) => v / total);
}

/**
 * Separable Gaussian blur with a kernel per image: the batch is folded into channels so that one depthwise
 * convolution per axis blurs every image with its own kernel. Reflect padding keeps the edges from darkening.
 */
function gaussianBlur(x: tf.Tensor4D, blur: BlurParams): tf.Tensor4D {
  const [n, h, w, c] = x.shape;
  const k = blur.kernelSize;
  const radius = (k - 1) / 2;
  const kernels = blur.sigmas.map((sigma) => gaussianKernel(k, sigma));
  // Filter channel i·C + j belongs to image i; [k,1,NC,1] and [1,k,NC,1] share this flat layout.
  const taps = Array.from({ length: k }, (_, t) => kernels.flatMap((kernel) => Array<number>(c).fill(kernel[t]!))).flat();
  const folded = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]) as tf.Tensor4D;
  const padded = tf.mirrorPad(folded, [[0, 0], [radius, radius], [radius, radius], [0, 0]], 'reflect');
  const vertical = tf.depthwiseConv2d(padded, tf.tensor4d(taps, [k, 1, n * c, 1]), 1, 'valid');
  const blurred = tf.depthwiseConv2d(vertical, tf.tensor4d(taps, [1, k, n * c, 1]), 1, 'valid');
  return tf.transpose(tf.reshape(blurred, [h, w, n, c]), [2, 0, 1, 3]);
}

/**
 * Apply one view's parameters to a batch. images: float32 [N,H,W,C] in [0,1] (already at training size,
 * H = W = imageSize). Returns float32 [N,S,S,C] in [0,1], S = imageSize. Caller owns the result; no other
 * tensor is left behind.
 */
export function applyView(images: tf.Tensor4D, params: ViewParams): tf.Tensor4D {
  const [n, , , c] = images.shape;
  if (n !== params.crops.length) {
    throw new Error(`applyView: batch of ${n} images but parameters for ${params.crops.length}`);
  }
  if (c !== params.channels) {
    throw new Error(`applyView: images have ${c} channels but parameters are for ${params.channels}`);
  }
  const size = params.imageSize;
  return tf.tidy(() => {
    // Always runs: besides crop and flip it makes the float32 [N, S, S, C] the later steps expect.
    let x = resizedCrops(images, params.crops, size);
    if (params.jitter) x = colourJitter(x, params.jitter);
    if (params.grayscale) x = randomGrayscale(x, params.grayscale);
    if (params.blur) x = gaussianBlur(x, params.blur);
    return x;
  });
}

/** Source images as the model sees them: float32 in [0, 1]. */
export function toUnitRange(images: tf.Tensor4D): tf.Tensor4D {
  return tf.tidy(() => (images.dtype === 'float32' ? images.clone() : tf.div(tf.cast(images, 'float32'), 255)));
}

/**
 * Both views of a batch of source images (float32 in [0, 1], or integers 0–255) as one [2N, S, S, C] batch, view 1's
 * images first: what the encoder takes. Parameters are drawn from rng exactly as augmentPair draws them. On WebGPU
 * the views are made by a few fused programs (webgpu/augment.ts), elsewhere by augmentPair's tfjs ops.
 */
export function augmentViews(images: tf.Tensor4D, config: AugmentConfig, rng: Random): tf.Tensor4D {
  const [n, size, , c] = images.shape;
  if (c !== 1 && c !== 3) throw new Error(`augmentViews: expected 1 or 3 channels, got ${c}`);
  const params1 = sampleViewParams(n, size, c, config, rng);
  const params2 = sampleViewParams(n, size, c, config, rng);
  const fused = fusedAugmentViews(images, [params1, params2]);
  if (fused) return fused;
  return tf.tidy(() => {
    const unit = toUnitRange(images);
    return tf.concat([applyView(unit, params1), applyView(unit, params2)], 0);
  });
}

/** Two independent views of the batch, parameters drawn from rng (view 1 first, then view 2). */
export function augmentPair(images: tf.Tensor4D, config: AugmentConfig, rng: Random): [tf.Tensor4D, tf.Tensor4D] {
  const [n, size, , c] = images.shape;
  if (c !== 1 && c !== 3) throw new Error(`augmentPair: expected 1 or 3 channels, got ${c}`);
  const params1 = sampleViewParams(n, size, c, config, rng);
  const params2 = sampleViewParams(n, size, c, config, rng);
  return [applyView(images, params1), applyView(images, params2)];
}

/**
 * Two views of each image at `indices` of a uint8 NHWC store, as uint8 pixels with image i's views at positions
 * 2i and 2i + 1: what the page shows as a preview of the augmentation settings.
 */
export async function augmentedPairs(
  store: { pixels: Uint8Array; imageSize: number; channels: number },
  indices: number[],
  config: AugmentConfig,
  rng: Random,
): Promise<Uint8Array> {
  const { pixels, imageSize, channels } = store;
  const bytes = imageSize * imageSize * channels;
  const batch = new Float32Array(indices.length * bytes);
  indices.forEach((index, i) => {
    for (let j = 0; j < bytes; j++) batch[i * bytes + j] = pixels[index * bytes + j]! / 255;
  });
  const images = tf.tensor4d(batch, [indices.length, imageSize, imageSize, channels]);
  const [view1, view2] = augmentPair(images, config, rng);
  // Interleave the views: [v1₀, v2₀, v1₁, v2₁, …].
  const pairs = tf.tidy(() => tf.round(tf.mul(tf.stack([view1, view2], 1), 255)));
  const values = await pairs.data();
  tf.dispose([images, view1, view2, pairs]);
  return Uint8Array.from(values);
}
