// Nothing leaves the device: the request recorder every test runs under (e2e/fixtures.ts) sees what it must.
import { expect, test, type BrowserContext } from './fixtures';

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
