// Input at the wrong moment, as people give it: a folder chosen the instant the page opens, images dropped on the page
// while a run trains. Nothing is refused for its timing and nothing is dropped silently (src/store/pending.ts).
import { encodePng } from '../scripts/lib/png';
import { expect, removeFixtureFolders, test, writeFolder, type Page } from './fixtures';

test.afterAll(removeFixtureFolders);

/** A 24 px RGB image: a colour with a diagonal stripe whose place depends on `seed`, so that no two are the same. */
function stripes(rgb: [number, number, number], seed: number): Buffer {
  const size = 24;
  const pixels = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const on = (x + y + seed * 5) % 12 < 3;
      pixels.set(on ? [255, 255, 255] : rgb, (y * size + x) * 3);
    }
  }
  return encodePng(pixels, size, size, 3);
}

/** Two labelled sub-folders of four images each. */
function shapesFolder(): string {
  const files: Record<string, Buffer> = {};
  for (let i = 0; i < 4; i++) {
    files[`red/r${i}.png`] = stripes([200, 30, 30], i);
    files[`blue/b${i}.png`] = stripes([30, 30, 200], i + 4);
  }
  return writeFolder('shapes', files);
}

async function chooseFolder(page: Page, dir: string) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose folder' }).click();
  await (await chooser).setFiles(dir);
}

/** The step the run bar shows ("Training · step 7 of 40"), or 0 before the first. */
async function shownStep(page: Page): Promise<number> {
  return Number(/step (\d+) of/.exec((await page.locator('.run-state').textContent()) ?? '')?.[1] ?? 0);
}

async function tinyRun(page: Page, steps: number, batch: number) {
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill(String(batch));
  await page.getByLabel('Steps', { exact: true }).fill(String(steps));
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('1');
}

test('a folder chosen the instant the page opens, before the trainer is ready, is imported and trained on, never the sample', async ({ page }) => {
  const dir = shapesFolder();
  await page.addInitScript(() => {
    // Playwright fills <input webkitdirectory>, the path browsers without showDirectoryPicker take.
    delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker;
    // Whether the page ever showed the sample set, at any moment.
    new MutationObserver(() => {
      if (document.body?.textContent?.includes('Fashion-MNIST sample')) (window as { sawSample?: boolean }).sawSample = true;
    }).observe(document, { subtree: true, childList: true, characterData: true });
  });
  // The trainer's script is held until the folder is chosen: on a fast machine the trainer is otherwise ready within
  // half a second of the page, before any person (or test) can choose a folder; a slow network or device is like this.
  let release = () => {};
  const held = new Promise<void>((resolve) => (release = resolve));
  await page.route(/\/trainer\.worker-[^/]*\.js$/, async (route) => {
    await held;
    await route.continue();
  });
  await page.goto('/');
  await chooseFolder(page, dir);
  // The trainer had not reported its backend when the folder was chosen: the page says the images wait for it.
  const status = page.getByRole('status', { name: 'GPU status' });
  const images = page.getByRole('region', { name: 'Images' });
  const waiting = page.getByRole('group', { name: 'Waiting images' });
  await expect(status).toContainText('Starting the GPU trainer');
  await expect(waiting).toContainText('shapes (8 files): imported as soon as the GPU trainer is ready');
  // Start cannot train anything else meanwhile.
  await expect(page.getByRole('button', { name: 'Start' })).toBeDisabled();
  release();

  await expect(images.locator('.dataset-summary')).toHaveText('shapes: 8 images, 32 × 32 px, colour, 2 classes found (used only to evaluate)', { timeout: 60_000 });
  await expect(waiting).toHaveCount(0);
  await expect(status).toContainText('GPU check passed');
  await tinyRun(page, 3, 4);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });
  // The run's map is of these images: their two classes, not the sample's ten.
  await expect(page.getByRole('list', { name: 'Classes' }).getByRole('listitem')).toHaveText(['blue', 'red']);
  expect(await page.evaluate(() => (window as { sawSample?: boolean }).sawSample ?? false)).toBe(false);
});

test('images dropped on the page while a run trains wait: "use for the next run" trains on, "stop the run and switch" stops', async ({ page }) => {
  // WebGL compiles in seconds on a software adapter; what is tested here is the page's.
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await page.goto('/?backend=webgl');
  const images = page.getByRole('region', { name: 'Images' });
  await expect(images).toContainText('300 images');
  await tinyRun(page, 400, 8);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(() => shownStep(page), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);

  // Three images dropped on the charts, away from any drop zone: the browser must not open them in place of the page.
  const loose = [0, 1, 2].map((i) => ({ name: `loose${i}.png`, base64: stripes([30, 160, 30], i).toString('base64') }));
  const dataTransfer = await page.evaluateHandle((files) => {
    const transfer = new DataTransfer();
    for (const f of files) transfer.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name, { type: 'image/png' }));
    return transfer;
  }, loose);
  await page.getByRole('main', { name: 'Watching the run' }).dispatchEvent('drop', { dataTransfer });
  const waiting = page.getByRole('group', { name: 'Waiting images' });
  await expect(waiting).toBeInViewport();
  await expect(waiting).toContainText('3 files are waiting: a run is under way');
  await waiting.getByRole('button', { name: 'Use for the next run' }).click();
  await expect(waiting).toContainText('the next run will use these images');
  // The run trains on, on the sample set.
  const before = await shownStep(page);
  await expect.poll(() => shownStep(page), { timeout: 60_000 }).toBeGreaterThan(before + 1);
  await expect(images.locator('.dataset-summary')).toContainText('Fashion-MNIST sample');

  // The run ends (stopped here): its checkpoint is saved, and then the images are imported.
  await page.getByRole('button', { name: 'Stop', exact: true }).click();
  await expect(images.locator('.dataset-summary')).toHaveText('3 files: 3 images, 32 × 32 px, colour, no labels', { timeout: 60_000 });
  await expect(waiting).toHaveCount(0);
  await expect(page.getByRole('region', { name: 'Saved runs' })).toContainText(' of 400');

  // Back to the sample, a second run, and a folder chosen during it: this time the run is stopped for it.
  await images.getByRole('button', { name: 'Try the sample images' }).click();
  await expect(images.locator('.dataset-summary')).toContainText('300 images');
  await tinyRun(page, 400, 8);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect.poll(() => shownStep(page), { timeout: 120_000 }).toBeGreaterThanOrEqual(1);
  await chooseFolder(page, shapesFolder());
  await expect(waiting).toContainText('shapes (8 files) are waiting: a run is under way');
  await waiting.getByRole('button', { name: 'Stop the run and switch' }).click();
  await expect(images.locator('.dataset-summary')).toHaveText('shapes: 8 images, 32 × 32 px, colour, 2 classes found (used only to evaluate)', { timeout: 60_000 });
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});
