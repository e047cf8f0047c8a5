import { expect, test } from './fixtures';

test('the worker runs tfjs on WebGPU, computes a known result, and the status bar reports the adapter', async ({ page }) => {
  const workers: string[] = [];
  page.on('worker', (w) => workers.push(w.url()));
  await page.goto('/');
  const status = page.getByRole('status', { name: 'GPU status' });
  await expect(status).toContainText('WebGPU');
  await expect(status).toContainText('in a Web Worker');
  await expect(status).toContainText('GPU check passed');
  // SwiftShader is a software adapter, and the page says so, and why WebGPU and not WebGL there.
  await expect(status).toContainText('software adapter');
  await expect(status).toContainText('WebGPU chosen over WebGL: on a software adapter its steps measured 1.4–1.7× as fast');

  // tfjs lives in the worker: its engine exists there, on the webgpu backend, and not on the page.
  expect(workers.some((u) => u.includes('trainer.worker'))).toBe(true);
  const worker = page.workers().find((w) => w.url().includes('trainer.worker'))!;
  const inWorker = await worker.evaluate(() => {
    const engine = (globalThis as unknown as { _tfengine?: { backendName: string } })._tfengine;
    return { scope: self.constructor.name, backend: engine?.backendName, hasGpu: 'gpu' in navigator };
  });
  expect(inWorker).toEqual({ scope: 'DedicatedWorkerGlobalScope', backend: 'webgpu', hasGpu: true });
  expect(await page.evaluate(() => '_tfengine' in globalThis)).toBe(false);
});
