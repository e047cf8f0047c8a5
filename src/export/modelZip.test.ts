import * as tf from '@tensorflow/tfjs';
import { strToU8, unzipSync, zipSync } from 'fflate';
import { beforeAll, describe, expect, it } from 'vitest';
import { selfTestConfig } from '../engine/selftest';
import { readWeights, writeWeights } from '../engine/savedState';
import { createTrainState, disposeTrainState } from '../engine/step';
import { modelBundle } from './bundle';
import { TORCH_MODULE_SOURCE } from './torchModule';
import { zipFiles } from './download';
import { readModelZip } from './modelZip';

const config = selfTestConfig();
let zip: Uint8Array;
let encoderValues: Float32Array;

beforeAll(async () => {
  await tf.setBackend('cpu');
  const state = createTrainState(config);
  const files = await modelBundle(state.model, { config, step: 7, metrics: null, includeHead: true, version: '0.1.0', torchModule: TORCH_MODULE_SOURCE });
  zip = zipFiles(files);
  const all = await readWeights(state.model);
  const encoderSize = state.model.encoder.weights.reduce((sum, w) => sum + w.shape.reduce((a, d) => a! * d!, 1)!, 0);
  encoderValues = all.data.slice(0, encoderSize);
  disposeTrainState(state);
});

/** The zip with one file replaced (or removed, with null). */
function edited(name: string, bytes: Uint8Array | null): Uint8Array {
  const files = Object.fromEntries(Object.entries(unzipped()).filter(([n]) => n !== name));
  if (bytes) files[name] = bytes;
  return zipSync(files, { level: 0 });
}

function unzipped(): Record<string, Uint8Array> {
  return unzipSync(zip);
}

describe('readModelZip', () => {
  it('reads back the config, the step and every weight of a downloaded zip', () => {
    const loaded = readModelZip(zip, 'model.zip');
    expect(loaded.config).toEqual(config);
    expect(loaded.step).toBe(7);
    expect(loaded.version).toBe('0.1.0');
    const flat = new Float32Array(loaded.encoder.reduce((n, w) => n + w.values.length, 0));
    let offset = 0;
    for (const w of loaded.encoder) {
      flat.set(w.values, offset);
      offset += w.values.length;
    }
    expect(Array.from(flat)).toEqual(Array.from(encoderValues));
    expect(loaded.encoder.map((w) => w.name)).toContain('block1_conv/kernel');
    expect(loaded.head!.length).toBeGreaterThan(0);
  });

  it('loads a zip saved before the model fields existed as the model it was: ReLU on h, head as wide as h, Keras initialisers', async () => {
    // The architecture before the parity work, saved with a config.json that has none of the three fields.
    // A projection wider than h (32), so that the two head rules give different hidden widths (32, not 64).
    const old = { ...config, model: { ...config.model, projectionDim: 64, representationRelu: true, headHidden: 'representation' as const, init: 'keras' as const } };
    const state = createTrainState(old);
    const files = await modelBundle(state.model, { config: old, step: 3, metrics: null, includeHead: true, version: '0.1.0', torchModule: TORCH_MODULE_SOURCE });
    const info = JSON.parse(new TextDecoder().decode(files.find((f) => f.name === 'config.json')!.bytes));
    for (const field of ['representationRelu', 'headHidden', 'init']) delete info.training.model[field];
    const stripped = zipFiles(files.map((f) => (f.name === 'config.json' ? { ...f, bytes: strToU8(JSON.stringify(info)) } : f)));
    const loaded = readModelZip(stripped, 'old.zip');
    expect(loaded.config).toEqual(old);
    // A model built from the loaded config takes every weight, head included, at its saved shape.
    const rebuilt = createTrainState(loaded.config);
    expect(() => writeWeights(rebuilt.model, [...loaded.encoder, ...loaded.head!])).not.toThrow();
    expect(rebuilt.model.method.heads.projection_head!.getLayer('head1_dense').getWeights()[0]!.shape).toEqual([32, 32]);
    expect((rebuilt.model.encoder.getLayer('representation').getConfig() as { activation: string }).activation).toBe('relu');
    disposeTrainState(state);
    disposeTrainState(rebuilt);
  });

  it('refuses what is not a zip, a truncated zip, a foreign zip, cut weights and a contradicting input size', () => {
    expect(() => readModelZip(strToU8('hello'), 'a.zip')).toThrow(/not a zip file/);
    expect(() => readModelZip(zip.slice(0, Math.floor(zip.length / 2)), 'b.zip')).toThrow(/not a zip file, or it is damaged or cut short/);
    expect(() => readModelZip(zipSync({ 'notes.txt': strToU8('hi') }), 'c.zip')).toThrow(/no config.json, so it is not a model downloaded from tabclr/);
    expect(() => readModelZip(edited('config.json', strToU8('{"name": "other"}')), 'd.zip')).toThrow(/not written by tabclr/);
    const shard = unzipped()['encoder/group1-shard1of1.bin']!;
    expect(() => readModelZip(edited('encoder/group1-shard1of1.bin', shard.slice(0, shard.length - 8)), 'e.zip')).toThrow(/describes .* cut short/);
    const info = JSON.parse(new TextDecoder().decode(unzipped()['config.json']));
    info.training.model.imageSize = 32;
    expect(() => readModelZip(edited('config.json', strToU8(JSON.stringify(info))), 'f.zip')).toThrow(/takes 8 × 8 × 3 images but its config.json says 32 × 32 × 3/);
    info.training.model.imageSize = config.model.imageSize;
    info.training.batchSize = 1;
    expect(() => readModelZip(edited('config.json', strToU8(JSON.stringify(info))), 'g.zip')).toThrow(/training configuration is not valid/);
  });

  it('reads a zip written before the method seam (a top-level temperature, no method) as SimCLR', () => {
    const info = JSON.parse(new TextDecoder().decode(unzipped()['config.json']));
    const { method, ...old } = info.training;
    const loaded = readModelZip(edited('config.json', strToU8(JSON.stringify({ ...info, training: { ...old, temperature: method.temperature } }))), 'old.zip');
    expect(loaded.config).toEqual(config);
  });
});
