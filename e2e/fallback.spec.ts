import { chromium, expect, test } from './fixtures';
import { QUIET_FLAGS, SANDBOX_FLAGS, systemChromium } from './browser';

// These tests start their own Chromium, with the GPU features the default launch gives switched off.
async function openWith(args: string[], baseURL: string) {
  const browser = await chromium.launch({ executablePath: systemChromium(), args: [...QUIET_FLAGS, ...SANDBOX_FLAGS, ...args] });
  const page = await browser.newPage();
  await page.goto(baseURL);
  return { browser, page };
}

test('without WebGPU the trainer runs on WebGL and says why', async ({ baseURL }) => {
  // No --enable-unsafe-webgpu: Chromium on Linux grants no WebGPU adapter, but WebGL works on SwiftShader.
  const { browser, page } = await openWith(['--use-angle=swiftshader', '--enable-unsafe-swiftshader'], baseURL!);
  const status = page.getByRole('status', { name: 'GPU status' });
  await expect(status).toContainText('WebGL');
  await expect(status).toContainText('WebGPU not used');
  await expect(status).toContainText('GPU check passed');
  const worker = page.workers().find((w) => w.url().includes('trainer.worker'))!;
  expect(await worker.evaluate(() => (globalThis as unknown as { _tfengine: { backendName: string } })._tfengine.backendName)).toBe('webgl');
  await browser.close();
});

test('with neither WebGPU nor WebGL the page explains what is missing', async ({ baseURL }) => {
  const { browser, page } = await openWith(['--disable-gpu', '--disable-software-rasterizer'], baseURL!);
  await expect(page.getByRole('alert')).toContainText('needs WebGPU or WebGL');
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('training is not available');
  await expect(page.getByRole('button', { name: 'Run self-test' })).toBeDisabled();
  await browser.close();
});
