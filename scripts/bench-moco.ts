// MoCo v2 against SimCLR at equal steps and images (issue #26): tabclr's own engine (src/engine: createTrainState,
// EpochSampler, gatherBatch, trainStep with the exploding-gradient limit, embedImages in inference mode, knnAccuracy,
// the linear probe), driven in Node on the tfjs CPU backend as the parity harness's engine mode does, on the pixels
// scripts/parity/folder_pixels.py wrote. Both methods see the same seeds, the same batches (the sampler is seeded
// by the run's seed), the same augmentation and the same untrained encoder; only the objective differs.
//
//   npx tsx scripts/bench-moco.ts --sets NAME=PREFIX[,NAME=PREFIX…] [--methods simclr,moco] [--batches 16,32]
//                                 [--seeds 0,1,2] [--steps 100] [--queue 1024] [--width 0.25] [--record FILE.jsonl] [--json]
//
// Per run: kNN (k = 20, cosine, memory = train split, queries = test split) and the linear probe (fitted on the
// train split's h, scored on the test split) of the trained encoder; the untrained encoder's and raw pixels' once per
// set and seed. The table gives each method's mean over seeds with a 95 % t interval, and MoCo − SimCLR paired by seed
// (same seed: same initial encoder, same batches) with its own interval. --record keeps finished runs as JSON lines
// and skips them on a rerun, so that a long comparison can run in pieces; --table-only prints the table of what the
// record holds and trains nothing.
import * as tf from '@tensorflow/tfjs';
import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { EpochSampler, gatherBatch } from '../src/engine/batches';
import { explodingLimit, type NormRecord } from '../src/engine/divergence';
import { embedImages } from '../src/engine/embed';
import { linearProbeAccuracy } from '../src/engine/linearProbe';
import { defaultMethodConfig, type MethodName } from '../src/engine/methods';
import { Random } from '../src/engine/random';
import { createTrainState, disposeTrainState, trainStep } from '../src/engine/step';
import { encoderKnn, parityTrainConfig, rawPixelKnn, readPixelSplit, type PixelSplit } from './lib/parity/engine';

interface Options {
  sets: { name: string; prefix: string }[];
  methods: MethodName[];
  batches: number[];
  seeds: number[];
  steps: number;
  queue: number;
  width: number;
  record: string | null;
  /** Only print the table of the runs already recorded. */
  tableOnly: boolean;
  json: boolean;
}

function parse(argv: string[]): Options {
  const get = (flag: string) => (argv.includes(flag) ? argv[argv.indexOf(flag) + 1] : undefined);
  const list = (flag: string, fallback: string) => (get(flag) ?? fallback).split(',');
  const sets = get('--sets');
  if (!sets) {
    console.error('usage: npx tsx scripts/bench-moco.ts --sets NAME=PREFIX[,…] [--methods simclr,moco] [--batches 16,32] [--seeds 0,1,2] [--steps 100] [--queue 1024] [--width 0.25] [--record FILE.jsonl] [--table-only] [--json]');
    process.exit(2);
  }
  return {
    sets: sets.split(',').map((s) => ({ name: s.slice(0, s.indexOf('=')), prefix: s.slice(s.indexOf('=') + 1) })),
    methods: list('--methods', 'simclr,moco') as MethodName[],
    batches: list('--batches', '16,32').map(Number),
    seeds: list('--seeds', '0,1,2').map(Number),
    steps: Number(get('--steps') ?? 100),
    queue: Number(get('--queue') ?? 1024),
    width: Number(get('--width') ?? 0.25),
    record: get('--record') ?? null,
    tableOnly: argv.includes('--table-only'),
    json: argv.includes('--json'),
  };
}

interface Record_ {
  set: string;
  method: MethodName | 'untrained' | 'pixels';
  batch: number;
  seed: number;
  steps: number;
  knn: number;
  probe: number;
  loss_last10: number | null;
  seconds: number;
  /** Of which training (the steps alone). */
  train_seconds: number;
  settings: string;
}

const indices = (n: number) => Array.from({ length: n }, (_, i) => i);

async function probeOf(encoder: tf.LayersModel, data: PixelSplit): Promise<number> {
  const { size, channels } = data;
  const train = await embedImages(encoder, data.train.pixels, indices(data.train.count), size, channels, 250);
  const test = await embedImages(encoder, data.test.pixels, indices(data.test.count), size, channels, 250);
  return linearProbeAccuracy(train, data.train.labels, test, data.test.labels, train.length / data.train.count, data.classes.length);
}

function pixelProbe(data: PixelSplit): Promise<number> {
  const { size, channels } = data;
  const f = (p: Uint8Array, n: number) => Float32Array.from(p.subarray(0, n * size * size * channels), (v) => v / 255);
  const dim = size * size * channels;
  return linearProbeAccuracy(f(data.train.pixels, data.train.count), data.train.labels, f(data.test.pixels, data.test.count), data.test.labels, dim, data.classes.length);
}

async function run(data: PixelSplit, set: string, method: MethodName, batch: number, seed: number, options: Options): Promise<Record_> {
  const started = performance.now();
  const config = parityTrainConfig(options.steps, seed, data.channels);
  config.model.width = options.width;
  config.batchSize = batch;
  config.method = defaultMethodConfig(method);
  // The queue: --queue keys, never more than the train split's images (the page's rule).
  if (config.method.name === 'moco') config.method.queueSize = Math.min(options.queue, data.train.count);
  const state = createTrainState(config);
  const sampler = new EpochSampler(data.train.count, batch, new Random(seed));
  const history: NormRecord[] = [];
  const losses: number[] = [];
  try {
    for (let step = 1; step <= options.steps; step++) {
      const images = gatherBatch(data.train.pixels, sampler.next(), data.size, data.channels);
      try {
        const m = await trainStep(state, images, { maxGradNorm: explodingLimit(history) });
        history.push(m);
        losses.push(m.methodLoss);
      } finally {
        images.dispose();
      }
    }
    const trainSeconds = (performance.now() - started) / 1000;
    const knn = await encoderKnn(state.model.encoder, data);
    const probe = await probeOf(state.model.encoder, data);
    const last = losses.slice(-10);
    return {
      set, method, batch, seed, steps: options.steps, knn, probe,
      loss_last10: last.reduce((a, b) => a + b, 0) / last.length,
      seconds: (performance.now() - started) / 1000,
      train_seconds: trainSeconds,
      settings: JSON.stringify(config.method),
    };
  } finally {
    disposeTrainState(state);
  }
}

async function baselines(data: PixelSplit, set: string, seed: number, options: Options): Promise<Record_[]> {
  const config = parityTrainConfig(options.steps, seed, data.channels);
  config.model.width = options.width;
  const state = createTrainState(config);
  try {
    const untrained = { knn: await encoderKnn(state.model.encoder, data), probe: await probeOf(state.model.encoder, data) };
    const base = { set, batch: 0, seed, steps: 0, loss_last10: null, seconds: 0, train_seconds: 0, settings: '' };
    const pixels = seed === options.seeds[0] ? [{ ...base, method: 'pixels' as const, knn: await rawPixelKnn(data), probe: await pixelProbe(data) }] : [];
    return [{ ...base, method: 'untrained', ...untrained }, ...pixels];
  } finally {
    disposeTrainState(state);
  }
}

// Statistics: mean, and a 95 % t interval over seeds (two-sided, n − 1 degrees of freedom).
const T95: Record<number, number> = { 1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262 };
function interval(values: number[]): { mean: number; half: number } {
  const n = values.length;
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n < 2) return { mean, half: NaN };
  const sd = Math.sqrt(values.reduce((a, v) => a + (v - mean) ** 2, 0) / (n - 1));
  return { mean, half: (T95[n - 1] ?? 1.96) * (sd / Math.sqrt(n)) };
}
const pct = (x: number) => (100 * x).toFixed(1);
const withHalf = ({ mean, half }: { mean: number; half: number }) => `${pct(mean)} ± ${Number.isFinite(half) ? pct(half) : '—'}`;
const signedHalf = ({ mean, half }: { mean: number; half: number }) => `${mean >= 0 ? '+' : '−'}${pct(Math.abs(mean))} ± ${Number.isFinite(half) ? pct(half) : '—'}`;

function tabulate(records: Record_[], options: Options): string {
  const lines = [
    '| set | batch | method | kNN % (mean ± 95 % CI) | linear probe % | final loss | MoCo − SimCLR kNN (paired) | MoCo − SimCLR probe (paired) |',
    '|---|---:|---|---:|---:|---:|---:|---:|',
  ];
  for (const { name } of options.sets) {
    const of = (method: string, batch: number) => options.seeds.map((seed) => records.find((r) => r.set === name && r.method === method && r.seed === seed && (batch === 0 || r.batch === batch))).filter((r): r is Record_ => r !== undefined);
    const untrained = of('untrained', 0);
    const pixels = of('pixels', 0);
    if (untrained.length) lines.push(`| ${name} | — | untrained encoder | ${withHalf(interval(untrained.map((r) => r.knn)))} | ${withHalf(interval(untrained.map((r) => r.probe)))} | — | | |`);
    if (pixels.length) lines.push(`| ${name} | — | raw pixels | ${pct(pixels[0]!.knn)} | ${pct(pixels[0]!.probe)} | — | | |`);
    for (const batch of options.batches) {
      for (const method of options.methods) {
        const runs = of(method, batch);
        if (!runs.length) continue;
        let paired = ['', ''];
        if (method === 'moco') {
          const pairs = runs.map((r) => [r, records.find((s) => s.set === name && s.method === 'simclr' && s.batch === batch && s.seed === r.seed)] as const).filter(([, s]) => s);
          if (pairs.length) paired = [signedHalf(interval(pairs.map(([r, s]) => r.knn - s!.knn))), signedHalf(interval(pairs.map(([r, s]) => r.probe - s!.probe)))];
        }
        const loss = interval(runs.map((r) => r.loss_last10!));
        lines.push(
          `| ${name} | ${batch} | ${method} (${runs.length} seeds) | ${withHalf(interval(runs.map((r) => r.knn)))} | ${withHalf(interval(runs.map((r) => r.probe)))} | ${loss.mean.toFixed(3)} | ${paired[0]} | ${paired[1]} |`,
        );
      }
    }
  }
  return lines.join('\n');
}

async function main(): Promise<void> {
  const options = parse(process.argv.slice(2));
  tf.env().set('PROD', true);
  await tf.setBackend('cpu');
  const records: Record_[] = options.record && existsSync(options.record) ? readFileSync(options.record, 'utf8').trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record_) : [];
  const keep = (r: Record_) => {
    records.push(r);
    if (options.record) appendFileSync(options.record, `${JSON.stringify(r)}\n`);
  };
  const has = (set: string, method: string, batch: number, seed: number) =>
    records.some((r) => r.set === set && r.method === method && r.seed === seed && (method === 'untrained' || method === 'pixels' || (r.batch === batch && r.steps === options.steps)));
  console.error(`machine: ${cpus().length} cores (${cpus()[0]?.model}), load average ${loadavg()[0]!.toFixed(2)}; tfjs ${tf.version.tfjs} on ${tf.getBackend()}`);
  for (const { name, prefix } of options.tableOnly ? [] : options.sets) {
    const data = readPixelSplit(prefix);
    for (const seed of options.seeds) {
      if (!has(name, 'untrained', 0, seed)) for (const r of await baselines(data, name, seed, options)) keep(r);
      for (const batch of options.batches) {
        for (const method of options.methods) {
          if (has(name, method, batch, seed)) continue;
          const r = await run(data, name, method, batch, seed, options);
          keep(r);
          console.error(`${name} ${method} batch ${batch} seed ${seed}: kNN ${pct(r.knn)} %, probe ${pct(r.probe)} %, loss ${r.loss_last10!.toFixed(3)} (${r.seconds.toFixed(0)} s, of which training ${r.train_seconds.toFixed(0)} s; load ${loadavg()[0]!.toFixed(2)})`);
        }
      }
    }
  }
  const table = tabulate(records.filter((r) => r.steps === options.steps || r.steps === 0), options);
  if (options.json) console.log(JSON.stringify(records));
  console.log(table);
}

await main();
