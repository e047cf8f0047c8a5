// Headless training: the built app in headless Chromium, driven as a person drives it, trains on a folder and saves
// the weights zip that "Download weights" gives.
//
//   npm run build                                   # once: this script serves dist/ (or TABCLR_DIST), it builds nothing
//   npm run train -- --data DIR [--steps N] [--image-size S] [--batch B] [--encoder NAME] [--width W] [--lr LR]
//                    [--backend webgpu|webgl] [--out FILE.zip] [--json]
//
// It serves the build with `vite preview` on port 4176, opens the app with `?automation` in headless Chromium with
// the browser tests' flags (e2e/browser.ts), imports DIR through "Choose folder" at S px, fills the Train panel's
// fields for the options given (the others keep the page's suggestion for these images on this adapter), clicks
// Start, prints every step, and when the run has finished clicks "Download weights" and saves the zip to FILE.zip
// (default: the page's file name, in the current folder). Same worker, same code as the page: nothing is trained
// outside it. With --json, stdout has one JSON line per report (step, run-info, kNN snapshot, baselines, fault) and a
// final summary line; progress goes to stderr.
import { resolve } from 'node:path';
import { describeMethod, type MethodName } from '../src/engine/methods';
import { BACKENDS, ENCODERS, RUN_OPTIONS, RUN_USAGE, configureRun, describeBackend, download, finished, importFolder, openApp, start } from './lib/app';
import { pathText, zipPath } from './lib/args';
import { createBench, parseArgs, requireDist, round, type RunStart } from './lib/bench';
import { folderOrExit } from './lib/folder';
import { diagnosticsText, stepLine, stepRecord, summariseSteps } from './lib/runs';

const PORT = 4176;
const USAGE = `usage: npm run train -- --data DIR ${RUN_USAGE} [--out FILE.zip] [--json]`;

const options = parseArgs(process.argv.slice(2), {
  name: 'train',
  usage: USAGE,
  defaults: {
    data: undefined as string | undefined,
    method: undefined as MethodName | undefined,
    steps: undefined as number | undefined,
    'image-size': 32,
    batch: undefined as number | undefined,
    encoder: undefined as (typeof ENCODERS)[number] | undefined,
    width: undefined as number | undefined,
    lr: undefined as number | undefined,
    backend: undefined as (typeof BACKENDS)[number] | undefined,
    out: undefined as string | undefined,
  },
  values: { ...RUN_OPTIONS, data: pathText, out: zipPath },
  required: ['data'],
});
// Read here, links followed, so that a loop or an unreadable folder is refused before the browser opens.
const data = folderOrExit('train', options.data!, 'data');
requireDist('train');

const harness = createBench('train', PORT);
const log = harness.log;
/** Without --json, progress is the output: stdout. With it, stdout is for the JSON lines. */
const say = options.json ? log : (line: string) => console.log(line);
const emit = (record: object) => options.json && console.log(JSON.stringify(record));

async function main({ command, started }: RunStart): Promise<void> {
  const { json, out } = options;
  const { browser, chromiumVersion } = await harness.start();
  const app = await openApp(harness, browser, { backend: options.backend });
  log(`trainer on ${describeBackend(app.backend)}`);

  say(`importing ${data.dir} at ${options['image-size']} × ${options['image-size']} px`);
  const { dataset, done } = await importFolder(app, data, options['image-size'], { log });
  const { counts } = done;
  say(
    `imported ${dataset.count} images (${counts.decoded} decoded, ${counts.fromCache} from cache, ${counts.skipped} skipped), ` +
      `${dataset.channels === 1 ? 'grayscale' : 'colour'}, ${dataset.labelled ? `${dataset.classNames.length} classes (for evaluation only)` : 'no labels'}`,
  );
  for (const s of done.skipped.slice(0, 10)) say(`  skipped ${s.path}: ${s.message}`);
  if (done.skipped.length > 10) say(`  … and ${done.skipped.length - 10} more skipped`);

  const settings = await configureRun(app, {
    method: options.method,
    encoder: options.encoder,
    width: options.width,
    batch: options.batch,
    steps: options.steps,
    learningRate: options.lr,
  });
  const { config, steps } = settings;
  say(
    `training ${config.model.encoder} (width ${config.model.width}) for ${steps} steps of batch ${config.batchSize}, ` +
      `${config.optim.optimizer} lr ${config.optim.learningRate}, warm-up ${config.optim.warmupSteps}, ${describeMethod(config.method)}, seed ${config.seed}`,
  );

  let lastPrinted = 0;
  const stopFollowing = app.events.on(({ message, at }) => {
    switch (message.type) {
      case 'metrics': {
        const r = message.report;
        emit({ ...stepRecord(r), seconds: round((at - started) / 1000, 1) });
        // Every step on a slow adapter; at most one line a second on a fast one, and always the last.
        if (at - lastPrinted >= 1000 || r.step === r.totalSteps || r.step === 1) {
          lastPrinted = at;
          say(stepLine(r));
        }
        break;
      }
      case 'run-info':
        emit({ kind: 'run-info', parameters: message.info.parameters, flops_per_step: message.info.flopsPerStep, compile_ms: round(message.info.compileMs, 0) });
        say(`compiled in ${(message.info.compileMs / 1000).toFixed(1)} s; ${message.info.parameters.toLocaleString('en')} parameters`);
        break;
      case 'baselines':
        emit({
          kind: 'baselines',
          knn_acc_random_init: message.randomInit,
          knn_acc_raw_pixels: message.rawPixels,
          probe_acc_random_init: message.probe?.randomInit ?? null,
          probe_acc_raw_pixels: message.probe?.rawPixels ?? null,
        });
        say(`kNN baselines on held-out images: untrained encoder ${(message.randomInit * 100).toFixed(1)}%, raw pixels ${(message.rawPixels * 100).toFixed(1)}%`);
        if (message.probe) say(`linear probe baselines: untrained encoder ${(message.probe.randomInit * 100).toFixed(1)}%, raw pixels ${(message.probe.rawPixels * 100).toFixed(1)}%`);
        break;
      case 'snapshot':
        if (message.snapshot.knnAccuracy !== null) {
          const probe = message.snapshot.probeAccuracy ?? null;
          emit({ kind: 'knn', step: message.snapshot.step, knn_acc: message.snapshot.knnAccuracy, probe_acc: probe });
          say(
            `step ${message.snapshot.step}: kNN accuracy ${(message.snapshot.knnAccuracy * 100).toFixed(1)}%` +
              `${probe === null ? '' : `, linear probe ${(probe * 100).toFixed(1)}%`} on held-out images`,
          );
        }
        break;
      case 'fault':
        emit({ ...message.fault, fault: message.fault.kind, kind: 'fault' });
        say(`step ${message.fault.step}: ${message.fault.message}`);
        break;
      default:
        break;
    }
  });
  const from = await start(app);
  await finished(app, from, steps);
  stopFollowing();

  const weights = await download(app, 'weights');
  const path = resolve(out ?? weights.suggestedFilename());
  await weights.saveAs(path);
  say(`saved ${path}`);

  const reports = app.events.all('metrics', from).map((r) => r.message.report);
  const summary = summariseSteps(reports, 1);
  const info = app.events.all('run-info', from).at(-1)?.message.info ?? null;
  const baselines = app.events.all('baselines', from).at(-1)?.message ?? null;
  const knn = app.events
    .all('snapshot', from)
    .map((r) => r.message.snapshot)
    .filter((s) => s.knnAccuracy !== null && s.method === 'pca')
    .at(-1);
  await app.context.close();

  const record = {
    kind: 'summary',
    steps: summary.steps,
    final_loss: summary.final_loss,
    // The method's diagnostics at the last step (SimCLR: final_contrastive_acc; MoCo: final_positive_acc, final_queue_age).
    ...Object.fromEntries(Object.entries(summary).filter(([key]) => key.startsWith('final_') && !['final_loss', 'final_method_loss', 'final_embedding_std'].includes(key))),
    final_embedding_std: summary.final_embedding_std,
    images_per_sec: summary.images_per_sec,
    step_ms_median: summary.step_ms_median,
    first_step_ms: summary.first_step_ms,
    compile_ms: info && round(info.compileMs, 0),
    parameters: info?.parameters ?? null,
    flops_per_step: info?.flopsPerStep ?? null,
    knn_acc: knn?.knnAccuracy ?? null,
    knn_acc_random_init: baselines?.randomInit ?? null,
    knn_acc_raw_pixels: baselines?.rawPixels ?? null,
    probe_acc: knn?.probeAccuracy ?? null,
    probe_acc_random_init: baselines?.probe?.randomInit ?? null,
    probe_acc_raw_pixels: baselines?.probe?.rawPixels ?? null,
    out: path,
    images: dataset.count,
    image_size: dataset.imageSize,
    channels: dataset.channels,
    classes: dataset.labelled ? dataset.classNames.length : 0,
    encoder: config.model.encoder,
    width: config.model.width,
    batch: config.batchSize,
    backend: app.backend.backend,
    adapter: describeBackend(app.backend),
    chromium: chromiumVersion,
    seconds: round((Date.now() - started) / 1000, 1),
    command,
  };
  if (json) {
    console.log(JSON.stringify(record));
    return;
  }
  const pct = (x: number | null) => (x === null ? 'n/a' : `${(x * 100).toFixed(1)}%`);
  say(
    [
      `done: ${summary.steps} steps in ${record.seconds} s; final loss ${summary.final_loss.toFixed(4)}${diagnosticsText(reports.at(-1)!.diagnostics)}`,
      `throughput ${summary.images_per_sec} images/s (median step ${(summary.step_ms_median / 1000).toFixed(2)} s; first step ${(summary.first_step_ms / 1000).toFixed(2)} s after ` +
        `${info ? (info.compileMs / 1000).toFixed(1) : '?'} s of compilation)`,
      ...(knn ? [`kNN accuracy on held-out images ${pct(knn.knnAccuracy)} (untrained encoder ${pct(record.knn_acc_random_init)}, raw pixels ${pct(record.knn_acc_raw_pixels)})`] : []),
      ...(knn && record.probe_acc !== null
        ? [`linear probe accuracy on held-out images ${pct(record.probe_acc)} (untrained encoder ${pct(record.probe_acc_random_init)}, raw pixels ${pct(record.probe_acc_raw_pixels)})`]
        : []),
    ].join('\n'),
  );
}

harness.run(main);
