import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { expect, test, type Download, type Page } from './fixtures';
import { unzipSync, zipSync } from 'fflate';
import { readFileSync, writeFileSync } from 'node:fs';
import { pytorchName, readSafetensorsHeader } from '../src/export/safetensors';

async function unzipDownload(download: Download): Promise<Map<string, Uint8Array>> {
  return new Map(Object.entries(unzipSync(new Uint8Array(readFileSync(await download.path())))));
}

/** The first `n` sample images as the browser decodes them from the sprite: [n, 28, 28, 1] values 0–255. */
async function samplePixels(page: Page, n: number): Promise<number[]> {
  return page.evaluate(async (count) => {
    const manifest = await (await fetch('sample/fashion-mnist/manifest.json')).json();
    const bitmap = await createImageBitmap(await (await fetch(`sample/fashion-mnist/${manifest.sprite}`)).blob());
    const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
    const ctx = canvas.getContext('2d')!;
    ctx.drawImage(bitmap, 0, 0);
    const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
    const s = manifest.imageSize;
    const out: number[] = [];
    for (let i = 0; i < count; i++) {
      const x0 = (i % manifest.columns) * s;
      const y0 = Math.floor(i / manifest.columns) * s;
      for (let y = 0; y < s; y++) for (let x = 0; x < s; x++) out.push(data[((y0 + y) * bitmap.width + x0 + x) * 4]!);
    }
    return out;
  }, n);
}

async function chooseZip(page: Page, path: string) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Load model (.zip)' }).click();
  await (await chooser).setFiles(path);
}

test('the downloaded encoder loads in tfjs and gives the representation the app gave; safetensors and embeddings are complete; the zip loads back', async ({ page }, testInfo) => {
  test.setTimeout(300_000);
  await page.goto('/');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill('2');
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Map every (steps)').fill('100');
  await page.getByLabel('Images on the map').fill('8');
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

  // Weights: the Layers model gives, in Node, the representation the worker gave on WebGPU.
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
  const h = tf.tidy(() => {
    const out = encoder.predict(tf.div(tf.tensor4d(pixels, [n, 28, 28, 1]), 255)) as tf.Tensor2D;
    return tf.div(out, tf.norm(out, 'euclidean', 1, true).add(1e-12));
  });
  const ours = (await h.array()) as number[][];
  const expectTabRepresentation = (representation: number[][]) => {
    for (let i = 0; i < n; i++) {
      const theirs = rows[i]!.split('\t').map(Number);
      expect(theirs).toHaveLength(representation[i]!.length);
      const maxDiff = Math.max(...theirs.map((v, j) => Math.abs(v - representation[i]![j]!)));
      expect(maxDiff).toBeLessThan(1e-4);
    }
  };
  expectTabRepresentation(ours);

  // encoder.onnx, written in the worker from the same weights: the same h in onnxruntime, from NCHW input.
  const session = await ort.InferenceSession.create(zip.get('encoder.onnx')!);
  const onnxOut = await session.run({ image: new ort.Tensor('float32', Float32Array.from(pixels, (v) => v / 255), [n, 1, 28, 28]) });
  const onnxH = tf.tidy(() => {
    const out = tf.tensor2d(onnxOut.h!.data as Float32Array, onnxOut.h!.dims as [number, number]);
    return tf.div(out, tf.norm(out, 'euclidean', 1, true).add(1e-12));
  });
  expectTabRepresentation((await onnxH.array()) as number[][]);
  await session.release();

  // safetensors: every encoder weight, PyTorch-named, with its shape and byte size.
  const { tensors, dataStart } = readSafetensorsHeader(zip.get('weights.safetensors')!);
  const specs = modelJson.weightsManifest[0].weights as { name: string; shape: number[] }[];
  for (const spec of specs) {
    const name = `encoder.${pytorchName(spec.name)}`;
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

  // The zip loads back into a fresh page: it embeds the images as the trained run did. A zip cut short, or one that
  // is not tabclr's, is refused with the reason, and the loaded model stays.
  const zipPath = testInfo.outputPath('tabclr-convnet4-step2.zip');
  await download.saveAs(zipPath);
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
});
