// Training throughput benchmark: the same model and batch trained on the webgpu and on the webgl backend, in one run,
// in the same browser, on the built-in sample images.
//
//   npm run build                                   # once: this script serves dist/ (or TABCLR_DIST), it builds nothing
//   npm run bench -- [--steps N] [--batch B] [--width W] [--encoder NAME] [--warmup K] [--backend B] [--map-every M] [--json]
//
// The long-run check (memory flat over hundreds of steps, with the monitoring a real run does: maps, kNN, checkpoints):
//   npm run bench -- --backend webgl --steps 300 --map-every 50
//
// It serves the build with `vite preview` on port 4177 and launches headless Chromium with the browser tests' flags
// (e2e/browser.ts). For each backend, in a fresh page (so a fresh worker) opened with `?automation&profile&backend=B`:
//   1. the matmul yardstick: square matmuls of 128–1024 (the worker's measure-matmul), the best rate kept;
//   2. a run of N steps on the built-in sample (300 Fashion-MNIST images, 28 px), set through the Train panel;
//      every step profiled (augment, forward+backward, optimiser update: two extra GPU round trips a step);
//   3. meanwhile the page's frame times (requestAnimationFrame intervals) from the first step to the end.
// Per backend: images/s (source images per second) and the median step time with its split over the steady steps
// (after the first K, and after the untrained encoder's map and baselines, which are made beside the first steps),
// time from Start to the first step's report (pipeline compilation, then step 1; the goal is compilation plus at most
// two steady steps) against the steady step, FLOPs per
// step and the achieved FLOP/s as a share of the best matmul rate, tensor count and GPU bytes after warm-up and after
// the run, and the 95th-percentile frame time while training. It asserts no time: figures depend on the machine.
import { BACKENDS, ENCODERS, configureRun, describeBackend, finished, openApp, sendToWorker, start, type OpenedApp } from './lib/app';
import { decimal, oneOf, wholeNumber } from './lib/args';
import { createBench, machine, parseArgs, print, report, requireDist, round, type RunStart } from './lib/bench';
import { figures, record, type Phase } from './lib/frames';
import { achievedRate, summariseSteps, type RunSummary } from './lib/runs';
import type { BackendName, BackendReport, RunInfo } from '../src/worker/protocol';

const PORT = 4177;
/**
 * Square matmul sizes for the yardstick, each first repeated to about MATMUL_FLOPS floating-point operations, then
 * again with enough repeats for MATMUL_SECONDS when that was too quick to time well (a real GPU).
 */
const MATMUL_SIZES = [128, 256, 512, 1024];
const MATMUL_FLOPS = 5e8;
const MATMUL_SECONDS = 0.5;
/** Viewport: a laptop screen, as bench:frames. */
const VIEWPORT = { width: 1280, height: 800 };
const USAGE =
  'usage: npm run bench -- [--steps N] [--batch B] [--width W] [--encoder convnet4|resnet18] [--warmup K] [--backend webgpu|webgl|both] [--map-every M] [--json]';

const options = parseArgs(process.argv.slice(2), {
  name: 'bench',
  usage: USAGE,
  defaults: {
    steps: 20,
    batch: 16,
    width: 0.25,
    encoder: 'convnet4' as (typeof ENCODERS)[number],
    warmup: 2,
    backend: 'both' as BackendName | 'both',
    // Only the last map by default: monitoring between steps counts in neither the steps nor the frames it costs.
    'map-every': undefined as number | undefined,
  },
  values: {
    steps: wholeNumber(2, 100_000),
    // The sample set has 300 images.
    batch: wholeNumber(2, 256),
    width: decimal(1 / 64, 4),
    encoder: oneOf(ENCODERS),
    warmup: wholeNumber(0, 1000),
    backend: oneOf([...BACKENDS, 'both'] as const),
    'map-every': wholeNumber(1, 100_000),
  },
});
if (options.warmup >= options.steps) {
  console.error(`bench: --warmup (${options.warmup}) must leave steady steps: it must be below --steps (${options.steps}); ${USAGE}`);
  process.exit(2);
}
requireDist('bench');

const harness = createBench('bench', PORT);
const log = harness.log;

interface MatmulRate {
  size: number;
  repeats: number;
  flopsPerSec: number;
}

async function measureMatmul(app: OpenedApp): Promise<MatmulRate[]> {
  const once = async (size: number, repeats: number) => {
    const from = app.events.mark();
    await sendToWorker(app.page, { type: 'measure-matmul', size, repeats });
    return app.events.waitFor(`the ${size}² matmul rate`, (m) => (m.type === 'matmul-rate' && m.size === size ? m.flopsPerSec : undefined), {
      from,
      timeoutMs: 600_000,
    });
  };
  const rates: MatmulRate[] = [];
  for (const size of MATMUL_SIZES) {
    const flops = 2 * size ** 3;
    let repeats = Math.max(2, Math.min(1000, Math.round(MATMUL_FLOPS / flops)));
    let rate = await once(size, repeats);
    const seconds = (flops * repeats) / rate;
    if (seconds < MATMUL_SECONDS / 2 && repeats < 1000) {
      repeats = Math.min(1000, Math.ceil((repeats * MATMUL_SECONDS) / seconds));
      rate = await once(size, repeats);
    }
    log(`  matmul ${size} × ${size} (${repeats} repeats): ${(rate / 1e9).toFixed(2)} GFLOP/s`);
    rates.push({ size, repeats, flopsPerSec: rate });
  }
  return rates;
}

/** One backend's figures. */
interface BackendResult {
  kind: 'backend';
  backend: BackendName;
  adapter: string;
  software_adapter: boolean;
  run: RunSummary;
  compile_ms: number;
  /** Wall time from clicking Start to the first step's report (compilation, then step 1). */
  start_to_first_step_ms: number;
  /** (Start → first step − compilation) over the median steady step: the goal is at most 2. */
  first_step_in_steady_steps: number;
  /** What of that is neither compilation nor step 1 (messages; before, the untrained encoder's map and baselines). */
  monitoring_start_ms: number;
  /** Step 1's split (null unless steps are profiled): against the steady split, where its programs' first runs cost. */
  first_step_split_ms: { augment: number; forward_backward: number; update: number } | null;
  /** Steps reported before the untrained encoder's map (step 0) arrived, made beside them; null when it did not come during the run. */
  untrained_map_after_steps: number | null;
  parameters: number;
  flops_per_step: number;
  achieved_flops_per_sec: number;
  matmul_best_flops_per_sec: number;
  matmul_best_size: number;
  matmul: { size: number; repeats: number; flops_per_sec: number }[];
  /** Achieved FLOP/s over the best matmul rate. */
  flops_fraction_of_matmul: number | null;
  frames: Phase;
}

/** Why a backend could not be measured. */
interface BackendMissing {
  kind: 'backend';
  backend: BackendName;
  unavailable: string;
}

async function measureBackend(backend: BackendName, browser: Parameters<typeof openApp>[1]): Promise<BackendResult | BackendMissing> {
  let app: OpenedApp;
  try {
    app = await openApp(harness, browser, { backend, profile: true, viewport: VIEWPORT });
  } catch (e) {
    log(`${backend}: not available: ${(e as Error).message}`);
    return { kind: 'backend', backend, unavailable: (e as Error).message };
  }
  const report: BackendReport = app.backend;
  log(`${backend}: ${describeBackend(report)}`);
  log(`${backend}: matmul yardstick`);
  const rates = await measureMatmul(app);
  const best = rates.reduce((a, b) => (b.flopsPerSec > a.flopsPerSec ? b : a));

  const { steps, batch, width, encoder, warmup } = options;
  const mapEvery = options['map-every'] ?? steps;
  const settings = await configureRun(app, { encoder, width, batch, steps, mapEvery, mapImages: 100 });
  log(`${backend}: training ${settings.config.model.encoder} (width ${width}) for ${steps} steps of batch ${batch} on the ${settings.config.model.imageSize} px sample`);
  const clicked = Date.now();
  const from = await start(app);
  const first = await app.events.waitFor('the first step', (m) => (m.type === 'metrics' ? m : undefined), { from, timeoutMs: 20 * 60_000 });
  const firstAt = app.events.all('metrics', from)[0]!.at;
  log(`${backend}: first step ${((firstAt - clicked) / 1000).toFixed(1)} s after Start (step 1 took ${(first.report.stepMs / 1000).toFixed(2)} s)`);
  // Frames from the first step until the run state leaves "Training" (at most 24 h).
  const [recording] = await Promise.all([record(app.page, 24 * 3600_000, { untilTrainingEnds: true }), finished(app, from, steps)]);
  const frames = figures('training', recording);
  const reports = app.events.all('metrics', from).map((r) => r.message.report);
  const info: RunInfo = app.events.all('run-info', from).at(-1)!.message.info;
  await app.context.close();

  // The untrained encoder's map and baselines are made beside the first steps, which they slow down: the steady
  // figures (and the memory check, whose copy of the encoder lives until then) start after them.
  const mapAt = app.events.all('snapshot', from).find((r) => r.message.snapshot.step === 0)?.at;
  const untrainedAfter = mapAt === undefined ? null : app.events.all('metrics', from).filter((r) => r.at < mapAt).length;
  if (untrainedAfter === null || untrainedAfter >= steps) log(`${backend}: the untrained encoder's map did not come before the last step; steady figures from step ${warmup + 1}`);
  // The copy of the untrained encoder lives until its baselines are sent (after its map, with labels): the memory
  // baseline is the second step reported after that. Not the last one before it, which still counts the copy, and not
  // the first after it either: on WebGPU that report can still count the copy (58 tensors against 35 at the end of a
  // 12-step run), its step having ended while the copy was being disposed.
  const baselinesAt = app.events.all('baselines', from)[0]?.at ?? mapAt;
  const untrainedGone = baselinesAt === undefined ? null : app.events.all('metrics', from).filter((r) => r.at < baselinesAt).length + 2;
  const run = summariseSteps(reports, untrainedGone !== null && untrainedGone < steps ? Math.max(warmup, untrainedGone) : warmup);
  const achieved = achievedRate(info, run.step_ms_median, best.flopsPerSec);
  log(`${backend}: ${run.images_per_sec} images/s, median step ${run.step_ms_median} ms, frame p95 ${frames.p95_ms} ms`);
  return {
    kind: 'backend',
    backend,
    adapter: describeBackend(report),
    software_adapter: report.isFallbackAdapter,
    run,
    compile_ms: round(info.compileMs, 0),
    start_to_first_step_ms: round(firstAt - clicked, 0),
    first_step_in_steady_steps: round((firstAt - clicked - info.compileMs) / run.step_ms_median, 2),
    untrained_map_after_steps: untrainedAfter,
    monitoring_start_ms: round(Math.max(0, firstAt - clicked - info.compileMs - first.report.stepMs), 0),
    // Where step 1's time beyond a steady step goes: the programs compiled (or first run) in each part.
    first_step_split_ms: first.report.timings ? {
      augment: round(first.report.timings.augmentMs, 0),
      forward_backward: round(first.report.timings.forwardBackwardMs, 0),
      update: round(first.report.timings.updateMs, 0),
    } : null,
    parameters: info.parameters,
    flops_per_step: info.flopsPerStep,
    achieved_flops_per_sec: round(achieved.flopsPerSec, 0),
    matmul_best_flops_per_sec: round(best.flopsPerSec, 0),
    matmul_best_size: best.size,
    matmul: rates.map((r) => ({ size: r.size, repeats: r.repeats, flops_per_sec: round(r.flopsPerSec, 0) })),
    flops_fraction_of_matmul: achieved.fraction === null ? null : round(achieved.fraction, 4),
    frames,
  };
}

const gflops = (x: number) => `${(x / 1e9).toFixed(2)} G`;
const ms = (x: number | null) => (x === null ? 'n/a' : x.toFixed(0));
const bytes = (x: number | null) => (x === null ? 'n/a' : `${(x / 2 ** 20).toFixed(2)} MiB`);

/** The report's rows: one per figure, one column per backend. */
function rowsFor(results: (BackendResult | BackendMissing)[]): string[][] {
  const measured = results.filter((r): r is BackendResult => 'run' in r);
  const row = (label: string, cell: (r: BackendResult) => string) => [label, ...measured.map(cell)];
  return [
    ['Figure', ...measured.map((r) => r.backend)],
    row('Steady figures over steps', (r) => `${r.run.warmup_steps + 1}–${r.run.steps}`),
    row('Images/s (source images, median steady step)', (r) => r.run.images_per_sec.toFixed(2)),
    row('Step time, median (ms)', (r) => ms(r.run.step_ms_median)),
    row('  augment (ms)', (r) => ms(r.run.augment_ms_median)),
    row('  forward + backward (ms)', (r) => ms(r.run.forward_backward_ms_median)),
    row('  gradient norm and read (ms)', (r) => ms(r.run.grad_norm_ms_median)),
    row('  optimiser update (ms)', (r) => ms(r.run.update_ms_median)),
    row('Pipeline compilation (ms)', (r) => ms(r.compile_ms)),
    row('First step (ms)', (r) => ms(r.run.first_step_ms)),
    row('  augment / forward + backward / update (ms)', (r) => (r.first_step_split_ms ? `${ms(r.first_step_split_ms.augment)} / ${ms(r.first_step_split_ms.forward_backward)} / ${ms(r.first_step_split_ms.update)}` : 'n/a')),
    row('Start → first step report (ms)', (r) => ms(r.start_to_first_step_ms)),
    row('  minus compilation, in steady steps (goal ≤ 2)', (r) => r.first_step_in_steady_steps.toFixed(2)),
    row('  neither compilation nor step 1 (ms)', (r) => ms(r.monitoring_start_ms)),
    row('Untrained map and baselines in, after step', (r) => (r.untrained_map_after_steps === null ? 'n/a' : String(r.untrained_map_after_steps))),
    row('(Compilation + first step) / steady step', (r) => ((r.compile_ms + r.run.first_step_ms) / r.run.step_ms_median).toFixed(1)),
    row('FLOPs per step', (r) => gflops(r.flops_per_step)),
    row('Achieved FLOP/s', (r) => gflops(r.achieved_flops_per_sec)),
    row('Best matmul FLOP/s (size)', (r) => `${gflops(r.matmul_best_flops_per_sec)} (${r.matmul_best_size})`),
    row('Achieved / best matmul', (r) => (r.flops_fraction_of_matmul === null ? 'n/a' : `${(r.flops_fraction_of_matmul * 100).toFixed(1)} %`)),
    row('Tensors after warm-up / after run', (r) => `${r.run.tensors_after_warmup} / ${r.run.tensors_after_run}`),
    row('GPU bytes after warm-up / after run', (r) => `${bytes(r.run.gpu_bytes_after_warmup)} / ${bytes(r.run.gpu_bytes_after_run)}`),
    row('Memory flat (equal)', (r) => (r.run.memory_flat ? 'yes' : 'NO')),
    row('Frame time while training, p95 (ms)', (r) => r.frames.p95_ms.toFixed(1)),
    row('Frame time while training, median / max (ms)', (r) => `${r.frames.median_ms.toFixed(1)} / ${r.frames.max_ms.toFixed(1)}`),
    row('Final loss', (r) => r.run.final_loss.toFixed(4)),
  ];
}

async function main({ command, loadBefore, started }: RunStart): Promise<void> {
  const { browser, chromiumVersion } = await harness.start();
  const results: (BackendResult | BackendMissing)[] = [];
  const backends = options.backend === 'both' ? BACKENDS : [options.backend];
  for (const backend of backends) results.push(await measureBackend(backend, browser));

  const measured = results.filter((r): r is BackendResult => 'run' in r);
  if (measured.length === 0) throw new Error('neither backend could be measured');
  const { nproc, cpuModel, os, ramGiB } = machine();
  const date = new Date().toISOString();
  const { steps, batch, width, encoder, warmup, json } = options;
  const by = (b: BackendName) => measured.find((r) => r.backend === b);
  const gpu = by('webgpu');
  const gl = by('webgl');
  const summary = {
    kind: 'summary',
    webgpu_images_per_sec: gpu?.run.images_per_sec ?? null,
    webgl_images_per_sec: gl?.run.images_per_sec ?? null,
    webgpu_over_webgl: gpu && gl ? round(gpu.run.images_per_sec / gl.run.images_per_sec, 2) : null,
    webgpu_step_ms: gpu?.run.step_ms_median ?? null,
    webgl_step_ms: gl?.run.step_ms_median ?? null,
    webgpu_frame_p95_ms: gpu?.frames.p95_ms ?? null,
    webgl_frame_p95_ms: gl?.frames.p95_ms ?? null,
    memory_flat: measured.every((r) => r.run.memory_flat),
    steps,
    batch,
    width,
    encoder,
    warmup,
    map_every: options['map-every'] ?? steps,
    nproc,
    cpu: cpuModel,
    chromium: chromiumVersion,
    date,
    command,
  };
  const missing = results.filter((r): r is BackendMissing => 'unavailable' in r);
  const text = report(
    { command, loadBefore, started },
    {
      machine: `${cpuModel}, ${os}, ${ramGiB} GiB RAM`,
      chromium: `${chromiumVersion}, headless, WebGPU flags from e2e/browser.ts; ${measured.map((r) => r.adapter).join('; ')}`,
      date,
      details: [
        `Run:      ${encoder} (width ${width}), batch ${batch}, ${steps} steps on the built-in sample (300 Fashion-MNIST images, 28 px, grayscale), ` +
          `every step profiled; steady figures after the first ${warmup} steps, or after the untrained encoder's map where that comes later; a map every ${options['map-every'] ?? steps} steps`,
      ],
      rows: rowsFor(results),
      notes: [
        ...missing.map((m) => `${m.backend}: not measured (${m.unavailable}).`),
        'Images/s counts source images (each is seen as two views). The split comes from profiled steps (a one-element read',
        'after each phase); the matmul yardstick is the best of square matmuls of 128–1024 on the same backend in the same page.',
        'Frame times are requestAnimationFrame intervals from the first step to the end of the run (nearest-rank percentiles).',
      ],
    },
  );
  print(text, json, () => [...results, summary]);
}

harness.run(main);
