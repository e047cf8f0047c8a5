// The cluster script without torchrun (one process, as it runs when started with plain python): each optimiser of the
// recipe trains and writes a zip that tabclr_torch.py and the page's reader take back, a zip without its head trains on
// with a new one and is written without it, and every input it cannot follow is refused with what to do. All in one
// Python run. The two-process torchrun run, and the page loading its zip, are in e2e/export.spec.ts.
import * as tf from '@tensorflow/tfjs';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { strToU8, zipSync } from 'fflate';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultTrainConfig, type TrainConfig } from '../../src/engine/config';
import { defaultMethodConfig } from '../../src/engine/methods';
import { createNetwork, disposeNetwork } from '../../src/engine/model';
import { modelBundle } from '../../src/export/bundle';
import { zipFiles } from '../../src/export/download';
import { readModelZip } from '../../src/export/modelZip';
import { TORCH_MODULE_SOURCE } from '../../src/export/torchModule';
import { runPython } from '../../src/test/python';

const SAMPLE = new URL('../../public/sample/fashion-mnist/', import.meta.url).pathname;

// Runs main() once per case in one interpreter: exit code, stderr, and the step records of --json.
const DRIVER = `
import contextlib, io, json, sys
sys.path.insert(0, sys.argv[1])
import train_ddp, tabclr_torch
from PIL import Image
job = json.load(open(sys.argv[2]))
manifest = json.load(open(job["sample"] + "manifest.json"))
sprite = Image.open(job["sample"] + manifest["sprite"])
s = manifest["imageSize"]
for folder, count in job["folders"].items():
    for i in range(count):
        x, y = (i % manifest["columns"]) * s, (i // manifest["columns"]) * s
        sprite.crop((x, y, x + s, y + s)).convert("L").save(f"{folder}/{i:04d}.png")
results = []
for case in job["cases"]:
    out, err = io.StringIO(), io.StringIO()
    code = 0
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            train_ddp.main(case["argv"])
        except SystemExit as e:
            code = e.code
    steps = [json.loads(l) for l in out.getvalue().splitlines() if l.startswith("{")]
    result = {"name": case["name"], "code": code, "stderr": err.getvalue(), "records": steps}
    if code == 0:
        encoder, head = tabclr_torch.load_model(case["out"])
        result["has_head"] = head is not None
    results.append(result)
print(json.dumps(results))
`;

interface RunResult {
  name: string;
  code: number;
  stderr: string;
  records: { type: string; step: number; loss: number }[];
  has_head?: boolean;
}

let work: string;
const results = new Map<string, RunResult>();

async function writeZip(path: string, config: TrainConfig, includeHead: boolean, edit?: (info: { training: Record<string, unknown> & TrainConfig }) => void) {
  const model = createNetwork(config);
  const files = await modelBundle(model, { config, step: 5, metrics: null, includeHead, version: 'test', torchModule: TORCH_MODULE_SOURCE });
  disposeNetwork(model);
  if (edit) {
    const entry = files.find((f) => f.name === 'config.json')!;
    const info = JSON.parse(new TextDecoder().decode(entry.bytes));
    edit(info);
    entry.bytes = strToU8(JSON.stringify(info));
  }
  writeFileSync(path, zipFiles(files));
}

beforeAll(async () => {
  await tf.setBackend('cpu');
  work = mkdtempSync(join(tmpdir(), 'tabclr-train-ddp-'));
  const config = defaultTrainConfig(28, 1);
  Object.assign(config.model, { width: 0.125, projectionDim: 16 });
  Object.assign(config.optim, { warmupSteps: 1, totalSteps: 5 });
  config.batchSize = 8;
  const at = (name: string) => join(work, name);
  await writeZip(at('model.zip'), config, true);
  await writeZip(at('headless.zip'), config, false);
  await writeZip(at('sgd.zip'), { ...config, optim: { ...config.optim, optimizer: 'sgd' } }, true);
  await writeZip(at('lars.zip'), { ...config, optim: { ...config.optim, optimizer: 'lars' } }, true);
  await writeZip(at('solarize.zip'), config, true, (info) => Object.assign(info.training.augment, { solarizeProb: 0.2 }));
  await writeZip(at('entropy.zip'), config, true, (info) => Object.assign(info.training.model, { entropyWeight: 0.5 }));
  await writeZip(at('byol.zip'), { ...config, method: defaultMethodConfig('byol') }, true);
  await writeZip(at('moco.zip'), { ...config, method: defaultMethodConfig('moco') }, true);
  // Written before tabclr had several methods: a top-level temperature and no method.
  await writeZip(at('legacy.zip'), config, true, (info) => {
    delete (info.training as Partial<TrainConfig>).method;
    info.training.temperature = 0.3;
  });
  writeFileSync(at('holiday.zip'), zipSync({ 'photo.txt': strToU8('not a model') }));
  for (const folder of ['images', 'two']) mkdirSync(at(folder));
  const run = (name: string, model: string, extra: string[] = [], data = 'images') => ({
    name,
    out: at(`${name}.out.zip`),
    argv: ['--model', at(model), '--data', at(data), '--steps', '2', '--out', at(`${name}.out.zip`), '--loader-workers', '0', '--json', ...extra],
  });
  const cases = [
    run('adam', 'model.zip'),
    run('sgd', 'sgd.zip', ['--lr', '0.05']),
    // LARS with its learning rate scaled as SimCLR's (0.3 × batch / 256), and with --batch and --seed overrides.
    run('lars', 'lars.zip', ['--lr', '0.02', '--batch', '4', '--seed', '7']),
    run('headless', 'headless.zip'),
    run('legacy', 'legacy.zip'),
    run('unknown augmentation', 'solarize.zip'),
    run('entropy regulariser', 'entropy.zip'),
    run('another method', 'byol.zip'),
    run('MoCo', 'moco.zip'),
    run('warm-up too long', 'model.zip', ['--warmup-steps', '2']),
    run('batch of one', 'model.zip', ['--batch', '1']),
    run('too few images', 'model.zip', [], 'two'),
    run('no folder', 'model.zip', [], 'missing'),
    run('not a tabclr zip', 'holiday.zip'),
  ];
  const job = at('job.json');
  writeFileSync(job, JSON.stringify({ sample: SAMPLE, folders: { [at('images')]: 8, [at('two')]: 2 }, cases }));
  for (const r of JSON.parse(runPython(['-c', DRIVER, new URL('.', import.meta.url).pathname, job])) as RunResult[]) results.set(r.name, r);
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('scripts/cluster/train_ddp.py in one process', () => {
  for (const name of ['adam', 'sgd', 'lars', 'headless', 'legacy']) {
    it(`${name}: trains two finite steps and writes a zip that the page's reader and tabclr_torch.py load, at step 7`, () => {
      const r = results.get(name)!;
      expect(r.code, r.stderr).toBe(0);
      const steps = r.records.filter((s) => s.type === 'step');
      expect(steps.map((s) => s.step)).toEqual([1, 2]);
      expect(steps.every((s) => Number.isFinite(s.loss))).toBe(true);
      const loaded = readModelZip(new Uint8Array(readFileSync(join(work, `${name}.out.zip`))), `${name}.out.zip`);
      expect(loaded.step).toBe(7);
      expect(loaded.config.optim.totalSteps).toBe(2);
      expect(loaded.head !== null).toBe(name !== 'headless');
      expect(r.has_head).toBe(name !== 'headless');
      expect(loaded.config.optim.optimizer).toBe(name === 'sgd' || name === 'lars' ? name : 'adam');
      if (name === 'lars') expect(loaded.config).toMatchObject({ batchSize: 4, seed: 7, optim: { learningRate: 0.02 } });
      expect(loaded.config.method).toEqual({ name: 'simclr', temperature: name === 'legacy' ? 0.3 : 0.2 });
    });
  }

  const refusals: [string, RegExp][] = [
    ['unknown augmentation', /cannot be continued: config\.json's training\.augment has solarizeProb: this script follows the recipe of its own tabclr version/],
    ['entropy regulariser', /cannot be continued: the recipe uses the entropy regulariser/],
    ['another method', /cannot be continued: it was trained with 'byol'; this script trains SimCLR only \(continue it in the tab\)/],
    ['MoCo', /cannot be continued: it was trained with 'moco': a download holds neither its key network nor its queue of keys, so no script can continue it as the same run; this script trains SimCLR only \(continue it in the tab\)/],
    ['warm-up too long', /warms up for 2 steps, not shorter than --steps 2: pass --warmup-steps below 2/],
    ['batch of one', /the global batch \(1\) must be at least 2/],
    ['too few images', /has 2 images, fewer than the batch of 8/],
    ['no folder', /--data .*missing is not a folder/],
    ['not a tabclr zip', /holiday\.zip cannot be continued: .*has no config\.json, so it is not a model downloaded from tabclr/],
  ];
  for (const [name, message] of refusals) {
    it(`refuses ${name} with what to do, writing nothing`, () => {
      const r = results.get(name)!;
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(() => readFileSync(join(work, `${name}.out.zip`))).toThrow();
    });
  }
});
