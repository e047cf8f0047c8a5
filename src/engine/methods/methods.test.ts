// What every registered method owes the rest of tabclr: settings with sane defaults, levels and diagnostics the page
// can draw, a network that builds and trains, and no runtime tfjs import (the page reads the method files too).
import * as tf from '@tensorflow/tfjs';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { defaultTrainConfig, upgradeConfig, validateTrainConfig, type TrainConfig } from '../config';
import { createTrainState, disposeTrainState, trainStep } from '../step';
import { syntheticImages } from '../synthetic';
import { defaultMethodConfig, METHOD_NAMES, methodOf, METHODS, methodSettings } from '.';

const folder = fileURLToPath(new URL('.', import.meta.url));

/** The runtime imports of a source file (type-only imports are erased by the compiler). */
function runtimeImports(source: string): string[] {
  const imports = [...source.matchAll(/^import\s+(type\s+)?[^;]*?from\s+'([^']+)';/gms)];
  return imports.filter((m) => !m[1]).map((m) => m[2]!);
}

describe('method files', () => {
  const files = readdirSync(folder).filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'));

  it.each(files)('%s imports tfjs for types only, and nothing that does at run time', (file) => {
    const imports = runtimeImports(readFileSync(`${folder}/${file}`, 'utf8'));
    // Runtime imports stay inside this folder (or the tfjs-free levels): tfjs reaches a method through EngineKit.
    for (const source of imports) expect(source, `${file} imports '${source}' at run time`).toMatch(/^\.\/[a-z]+$|^\.$|^\.\.\/levels$/);
  });
});

describe.each(METHOD_NAMES)('method %s', (name) => {
  const method = methodOf({ name });
  const config = (): TrainConfig => {
    const c = defaultTrainConfig(8, 1);
    c.method = defaultMethodConfig(name);
    c.model = { ...c.model, width: 1 / 8, projectionDim: 16 };
    c.batchSize = 4;
    c.optim = { ...c.optim, warmupSteps: 0, totalSteps: 3 };
    return c;
  };

  it('has defaults inside its settings\' ranges, which validation checks', () => {
    expect(METHODS[name].name).toBe(name);
    expect(validateTrainConfig(config())).toEqual([]);
    for (const [key, spec] of Object.entries(method.settings)) {
      const bad = { ...config(), method: { ...config().method, [key]: spec.max * 2 + 1 } } as TrainConfig;
      expect(validateTrainConfig(bad).map((p) => p.field)).toContain(`method.${key}`);
    }
    const unknown = { ...config(), method: { ...config().method, surprise: 1 } } as unknown as TrainConfig;
    expect(validateTrainConfig(unknown).map((p) => p.field)).toContain('method.surprise');
  });

  it('gives finite levels and diagnostics the charts can draw', () => {
    // Without settings (the defaults) and with the method's own (MoCo's levels follow its queue size).
    for (const context of [{ batchSize: 16, projectionDim: 64 }, { batchSize: 16, projectionDim: 64, settings: methodSettings(defaultMethodConfig(name)) }]) {
      const levels = method.levels(context);
      expect(Number.isFinite(levels.collapsed.loss) && levels.collapsed.tolerance > 0).toBe(true);
      for (const line of levels.loss) expect(Number.isFinite(line.value)).toBe(true);
      for (const d of method.diagnostics) for (const line of d.references(context)) expect(Number.isFinite(line.value)).toBe(true);
    }
  });

  it('trains three steps: a finite loss, every diagnostic reported, no tensor left behind', async () => {
    const c = config();
    const state = createTrainState(c);
    const images = tf.tensor4d(syntheticImages(4, 8, 1, 2), [4, 8, 8, 1], 'int32');
    let tensors = 0;
    for (let i = 0; i < 3; i++) {
      const m = await trainStep(state, images);
      expect(Number.isFinite(m.loss)).toBe(true);
      expect(Object.keys(m.diagnostics)).toEqual(method.diagnostics.map((d) => d.key));
      if (i === 1) tensors = tf.memory().numTensors;
    }
    expect(tf.memory().numTensors).toBe(tensors);
    images.dispose();
    disposeTrainState(state);
  });
});

describe('configs saved before the method seam', () => {
  it('were SimCLR, with a top-level temperature', () => {
    const { method: _method, ...old } = defaultTrainConfig(16, 1);
    const upgraded = upgradeConfig({ ...old, temperature: 0.35 });
    expect(upgraded.method).toEqual({ name: 'simclr', temperature: 0.35 });
    expect('temperature' in upgraded).toBe(false);
    expect(validateTrainConfig(upgraded)).toEqual([]);
  });

  it('are left as they are when they name their method', () => {
    const config = defaultTrainConfig(16, 1);
    expect(upgradeConfig(config)).toBe(config);
  });
});
