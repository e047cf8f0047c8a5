// Parity benchmark: tabclr and the PyTorch reference (../shared/reference/ref_simclr.py, run beside the project with
// Debian's python3-torch) on the same labelled folders with the same settings, several seeds; side by side, kNN
// accuracy at the evaluated steps and the smoothed loss, with the gaps the parity acceptance reads.
//
//   npm run bench:parity -- --sets NAME=DIR[,NAME=DIR…] [--steps N] [--seeds 0,1,2] [--eval-at 50]
//                           [--tabclr page|engine|both|none] [--backend webgl|webgpu] [--lock FILE]
//                           [--record FILE.jsonl] [--reference yes|no] [--json]
//
// Each DIR holds train/<class>/* and test/<class>/*. The settings (issue #13): convnet4 at width 0.25 (conv 3×3 of
// 8-16-32-64 channels, strides 1-2-2-2, BN + ReLU, global average pool, dense 64), a 2-layer batch-norm head to 128
// (hidden 128), 16 px, batch 32, AdamW 3e-3 with weight decay 1e-4, warm-up 10 then cosine to 0 at N, τ = 0.2, crop
// area 0.2–1 and aspect 3/4–4/3, flip 0.5, brightness and contrast jitter 0.8 with p = 0.8, inputs in [0, 1]. kNN:
// k = 20, weighted vote exp(sim / 0.1), memory = the train folder, queries = the test folder, encoder in inference
// mode. The smoothed loss is the mean NT-Xent of the last 10 steps.
//
// The trainers:
//   reference  ref_simclr.py with the flags above, --seed S, --eval-at (its own loading, augmentation and sampler).
//   page       the product: `npm run bench:quality -- --seed S --json` (the built app in headless Chromium, driven as
//              a person does; kNN of the page's own representations at the end of the run), each run under
//              `flock FILE` when --lock is given (the shared machine's browser lock). It also saves the app's decoded
//              pixels once per set and reports how far they are from PIL's (the reference's) for the same files.
//   engine     tabclr's src/engine in Node (tfjs CPU backend: createTrainState, EpochSampler, trainStep, embedImages,
//              knnAccuracy, as the worker calls them) on the pixels the reference itself loaded, so that only the
//              engine differs; it also gives kNN at --eval-at. Slow on a CPU (seconds a step).
// --record FILE keeps every finished run as a JSON line and skips runs already there, so a long comparison can be
// run in pieces and tabulated at the end. Needs `npm run build` for the page.
import { spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import * as tf from '@tensorflow/tfjs';
import { Refusal, oneOf, pathText, wholeNumber, type OptionParser } from './lib/args';
import { ROOT, fail, machine, parseArgs, round, table } from './lib/bench';
import { folderOrExit } from './lib/folder';
import { engineRun, parityTrainConfig, readPixelSplit } from './lib/parity/engine';
import { lossCurve, summarise, verdict, withInterval, type RunRecord, type SideSummary, type Trainer } from './lib/parity/records';
import { loadavg } from 'node:os';

const PYTHON = process.env.TABCLR_PYTHON ?? '/usr/bin/python3';
const USAGE =
  'usage: npm run bench:parity -- --sets NAME=DIR[,NAME=DIR…] [--steps N] [--seeds 0,1,2] [--eval-at 50] ' +
  '[--tabclr page|engine|both|none] [--backend webgl|webgpu] [--lock FILE] [--record FILE.jsonl] [--reference yes|no] [--json]';

const setList: OptionParser<{ name: string; dir: string }[]> = (text) => {
  const sets = text.split(',').map((part) => {
    const at = part.indexOf('=');
    return at > 0 ? { name: part.slice(0, at), dir: resolve(part.slice(at + 1)) } : null;
  });
  return sets.every((s) => s !== null) && sets.length > 0 ? (sets as { name: string; dir: string }[]) : new Refusal(`must be NAME=DIR pairs separated by commas, got ${JSON.stringify(text)}`);
};
const numberList: OptionParser<number[]> = (text) =>
  /^\d+(,\d+)*$/.test(text) ? text.split(',').map(Number) : new Refusal(`must be whole numbers separated by commas, got ${JSON.stringify(text)}`);

const options = parseArgs(process.argv.slice(2), {
  name: 'bench:parity',
  usage: USAGE,
  defaults: {
    sets: undefined as { name: string; dir: string }[] | undefined,
    steps: 150,
    seeds: [0, 1, 2],
    'eval-at': [50] as number[],
    tabclr: 'page' as 'page' | 'engine' | 'both' | 'none',
    backend: 'webgl' as 'webgl' | 'webgpu',
    lock: undefined as string | undefined,
    record: undefined as string | undefined,
    // 'no': leave the reference's runs to another invocation (they need no browser lock); the table still shows
    // those already in --record.
    reference: 'yes' as 'yes' | 'no',
  },
  values: {
    sets: setList,
    steps: wholeNumber(10, 100_000),
    seeds: numberList,
    'eval-at': numberList,
    tabclr: oneOf(['page', 'engine', 'both', 'none'] as const),
    backend: oneOf(['webgl', 'webgpu'] as const),
    lock: pathText,
    record: pathText,
    reference: oneOf(['yes', 'no'] as const),
  },
  required: ['sets'],
});
// Read here as bench:quality reads them (links followed, loops and unreadable folders refused), to fail before any run.
for (const set of options.sets!) {
  for (const split of ['train', 'test']) folderOrExit('bench:parity', join(set.dir, split), `sets ${set.name}`, " (each set's folder holds train/ and test/)");
}

const log = (line: string) => console.error(`[bench:parity] ${line}`);

function referenceScript(): string {
  const candidates = process.env.TABCLR_REFERENCE
    ? [process.env.TABCLR_REFERENCE]
    : [resolve(ROOT, '../shared/reference/ref_simclr.py'), resolve(ROOT, '../../shared/reference/ref_simclr.py')];
  const found = candidates.find((c) => existsSync(c));
  if (!found) fail(`bench:parity: the PyTorch reference was not found (${candidates.join(', ')}); set TABCLR_REFERENCE`);
  return found;
}

/** Runs a command; its stdout, or a failure with the end of its stderr. */
function run(command: string, args: string[], what: string): Promise<string> {
  return new Promise((done, failed) => {
    const child = spawn(command, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      const lines = d.toString().trim().split('\n');
      const last = lines.at(-1);
      if (last && /step|loss|import|train/i.test(last)) process.stderr.write(`  ${what}: ${last.slice(0, 160)}\n`);
    });
    child.on('error', failed);
    child.on('close', (code) => (code === 0 ? done(out) : failed(new Error(`${what} failed (exit ${code}): ${err.trim().split('\n').slice(-5).join(' | ')}`))));
  });
}

const lastJson = <T>(out: string): T => JSON.parse(out.trim().split('\n').filter((l) => l.startsWith('{')).at(-1)!) as T;

/** The issue's settings as the reference's flags. */
function referenceArgs(train: string, test: string, steps: number, seed: number, evalAt: number[]): string[] {
  return [
    referenceScript(), '--train', train, '--test', test, '--steps', String(steps), '--batch', '32', '--lr', '3e-3', '--wd', '1e-4',
    '--widths', '8,16,32,64', '--strides', '1,2,2,2', '--dense', '64', '--size', '16', '--gray-jitter', '0.8,0.8,0.8',
    '--head', '128,128', '--head-bn', 'all', '--cosine', '--warmup', '10', '--no-normalize', '--seed', String(seed),
    '--eval-at', evalAt.filter((s) => s < steps).join(','), '--log-every', '10',
  ];
}

async function referenceRun(set: { name: string; dir: string }, steps: number, seed: number): Promise<RunRecord> {
  const args = referenceArgs(join(set.dir, 'train'), join(set.dir, 'test'), steps, seed, options['eval-at']);
  const r = lastJson<{
    knn_acc_at_step: Record<string, number>; knn_acc_random_init: number; knn_acc_raw_pixels: number; loss_curve: Record<string, number>;
    final_loss_avg10: number; train_seconds: number; torch: string; images_per_sec: number;
  }>(await run(PYTHON, args, `reference ${set.name} seed ${seed}`));
  const curve = Object.fromEntries(Object.entries(r.loss_curve).filter(([step]) => Number(step) % 10 === 0));
  return {
    kind: 'run', trainer: 'reference', set: set.name, seed, steps,
    knn_at_step: { '0': r.knn_acc_random_init, ...r.knn_acc_at_step }, knn_raw_pixels: r.knn_acc_raw_pixels,
    loss_curve: curve, loss_last10: r.final_loss_avg10, seconds: r.train_seconds, detail: `torch ${r.torch}, 2 threads`,
  };
}

/** The issue's settings as a tabclr config (what the page suggests, with the bench's choices over it). */
function pixelPrefix(set: { name: string; dir: string }): string {
  const dir = join(tmpdir(), 'tabclr-parity');
  mkdirSync(dir, { recursive: true });
  return join(dir, `${set.name}-${Buffer.from(set.dir).toString('base64url').slice(-24)}-16`);
}

async function referencePixels(set: { name: string; dir: string }): Promise<string> {
  const prefix = pixelPrefix(set);
  if (!existsSync(`${prefix}.json`)) {
    await run(PYTHON, [resolve(ROOT, 'scripts/parity/folder_pixels.py'), '--train', join(set.dir, 'train'), '--test', join(set.dir, 'test'), '--size', '16', '--out', prefix], `PIL pixels of ${set.name}`);
  }
  return prefix;
}

async function engineRecord(set: { name: string; dir: string }, steps: number, seed: number): Promise<RunRecord> {
  tf.env().set('PROD', true);
  const data = readPixelSplit(await referencePixels(set));
  const result = await engineRun(data, parityTrainConfig(steps, seed, data.channels), steps, options['eval-at'], (step, loss) => {
    if (step % 50 === 0) log(`  engine ${set.name} seed ${seed}: step ${step}/${steps} loss ${loss.toFixed(4)}`);
  });
  return {
    kind: 'run', trainer: 'engine', set: set.name, seed, steps,
    knn_at_step: Object.fromEntries(Object.entries(result.knnAtStep).map(([k, v]) => [k, v])), knn_raw_pixels: result.rawPixels,
    loss_curve: lossCurve(result.losses), loss_last10: result.losses.slice(-10).reduce((a, b) => a + b, 0) / 10,
    seconds: round(result.seconds, 1), detail: 'tfjs cpu backend in Node',
  };
}

interface PixelGap {
  set: string;
  images: number;
  mean_abs: number;
  max_abs: number;
  share_over_2: number;
}

/** The app's decoded pixels against PIL's for the same files (matched by path). */
function pixelGap(set: string, app: string, pil: string): PixelGap {
  type Meta = { size: number; channels: number; train: { names: string[] | null; count: number } };
  const a = JSON.parse(readFileSync(`${app}.json`, 'utf8')) as Meta;
  const p = JSON.parse(readFileSync(`${pil}.json`, 'utf8')) as Meta;
  const bytes = a.size * a.size * a.channels;
  const ap = new Uint8Array(readFileSync(`${app}.train.u8`));
  const pp = new Uint8Array(readFileSync(`${pil}.train.u8`));
  const index = new Map((p.train.names ?? []).map((n, i) => [n.replace(/\\/g, '/'), i]));
  let sum = 0;
  let max = 0;
  let over = 0;
  let n = 0;
  let images = 0;
  (a.train.names ?? []).forEach((name, i) => {
    const j = index.get(name) ?? index.get(name.split('/').slice(1).join('/'));
    if (j === undefined) return;
    images += 1;
    for (let k = 0; k < bytes; k++) {
      const d = Math.abs(ap[i * bytes + k]! - pp[j * bytes + k]!);
      sum += d;
      max = Math.max(max, d);
      if (d > 2) over += 1;
      n += 1;
    }
  });
  return { set, images, mean_abs: round(sum / Math.max(1, n), 3), max_abs: max, share_over_2: round(over / Math.max(1, n), 4) };
}

async function pageRecord(set: { name: string; dir: string }, steps: number, seed: number, pixelsOut: string | null): Promise<RunRecord> {
  const args = [
    'tsx', 'scripts/bench-quality.ts', '--train', join(set.dir, 'train'), '--test', join(set.dir, 'test'), '--steps', String(steps),
    '--backend', options.backend, '--seed', String(seed), '--json', ...(pixelsOut ? ['--pixels-out', pixelsOut] : []),
  ];
  const [command, full] = options.lock ? ['flock', [options.lock, 'npx', ...args]] : ['npx', args];
  const r = lastJson<{ knn_acc: number; knn_acc_random_init: number; knn_acc_raw_pixels: number; losses: number[]; loss_last10: number; phases: { name: string; seconds: number }[]; adapter: string }>(
    await run(command, full, `page ${set.name} seed ${seed}`),
  );
  return {
    kind: 'run', trainer: 'page', set: set.name, seed, steps,
    knn_at_step: { '0': r.knn_acc_random_init, [String(steps)]: r.knn_acc }, knn_raw_pixels: r.knn_acc_raw_pixels,
    loss_curve: lossCurve(r.losses), loss_last10: r.loss_last10, seconds: r.phases.find((p) => p.name.startsWith('train:'))?.seconds ?? NaN,
    detail: r.adapter,
  };
}

function readRecords(file: string | undefined): RunRecord[] {
  if (!file || !existsSync(file)) return [];
  return readFileSync(file, 'utf8').split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as RunRecord).filter((r) => r.kind === 'run');
}

const pct = (x: number | undefined) => (x === undefined ? '' : (x * 100).toFixed(1));

function sideRows(s: SideSummary, steps: number, evalAt: number[], label: string): string[] {
  const at = (step: number) => s.knn[String(step)];
  const cell = (step: number) => (at(step) ? `${at(step)!.values.map(pct).join(' / ')} (${pct(at(step)!.mean)})` : '');
  return [label, cell(0), ...evalAt.filter((e) => e < steps).map(cell), cell(steps), `${s.loss_last10.values.map((v) => v.toFixed(3)).join(' / ')} (${s.loss_last10.mean.toFixed(3)})`, pct(s.raw_pixels)];
}

async function main(): Promise<void> {
  const started = Date.now();
  const loadBefore = loadavg()[0]!;
  const command = `npm run bench:parity -- ${process.argv.slice(2).join(' ')}`;
  const { steps, seeds } = options;
  const evalAt = options['eval-at'];
  const trainers: Trainer[] = [...(options.reference === 'yes' ? (['reference'] as const) : []), ...(options.tabclr === 'both' ? (['engine', 'page'] as const) : options.tabclr === 'none' ? [] : [options.tabclr])];
  const records = readRecords(options.record);
  const fresh = () => readRecords(options.record);
  const gaps: PixelGap[] = [];
  for (const set of options.sets!) {
    for (const trainer of trainers) {
      for (const seed of seeds) {
        if (records.some((r) => r.trainer === trainer && r.set === set.name && r.steps === steps && r.seed === seed)) continue;
        log(`${trainer} on ${set.name}, seed ${seed}, ${steps} steps`);
        const pixelsOut = trainer === 'page' && seed === seeds[0] ? join(tmpdir(), 'tabclr-parity', `${set.name}-app-16`) : null;
        if (pixelsOut) mkdirSync(join(tmpdir(), 'tabclr-parity'), { recursive: true });
        const record =
          trainer === 'reference' ? await referenceRun(set, steps, seed) : trainer === 'engine' ? await engineRecord(set, steps, seed) : await pageRecord(set, steps, seed, pixelsOut);
        records.push(record);
        if (options.record) appendFileSync(options.record, `${JSON.stringify(record)}\n`);
        if (options.json) console.log(JSON.stringify(record));
        log(`  kNN ${Object.entries(record.knn_at_step).map(([k, v]) => `${k}: ${pct(v)}`).join(', ')}; loss (last 10) ${record.loss_last10.toFixed(3)}`);
        if (pixelsOut) gaps.push(pixelGap(set.name, pixelsOut, await referencePixels(set)));
      }
    }
  }

  // Another invocation may have added runs to the record meanwhile (the reference's, while this one waited for the lock).
  for (const r of fresh()) if (!records.some((m) => m.trainer === r.trainer && m.set === r.set && m.steps === r.steps && m.seed === r.seed)) records.push(r);
  const rows: string[][] = [['set · trainer', 'kNN untrained', ...evalAt.filter((e) => e < steps).map((e) => `kNN step ${e}`), `kNN step ${steps}`, 'loss, last 10 steps', 'raw pixels']];
  const verdicts: object[] = [];
  for (const set of options.sets!) {
    const reference = summarise(records, 'reference', set.name, steps, seeds);
    if (reference) rows.push(sideRows(reference, steps, evalAt, `${set.name} · reference`));
    for (const trainer of ['engine', 'page'] as const) {
      const side = summarise(records, trainer, set.name, steps, seeds);
      if (!side) continue;
      rows.push(sideRows(side, steps, evalAt, `${set.name} · tabclr ${trainer}`));
      if (reference) verdicts.push({ kind: 'verdict', set: set.name, trainer, steps, seeds: side.seeds, ...verdict(side, reference, steps) });
    }
  }
  const { nproc, cpuModel, os, ramGiB } = machine();
  const text = [
    '',
    `Command:  ${command}`,
    `Machine:  nproc ${nproc}; ${cpuModel}, ${os}, ${ramGiB} GiB RAM; load average ${loadBefore.toFixed(2)} when the run began`,
    `Date:     ${new Date().toISOString()}`,
    `Settings: convnet4 width 0.25, head 128-128 (BN), 16 px, batch 32, ${steps} steps, AdamW 3e-3 wd 1e-4, warm-up 10 + cosine, τ 0.2, seeds ${seeds.join(', ')}`,
    '',
    table(rows),
    '',
    'kNN in %, k = 20 (weighted), test folder against the train folder; per seed, then (mean). Loss: mean NT-Xent of the last 10 steps.',
    ...verdicts.map((v) => {
      const x = v as ReturnType<typeof verdict> & { set: string; trainer: string };
      return (
        `${x.set}, tabclr ${x.trainer} − reference at step ${steps}: kNN ${withInterval(x.knn_gap_points, x.knn_gap_ci95, 2)} points (mean ${x.knn_ok ? 'within' : 'outside'} 1.5), ` +
        `loss ${withInterval(x.loss_gap, x.loss_gap_ci95, 3)} (mean ${x.loss_ok ? 'within' : 'outside'} 0.1)`
      );
    }),
    ...gaps.map((g) => `${g.set}: the page's decoded 16 px pixels against PIL's bilinear (${g.images} train images): mean |Δ| ${g.mean_abs} levels, max ${g.max_abs}, ${(g.share_over_2 * 100).toFixed(2)} % of pixels off by more than 2.`),
    `Whole run: ${((Date.now() - started) / 1000).toFixed(0)} s.`,
  ].join('\n');
  if (options.json) {
    console.error(text);
    for (const v of verdicts) console.log(JSON.stringify(v));
    for (const g of gaps) console.log(JSON.stringify({ kind: 'pixels', ...g }));
  } else {
    console.log(text);
  }
}

main().catch((e: Error) => {
  console.error(`bench:parity: ${e.message}`);
  process.exit(1);
});
