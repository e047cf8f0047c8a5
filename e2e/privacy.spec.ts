// Nothing leaves the device: the request recorder every test runs under (e2e/fixtures.ts) sees what it must, and the
// built app runs under a Content-Security-Policy that refuses inline script, eval and other origins.
import * as tf from '@tensorflow/tfjs';
import { readFileSync, writeFileSync } from 'node:fs';
import { modelBundle } from '../src/export/bundle';
import { zipFiles } from '../src/export/download';
import { defaultTrainConfig } from '../src/engine/config';
import { createNetwork, disposeNetwork } from '../src/engine/model';
import { QUIET_FLAGS, SANDBOX_FLAGS, systemChromium } from './browser';
import { chromium, expect, test, type BrowserContext, type Page } from './fixtures';

/** Where nothing may go. Requests there are aborted in the browser: the tests never need the network. */
const ELSEWHERE = 'https://elsewhere.example';

async function blockElsewhere(context: BrowserContext) {
  await context.route(`${ELSEWHERE}/**`, (route) => route.abort('blockedbyclient'));
}

test.describe('the request recorder', () => {
  test('flags a foreign request from the page and from its dedicated worker, and passes own, data: and blob: URLs', async ({ page, context, baseURL, requests }) => {
    await blockElsewhere(context);
    // A page and a module worker of the app's origin, served by the test without the app's policy (which would
    // refuse the foreign requests before they were made, and so before the recorder could see them).
    await context.route(`${baseURL}/recorder-check.html`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>recorder check</title>' }));
    await context.route(`${baseURL}/recorder-check-worker.js`, (route) =>
      route.fulfill({
        contentType: 'text/javascript',
        body: `self.onmessage = async () => {
          const outcome = await fetch('${ELSEWHERE}/from-worker').then(() => 'sent', () => 'failed');
          await fetch('/favicon.svg?from-worker');
          self.postMessage(outcome);
        };`,
      }),
    );
    await page.goto('/recorder-check.html');
    const fromPage = await page.evaluate(async (elsewhere) => {
      const outcome = await fetch(`${elsewhere}/from-page`).then(() => 'sent', () => 'failed');
      await fetch('/favicon.svg?from-page');
      await fetch('data:text/plain,inline');
      await fetch(URL.createObjectURL(new Blob(['local'])));
      return outcome;
    }, ELSEWHERE);
    expect(fromPage).toBe('failed');
    const fromWorker = await page.evaluate(
      () =>
        new Promise<string>((resolve) => {
          const worker = new Worker('/recorder-check-worker.js', { type: 'module' });
          worker.onmessage = (event) => resolve(event.data as string);
          worker.postMessage('go');
        }),
    );
    expect(fromWorker).toBe('failed');

    expect(requests.urls).toContain(`${baseURL}/favicon.svg?from-page`);
    expect(requests.urls).toContain(`${baseURL}/favicon.svg?from-worker`);
    // Taken, so that this test, which made them on purpose, passes.
    expect(requests.takeForeign().map((r) => r.url)).toEqual([`${ELSEWHERE}/from-page`, `${ELSEWHERE}/from-worker`]);
  });

  test('fails a test that sent one and did not take it (an expected failure: the list reporter marks it ✘)', async ({ page, context, baseURL }) => {
    test.fail(true, 'the recorder fails this test when it tears down: that failure is what is expected here');
    await blockElsewhere(context);
    await context.route(`${baseURL}/recorder-check.html`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>recorder check</title>' }));
    await page.goto('/recorder-check.html');
    await page.evaluate((elsewhere) => fetch(`${elsewhere}/not-taken`).catch(() => null), ELSEWHERE);
  });

  test('also watches the browsers a spec launches itself', async ({ baseURL, requests }) => {
    const browser = await chromium.launch({ executablePath: systemChromium(), args: [...QUIET_FLAGS, ...SANDBOX_FLAGS] });
    try {
      const page = await browser.newPage();
      await blockElsewhere(page.context());
      await page.context().route(`${baseURL}/recorder-check.html`, (route) => route.fulfill({ contentType: 'text/html', body: '<!doctype html><title>recorder check</title>' }));
      await page.goto(`${baseURL}/recorder-check.html`);
      await page.evaluate((elsewhere) => fetch(`${elsewhere}/from-own-browser`).catch(() => null), ELSEWHERE);
    } finally {
      await browser.close();
    }
    expect(requests.takeForeign().map((r) => r.url)).toEqual([`${ELSEWHERE}/from-own-browser`]);
  });

  test("sees the app's own worker fetch the sample images", async ({ page, requests }) => {
    await page.goto('/');
    await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
    // The trainer worker, not the page, loads the sample set.
    const worker = page.workers().find((w) => w.url().includes('trainer.worker'))!;
    expect(await worker.evaluate(() => typeof document)).toBe('undefined');
    expect(requests.urls.some((u) => u.endsWith('/sample/fashion-mnist/manifest.json'))).toBe(true);
    expect(requests.foreign).toEqual([]);
  });
});

/** The policy of the built app; the <meta> cannot carry frame-ancestors, so only the header has it. */
const POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; worker-src 'self'; " +
  "object-src 'none'; base-uri 'none'; form-action 'none'";

interface Violation {
  directive: string;
  blocked: string;
  source: string;
  /** Which form of the policy refused it: the header has frame-ancestors, the <meta> cannot. */
  policy: 'header' | 'meta';
}

const LISTEN_FOR_VIOLATIONS = `self.__violations = [];
self.addEventListener('securitypolicyviolation', (e) => self.__violations.push({ directive: e.effectiveDirective, blocked: e.blockedURI, source: e.sourceFile, policy: e.originalPolicy.includes('frame-ancestors') ? 'header' : 'meta' }));
`;

/**
 * Records the policy violations of the page (an init script) and of the trainer worker (its script, as served, with
 * the same listener put in front: a worker takes its policy from its own response, and reports violations to itself).
 */
async function recordViolations(page: Page) {
  await page.addInitScript(LISTEN_FOR_VIOLATIONS);
  await page.context().route(/\/assets\/trainer\.worker-[\w-]+\.js$/, async (route) => {
    const response = await route.fetch();
    await route.fulfill({ response, body: LISTEN_FOR_VIOLATIONS + (await response.text()) });
  });
  const read = () => (self as unknown as { __violations: Violation[] }).__violations;
  return {
    page: () => page.evaluate(read),
    worker: () => page.workers().find((w) => w.url().includes('trainer.worker'))!.evaluate(read),
  };
}

/** A model zip as the app writes it, made here in Node: an untrained small convnet4 for the sample's 28 px gray images. */
async function sampleModelZip(path: string): Promise<void> {
  await tf.setBackend('cpu');
  const config = defaultTrainConfig(28, 1);
  config.model.width = 0.125;
  config.batchSize = 8;
  const model = createNetwork(config);
  const files = await modelBundle(model, { config, step: 0, metrics: null, includeHead: false, version: 'test', torchModule: readFileSync(new URL('../src/export/python/tabclr_torch.py', import.meta.url), 'utf8') });
  disposeNetwork(model);
  writeFileSync(path, zipFiles(files));
}

test('the built app runs under a strict Content-Security-Policy: load, a model zip, maps and downloads break none of it', async ({ page, context, requests }, testInfo) => {
  // Training runs under the same policy (the preview server sends it to every test) in train, watch, export, checkpoint
  // and fault tests, and the self-test in self-test.spec.ts; here the worker's model loading, embedding and export.
  test.setTimeout(240_000);
  await blockElsewhere(context);
  const violations = await recordViolations(page);
  const response = await page.goto('/');
  expect(response!.headers()['content-security-policy']).toBe(`${POLICY}; frame-ancestors 'none'`);
  await expect(page.locator('meta[http-equiv="Content-Security-Policy"]')).toHaveAttribute('content', POLICY);
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');

  const zipPath = testInfo.outputPath('model.zip');
  await sampleModelZip(zipPath);
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Load model (.zip)' }).click();
  await (await chooser).setFiles(zipPath);
  await expect(page.getByRole('region', { name: 'Saved runs' })).toContainText('Loaded model.zip');
  await expect(page.getByRole('img', { name: /Embedding map: \d+ images at step 0/ })).toBeVisible({ timeout: 120_000 });
  for (const name of ['Download weights (.zip)', 'Download embeddings (.zip)']) {
    const download = page.waitForEvent('download');
    await page.getByRole('button', { name }).click();
    expect((await download).suggestedFilename()).toMatch(/\.zip$/);
  }

  // Not one refusal on the page. In the worker exactly one, at start and harmless: tfjs bundles long.js, which tries to
  // compile a tiny WebAssembly module to multiply 64-bit integers faster, and uses plain JavaScript when refused.
  expect(await violations.page()).toEqual([]);
  const inWorker = await violations.worker();
  expect(inWorker).toEqual([{ directive: 'script-src', blocked: 'wasm-eval', source: expect.stringMatching(/\/assets\/trainer\.worker-[\w-]+\.js$/), policy: 'header' }]);

  // What the policy is for: an injected inline script, a string compiled as code and a request elsewhere are refused.
  // (Not eval inside page.evaluate: DevTools lets its own evaluations compile strings whatever the policy says.)
  const attempts = await page.evaluate(async (elsewhere) => {
    const script = document.createElement('script');
    script.textContent = 'window.__inlineRan = true';
    document.head.append(script);
    setTimeout('window.__evalRan = true', 0);
    const fetchOutcome = await fetch(`${elsewhere}/leak`).then(() => 'sent', (e: Error) => e.name);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const ran = window as { __inlineRan?: boolean; __evalRan?: boolean };
    return { inlineRan: ran.__inlineRan === true, evalRan: ran.__evalRan === true, fetchOutcome };
  }, ELSEWHERE);
  expect(attempts).toEqual({ inlineRan: false, evalRan: false, fetchOutcome: 'TypeError' });
  // Each refused twice: the page is under both forms of the policy, the header and the <meta>.
  const refused = [`connect-src ${ELSEWHERE}/leak`, 'script-src eval', 'script-src-elem inline'];
  expect((await violations.page()).map((v) => `${v.directive} ${v.blocked} ${v.policy}`).sort()).toEqual(refused.flatMap((r) => [`${r} header`, `${r} meta`]));
  // Refused before it was made: the request never existed.
  expect(requests.foreign).toEqual([]);
});
