// Both augmented views of a batch on WebGPU in two programs (four with blur): one invocation per output pixel does the
// crop and flip, the colour jitter in the image's own order, and the random grayscale; a first program sums, row by
// row, the grayscale of each image as it stands just before its contrast step (contrast blends with that mean); two
// more blur along each axis. The same maths, op by op and clip by clip, as ../augment.ts's tfjs ops, which take about
// 15 programs per view for grayscale images and 40 for colour ones.
import * as tf from '@tensorflow/tfjs';
import { gaussianKernel, hueMatrix, type JitterOp, type ViewParams } from '../augment';
import { kernelProgram, runKernelOnTensors } from './kernelBuilder';
import { fusedBackend } from './programs';

const OP_CODES: Record<JitterOp, number> = { brightness: 0, contrast: 1, saturation: 2, hue: 3 };

/** Per view-image parameters, laid out as the programs read them (see `table`). */
const FIELDS = {
  crop: 0, // top, left, height, width (whole pixels)
  flip: 4, // 1: mirrored left to right
  steps: 5, // jitter steps this image takes (0–4)
  ops: 6, // op code of each step
  factors: 10, // factor of each step (hue: unused, see hue)
  complements: 14, // 1 − factor, rounded as tfjs rounds it
  gray: 18, // 1: replace by grayscale
  jitter: 19, // 1: the view jitters (tfjs then clips the crop before the first step)
  hue: 20, // 3×3 row-major matrix of the hue step
  blur: 29, // 1: the view blurs (an image with sigma 0 has the delta kernel)
  taps: 30, // blur taps, `kernelSize` of them
} as const;

/** The most jitter steps one image takes (FIELDS.steps): brightness, contrast, saturation, hue. */
const JITTER_OPS = 4;

export function tableStride(kernelSize: number): number {
  return FIELDS.taps + kernelSize;
}

/** The parameters of every image of both views as one table (views[0]'s images first). */
export function augmentTable(views: ViewParams[], kernelSize: number): Float32Array {
  const stride = tableStride(kernelSize);
  const count = views.reduce((a, v) => a + v.crops.length, 0);
  const table = new Float32Array(count * stride);
  let row = 0;
  for (const view of views) {
    view.crops.forEach((crop, i) => {
      const at = row * stride;
      table.set([crop.top, crop.left, crop.height, crop.width], at + FIELDS.crop);
      table[at + FIELDS.flip] = crop.flip ? 1 : 0;
      const steps = view.jitter?.perImage[i] ?? [];
      table[at + FIELDS.steps] = steps.length;
      steps.forEach((step, s) => {
        table[at + FIELDS.ops + s] = OP_CODES[step.op];
        table[at + FIELDS.factors + s] = step.factor;
        table[at + FIELDS.complements + s] = 1 - step.factor;
        if (step.op === 'hue') table.set(hueMatrix(step.factor).flat(), at + FIELDS.hue);
      });
      table[at + FIELDS.gray] = view.grayscale?.[i] ? 1 : 0;
      table[at + FIELDS.jitter] = view.jitter ? 1 : 0;
      if (view.blur) {
        table[at + FIELDS.blur] = 1;
        table.set(gaussianKernel(kernelSize, view.blur.sigmas[i]!), at + FIELDS.taps);
      }
      row += 1;
    });
  }
  return table;
}

const UNIFORMS = 'views : i32, sources : i32, side : i32, sourceSide : i32, channels : i32, stride : i32, taps : i32, divisor : f32,';

// Shared by the row sums and the pixels: the crop of one pixel of view-image v, and the jitter steps.
const COMMON = `
fn param(v : i32, field : i32) -> f32 { return TB[v * uniforms.stride + field]; }

fn source(n : i32, y : i32, x : i32, c : i32) -> f32 {
  return f32(X[((n * uniforms.sourceSide + y) * uniforms.sourceSide + x) * uniforms.channels + c]) / uniforms.divisor;
}

// One axis of ../augment.ts's resizeTaps: the two source pixels output sample u blends, and the second's weight.
fn resizeTap(offset : f32, extent : f32, u : i32) -> vec3<f32> {
  let position = clamp((f32(u) + 0.5) * extent / f32(uniforms.side) - 0.5, 0.0, extent - 1.0);
  let lo = floor(position);
  return vec3<f32>(offset + lo, offset + min(lo + 1.0, extent - 1.0), position - lo);
}

// ../augment.ts's resizedCrops for every channel of one pixel: rows blended first, then columns, as its two passes.
fn crop(v : i32, y : i32, x : i32) -> vec3<f32> {
  let n = v % uniforms.sources;
  var at = x;
  if (param(v, ${FIELDS.flip}) > 0.0) { at = uniforms.side - 1 - x; }
  let ty = resizeTap(param(v, ${FIELDS.crop}), param(v, ${FIELDS.crop + 2}), y);
  let tx = resizeTap(param(v, ${FIELDS.crop + 1}), param(v, ${FIELDS.crop + 3}), at);
  let y0 = i32(ty.x);
  let y1 = i32(ty.y);
  let x0 = i32(tx.x);
  let x1 = i32(tx.y);
  var out = vec3<f32>(0.0);
  for (var c = 0; c < uniforms.channels; c++) {
    let left = source(n, y0, x0, c) * (1.0 - ty.z) + source(n, y1, x0, c) * ty.z;
    let right = source(n, y0, x1, c) * (1.0 - ty.z) + source(n, y1, x1, c) * ty.z;
    out[c] = left * (1.0 - tx.z) + right * tx.z;
  }
  return out;
}

fn grayOf(p : vec3<f32>) -> f32 {
  if (uniforms.channels == 1) { return p.x; }
  return p.x * 0.299 + p.y * 0.587 + p.z * 0.114;
}

fn clip01(p : vec3<f32>) -> vec3<f32> { return clamp(p, vec3<f32>(0.0), vec3<f32>(1.0)); }

// One jitter step other than contrast (which needs its image's mean, see main).
fn jitterStep(v : i32, s : i32, p : vec3<f32>) -> vec3<f32> {
  let op = i32(param(v, ${FIELDS.ops} + s));
  let f = param(v, ${FIELDS.factors} + s);
  let g = param(v, ${FIELDS.complements} + s);
  if (op == 0) { return clip01(p * f); }
  if (op == 2) { return clip01(vec3<f32>(grayOf(p)) * g + p * f); }
  let h = ${FIELDS.hue};
  return clip01(vec3<f32>(
    p.x * param(v, h) + p.y * param(v, h + 1) + p.z * param(v, h + 2),
    p.x * param(v, h + 3) + p.y * param(v, h + 4) + p.z * param(v, h + 5),
    p.x * param(v, h + 6) + p.y * param(v, h + 7) + p.z * param(v, h + 8)));
}

fn contrastStep(v : i32) -> i32 {
  let steps = i32(param(v, ${FIELDS.steps}));
  for (var s = 0; s < steps; s++) {
    if (i32(param(v, ${FIELDS.ops} + s)) == 1) { return s; }
  }
  return -1;
}

fn cropped(v : i32, y : i32, x : i32) -> vec3<f32> {
  let p = crop(v, y, x);
  if (param(v, ${FIELDS.jitter}) > 0.0) { return clip01(p); }
  return p;
}
`;

// Per view-image and row: Σ over the row of the grayscale just before the contrast step (0 without one).
const rowSumsProgram = (rows: number, side: number) =>
  kernelProgram({
    name: 'augment_row_sums',
    inputs: [{ name: 'X' }, { name: 'TB' }],
    outputSize: rows,
    uniforms: UNIFORMS,
    invocations: rows,
    serialLoop: JITTER_OPS * side,
    body: () => `
  if (index >= uniforms.views * uniforms.side) { return; }
  let v = index / uniforms.side;
  let y = index % uniforms.side;
  let before = contrastStep(v);
  if (before < 0) {
    result[index] = 0.0;
    return;
  }
  var sum = 0.0;
  for (var x = 0; x < uniforms.side; x++) {
    var p = cropped(v, y, x);
    for (var s = 0; s < before; s++) { p = jitterStep(v, s, p); }
    sum += grayOf(p);
  }
  result[index] = sum;`,
    helpers: COMMON,
  });

// Per output pixel, every channel: crop, jitter, grayscale.
const pixelsProgram = (pixels: number, channels: number, side: number) =>
  kernelProgram({
    name: 'augment_pixels',
    inputs: [{ name: 'X' }, { name: 'TB' }, { name: 'RS' }],
    outputSize: pixels * channels,
    uniforms: UNIFORMS,
    invocations: pixels,
    serialLoop: JITTER_OPS * side,
    body: () => `
  if (index >= uniforms.views * uniforms.side * uniforms.side) { return; }
  let v = index / (uniforms.side * uniforms.side);
  let y = (index / uniforms.side) % uniforms.side;
  let x = index % uniforms.side;
  var p = cropped(v, y, x);
  let steps = i32(param(v, ${FIELDS.steps}));
  for (var s = 0; s < steps; s++) {
    if (i32(param(v, ${FIELDS.ops} + s)) == 1) {
      var sum = 0.0;
      for (var r = 0; r < uniforms.side; r++) { sum += RS[v * uniforms.side + r]; }
      let mean = sum / f32(uniforms.side * uniforms.side);
      p = clip01(vec3<f32>(mean) * param(v, ${FIELDS.complements} + s) + p * param(v, ${FIELDS.factors} + s));
    } else {
      p = jitterStep(v, s, p);
    }
  }
  if (param(v, ${FIELDS.gray}) > 0.0) { p = vec3<f32>(grayOf(p)); }
  for (var c = 0; c < uniforms.channels; c++) { result[index * uniforms.channels + c] = p[c]; }`,
    helpers: COMMON,
  });

// One axis of the separable blur, reflect-padded; a view that does not blur passes through.
const blurProgram = (size: number, axis: 'y' | 'x', taps: number) =>
  kernelProgram({
    name: `augment_blur_${axis}`,
    inputs: [{ name: 'T' }, { name: 'TB' }],
    outputSize: size,
    uniforms: UNIFORMS,
    invocations: size,
    serialLoop: taps,
    body: () => `
  if (index >= uniforms.views * uniforms.side * uniforms.side * uniforms.channels) { return; }
  let c = index % uniforms.channels;
  let pixel = index / uniforms.channels;
  let v = pixel / (uniforms.side * uniforms.side);
  let y = (pixel / uniforms.side) % uniforms.side;
  let x = pixel % uniforms.side;
  if (TB[v * uniforms.stride + ${FIELDS.blur}] == 0.0) {
    result[index] = T[index];
    return;
  }
  let radius = (uniforms.taps - 1) / 2;
  var sum = 0.0;
  for (var t = 0; t < uniforms.taps; t++) {
    var at = ${axis === 'y' ? 'y' : 'x'} + t - radius;
    if (at < 0) { at = -at; }
    if (at >= uniforms.side) { at = 2 * (uniforms.side - 1) - at; }
    let src = ${axis === 'y' ? '((v * uniforms.side + at) * uniforms.side + x)' : '((v * uniforms.side + y) * uniforms.side + at)'} * uniforms.channels + c;
    sum += TB[v * uniforms.stride + ${FIELDS.taps} + t] * T[src];
  }
  result[index] = sum;`,
  });

/**
 * Both views of `images` (float32 in [0, 1], or integers 0–255; [N, S, S, C]) as one [2N, S, S, C] tensor, view 1's
 * images first. Null when the fused kernels cannot run here (the caller applies the views with tfjs ops).
 */
export function fusedAugmentViews(images: tf.Tensor4D, views: [ViewParams, ViewParams]): tf.Tensor4D | null {
  const backend = fusedBackend();
  if (!backend) return null;
  const [n, sourceSide, , channels] = images.shape;
  const side = views[0].imageSize;
  const kernelSize = views[0].blur?.kernelSize ?? views[1].blur?.kernelSize ?? 0;
  const count = 2 * n;
  return tf.tidy(() => {
    const table = tf.tensor1d(augmentTable(views, kernelSize));
    const divisor = images.dtype === 'float32' ? 1 : 255;
    const uniforms = [count, n, side, sourceSide, channels, tableStride(kernelSize), kernelSize].map((v) => ({ type: 'int32' as const, data: [v] }));
    const all = [...uniforms, { type: 'float32' as const, data: [divisor] }];
    const contrast = views.some((v) => v.jitter?.ops.includes('contrast'));
    // Without a contrast step the row sums are never read: the table stands in for them.
    const rowSums = contrast ? runKernelOnTensors(backend, rowSumsProgram(count * side, side), [images, table], all) : table;
    let out: tf.Tensor = runKernelOnTensors(backend, pixelsProgram(count * side * side, channels, side), [images, table, rowSums], all);
    if (kernelSize > 0) {
      out = runKernelOnTensors(backend, blurProgram(out.size, 'y', kernelSize), [out, table], all);
      out = runKernelOnTensors(backend, blurProgram(out.size, 'x', kernelSize), [out, table], all);
    }
    return tf.reshape(out, [count, side, side, channels]) as tf.Tensor4D;
  });
}
