// Quality benchmark: train on a labelled folder in the built app, then score the frozen representation by kNN on a
// labelled test folder, next to the same encoder untrained and to raw pixels, all in the same run.
//
//   npm run build                                   # once: this script serves dist/ (or TABCLR_DIST), it builds nothing
//   tsx scripts/fashion-mnist.ts --folders DIR --train 200 --test 100    # labelled folders, e.g. Fashion-MNIST
//   npm run bench:quality -- --train DIR/train --test DIR/test [--steps N] [--image-size S] [--batch B]
//                            [--encoder NAME] [--width W] [--lr LR] [--backend webgpu|webgl] [--seed N]
//                            [--pixels-out PREFIX] [--json]
//
// Defaults: convnet4, width 0.25, batch 32, 600 steps, Adam 3e-3, 16 px, on the backend the page picks (WebGPU where
// granted); the rest of the settings as the page suggests (temperature, augmentation, warm-up).
//
// It serves the build with `vite preview` on port 4178 and drives the app in headless Chromium (flags from
// e2e/browser.ts) as a person does, through `?automation`:
//   1. imports the train folder at S px, fills the Train panel, starts the run and pauses it before its first step,
//      and saves "Download weights" (the encoder as initialised); resumes, and once the N steps are done saves
//      "Download weights" and "Download embeddings" (the train images' representation, labels and pixels);
//   2. loads the untrained weights back ("Load model"), saves "Download embeddings" of the train folder; imports the
//      test folder (the loaded model embeds it) and saves its embeddings; loads the trained weights and saves the test
//      folder's embeddings again;
//   3. in Node, computes kNN accuracy (k = 20, cosine, weighted vote; the app's src/engine/knn.ts) with the train
//      folder as the memory and the test folder as the queries: for the trained encoder, the same encoder as
//      initialised (the run's seed, step 0), and raw pixels (the images as the app decoded them, from its sprite).
// Every representation is the app's own; it asserts no accuracy or time.
import type { Download, Page } from '@playwright/test';
import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { decodePng } from '../e2e/fixtures';
import type { TrainConfig } from '../src/engine/config';
import { describeMethod, methodOf, methodSettings, type MethodName } from '../src/engine/methods';
import { resolve } from 'node:path';
import {
  BACKENDS,
  ENCODERS,
  configureRun,
  describeBackend,
  download,
  finished,
  importFolder,
  loadModel,
  modelMapped,
  openApp,
  resume,
  startPausedAtStepZero,
  RUN_OPTIONS,
  RUN_USAGE,
  type OpenedApp,
} from './lib/app';
import { pathText, wholeNumber } from './lib/args';
import { ScriptFailure, createBench, machine, parseArgs, print, report, requireDist, round, type RunStart } from './lib/bench';
import { folderOrExit } from './lib/folder';
import { KNN_K, evaluate, imagesFromSprite, indexLabels, readEmbeddings, unzip, type EmbeddingsExport, type LabelledImages } from './lib/quality';
import { summariseSteps } from './lib/runs';

const PORT = 4178;
const USAGE = `usage: npm run bench:quality -- --train DIR --test DIR ${RUN_USAGE} [--seed N] [--pixels-out PREFIX] [--json]`;

const options = parseArgs(process.argv.slice(2), {
  name: 'bench:quality',
  usage: USAGE,
  defaults: {
    train: undefined as string | undefined,
    test: undefined as string | undefined,
    method: undefined as MethodName | undefined,
    // The same small run on every machine, so that figures compare: about ten minutes on a software adapter's WebGL.
    steps: 600,
    'image-size': 16,
    batch: 32,
    encoder: 'convnet4' as (typeof ENCODERS)[number],
    width: 0.25,
    // Adam 3e-3: in a run this short the page's 1e-3 gains little over the untrained encoder (BENCHMARKS.md).
    lr: 0.003 as number | undefined,
    backend: undefined as (typeof BACKENDS)[number] | undefined,
    // The page's own seed unless given (npm run bench:parity runs several).
    seed: undefined as number | undefined,
    // Where to write the images as the app decoded them (PREFIX.json, PREFIX.train.u8, PREFIX.test.u8), for
    // bench:parity to set against PIL's.
    'pixels-out': undefined as string | undefined,
  },
  values: { ...RUN_OPTIONS, train: pathText, test: pathText, seed: wholeNumber(0, 2 ** 32 - 1), 'pixels-out': pathText },
  required: ['train', 'test'],
});
// Both read here, links followed, so that a loop or an unreadable folder is refused before the browser opens.
const folders = { train: folderOrExit('bench:quality', options.train!, 'train'), test: folderOrExit('bench:quality', options.test!, 'test') };
requireDist('bench:quality');

const harness = createBench('bench:quality', PORT);
const log = harness.log;

async function bytesOf(file: Download): Promise<Uint8Array> {
  return new Uint8Array(readFileSync(await file.path()));
}

/** "Download embeddings" of the images loaded now, read. */
async function embeddings(app: OpenedApp, what: string): Promise<EmbeddingsExport> {
  const zip = unzip(await bytesOf(await download(app, 'embeddings')));
  const read = readEmbeddings(zip, `the embeddings of ${what}`);
  if (!read.labels) throw new ScriptFailure(`${what} has no labels: put each class's images in a sub-folder named after it`, 2);
  return read;
}

/** The images of an embeddings export as the app decoded them (its sprite), with their labels' indices. */
async function imagesOf(page: Page, e: EmbeddingsExport, imageSize: number, channels: 1 | 3, labels: Int32Array, what: string): Promise<LabelledImages> {
  if (e.thumb !== imageSize) throw new ScriptFailure(`${what}: too many images for the app's sprite to keep them at full size (${e.thumb} px cells)`);
  const sprite = await decodePng(page, e.sprite);
  return { pixels: imagesFromSprite(sprite.rgba, sprite.width, e.names.length, e.thumb, channels), count: e.names.length, labels };
}

/** Two exports of the same images must list them in the same order. */
function sameImages(a: EmbeddingsExport, b: EmbeddingsExport, what: string): void {
  if (a.names.length !== b.names.length || a.names.some((n, i) => n !== b.names[i])) throw new ScriptFailure(`the two exports of ${what} list different images`);
}

interface Phase {
  name: string;
  seconds: number;
}

async function main({ command, loadBefore, started }: RunStart): Promise<void> {
  const { steps, json } = options;
  const size = options['image-size'];
  const trainDir = folders.train.dir;
  const testDir = folders.test.dir;
  const phases: Phase[] = [];
  let phaseStart = Date.now();
  const phase = (name: string) => {
    const now = Date.now();
    phases.push({ name, seconds: round((now - phaseStart) / 1000, 1) });
    log(`  ${name}: ${((now - phaseStart) / 1000).toFixed(1)} s`);
    phaseStart = now;
  };

  const { browser, chromiumVersion } = await harness.start();
  const app: OpenedApp = await openApp(harness, browser, { backend: options.backend });
  log(`trainer on ${describeBackend(app.backend)}`);
  phase('open the app');

  // 1. The run on the train folder, with its weights as initialised and as trained.
  log(`importing the train folder ${trainDir} at ${size} px`);
  const trainImport = await importFolder(app, folders.train, size, { log });
  if (!trainImport.dataset.labelled) throw new ScriptFailure(`--train ${trainDir} has no labels: put each class's images in a sub-folder named after it`, 2);
  const { channels } = trainImport.dataset;
  // The map only at the end, and small: monitoring between steps is not what is measured.
  const { config } = await configureRun(app, {
    method: options.method,
    encoder: options.encoder,
    width: options.width,
    batch: options.batch,
    steps,
    learningRate: options.lr,
    mapEvery: steps,
    mapImages: 50,
    seed: options.seed,
  });
  log(
    `  ${trainImport.dataset.count} images; training ${config.model.encoder} (width ${config.model.width}) for ${steps} steps of batch ${config.batchSize}, ` +
      `${config.optim.optimizer} lr ${config.optim.learningRate}, ${describeMethod(config.method)}, seed ${config.seed}`,
  );
  const from = await startPausedAtStepZero(app);
  const initialWeights = await download(app, 'weights');
  const initial = { name: initialWeights.suggestedFilename(), bytes: await bytesOf(initialWeights) };
  phase('train folder: import, compile, baselines, untrained weights');
  await resume(app);
  let lastLog = 0;
  const following = app.events.on(({ message, at }) => {
    if (message.type !== 'metrics' || (at - lastLog < 30_000 && message.report.step !== steps)) return;
    lastLog = at;
    log(`  step ${message.report.step}/${steps}: loss ${message.report.loss.toFixed(4)}, ${message.report.imagesPerSec.toFixed(1)} images/s`);
  });
  await finished(app, from, steps);
  following();
  phase(`train: ${steps} steps`);
  const reports = app.events.all('metrics', from).map((r) => r.message.report);
  const monitorKnn = app.events
    .all('snapshot', from)
    .map((r) => r.message.snapshot)
    .filter((s) => s.method === 'pca' && s.knnAccuracy !== null)
    .at(-1);
  const monitorBaselines = app.events.all('baselines', from).at(-1)?.message ?? null;
  const trainedWeights = await download(app, 'weights');
  const trained = { name: trainedWeights.suggestedFilename(), bytes: await bytesOf(trainedWeights) };
  const trainTrained = await embeddings(app, `--train ${trainDir}`);
  phase('train folder: trained weights and embeddings');

  // 2. Both encoders on both folders, through "Load model".
  await loadModel(app, initial.bytes, initial.name);
  const trainInitial = await embeddings(app, `--train ${trainDir}`);
  sameImages(trainTrained, trainInitial, `--train ${trainDir}`);
  phase('train folder: untrained embeddings');
  log(`importing the test folder ${testDir} at ${size} px`);
  const beforeTest = app.events.mark();
  const testImport = await importFolder(app, folders.test, size, { log });
  if (!testImport.dataset.labelled) throw new ScriptFailure(`--test ${testDir} has no labels: put each class's images in a sub-folder named after it`, 2);
  if (testImport.dataset.channels !== channels) throw new ScriptFailure('the train and test folders differ in colour (one is grayscale, the other not)', 2);
  await modelMapped(app, beforeTest);
  const testInitial = await embeddings(app, `--test ${testDir}`);
  await loadModel(app, trained.bytes, trained.name);
  const testTrained = await embeddings(app, `--test ${testDir}`);
  sameImages(testInitial, testTrained, `--test ${testDir}`);
  phase('test folder: import, untrained and trained embeddings');

  const labels = indexLabels(trainTrained.labels!, testTrained.labels!);
  if (labels.unseenTestClasses.length) log(`warning: test classes with no train image (never right): ${labels.unseenTestClasses.join(', ')}`);
  const trainImages = await imagesOf(app.page, trainTrained, size, channels, labels.train, `--train ${trainDir}`);
  const testImages = await imagesOf(app.page, testInitial, size, channels, labels.test, `--test ${testDir}`);
  await app.context.close();
  if (options['pixels-out']) {
    const prefix = resolve(options['pixels-out']);
    writeFileSync(`${prefix}.train.u8`, trainImages.pixels);
    writeFileSync(`${prefix}.test.u8`, testImages.pixels);
    const split = (e: EmbeddingsExport, l: Int32Array) => ({ count: e.names.length, names: e.names, labels: Array.from(l) });
    writeFileSync(`${prefix}.json`, JSON.stringify({ classes: labels.classNames, channels, size, train: split(trainTrained, labels.train), test: split(testInitial, labels.test) }));
  }

  // 3. kNN in Node, with the app's code.
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const vectors = {
    trained: { train: trainTrained.vectors, test: testTrained.vectors },
    initial: { train: trainInitial.vectors, test: testInitial.vectors },
    dim: trainTrained.dim,
  };
  const knn = await evaluate(vectors, trainImages, testImages, labels, size, channels);
  phase('kNN in Node');

  const run = summariseSteps(reports, 1);
  const { nproc, cpuModel, os, ramGiB } = machine();
  const date = new Date().toISOString();
  const summary = {
    kind: 'summary',
    ...knn,
    steps: run.steps,
    images_per_sec: run.images_per_sec,
    final_loss: run.final_loss,
    final_method_loss: run.final_method_loss,
    ...Object.fromEntries(Object.entries(run).filter(([key]) => key.startsWith('final_') && !['final_loss', 'final_method_loss', 'final_embedding_std'].includes(key))),
    // The method's loss at every step, and the mean of the last 10 (the smoothed loss bench:parity compares).
    losses: reports.map((r) => r.methodLoss),
    loss_last10: reports.slice(-10).reduce((a, r) => a + r.methodLoss, 0) / Math.min(10, reports.length),
    final_embedding_std: run.final_embedding_std,
    step_ms_median: run.step_ms_median,
    k: KNN_K,
    train_images: trainImages.count,
    test_images: testImages.count,
    classes: labels.classNames.length,
    image_size: size,
    channels,
    encoder: config.model.encoder,
    width: config.model.width,
    batch: config.batchSize,
    method: config.method,
    seed: config.seed,
    // The app's own monitor on held-out train images (its split, its memory): for reference.
    monitor_knn_acc: monitorKnn?.knnAccuracy ?? null,
    monitor_knn_acc_random_init: monitorBaselines?.randomInit ?? null,
    monitor_knn_acc_raw_pixels: monitorBaselines?.rawPixels ?? null,
    weights: { untrained: initial.name, trained: trained.name },
    phases,
    backend: app.backend.backend,
    adapter: describeBackend(app.backend),
    nproc,
    cpu: cpuModel,
    chromium: chromiumVersion,
    date,
    command,
  };
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)} %`);
  const text = report(
    { command, loadBefore, started },
    {
      machine: `${cpuModel}, ${os}, ${ramGiB} GiB RAM`,
      chromium: `${chromiumVersion}, headless, WebGPU flags from e2e/browser.ts; ${describeBackend(app.backend)}`,
      date,
      details: [
        `Data:     train ${trainImages.count} images (${trainDir}), test ${testImages.count} images (${testDir}), ${labels.classNames.length} classes, ` +
          `${size} px, ${channels === 1 ? 'grayscale' : 'colour'}`,
        `Run:      ${config.model.encoder} (width ${config.model.width}), batch ${config.batchSize}, ${steps} steps, ${config.optim.optimizer} lr ` +
          `${config.optim.learningRate}, warm-up ${config.optim.warmupSteps}, ${describeMethod(config.method)}, seed ${config.seed}; ` +
          `${run.images_per_sec} images/s (median step ${(run.step_ms_median / 1000).toFixed(2)} s)`,
      ],
      rows: [
        ['Representation', `kNN accuracy on the test folder (k = ${KNN_K}, cosine)`, "App's monitor (held-out train images)"],
        [`trained encoder (step ${steps})`, pct(knn.knn_acc), pct(summary.monitor_knn_acc)],
        ['the same encoder untrained (step 0)', pct(knn.knn_acc_random_init), pct(summary.monitor_knn_acc_random_init)],
        ['raw pixels', pct(knn.knn_acc_raw_pixels), pct(summary.monitor_knn_acc_raw_pixels)],
      ],
      notes: [
        finalLossNote(config, run.final_method_loss),
        `Time: ${phases.map((p) => `${p.name} ${p.seconds} s`).join('; ')}.`,
      ],
    },
  );
  print(text, json, () => [summary]);
}

harness.run(main);

/** "Final NT-Xent 2.54 (no learning: ln 63 = 4.14)": the last step's loss against its method's reference level. */
function finalLossNote(config: TrainConfig, loss: number): string {
  const method = methodOf(config.method);
  const levels = method.levels({ batchSize: config.batchSize, projectionDim: config.model.projectionDim, settings: methodSettings(config.method) });
  const level = levels.noLearning ? `no learning: ${levels.noLearning.label}` : `collapse: ${levels.collapsed.label}`;
  return `Final ${method.lossLabel} ${loss.toFixed(4)} (${level}).`;
}
