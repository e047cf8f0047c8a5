import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { expect, samplePixels, test, unzipDownload, type Page } from './fixtures';
import { unzipSync, zipSync } from 'fflate';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { encodePng } from '../scripts/lib/png';
import { centreSquare } from '../src/data/files';
import { resizeBilinear } from '../src/data/resample';
import { pytorchName, readSafetensorsHeader } from '../src/export/safetensors';
import { runPython, run, torchrun } from '../src/test/python';

const CHECK_ZIPS = new URL('../src/export/python/check_zips.py', import.meta.url).pathname;
const TRAIN_DDP = new URL('../scripts/cluster/train_ddp.py', import.meta.url).pathname;

/** The first `n` sample images as PNG files, encoded by the browser from the sprite: a folder of images to train on. */
async function samplePngs(page: Page, n: number): Promise<Uint8Array[]> {
  const encoded = await page.evaluate(async (count) => {
    const manifest = await (await fetch('sample/fashion-mnist/manifest.json')).json();
    const bitmap = await createImageBitmap(await (await fetch(`sample/fashion-mnist/${manifest.sprite}`)).blob());
    const s = manifest.imageSize;
    const out: number[][] = [];
    for (let i = 0; i < count; i++) {
      const canvas = new OffscreenCanvas(s, s);
      canvas.getContext('2d')!.drawImage(bitmap, (i % manifest.columns) * s, Math.floor(i / manifest.columns) * s, s, s, 0, 0, s, s);
      out.push(Array.from(new Uint8Array(await (await canvas.convertToBlob({ type: 'image/png' })).arrayBuffer())));
    }
    return out;
  }, n);
  return encoded.map((bytes) => Uint8Array.from(bytes));
}

function writeTree(folder: string, files: Map<string, Uint8Array>): void {
  for (const [name, bytes] of files) {
    mkdirSync(dirname(join(folder, name)), { recursive: true });
    writeFileSync(join(folder, name), bytes);
  }
}

function readFloats(path: string): Float32Array {
  const bytes = readFileSync(path);
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

/** Rows scaled to unit length, as vectors.tsv holds the representation. */
function normalisedRows(values: ArrayLike<number>, dim: number): number[][] {
  return Array.from({ length: values.length / dim }, (_, i) => {
    const row = Array.from({ length: dim }, (_, j) => values[i * dim + j]!);
    const norm = Math.sqrt(row.reduce((sum, v) => sum + v * v, 0)) + 1e-12;
    return row.map((v) => v / norm);
  });
}

async function chooseZip(page: Page, path: string) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Load model (.zip)' }).click();
  await (await chooser).setFiles(path);
}

// One trained run serves every format, so that Python starts once (torchrun, then one check of every zip) and the
// browser trains once. The augmentation is gentle (smallest crop 0.6, no jitter) so that the cluster script's few steps
// on eight images show the loss falling below the no-learning level; it follows the recipe the zip records.
test('the downloaded zip gives the representation the app gave in tfjs, PyTorch, onnxruntime and OpenCV; it goes through torchrun on two processes and back into the page; embeddings are complete; bad zips are refused', async ({ page }, testInfo) => {
  test.setTimeout(420_000);
  await page.goto('/');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill('2');
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Map every (steps)').fill('100');
  await page.getByLabel('Images on the map').fill('8');
  await page.getByLabel('Smallest crop (fraction of area)').fill('0.6');
  await page.getByLabel('Jitter probability').fill('0');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });

  // Embeddings: one row per image, in the order of metadata.tsv.
  const embeddingsDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download embeddings (.zip)' }).click();
  const embeddings = await unzipDownload(await embeddingsDownload);
  const rows = new TextDecoder().decode(embeddings.get('vectors.tsv')!).trimEnd().split('\n');
  const metadata = new TextDecoder().decode(embeddings.get('metadata.tsv')!).trimEnd().split('\n');
  expect(rows).toHaveLength(300);
  expect(metadata).toHaveLength(301);
  expect(metadata[0]).toBe('name\tlabel');
  expect(metadata[1]).toMatch(/^(\S+)\/0000\.png\t\1$/);
  expect(embeddings.get('sprite.png')!.subarray(1, 4)).toEqual(new TextEncoder().encode('PNG'));

  // Weights, with the projection head: the Layers model gives, in Node, the representation the worker gave on WebGPU.
  await page.getByLabel('Include the projection head').check();
  const weightsDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download weights (.zip)' }).click();
  const download = await weightsDownload;
  expect(download.suggestedFilename()).toBe('tabclr-convnet4-step2.zip');
  const zip = await unzipDownload(download);
  const modelJson = JSON.parse(new TextDecoder().decode(zip.get('encoder/model.json')!));
  const shard = zip.get(`encoder/${modelJson.weightsManifest[0].paths[0]}`)!;
  await tf.setBackend('cpu');
  const encoder = await tf.loadLayersModel(tf.io.fromMemory(modelJson.modelTopology, modelJson.weightsManifest[0].weights, shard.slice().buffer));
  const n = 5;
  const pixels = await samplePixels(page, n);
  const layersH = tf.tidy(() => encoder.predict(tf.div(tf.tensor4d(pixels, [n, 28, 28, 1]), 255)) as tf.Tensor2D);
  const dim = layersH.shape[1];
  const tfjsH = (await layersH.data()) as Float32Array;
  const headJson = JSON.parse(new TextDecoder().decode(zip.get('projection_head/model.json')!));
  const headShard = zip.get(`projection_head/${headJson.weightsManifest[0].paths[0]}`)!;
  const head = await tf.loadLayersModel(tf.io.fromMemory(headJson.modelTopology, headJson.weightsManifest[0].weights, headShard.slice().buffer));
  const tfjsZ = (await (head.predict(layersH) as tf.Tensor).data()) as Float32Array;
  const ours = normalisedRows(tfjsH, dim);
  const expectTabRepresentation = (representation: number[][]) => {
    for (let i = 0; i < n; i++) {
      const theirs = rows[i]!.split('\t').map(Number);
      expect(theirs).toHaveLength(representation[i]!.length);
      const maxDiff = Math.max(...theirs.map((v, j) => Math.abs(v - representation[i]![j]!)));
      expect(maxDiff).toBeLessThan(1e-4);
    }
  };
  expectTabRepresentation(ours);

  // encoder.onnx, written in the worker from the same weights: the same h in onnxruntime, from NCHW input, and the
  // head's z as its second output.
  const session = await ort.InferenceSession.create(zip.get('encoder.onnx')!);
  const images = Float32Array.from(pixels, (v) => v / 255);
  const onnxOut = await session.run({ image: new ort.Tensor('float32', images, [n, 1, 28, 28]) });
  expectTabRepresentation(normalisedRows(onnxOut.h!.data as Float32Array, dim));
  expect(maxAbsDiff(onnxOut.z!.data as Float32Array, tfjsZ)).toBeLessThan(1e-4);
  await session.release();

  // safetensors: every encoder and head weight, PyTorch-named, with its shape and byte size.
  const { tensors, dataStart } = readSafetensorsHeader(zip.get('weights.safetensors')!);
  const specs = [
    ...(modelJson.weightsManifest[0].weights as { name: string; shape: number[] }[]).map((s) => ({ ...s, module: 'encoder' })),
    ...(headJson.weightsManifest[0].weights as { name: string; shape: number[] }[]).map((s) => ({ ...s, module: 'projection_head' })),
  ];
  for (const spec of specs) {
    const name = `${spec.module}.${pytorchName(spec.name)}`;
    const entry = tensors[name];
    expect(entry, name).toBeDefined();
    const shape = spec.shape.length === 4 ? [spec.shape[3], spec.shape[2], spec.shape[0], spec.shape[1]] : spec.shape.length === 2 ? [spec.shape[1], spec.shape[0]] : spec.shape;
    expect(entry!.shape).toEqual(shape);
    expect(entry!.data_offsets[1] - entry!.data_offsets[0]).toBe(4 * shape.reduce((a, b) => a! * b!, 1)!);
  }
  expect(Object.keys(tensors)).toHaveLength(specs.length);
  const total = Math.max(...Object.values(tensors).map((t) => t.data_offsets[1]));
  expect(zip.get('weights.safetensors')!.length).toBe(dataStart + total);
  const config = JSON.parse(new TextDecoder().decode(zip.get('config.json')!));
  expect(config).toMatchObject({ step: 2, input: { size: [28, 28], channels: 1 } });
  const zipPath = testInfo.outputPath('tabclr-convnet4-step2.zip');
  await download.saveAs(zipPath);

  // Tab → cluster: the cluster script continues the zip with torchrun on two CPU processes (gloo) for 20 steps on
  // eight sample images, following the zip's recipe (global batch 8, 4 per process) at a learning rate of 0.003.
  const unzipped = testInfo.outputPath('unzipped');
  writeTree(unzipped, zip);
  const tiny = testInfo.outputPath('tiny');
  writeTree(tiny, new Map((await samplePngs(page, 8)).map((png, i) => [`${String(i).padStart(4, '0')}.png`, png])));
  const clusterZip = testInfo.outputPath('cluster.zip');
  // --redirects 1 --tee 1: Debian's torchrun (torch 1.13 on Python 3.11) fails at its default of no redirection.
  const trained = run([...torchrun(), '--nproc_per_node', '2', '--redirects', '1', '--tee', '1', TRAIN_DDP,
    '--model', zipPath, '--data', tiny, '--steps', '20', '--lr', '0.003', '--loader-workers', '0', '--out', clusterZip, '--json']);
  const records = trained.split('\n').map((line) => line.replace(/^\[\w+\]:/, '')).filter((line) => line.startsWith('{')).map((line) => JSON.parse(line));
  const losses = records.filter((r) => r.type === 'step').map((r) => r.loss as number);
  expect(losses).toHaveLength(20);
  expect(losses.every(Number.isFinite)).toBe(true);
  const level = Math.log(2 * 8 - 1);
  const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  expect(mean(losses.slice(-5))).toBeLessThan(level);
  expect(mean(losses.slice(-5))).toBeLessThan(mean(losses.slice(0, 3)));
  expect(records.at(-1)).toMatchObject({ type: 'summary', step: 22 });
  const cluster = new Map(Object.entries(unzipSync(new Uint8Array(readFileSync(clusterZip)))));
  expect([...cluster.keys()].sort()).toEqual([
    'README.md', 'config.json', 'encoder/group1-shard1of1.bin', 'encoder/model.json',
    'projection_head/group1-shard1of1.bin', 'projection_head/model.json', 'tabclr_torch.py', 'weights.safetensors',
  ]);
  expect(JSON.parse(new TextDecoder().decode(cluster.get('config.json')!))).toMatchObject({
    step: 22,
    training: { batchSize: 8, optim: { learningRate: 0.003, totalSteps: 20, warmupSteps: 0 }, augment: { cropAreaMin: 0.6, jitterProb: 0 } },
    continued_with: { from_step: 2, steps: 20, processes: 2, backend: 'gloo' },
  });
  const clusterDir = testInfo.outputPath('cluster');
  writeTree(clusterDir, cluster);

  // One Python run checks them all: the downloaded folder with its own tabclr_torch.py (h, z) and encoder.onnx (onnx's
  // checker, OpenCV); the README's Python snippets verbatim in that folder; the cluster's zip read as a .zip.
  const imagesPath = testInfo.outputPath('images.bin');
  writeFileSync(imagesPath, images);
  const shape = [n, 1, 28, 28];
  const out = (name: string) => testInfo.outputPath('python', name);
  const blocks = [...new TextDecoder().decode(zip.get('README.md')!).matchAll(/```python\n([\s\S]*?)```/g)].map((m) => m[1]!);
  expect(blocks).toHaveLength(3);
  // The first prepares an image file as the tab did; it runs on a 60 × 45 picture, and must give the tab's pixels.
  const [prepare, ...snippets] = blocks;
  expect(prepare).toContain('from PIL import Image');
  const [pw, ph] = [60, 45];
  const picture = Uint8Array.from({ length: pw * ph }, (_, i) => ((i % pw) * 37 + Math.floor(i / pw) * 11 + ((i * 7919) % 61)) % 256);
  const picturePath = testInfo.outputPath('picture.png');
  writeFileSync(picturePath, encodePng(picture, pw, ph, 1));
  const { sx, sy, side } = centreSquare(pw, ph);
  const square = Uint8Array.from({ length: side * side }, (_, i) => picture[(sy + Math.floor(i / side)) * pw + sx + (i % side)]!);
  const job = testInfo.outputPath('job.json');
  writeFileSync(job, JSON.stringify({
    cases: [
      { name: 'download', module: join(unzipped, 'tabclr_torch.py'), model: unzipped, images: imagesPath, shape, out: out('download'), onnx: join(unzipped, 'encoder.onnx') },
      { name: 'prepare', code: prepare, cwd: unzipped, images: imagesPath, shape, out: out('prepare'), path: picturePath },
      ...snippets.map((code, i) => ({ name: `readme${i}`, code, cwd: unzipped, images: imagesPath, shape, out: out(`readme${i}`) })),
      { name: 'cluster', module: join(clusterDir, 'tabclr_torch.py'), model: clusterZip, images: imagesPath, shape, out: out('cluster') },
    ],
  }));
  const report = JSON.parse(runPython([CHECK_ZIPS, job])) as { results: { name: string; ok: boolean; onnx?: { checker: string }; pixels?: number[] }[] };
  expect(report.results.map((r) => [r.name, r.ok])).toEqual([['download', true], ['prepare', true], ['readme0', true], ['readme1', true], ['cluster', true]]);
  expect(report.results[1]!.pixels).toEqual([28, 28]);
  expect(new Uint8Array(readFileSync(join(out('prepare'), 'pixels.bin')))).toEqual(resizeBilinear(square, side, side, 1, 1, 28, 28));
  expect(report.results[0]!.onnx).toMatchObject({ checker: 'passed', opsets: { '': 13 } });
  const torchH = readFloats(join(out('download'), 'h.bin'));
  expect(maxAbsDiff(torchH, tfjsH)).toBeLessThan(1e-4);
  expectTabRepresentation(normalisedRows(torchH, dim));
  expect(maxAbsDiff(readFloats(join(out('download'), 'z.bin')), tfjsZ)).toBeLessThan(1e-4);
  expect(maxAbsDiff(readFloats(join(out('download'), 'h_opencv.bin')), tfjsH)).toBeLessThan(1e-4);
  expect(maxAbsDiff(readFloats(join(out('download'), 'z_opencv.bin')), tfjsZ)).toBeLessThan(1e-4);
  expect(maxAbsDiff(readFloats(join(out('readme0'), 'h.bin')), tfjsH)).toBeLessThan(1e-4); // PyTorch
  expect(maxAbsDiff(readFloats(join(out('readme1'), 'h.bin')), tfjsH)).toBeLessThan(1e-4); // OpenCV
  // The cluster's zip: its Layers model (what the page loads) and its safetensors (what PyTorch loads) hold the same
  // trained weights, which moved away from the tab's.
  const clusterJson = JSON.parse(new TextDecoder().decode(cluster.get('encoder/model.json')!));
  const clusterEncoder = await tf.loadLayersModel(
    tf.io.fromMemory(clusterJson.modelTopology, clusterJson.weightsManifest[0].weights, cluster.get('encoder/group1-shard1of1.bin')!.slice().buffer),
  );
  const clusterTfjsH = (await (clusterEncoder.predict(tf.tensor4d(images, [n, 28, 28, 1])) as tf.Tensor).data()) as Float32Array;
  const clusterTorchH = readFloats(join(out('cluster'), 'h.bin'));
  expect(maxAbsDiff(clusterTorchH, clusterTfjsH)).toBeLessThan(1e-4);
  expect(maxAbsDiff(clusterTorchH, tfjsH)).toBeGreaterThan(1e-3);

  // The zip loads back into a fresh page: it embeds the images as the trained run did. A zip cut short, or one that
  // is not tabclr's, is refused with the reason, and the loaded model stays.
  await page.reload();
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await expect(page.getByRole('button', { name: 'Download embeddings (.zip)' })).toBeDisabled();
  const runs = page.getByRole('region', { name: 'Saved runs' });
  await chooseZip(page, zipPath);
  await expect(runs.getByText(/Loaded tabclr-convnet4-step2\.zip: convnet4 \(width 0\.125\), 28 px × 1, trained for 2 steps/)).toBeVisible();
  await expect(runs).toContainText('The map and “Download embeddings” use it');
  await expect(page.getByLabel('Width multiplier', { exact: true })).toHaveValue('0.125');
  const again = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download embeddings (.zip)' }).click();
  const reloaded = await unzipDownload(await again);
  expect(reloaded.get('vectors.tsv')).toEqual(embeddings.get('vectors.tsv'));

  const bytes = new Uint8Array(readFileSync(zipPath));
  const cut = testInfo.outputPath('cut.zip');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await chooseZip(page, cut);
  await expect(page.getByRole('alert')).toContainText('cut.zip cannot be loaded: it is not a zip file, or it is damaged or cut short');
  await page.getByRole('button', { name: 'Dismiss' }).click();
  const foreign = testInfo.outputPath('holiday.zip');
  writeFileSync(foreign, zipSync({ 'photo.txt': new TextEncoder().encode('not a model') }));
  await chooseZip(page, foreign);
  await expect(page.getByRole('alert')).toContainText('holiday.zip cannot be loaded: it has no config.json, so it is not a model downloaded from tabclr');
  await expect(runs.getByText(/Loaded tabclr-convnet4-step2\.zip/)).toBeVisible();
  await expect(page.getByRole('button', { name: 'Download embeddings (.zip)' })).toBeEnabled();

  // Cluster → tab: the continued zip loads, maps the sample at step 22, and the page's representation of the sample is
  // the one PyTorch computed.
  await chooseZip(page, clusterZip);
  await expect(runs.getByText(/Loaded cluster\.zip: convnet4 \(width 0\.125\), 28 px × 1, trained for 22 steps/)).toBeVisible();
  await expect(page.getByRole('img', { name: /Embedding map: \d+ images at step 22/ })).toBeVisible({ timeout: 60_000 });
  const fromCluster = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download embeddings (.zip)' }).click();
  const clusterRows = new TextDecoder().decode((await unzipDownload(await fromCluster)).get('vectors.tsv')!).trimEnd().split('\n');
  const clusterOurs = normalisedRows(clusterTorchH, dim);
  for (let i = 0; i < n; i++) expect(maxAbsDiff(clusterRows[i]!.split('\t').map(Number), clusterOurs[i]!)).toBeLessThan(1e-4);
});
