// MoCo v2 as a user meets it: chosen on the sample (its queue fitted to the 300 images), trained, the page reloaded
// mid-run, the run continued from its checkpoint with the same queue (the step, the loss and the queue's age go on
// where they were), and the weights zip read by tabclr_torch.load_encoder, onnxruntime and OpenCV.
import * as tf from '@tensorflow/tfjs';
import * as ort from 'onnxruntime-web';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { runPython } from '../src/test/python';
import { expect, lossChart, lossReading, samplePixels, test, unzipDownload, type Page } from './fixtures';

const CHECK_ZIPS = new URL('../src/export/python/check_zips.py', import.meta.url).pathname;

// Two trainer start-ups, each compiling the GPU pipelines of both networks on a software adapter.
test.describe.configure({ timeout: 600_000 });

interface Report {
  step: number;
  methodLoss: number;
  diagnostics: Record<string, number>;
}

/** The page ready (GPU checked, the sample loaded), keeping every step's report from now on. */
async function ready(page: Page) {
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed', { timeout: 120_000 });
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await page.evaluate(() => {
    const w = window as unknown as { reports: unknown[]; tabclrAutomation: { onWorkerMessages(f: (m: { type: string; report?: unknown }[]) => void): void } };
    w.reports = [];
    w.tabclrAutomation.onWorkerMessages((messages) => {
      for (const m of messages) if (m.type === 'metrics') w.reports.push(m.report);
    });
  });
}

const reports = (page: Page) => page.evaluate(() => (window as unknown as { reports: Report[] }).reports.map((r) => ({ step: r.step, methodLoss: r.methodLoss, diagnostics: r.diagnostics })));

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

test('MoCo v2 trains on the sample, continues after a reload with the same queue, and downloads a zip that PyTorch and ONNX read', async ({ page }, testInfo) => {
  // ?automation: the page's handle on the trainer's messages, to read every step's diagnostics.
  await page.goto('/?automation');
  await ready(page);
  await page.getByLabel('Method', { exact: true }).selectOption('moco');
  // The default queue (4,096 keys) is longer than the sample's 300 images: choosing MoCo fits it to them, and more is
  // refused with the reason.
  const queue = page.getByLabel('Queue size', { exact: true });
  await expect(queue).toHaveValue('300');
  await queue.fill('301');
  await expect(page.getByText(/must be at most 300: the folder has 300 images: a longer queue would hold an image’s own keys/)).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start' })).toBeDisabled();
  // 24 keys, 16 enqueued a step (both views of a batch of 8): from step 2 on, the oldest key is 2 steps old. A queue
  // started afresh would be 1 step older each step until it had turned over.
  await queue.fill('24');
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill('6');
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Images on the map', { exact: true }).fill('50');
  await page.getByLabel('Checkpoint every (steps)', { exact: true }).fill('1');
  await page.getByRole('button', { name: 'Start' }).click();

  // Paused mid-run after a checkpoint; the page is reloaded (the worker goes with it).
  const saved = page.getByRole('region', { name: 'Saved runs' });
  await expect(saved.getByText('Checkpoint saved at step 2')).toBeVisible({ timeout: 300_000 });
  await page.getByRole('button', { name: 'Pause' }).click();
  const runState = page.locator('.run-state');
  await expect(runState).toContainText('Paused', { timeout: 120_000 });
  const pausedAt = Number(/step (\d) of 6/.exec((await runState.textContent())!)![1]);
  expect(pausedAt).toBeGreaterThanOrEqual(2);
  expect(pausedAt).toBeLessThan(6);
  const before = await lossReading(page, pausedAt);
  const first = await reports(page);
  expect(first.map((r) => r.step)).toEqual(Array.from({ length: pausedAt }, (_, i) => i + 1));
  // Step 1 scores its views against the random starting queue; then the queue holds real keys.
  expect(first.map((r) => r.diagnostics.queueAge)).toEqual(first.map((r) => Math.min(r.step, 2)));
  for (const r of first) expect(Number.isFinite(r.methodLoss) && r.diagnostics.positiveAcc! >= 0 && r.diagnostics.positiveAcc! <= 1).toBe(true);
  await expect(page.getByRole('img', { name: new RegExp(`^Queue age \\(steps\\) chart; latest 2(\\.0+)? at step ${pausedAt}; dashed: full turn, K / 2N`) })).toBeAttached();
  await expect(page.getByRole('img', { name: /^Positive accuracy chart; latest .* dashed: chance/ })).toBeAttached();
  await expect(lossChart(page)).toHaveAccessibleName(/dashed: no learning \(ln 25 = 3\.22\)/);

  await page.reload();
  await ready(page);
  const offer = page.getByRole('region', { name: 'Resume last run' });
  await expect(offer).toContainText(`stopped at step ${pausedAt} of 6`);
  await offer.getByRole('button', { name: 'Continue last run' }).click();
  await expect(runState).toContainText(`step ${pausedAt} of 6`);
  expect(await lossReading(page, pausedAt)).toBe(before);
  await expect(page.getByLabel('Method', { exact: true })).toHaveValue('moco');
  await expect(queue).toHaveValue('24');
  await expect(runState).toContainText('step 6 of 6', { timeout: 300_000 });
  const resumed = await reports(page);
  expect(resumed.map((r) => r.step)).toEqual(Array.from({ length: 6 - pausedAt }, (_, i) => pausedAt + i + 1));
  // The same queue: its oldest key is 2 steps old at once (a fresh queue's would be pausedAt + 1 steps old), and the
  // loss is that of a queue of real keys, not of random ones (step 1's, far lower).
  expect(resumed.map((r) => r.diagnostics.queueAge)).toEqual(resumed.map(() => 2));
  expect(resumed[0]!.methodLoss).toBeGreaterThan(first[0]!.methodLoss + 0.5);

  // The weights zip, with the head: the query encoder and head only.
  await page.getByLabel('Include the projection head').check();
  const weightsDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download weights (.zip)' }).click();
  const zip = await unzipDownload(await weightsDownload);
  expect([...zip.keys()].filter((name) => /key|queue/.test(name))).toEqual([]);
  const config = JSON.parse(new TextDecoder().decode(zip.get('config.json')!));
  expect(config).toMatchObject({ step: 6, training: { method: { name: 'moco', queueSize: 24 } } });
  const modelJson = JSON.parse(new TextDecoder().decode(zip.get('encoder/model.json')!));
  const headJson = JSON.parse(new TextDecoder().decode(zip.get('projection_head/model.json')!));
  await tf.setBackend('cpu');
  const encoder = await tf.loadLayersModel(tf.io.fromMemory(modelJson.modelTopology, modelJson.weightsManifest[0].weights, zip.get('encoder/group1-shard1of1.bin')!.slice().buffer));
  const head = await tf.loadLayersModel(tf.io.fromMemory(headJson.modelTopology, headJson.weightsManifest[0].weights, zip.get('projection_head/group1-shard1of1.bin')!.slice().buffer));
  const n = 5;
  const pixels = await samplePixels(page, n);
  const images = Float32Array.from(pixels, (v) => v / 255);
  const layersH = encoder.predict(tf.tensor4d(images, [n, 28, 28, 1])) as tf.Tensor2D;
  const tfjsH = (await layersH.data()) as Float32Array;
  const tfjsZ = (await (head.predict(layersH) as tf.Tensor).data()) as Float32Array;

  // encoder.onnx: h, and MoCo's head's z (dense → ReLU → dense) as its second output.
  const session = await ort.InferenceSession.create(zip.get('encoder.onnx')!);
  const onnxOut = await session.run({ image: new ort.Tensor('float32', images, [n, 1, 28, 28]) });
  expect(maxAbsDiff(onnxOut.h!.data as Float32Array, tfjsH)).toBeLessThan(1e-4);
  expect(maxAbsDiff(onnxOut.z!.data as Float32Array, tfjsZ)).toBeLessThan(1e-4);
  await session.release();

  // tabclr_torch.load_encoder (the zip's own module) and OpenCV on encoder.onnx, in one Python run.
  const folder = testInfo.outputPath('moco');
  for (const [name, bytes] of zip) {
    mkdirSync(dirname(join(folder, name)), { recursive: true });
    writeFileSync(join(folder, name), bytes);
  }
  const imagesPath = testInfo.outputPath('images.bin');
  writeFileSync(imagesPath, images);
  const out = testInfo.outputPath('python');
  const job = testInfo.outputPath('job.json');
  writeFileSync(job, JSON.stringify({
    cases: [{ name: 'moco', module: join(folder, 'tabclr_torch.py'), model: folder, entry: 'load_encoder', images: imagesPath, shape: [n, 1, 28, 28], out, onnx: join(folder, 'encoder.onnx') }],
  }));
  const report = JSON.parse(runPython([CHECK_ZIPS, job])) as { results: { name: string; ok: boolean; error?: string; onnx?: { checker: string } }[] };
  expect(report.results.map((r) => [r.name, r.ok, r.error])).toEqual([['moco', true, undefined]]);
  expect(report.results[0]!.onnx).toMatchObject({ checker: 'passed' });
  expect(maxAbsDiff(readFloats(join(out, 'h.bin')), tfjsH)).toBeLessThan(1e-4);
  expect(maxAbsDiff(readFloats(join(out, 'h_opencv.bin')), tfjsH)).toBeLessThan(1e-4);
  expect(maxAbsDiff(readFloats(join(out, 'z_opencv.bin')), tfjsZ)).toBeLessThan(1e-4);
});
