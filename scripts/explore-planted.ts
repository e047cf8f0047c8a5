// The planted folder of e2e/explore.spec.ts (or the same recipe with another seed, other outliers, a longer run)
// trained and explored in Node on tfjs's CPU backend, with the engine's own encoder, training step and Explore maths:
// where each planted outlier ranks, and whether each planted pair is a near-duplicate group of its own, under the
// untrained encoder and after a few steps. Beside the panel's outlier score (the k nearest by distance between the
// unit representations, outliers.ts) it prints the one Explore used before (cosine after centring) and the candidate
// causes measured for issue #25: batch norm's statistics recomputed over the folder (precise BN), each part of the
// trained weights alone, the layer before the representation. The folder is drawn and decoded in headless Chromium as
// the page does, and resized in Node with the importer's PIL bilinear; it is cached in the temporary folder per seed.
//
//   npx tsx scripts/explore-planted.ts [--seed 12345] [--steps 2] [--batch 8] [--width 0.25] [--lr 3e-3] [--run-seed 1]
//                                      [--outliers checks,red-cyan] [--candidates] [--dump DIR]
//
// --candidates draws every kind of outlier e2e/planted.ts knows, trains on the rest, and ranks each kind as if it were
// the only one planted. --dump writes each representation's rows (float32, one file each) and names.txt to DIR.
import { chromium } from '@playwright/test';
import * as tf from '@tensorflow/tfjs';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CHROMIUM_ARGS, systemChromium } from '../e2e/browser';
import { OUTLIER_KINDS, PLANTED, PLANTED_OUTLIERS, plantedFolder, type OutlierKind } from '../e2e/planted';
import { centreSquare } from '../src/data/files';
import { resizeBilinear } from '../src/data/resample';
import { EpochSampler, gatherBatch } from '../src/engine/batches';
import { defaultTrainConfig, type ModelConfig } from '../src/engine/config';
import { embedImages } from '../src/engine/embed';
import { createEncoder } from '../src/engine/encoders';
import { centredRows, centredUnitRows, meanRow } from '../src/engine/explore/centre';
import { duplicateGroups } from '../src/engine/explore/duplicates';
import { outlierScores, rankOutliers } from '../src/engine/explore/outliers';
import { cosineTopK, neighbourLists } from '../src/engine/explore/topk';
import { Random } from '../src/engine/random';
import { createTrainState, toUnitRange, trainStep } from '../src/engine/step';

const args = process.argv.slice(2);
const option = (name: string, fallback: number) => {
  const at = args.indexOf(`--${name}`);
  return at >= 0 ? Number(args[at + 1]) : fallback;
};
const seed = option('seed', 12345);
const steps = option('steps', 2);
const batch = option('batch', 8);
const width = option('width', 0.25);
const lr = option('lr', 3e-3);
const runSeed = option('run-seed', 1);
const CANDIDATES = args.includes('--candidates');
const outliersAt = args.indexOf('--outliers');
const KINDS: readonly OutlierKind[] = CANDIDATES ? OUTLIER_KINDS : outliersAt >= 0 ? (args[outliersAt + 1]!.split(',') as OutlierKind[]) : PLANTED_OUTLIERS;
const dumpAt = args.indexOf('--dump');
const DUMP = dumpAt >= 0 ? args[dumpAt + 1]! : null;
const SIZE = 32;
const THRESHOLD = 0.95;

/** The folder's names (sorted, as the importer lists them) and its 32 px RGB store, cached per seed and outliers. */
async function folder(): Promise<{ names: string[]; pixels: Uint8Array }> {
  const cache = join(tmpdir(), `tabclr-planted-${seed}-${KINDS.join('+')}.json`);
  if (existsSync(cache)) {
    const saved = JSON.parse(readFileSync(cache, 'utf8')) as { names: string[]; pixels: string };
    return { names: saved.names, pixels: new Uint8Array(Buffer.from(saved.pixels, 'base64')) };
  }
  const browser = await chromium.launch({ executablePath: systemChromium(), args: CHROMIUM_ARGS });
  try {
    const page = await browser.newPage();
    // tsx names functions through a helper the page does not have.
    await page.evaluate('globalThis.__name = (f) => f');
    const files = await plantedFolder(page, { seed, outliers: KINDS });
    const names = Object.keys(files).sort();
    const pixels = new Uint8Array(names.length * SIZE * SIZE * 3);
    for (const [i, name] of names.entries()) {
      // Decoded by the browser onto white, as src/data/decode.ts draws it; the centred square resized as PIL does.
      const { rgba, width: w, height: h } = await page.evaluate(async (base64) => {
        const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))]));
        const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
        const ctx = canvas.getContext('2d')!;
        ctx.fillStyle = '#fff';
        ctx.fillRect(0, 0, bitmap.width, bitmap.height);
        ctx.drawImage(bitmap, 0, 0);
        const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
        let binary = '';
        for (let j = 0; j < data.length; j += 0x8000) binary += String.fromCharCode(...data.subarray(j, j + 0x8000));
        return { rgba: btoa(binary), width: bitmap.width, height: bitmap.height };
      }, files[name]!.toString('base64'));
      const full = new Uint8Array(Buffer.from(rgba, 'base64'));
      const { sx, sy, side } = centreSquare(w, h);
      const square = new Uint8Array(side * side * 4);
      for (let y = 0; y < side; y++) square.set(full.subarray(((sy + y) * w + sx) * 4, ((sy + y) * w + sx + side) * 4), y * side * 4);
      pixels.set(resizeBilinear(square, side, side, 4, 3, SIZE, SIZE), i * SIZE * SIZE * 3);
    }
    writeFileSync(cache, JSON.stringify({ names, pixels: Buffer.from(pixels).toString('base64') }));
    return { names, pixels };
  } finally {
    await browser.close();
  }
}

/**
 * A copy of `encoder` whose batch-norm moving statistics are the average batch statistics over `indices` (precise BN,
 * Wu & Johnson 2021; torch.optim.swa_utils.update_bn): training-mode passes with each layer's momentum b/(b+1).
 */
async function withFolderStatistics(encoder: tf.LayersModel, model: ModelConfig, pixels: Uint8Array, indices: number[]): Promise<tf.LayersModel> {
  const copy = createEncoder(model, 0);
  copy.setWeights(encoder.getWeights());
  const layers = copy.layers.filter((l) => l.getClassName() === 'BatchNormalization') as unknown as { momentum: number }[];
  const batches = Math.max(1, Math.floor(indices.length / batch));
  for (let b = 0; b < batches; b++) {
    for (const layer of layers) layer.momentum = b / (b + 1);
    const first = tf.tidy(() => (copy.apply(toUnitRange(gatherBatch(pixels, indices.slice(b * batch, (b + 1) * batch), SIZE, 3)), { training: true }) as tf.Tensor2D).slice([0, 0], [1, 1]));
    await first.data();
    first.dispose();
  }
  return copy;
}

function dump(label: string, vectors: Float32Array, names: string[]): void {
  if (!DUMP) return;
  mkdirSync(DUMP, { recursive: true });
  writeFileSync(join(DUMP, `${label.replace(/[^a-z0-9]+/gi, '_')}.f32`), Buffer.from(vectors.buffer, vectors.byteOffset, vectors.byteLength));
  writeFileSync(join(DUMP, 'names.txt'), names.join('\n'));
}

/** The panel's outlier ranking (nearest by distance between unit rows) and the one it had before (cosine after centring). */
async function rankings(vectors: Float32Array, dim: number, count: number) {
  const { rows, lengths } = centredRows(vectors, dim, meanRow(vectors, dim));
  const { similar, nearest } = await neighbourLists(rows, lengths, dim, 10);
  const before = await cosineTopK(rows, rows, dim, 5, true);
  const centredScores = Float32Array.from({ length: count }, (_, i) => before.similarities.subarray(i * 5, i * 5 + 5).reduce((s, v) => s + 1 - v, 0) / 5);
  return { similar, now: rankOutliers(outlierScores(nearest, count, 5)), before: rankOutliers(centredScores), scores: outlierScores(nearest, count, 5) };
}

async function report(label: string, vectors: Float32Array, names: string[]): Promise<string> {
  dump(label, vectors, names);
  const count = names.length;
  const dim = vectors.length / count;
  const index = (name: string) => names.indexOf(name);
  const odd = names.filter((n) => n.startsWith('odd-'));
  const { similar, now, before } = await rankings(vectors, dim, count);
  const ranks = (ranking: number[]) => odd.map((n) => ranking.indexOf(index(n)) + 1).join(', ');
  // How typical each planted picture is: the share of the other images farther from the folder's mean than it.
  const { lengths } = centredRows(vectors, dim, meanRow(vectors, dim));
  const typical = odd.map((n) => `${Math.round((100 * lengths.filter((l, i) => i !== index(n) && l > lengths[index(n)]!).length) / (count - 1))} %`).join(', ');
  const groups = duplicateGroups(similar, count, THRESHOLD);
  const alone = PLANTED.filter(([a, b]) => groups.some((g) => g.length === 2 && g.includes(index(a)) && g.includes(index(b)))).length;
  const holding = Math.max(...PLANTED.map(([a]) => groups.find((g) => g.includes(index(a)))?.length ?? 0));
  // The least similar planted pair, and the most similar image to a planted one that is not its copy (centred cosine).
  const centred = centredUnitRows(vectors, dim, meanRow(vectors, dim));
  const cos = (i: number, j: number) => centred.subarray(i * dim, (i + 1) * dim).reduce((s, v, d) => s + v * centred[j * dim + d]!, 0);
  const pairs = PLANTED.map(([a, b]) => cos(index(a), index(b)));
  let intruder = -1;
  for (const [a, b] of PLANTED) for (const m of [index(a), index(b)]) for (let j = 0; j < count; j++) if (j !== index(a) && j !== index(b)) intruder = Math.max(intruder, cos(m, j));
  return (
    `${label.padEnd(40)} outliers (${odd.map((n) => n.slice(4, -4)).join(', ')}) at ${ranks(now).padEnd(7)} [before: ${ranks(before)}], nearer the mean than ${typical} of the others; ` +
    `at ${THRESHOLD}: ${alone}/${PLANTED.length} pairs alone, largest group with one ${holding}; least pair ${Math.min(...pairs).toFixed(3)}, closest other ${intruder.toFixed(3)}`
  );
}

/** Per kind of outlier, its rank when it is the only one planted, under the panel's score and the one before. */
async function candidates(label: string, vectors: Float32Array, names: string[]): Promise<string[]> {
  dump(label, vectors, names);
  const dim = vectors.length / names.length;
  const base = names.map((n, i) => (n.startsWith('odd-') ? -1 : i)).filter((i) => i >= 0);
  const lines: string[] = [];
  for (const kind of KINDS) {
    const rows = [...base, names.indexOf(`odd-${kind}.png`)];
    const subset = new Float32Array(rows.length * dim);
    rows.forEach((r, i) => subset.set(vectors.subarray(r * dim, (r + 1) * dim), i * dim));
    const { now, before } = await rankings(subset, dim, rows.length);
    lines.push(`${label.padEnd(10)} ${kind.padEnd(12)} rank ${String(now.indexOf(rows.length - 1) + 1).padStart(3)} [before: ${before.indexOf(rows.length - 1) + 1}]`);
  }
  return lines;
}

async function main() {
  await tf.setBackend('cpu');
  const { names, pixels } = await folder();
  const all = names.map((_, i) => i);
  // The browser test's run on a software adapter: the page's suggestion there (width 0.25, lr 3e-3), batch 8, no warm-up.
  const config = defaultTrainConfig(SIZE, 3);
  config.model.width = width;
  config.batchSize = batch;
  config.seed = runSeed;
  config.optim = { ...config.optim, learningRate: lr, warmupSteps: 0, totalSteps: Math.max(1, steps) };
  const state = createTrainState(config);
  const trainedOn = all.filter((i) => !(CANDIDATES && names[i]!.startsWith('odd-')));
  const sampler = new EpochSampler(trainedOn.length, batch, new Random(config.seed));
  for (let s = 0; s < steps; s++) {
    const images = gatherBatch(pixels, sampler.next().map((i) => trainedOn[i]!), SIZE, 3);
    try {
      await trainStep(state, images);
    } finally {
      images.dispose();
    }
  }
  const untrained = createEncoder(config.model, config.seed);
  const embed = (encoder: tf.LayersModel) => embedImages(encoder, pixels, all, SIZE, 3, batch);
  console.log(`seed ${seed}, ${steps} steps at batch ${batch}, width ${width}, lr ${lr}, run seed ${runSeed}`);
  if (CANDIDATES) {
    for (const [label, encoder] of [['untrained', untrained], ['trained', state.model.encoder]] as const) for (const line of await candidates(label, await embed(encoder), names)) console.log(line);
    return;
  }
  for (const [label, encoder] of [['untrained', untrained], ['trained', state.model.encoder]] as const) {
    console.log(await report(`${label}`, await embed(encoder), names));
    const recalibrated = await withFolderStatistics(encoder, config.model, pixels, all);
    console.log(await report(`${label}, folder's BN statistics`, await embed(recalibrated), names));
    recalibrated.dispose();
    const pool = tf.model({ inputs: encoder.inputs, outputs: encoder.getLayer('pool').output as tf.SymbolicTensor });
    console.log(await report(`${label}, pooled layer before h`, await embed(pool), names));
  }
  // Which of the trained encoder's changes moves the ranking: each kind of trained weight alone on the untrained encoder.
  const isStatistic = (n: string) => /moving_(mean|variance)/.test(n);
  const isAffine = (n: string) => /_bn\/(gamma|beta)/.test(n);
  const parts: [string, (n: string) => boolean][] = [
    ['trained moving statistics only', isStatistic],
    ['trained gamma and beta only', isAffine],
    ['trained kernels only', (n) => !isStatistic(n) && !isAffine(n)],
    ['all trained but moving statistics', (n) => !isStatistic(n)],
  ];
  for (const [label, fromTrained] of parts) {
    const mixed = createEncoder(config.model, config.seed);
    const trained = state.model.encoder.weights;
    mixed.setWeights(mixed.weights.map((w, i) => (fromTrained(w.originalName) ? trained[i]!.read() : w.read())));
    console.log(await report(label, await embed(mixed), names));
    mixed.dispose();
  }
}

await main();
