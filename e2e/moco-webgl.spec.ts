// MoCo v2's step on WebGL, in Chromium (SwiftShader's GL through ANGLE), against the PyTorch fixture that the CPU
// (src/engine/methods/moco.test.ts) and WebGPU (src/engine/webgpu/moco.test.ts) unit tests are pinned to, so that WebGL
// agrees with both through it. WebGL cannot run in Node here (tfjs's WebGL backend needs a browser's context), so the
// engine's own code is bundled with esbuild for a blank page and run there, prepared as the trainer worker prepares a
// run (e2e/webgl/stepCase.ts): the step and its compile-only and one-pixel passes, without the app's start-up around it.
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { decode, tensorError, withinTolerance, type Encoded, type MocoReference, type ParityFixture } from '../src/test/parityTensors';
import { expect, test } from './fixtures';
import type { StepCaseInput, StepCaseResult } from './webgl/stepCase';

const fixture = JSON.parse(readFileSync(new URL('../src/engine/fixtures/moco-step-parity.json', import.meta.url), 'utf8')) as ParityFixture<MocoReference>;

/** Each tensor within |a − b| ≤ 1e-6 + RTOL · max|b|: the CPU's and WebGPU's tolerance, which WebGL meets as well. */
const RTOL = 1e-4;

function expectClose(what: string, actual: ArrayLike<number>, expected: ArrayLike<number>, rtol = RTOL): void {
  expect(actual.length, what).toBe(expected.length);
  const error = tensorError(actual, expected);
  expect(withinTolerance(error, rtol), `${what}: max |WebGL − PyTorch| ${error.worst} against max |PyTorch| ${error.scale}`).toBe(true);
}

test('one MoCo v2 step on WebGL agrees with PyTorch, as the CPU and WebGPU do: loss, every gradient, the update, the key network, the queue over 6 steps', async ({ page }) => {
  const bundle = await build({
    entryPoints: [new URL('./webgl/stepCase.ts', import.meta.url).pathname],
    bundle: true,
    write: false,
    format: 'iife',
    globalName: 'tabclrStepCase',
    platform: 'browser',
    define: { __TABCLR_VERSION__: '"e2e"', __TABCLR_TEST_HOOKS__: 'false' },
    logLevel: 'silent',
  });
  await page.setContent('<!doctype html><title>MoCo v2 on WebGL</title>');
  await page.addScriptTag({ content: bundle.outputFiles[0]!.text });
  const values = (e: Encoded) => Array.from(decode(e));
  const input: StepCaseInput = {
    config: fixture.config,
    views: { shape: fixture.views.shape, values: values(fixture.views) },
    initial: Object.fromEntries(Object.entries(fixture.initial).map(([name, e]) => [name, values(e)])),
    steps: fixture.reference.losses.length,
  };
  const result = await page.evaluate(
    (i) => (window as unknown as { tabclrStepCase: { runStepCase(i: StepCaseInput): Promise<StepCaseResult> } }).tabclrStepCase.runStepCase(i),
    input,
  );
  const { reference } = fixture;
  expect(result.backend).toBe('webgl');
  expect(Math.abs(result.loss - reference.loss), 'loss over the initial queue').toBeLessThan(1e-5);
  expect(Object.keys(result.grads).sort()).toEqual(Object.keys(reference.grads).sort());
  for (const [name, g] of Object.entries(result.grads)) expectClose(`gradient of ${name}`, g, decode(reference.grads[name]!));
  expect(Object.keys(result.afterOne).sort()).toEqual(Object.keys(reference.afterOne).sort());
  for (const [name, v] of Object.entries(result.afterOne)) expectClose(`${name} after one step`, v, decode(reference.afterOne[name]!));
  reference.losses.forEach((expected, i) => expect(Math.abs(result.losses[i]! - expected), `loss at step ${i + 1}`).toBeLessThan(1e-5));
  expect(result.diagnostics.map((d) => d.positiveAcc)).toEqual(reference.positiveAcc);
  expect(result.diagnostics.map((d) => d.queueAge)).toEqual(reference.queueAge);
  for (const name of Object.keys(reference.final)) expectClose(`${name} after 6 steps`, result.final[name]!, decode(reference.final[name]!), 10 * RTOL);
});
