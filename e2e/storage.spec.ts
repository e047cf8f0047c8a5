// Two tabs, two versions: tabclr's databases when another tab of an older or a newer release is open. Runs on the
// build for tests, whose `?test-decode-cache-version=V` and `?test-checkpoints-version=V` make a tab ask for the
// databases at a newer version, as the next release would (src/worker/faults.ts).
import { DECODE_CACHE_DB, DECODE_CACHE_VERSION } from '../src/data/cache';
import { CHECKPOINT_VERSION } from '../src/export/checkpoints';
import { encodeImages, expect, removeFixtureFolders, test, writeFolder, type Page } from './fixtures';

test.afterAll(removeFixtureFolders);
test.use({ viewport: { width: 1280, height: 800 } });
// Two or three trainer start-ups on a software adapter.
test.describe.configure({ timeout: 300_000 });

/** A tab of the next release: both databases one version on. */
const NEWER = `test-decode-cache-version=${DECODE_CACHE_VERSION + 1}&test-checkpoints-version=${CHECKPOINT_VERSION + 1}`;

async function openApp(page: Page, query = '') {
  // The <input webkitdirectory> path that browsers without showDirectoryPicker take, which Playwright can fill.
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await page.goto(`/${query}`);
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed', { timeout: 120_000 });
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('Fashion-MNIST sample');
}

/** Four tiny images in two sub-folders. */
async function shapesFolder(page: Page): Promise<string> {
  const specs = [
    { path: 'red/a.png', colour: '#c00' },
    { path: 'red/b.png', colour: '#e55' },
    { path: 'blue/c.png', colour: '#00c' },
    { path: 'blue/d.png', colour: '#55e' },
  ].map((s) => ({ ...s, width: 16, height: 16, type: 'image/png' as const }));
  const bytes = await encodeImages(page, specs);
  return writeFolder('shapes', Object.fromEntries(specs.map((s, i) => [s.path, bytes[i]!])));
}

async function importFolder(page: Page, dir: string) {
  await page.getByLabel('Image size for training').selectOption('16');
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose folder' }).click();
  await (await chooser).setFiles(dir);
}

const images = (page: Page) => page.getByRole('region', { name: 'Images' });
const notice = (page: Page) => page.getByRole('alert', { name: 'Another tabclr tab' });
const SHAPES = 'shapes: 4 images, 16 × 16 px, colour, 2 classes found (used only to evaluate)';

test('a tab gives way to a newer version opened in another tab, says it must reload, and reloads into it', async ({ page, context }, testInfo) => {
  await openApp(page);
  const dir = await shapesFolder(page);
  // This tab holds both databases: the saved runs were listed at start-up, the image cache is filled by the import.
  await importFolder(page, dir);
  await expect(images(page)).toContainText('Imported shapes: 4 of 4 files · 4 decoded · 0 from cache');

  const newer = await context.newPage();
  await openApp(newer, `?${NEWER}`);
  await importFolder(newer, dir);
  // The newer version's upgrade emptied the cache (its decoder may differ), and nothing waited for the first tab.
  await expect(images(newer)).toContainText('Imported shapes: 4 of 4 files · 4 decoded · 0 from cache');
  await expect(images(newer).locator('.dataset-summary')).toHaveText(SHAPES);
  await expect(notice(newer)).toHaveCount(0);

  await expect(notice(page)).toContainText(
    'tabclr was updated in another tab. This tab can no longer save checkpoints or use the image cache. Reload this tab to use the new version.',
  );
  await page.bringToFront();
  await page.screenshot({ path: testInfo.outputPath('replaced.png') });

  // The reload gets the new release, as it would from the server: here the same build, asked for the newer versions.
  await page.route(
    (url) => url.pathname === '/' && url.search === '',
    (route) => route.fulfill({ status: 302, headers: { location: `/?${NEWER}` } }),
  );
  const reload = notice(page).getByRole('button', { name: 'Reload this tab' });
  await reload.focus();
  await page.keyboard.press('Enter');
  await page.waitForURL((url) => url.search === `?${NEWER}`);
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed', { timeout: 120_000 });
  await importFolder(page, dir);
  // The images the newer tab cached.
  await expect(images(page)).toContainText('Imported shapes: 4 of 4 files · 0 decoded · 4 from cache');
  await expect(notice(page)).toHaveCount(0);
  await expect(notice(newer)).toHaveCount(0);
});

test('a tab of an older release keeping the image cache open: a newer tab says so, imports anyway, and upgrades once it closes', async ({ page, context }, testInfo) => {
  // An older release's tab: the image cache open at today's version, with no versionchange handler, so it never gives
  // way. A static page of the same origin does: the databases are the origin's, whatever page opened them.
  await page.goto('/sample/fashion-mnist/LICENSE');
  const version = await page.evaluate(
    ({ name, version }) =>
      new Promise<number>((resolve, reject) => {
        const request = indexedDB.open(name, version);
        request.onupgradeneeded = () => request.result.createObjectStore('images', { keyPath: 'key' });
        request.onsuccess = () => {
          (window as { olderTab?: IDBDatabase }).olderTab = request.result;
          resolve(request.result.version);
        };
        request.onerror = () => reject(request.error);
      }),
    { name: DECODE_CACHE_DB, version: DECODE_CACHE_VERSION },
  );
  expect(version).toBe(DECODE_CACHE_VERSION);

  const newer = await context.newPage();
  await openApp(newer, `?test-decode-cache-version=${DECODE_CACHE_VERSION + 1}`);
  const dir = await shapesFolder(newer);
  await importFolder(newer, dir);
  await expect(notice(newer)).toHaveText(
    'Another tabclr tab has an older version of the image cache open, so this tab imports without it (every image is decoded) until that tab closes. Close or reload the other tabclr tab.',
  );
  // The import did not wait: every image decoded, none cached, and the page says why.
  await expect(images(newer)).toContainText('Imported shapes: 4 of 4 files · 4 decoded · 0 from cache');
  await expect(images(newer)).toContainText('another tabclr tab has an older version of the image cache open; close or reload that tab');
  await expect(images(newer).locator('.dataset-summary')).toHaveText(SHAPES);
  await newer.screenshot({ path: testInfo.outputPath('blocked.png') });

  // The older tab closes: the upgrade that waited for it completes, the notice goes, and the cache works from now on.
  await page.close();
  await expect(notice(newer)).toHaveCount(0);
  const upgraded = await newer.evaluate(async (name) => (await indexedDB.databases()).find((d) => d.name === name)?.version, DECODE_CACHE_DB);
  expect(upgraded).toBe(DECODE_CACHE_VERSION + 1);
  await importFolder(newer, dir);
  // (The new import's state replaces the last one's, and with it the reason nothing was cached.)
  await expect(images(newer)).not.toContainText('could not be cached');
  await expect(images(newer)).toContainText('Imported shapes: 4 of 4 files · 4 decoded · 0 from cache');
  await importFolder(newer, dir);
  await expect(images(newer)).toContainText('Imported shapes: 4 of 4 files · 0 decoded · 4 from cache');
});
