// The weights zip outside the tab: its tabclr_torch.py and its encoder.onnx (in onnxruntime, and in OpenCV's DNN module)
// compute the tab's h and z for convnet4 and resnet18, with and without the projection head; the PyTorch module refuses
// what does not fit with the reason. The weights, batch-norm statistics included, are drawn at random so that padding,
// epsilon, activation placement and layouts all show in the outputs; the tab's numbers come from the engine on the tfjs
// CPU backend. Python (torch, onnx, OpenCV) runs once for every case.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTrainConfig, type EncoderName, type TrainConfig } from '../engine/config';
import { defaultMethodConfig } from '../engine/methods';
import { allWeights, createNetwork, disposeNetwork, type Network } from '../engine/model';
import { Random } from '../engine/random';
import { writeWeights } from '../engine/savedState';
import { runPython } from '../test/python';
import { modelBundle, type ExportFile } from './bundle';
import { zipFiles } from './download';
import { ONNX_OPSET } from './onnx';
import { TORCH_MODULE_SOURCE } from './torchModule';

const HARNESS = new URL('./python/check_zips.py', import.meta.url).pathname;
const IMAGES = 5;
const TOLERANCE = 1e-4;

interface ModelCase {
  encoder: EncoderName;
  imageSize: number;
  channels: 1 | 3;
  width: number;
  headLayers: 2 | 3;
  projectionDim: number;
  /** The case's name (default: the encoder's). */
  name?: string;
  /**
   * A config saved before the parity work: the old model (Keras initialisers, ReLU on h, head as wide as h), and
   * config.json without the three fields, which tabclr_torch.py must read as that model.
   */
  savedBefore?: boolean;
}

// 28 px: convnet4 goes 28 → 14 → 7 → 4, so both the even (bottom/right only) and the odd (both sides) 'same'
// paddings of a stride-2 convolution occur; resnet18 at 20 px: 20 → 10 → 5 → 3, with projection shortcuts.
const MODELS: ModelCase[] = [
  // Projection 128 over an h of 64: the head's hidden layer is 128 wide (headHidden 'atLeastProjection').
  { encoder: 'convnet4', imageSize: 28, channels: 1, width: 0.25, headLayers: 2, projectionDim: 128 },
  { name: 'convnet4 saved before', savedBefore: true, encoder: 'convnet4', imageSize: 16, channels: 1, width: 0.25, headLayers: 2, projectionDim: 128 },
  { encoder: 'resnet18', imageSize: 20, channels: 3, width: 0.125, headLayers: 3, projectionDim: 24 },
];

interface OnnxReport {
  checker: string;
  ir_version: number;
  opsets: Record<string, number>;
  inputs: [string, (string | number)[]][];
  outputs: [string, (string | number)[]][];
  opencv: Record<string, number[]>;
}

interface CaseResult {
  name: string;
  ok: boolean;
  onnx?: OnnxReport | null;
  h?: number[];
  z?: number[] | null;
  load_encoder_matches?: boolean;
  safetensors_roundtrip?: boolean;
  eval_mode?: boolean;
  error_type?: string;
  error?: string;
}

interface Expected {
  h: Float32Array;
  z: Float32Array | null;
  hShape: number[];
  zShape: number[] | null;
}

let work: string;
const expected = new Map<string, Expected>();
const results = new Map<string, CaseResult>();
let byolOnnx: { h: Float32Array; z: Float32Array; tabH: Float32Array; tabZ: Float32Array };
/** encoder.onnx's outputs in onnxruntime (WebAssembly, in Node) on the case's images, and on its first image alone. */
const onnxruntime = new Map<string, { outputNames: readonly string[]; h: Float32Array; z: Float32Array | null; single: Float32Array }>();

function configFor(m: ModelCase): TrainConfig {
  const config = defaultTrainConfig(m.imageSize, m.channels);
  Object.assign(config.model, { encoder: m.encoder, width: m.width, headLayers: m.headLayers, projectionDim: m.projectionDim });
  if (m.savedBefore) Object.assign(config.model, { init: 'keras', representationRelu: true, headHidden: 'representation' });
  return config;
}

/** Every weight drawn at random, with batch-norm scales and variances kept positive. */
function randomiseWeights(model: Network, rng: Random): void {
  const normal = () => Math.sqrt(-2 * Math.log(1 - rng.next())) * Math.cos(2 * Math.PI * rng.next());
  writeWeights(
    model,
    allWeights(model).map(({ name, weight }) => {
      const shape = weight.shape as number[];
      const size = shape.reduce((a, d) => a * d, 1);
      const fanIn = shape.length > 1 ? shape.slice(0, -1).reduce((a, d) => a * d, 1) : 1;
      const draw = name.endsWith('/gamma')
        ? () => rng.uniform(0.5, 1.5)
        : name.endsWith('/moving_variance')
          ? () => rng.uniform(0.3, 2)
          : name.endsWith('/kernel')
            ? () => normal() * Math.sqrt(2 / fanIn)
            : () => normal() * 0.3; // beta, moving_mean, bias
      return { name, shape, values: Float32Array.from({ length: size }, draw) };
    }),
  );
}

function writeFolder(folder: string, files: ExportFile[]): void {
  for (const f of files) {
    mkdirSync(dirname(join(folder, f.name)), { recursive: true });
    writeFileSync(join(folder, f.name), f.bytes);
  }
}

/** NHWC (the tab's layout) → NCHW (PyTorch's). */
function toNchw(values: Float32Array, [n, h, w, c]: number[]): Float32Array {
  const out = new Float32Array(values.length);
  for (let i = 0; i < n; i++)
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) out[((i * c + k) * h + y) * w + x] = values[((i * h + y) * w + x) * c + k]!;
  return out;
}

function readFloats(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

/**
 * The largest difference from the tab's values, relative to the largest of them where that exceeds 1. Random weights
 * (random batch-norm statistics above all) let resnet18's h reach ~100, where float32 arithmetic done in another order
 * differs by ~1e-4 absolute; a trained model's h is of order 1, where this is the absolute difference.
 */
function difference(actual: Float32Array, tab: Float32Array): number {
  expect(actual.length).toBe(tab.length);
  let max = 0;
  let scale = 1;
  for (let i = 0; i < actual.length; i++) {
    max = Math.max(max, Math.abs(actual[i]! - tab[i]!));
    scale = Math.max(scale, Math.abs(tab[i]!));
  }
  return max / scale;
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  work = mkdtempSync(join(tmpdir(), 'tabclr-portability-'));
  const cases: object[] = [];
  const rng = new Random(15);
  for (const m of MODELS) {
    const config = configFor(m);
    const model = createNetwork(config);
    randomiseWeights(model, rng);
    const shape = [IMAGES, m.imageSize, m.imageSize, m.channels];
    const pixels = Float32Array.from({ length: shape.reduce((a, d) => a * d, 1) }, () => rng.next());
    const images = tf.tensor4d(pixels, shape as [number, number, number, number]);
    const h = model.encoder.predict(images) as tf.Tensor2D;
    const z = model.method.heads.projection_head!.predict(h) as tf.Tensor2D;
    const tab = { h: (await h.data()) as Float32Array, z: (await z.data()) as Float32Array, hShape: h.shape, zShape: z.shape };
    tf.dispose([images, h, z]);
    const imagesPath = join(work, `${m.name ?? m.encoder}-images.bin`);
    const nchw = [IMAGES, m.channels, m.imageSize, m.imageSize];
    const nchwPixels = toNchw(pixels, shape);
    writeFileSync(imagesPath, nchwPixels);

    for (const includeHead of [false, true]) {
      const name = `${m.name ?? m.encoder}${includeHead ? '+head' : ''}`;
      let files = await modelBundle(model, { config, step: 3, metrics: null, includeHead, version: 'test', torchModule: TORCH_MODULE_SOURCE });
      if (m.savedBefore) {
        files = files.map((f) => {
          if (f.name !== 'config.json') return f;
          const info = JSON.parse(new TextDecoder().decode(f.bytes)) as { training: { model: Record<string, unknown> } };
          for (const field of ['init', 'representationRelu', 'headHidden']) delete info.training.model[field];
          return { ...f, bytes: new TextEncoder().encode(JSON.stringify(info)) };
        });
      }
      const folder = join(work, name);
      writeFolder(folder, files);
      // The module is the zip's own copy; resnet18 with its head is read from the .zip itself, the others unzipped.
      const location = m.encoder === 'resnet18' && includeHead ? join(work, `${name}.zip`) : folder;
      if (location.endsWith('.zip')) writeFileSync(location, zipFiles(files));
      const onnx = join(folder, 'encoder.onnx');
      cases.push({ name, module: join(folder, 'tabclr_torch.py'), model: location, images: imagesPath, shape: nchw, out: join(work, 'out', name), onnx });
      expected.set(name, includeHead ? tab : { ...tab, z: null, zShape: null });
      const session = await ort.InferenceSession.create(readFileSync(onnx));
      const all = await session.run({ image: new ort.Tensor('float32', nchwPixels, nchw) });
      const single = await session.run({ image: new ort.Tensor('float32', nchwPixels.slice(0, nchwPixels.length / IMAGES), [1, ...nchw.slice(1)]) });
      onnxruntime.set(name, {
        outputNames: session.outputNames,
        h: all.h!.data as Float32Array,
        z: all.z ? (all.z.data as Float32Array) : null,
        single: single.h!.data as Float32Array,
      });
      await session.release();
    }

    // What a user must not be able to load silently, each made from the convnet4 zip with its head.
    if (m.encoder === 'convnet4' && !m.savedBefore) {
      const source = join(work, 'convnet4+head');
      const base = JSON.parse(readFileSync(join(source, 'config.json'), 'utf8')) as { training: TrainConfig & { model: Record<string, unknown> } };
      const variant = (name: string, edit: (files: Map<string, Uint8Array>) => void, extra: object = {}) => {
        const files = new Map<string, Uint8Array>(
          ['config.json', 'weights.safetensors', 'tabclr_torch.py'].map((f) => [f, new Uint8Array(readFileSync(join(source, f)))]),
        );
        edit(files);
        const folder = join(work, name);
        writeFolder(folder, [...files].map(([n, bytes]) => ({ name: n, bytes })));
        cases.push({ name, module: join(folder, 'tabclr_torch.py'), model: folder, images: imagesPath, shape: nchw, out: join(work, 'out', name), ...extra });
      };
      const withModel = (changes: Record<string, unknown>) => (files: Map<string, Uint8Array>) => {
        const config = structuredClone(base);
        Object.assign(config.training.model, changes);
        files.set('config.json', new TextEncoder().encode(JSON.stringify(config)));
      };
      variant('another encoder', withModel({ encoder: 'resnet18' }));
      variant('an unknown field', withModel({ denseRelu: false }));
      variant('an unknown encoder', withModel({ encoder: 'vit-b16' }));
      variant('a changed width', withModel({ width: 0.5 }));
      variant('weights cut short', (files) => files.set('weights.safetensors', files.get('weights.safetensors')!.slice(0, 4000)));
      variant('no config', (files) => files.delete('config.json'));
      variant('NHWC images', () => {}, { permute: [0, 2, 3, 1] });

      // Another method's zip (BYOL: a projection head shaped its own way, and a predictor): load_encoder reads its
      // h, load_model refuses its heads rather than building SimCLR's; encoder.onnx's z is its projection head's.
      const byolConfig = { ...config, method: defaultMethodConfig('byol') };
      const byol = createNetwork(byolConfig);
      randomiseWeights(byol, rng);
      const input = tf.tensor4d(pixels, shape as [number, number, number, number]);
      const byolH = byol.encoder.predict(input) as tf.Tensor2D;
      const byolZ = byol.method.heads.projection_head!.predict(byolH) as tf.Tensor2D;
      const byolFiles = await modelBundle(byol, { config: byolConfig, step: 3, metrics: null, includeHead: true, version: 'test', torchModule: TORCH_MODULE_SOURCE });
      const folder = join(work, 'byol+heads');
      writeFolder(folder, byolFiles);
      const tab = { h: (await byolH.data()) as Float32Array, z: (await byolZ.data()) as Float32Array, hShape: byolH.shape, zShape: null };
      expected.set('byol, load_encoder', { ...tab, z: null });
      const session = await ort.InferenceSession.create(readFileSync(join(folder, 'encoder.onnx')));
      const ran = await session.run({ image: new ort.Tensor('float32', nchwPixels, nchw) });
      byolOnnx = { h: ran.h!.data as Float32Array, z: ran.z!.data as Float32Array, tabH: tab.h, tabZ: tab.z };
      await session.release();
      const common = { module: join(folder, 'tabclr_torch.py'), model: folder, images: imagesPath, shape: nchw };
      cases.push({ name: 'byol, load_encoder', ...common, entry: 'load_encoder', out: join(work, 'out', 'byol-encoder') });
      cases.push({ name: 'byol, load_model', ...common, out: join(work, 'out', 'byol-model') });
      tf.dispose([input, byolH, byolZ]);
      disposeNetwork(byol);
    }
    disposeNetwork(model);
  }
  const job = join(work, 'job.json');
  writeFileSync(job, JSON.stringify({ cases }));
  const report = JSON.parse(runPython([HARNESS, job])) as { results: CaseResult[] };
  for (const r of report.results) results.set(r.name, r);
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe("tabclr_torch.py, the zip's PyTorch module", () => {
  it('is in every zip, byte for byte the repository file', () => {
    const file = readFileSync(new URL('./python/tabclr_torch.py', import.meta.url), 'utf8');
    expect(TORCH_MODULE_SOURCE).toBe(file);
    for (const name of ['convnet4', 'convnet4+head', 'resnet18', 'resnet18+head', 'byol+heads']) {
      expect(readFileSync(join(work, name, 'tabclr_torch.py'), 'utf8')).toBe(file);
    }
  });

  for (const name of ['convnet4', 'convnet4+head', 'resnet18', 'resnet18+head', 'convnet4 saved before', 'convnet4 saved before+head']) {
    it(`${name}: h${name.includes('head') ? ' and z' : ''} as the tab computes them, to ${TOLERANCE}`, () => {
      const result = results.get(name)!;
      const tab = expected.get(name)!;
      expect(result, JSON.stringify(result)).toMatchObject({ ok: true, h: tab.hShape, z: tab.zShape, load_encoder_matches: true, eval_mode: true, safetensors_roundtrip: true });
      const h = readFloats(join(work, 'out', name, 'h.bin'));
      // The random weights give h of order 1 to 10: a padding, epsilon or layout slip moves it by far more.
      expect(Math.max(...tab.h.map(Math.abs))).toBeGreaterThan(0.5);
      expect(difference(h, tab.h)).toBeLessThan(TOLERANCE);
      if (tab.z) expect(difference(readFloats(join(work, 'out', name, 'z.bin')), tab.z)).toBeLessThan(TOLERANCE);
    });
  }

  it("reads h from another method's zip with load_encoder (BYOL, heads included)", () => {
    const result = results.get('byol, load_encoder')!;
    expect(result, JSON.stringify(result)).toMatchObject({ ok: true, z: null });
    expect(difference(readFloats(join(work, 'out', 'byol-encoder', 'h.bin')), expected.get('byol, load_encoder')!.h)).toBeLessThan(TOLERANCE);
  });

  const refusals: [string, RegExp][] = [
    ['byol, load_model', /trained with 'byol', whose heads this tabclr_torch\.py does not build \(SimCLR's only\): load_encoder gives its representation h/],
    ['another encoder', /the weights do not fit the resnet18 at width 0\.25 for 28 x 28 x 1 images that config\.json describes: missing \d+ \(encoder\.stage1_block1_1_bn\.bias/],
    ['an unknown field', /training\.model has 'denseRelu', which this tabclr_torch\.py does not know/],
    ['an unknown encoder', /training\.model\.encoder must be convnet4 or resnet18, got 'vit-b16'/],
    ['a changed width', /encoder\.block1_bn\.bias is \[8\] but the model has \[16\].*a config\.json changed after download/],
    ['weights cut short', /weights\.safetensors is cut short: tensor encoder\.\w+\.\w+ ends at byte \d+ of data, the file has \d+/],
    ['no config', /has no config\.json, so it is not a model downloaded from tabclr/],
    ['NHWC images', /takes N x 1 x 28 x 28 \(NCHW\) images, got \(5, 28, 28, 1\) \(these look NHWC/],
  ];
  for (const [name, message] of refusals) {
    it(`refuses ${name} with the reason`, () => {
      const result = results.get(name)!;
      expect(result).toMatchObject({ ok: false, error_type: 'TabclrError' });
      expect(result.error).toMatch(message);
    });
  }
});

describe("encoder.onnx", () => {
  it("of another method (BYOL) gives h and its projection head's z in onnxruntime", () => {
    expect(difference(byolOnnx.h, byolOnnx.tabH)).toBeLessThan(TOLERANCE);
    expect(difference(byolOnnx.z, byolOnnx.tabZ)).toBeLessThan(TOLERANCE);
  });

  for (const name of ['convnet4', 'convnet4+head', 'resnet18', 'resnet18+head']) {
    const head = name.includes('head');
    it(`${name}: in onnxruntime, h${head ? " and z" : ""} as the tab computes them to ${TOLERANCE}, for a batch of 5 and of 1`, () => {
      const tab = expected.get(name)!;
      const ran = onnxruntime.get(name)!;
      expect(ran.outputNames).toEqual(head ? ['h', 'z'] : ['h']);
      expect(difference(ran.h, tab.h)).toBeLessThan(TOLERANCE);
      if (head) expect(difference(ran.z!, tab.z!)).toBeLessThan(TOLERANCE);
      expect(difference(ran.single, tab.h.slice(0, tab.hShape[1]))).toBeLessThan(TOLERANCE);
    });

    it(`${name}: passes onnx's checker (opset ${ONNX_OPSET}, batch left free) and gives the tab's h${head ? ' and z' : ''} in OpenCV's DNN module`, () => {
      const report = results.get(name)!.onnx!;
      const m = MODELS.find((model) => name.startsWith(model.encoder))!;
      const tab = expected.get(name)!;
      expect(report).toMatchObject({ checker: 'passed', ir_version: 7, opsets: { '': ONNX_OPSET } });
      expect(report.inputs).toEqual([['image', ['batch', m.channels, m.imageSize, m.imageSize]]]);
      expect(report.outputs).toEqual([['h', ['batch', tab.hShape[1]]], ...(head ? [['z', ['batch', tab.zShape![1]]]] : [])]);
      expect(difference(readFloats(join(work, 'out', name, 'h_opencv.bin')), tab.h)).toBeLessThan(TOLERANCE);
      if (head) expect(difference(readFloats(join(work, 'out', name, 'z_opencv.bin')), tab.z!)).toBeLessThan(TOLERANCE);
    });
  }
});
