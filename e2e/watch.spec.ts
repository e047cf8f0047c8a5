import { expect, test, type Page } from './fixtures';
import { encodeImages, removeFixtureFolders, writeFolder } from './fixtures';
import { mapPixels } from './mapPixels';

test.afterAll(removeFixtureFolders);

async function open(page: Page) {
  await page.goto('/');
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('images,');
}

/** A run small enough for a software adapter, with a map at every `every` steps. */
async function tinyRun(page: Page, steps: number, every: number, mapImages: number) {
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill(String(steps));
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Map every (steps)').fill(String(every));
  await page.getByLabel('Images on the map').fill(String(mapImages));
}

/** Where the things a person watches a run by are, and whether the run was training when they were measured. */
async function watchLayout(page: Page) {
  return page.evaluate(() => {
    const box = (selector: string) => {
      const element = document.querySelector(selector);
      if (!element) return null;
      const r = element.getBoundingClientRect();
      return { left: r.left, top: r.top, right: r.right, bottom: r.bottom };
    };
    const pause = Array.from(document.querySelectorAll('button')).find((b) => b.textContent === 'Pause');
    const p = pause?.getBoundingClientRect();
    return {
      state: document.querySelector('.run-state')?.textContent ?? '',
      viewport: { width: innerWidth, height: innerHeight },
      loss: box('[role="img"][aria-label^="Loss chart"]'),
      evaluation: box('[role="img"][aria-label^="Held-out accuracy chart"]'),
      map: box('[role="img"][aria-label^="Embedding map"]'),
      steps: box('.run-state'),
      pause: p ? { left: p.left, top: p.top, right: p.right, bottom: p.bottom } : null,
      status: box('[role="status"][aria-label="GPU status"]'),
      watch: box('main.watch'),
      setup: box('.setup-sections'),
    };
  });
}

type Box = { left: number; top: number; right: number; bottom: number } | null;
function expectInView(name: string, box: Box, viewport: { width: number; height: number }) {
  expect(box, `${name} is on the page`).not.toBeNull();
  expect(box!.left, `${name}: left edge in view`).toBeGreaterThanOrEqual(0);
  expect(box!.top, `${name}: top edge in view`).toBeGreaterThanOrEqual(0);
  expect(box!.right, `${name}: right edge in view`).toBeLessThanOrEqual(viewport.width);
  expect(box!.bottom, `${name}: bottom edge in view`).toBeLessThanOrEqual(viewport.height);
}

/**
 * The held-out chart's four baseline labels (kNN and the probe, each for the untrained encoder and raw pixels) are on
 * its plot and no two of them touch: close baselines must not print over each other (they did at 700 px wide).
 */
async function expectBaselineLabelsApart(page: Page) {
  const chart = page.getByRole('figure', { name: /^Held-out accuracy/ });
  const labels = chart.getByText(/^(kNN|probe), (untrained encoder|raw pixels) [\d.]+%$/);
  await expect(async () => {
    await expect(labels).toHaveCount(4);
    const plot = (await chart.getByRole('img', { name: /^Held-out accuracy chart/ }).boundingBox())!;
    const boxes = await Promise.all((await labels.all()).map(async (l) => ({ text: (await l.textContent())!, box: (await l.boundingBox())! })));
    for (const { text, box } of boxes) {
      expect(box.height, `"${text}" is one line of text`).toBeGreaterThan(8);
      expect(box.x, `"${text}" starts on the plot`).toBeGreaterThanOrEqual(plot.x);
      expect(box.x + box.width, `"${text}" ends on the plot`).toBeLessThanOrEqual(plot.x + plot.width);
      expect(box.y, `"${text}" is below the plot's top`).toBeGreaterThanOrEqual(plot.y);
      expect(box.y + box.height, `"${text}" is above the plot's bottom`).toBeLessThanOrEqual(plot.y + plot.height);
    }
    for (const [i, a] of boxes.entries()) {
      for (const b of boxes.slice(i + 1)) {
        const apart = a.box.y + a.box.height <= b.box.y || b.box.y + b.box.height <= a.box.y || a.box.x + a.box.width <= b.box.x || b.box.x + b.box.width <= a.box.x;
        expect(apart, `"${a.text}" and "${b.text}" do not overlap`).toBe(true);
      }
    }
  }).toPass({ timeout: 10_000 });
}

test.describe('at 1280 × 800', () => {
  test.use({ viewport: { width: 1280, height: 800 } });

  test('training on the labelled sample: curves, map and kNN in view while it trains; images on the map; kNN and the linear probe beside their baselines; neighbours on click', async ({ page }) => {
    await open(page);
    await tinyRun(page, 6, 3, 40);
    await page.getByRole('button', { name: 'Start' }).click();
    const learnt = page.getByRole('region', { name: 'What it learnt' });
    const map = learnt.getByRole('img', { name: /Embedding map: 40 images at step \d+/ });

    // While it trains, the loss, the map, the held-out accuracy, the controls and the step counter are all in view,
    // without scrolling.
    await expect(map).toBeVisible({ timeout: 150_000 });
    await expect(page.getByRole('img', { name: /^Held-out accuracy chart; latest kNN/ })).toBeVisible();
    await expect(page.locator('.run-state')).toHaveText(/^Training · step [1-5] of 6$/, { timeout: 150_000 });
    const layout = await watchLayout(page);
    expect(layout.state, 'the layout was measured while the run trained').toMatch(/^Training · step [1-5] of 6$/);
    for (const name of ['loss', 'evaluation', 'map', 'steps', 'pause'] as const) expectInView(name, layout[name], layout.viewport);
    // The status bar lies below both scrolling areas: it covers neither.
    expectInView('status bar', layout.status, layout.viewport);
    expect(layout.status!.bottom).toBe(layout.viewport.height);
    expect(layout.watch!.bottom).toBeLessThanOrEqual(layout.status!.top);
    expect(layout.setup!.bottom).toBeLessThanOrEqual(layout.status!.top);
    await page.screenshot({ path: 'test-results/watch-training-1280x800.png' });

    // The map draws the images themselves: texture inside the thumbnails, not flat dots.
    const pixels = await mapPixels(page, map);
    expect(pixels.texturedWindows, 'textured 4 × 4 windows in the map').toBeGreaterThan(20);
    expect(pixels.grayLevels, 'gray levels in the map').toBeGreaterThan(32);

    await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });
    await expect(learnt.getByRole('img', { name: 'Embedding map: 40 images at step 6, PCA of the representation' })).toBeVisible();
    await expect(page.getByLabel('kNN accuracy')).toContainText(/kNN accuracy at step 6: [\d.]+% \(untrained encoder [\d.]+%, raw pixels [\d.]+%\)/);
    // The linear probe, beside kNN, with the same two baselines.
    await expect(page.getByLabel('Linear probe accuracy')).toContainText(/Linear probe at step 6: [\d.]+% \(untrained encoder [\d.]+%, raw pixels [\d.]+%\)/);
    await expect(page.getByRole('img', { name: /^Held-out accuracy chart; latest kNN [\d.]+%, linear probe [\d.]+% at step 6\. Baselines: kNN, untrained encoder/ })).toBeVisible();
    await expectBaselineLabelsApart(page);
    await page.getByRole('figure', { name: /^Held-out accuracy/ }).screenshot({ path: 'test-results/watch-held-out-1280x800.png' });

    // The loss chart has every step.
    await expect(page.getByRole('img', { name: /latest loss [\d.]+ at step 6/i })).toBeVisible();

    // Nothing lies under the status bar: the end of each scrolling area comes above it.
    const ends = await page.evaluate(() =>
      ['main.watch', '.setup-sections'].map((selector) => {
        const area = document.querySelector(selector)!;
        area.scrollTop = area.scrollHeight;
        return area.lastElementChild!.getBoundingClientRect().bottom;
      }),
    );
    const statusTop = (await page.getByRole('status', { name: 'GPU status' }).boundingBox())!.y;
    for (const end of ends) expect(end).toBeLessThanOrEqual(statusTop);
    // The setup column is narrow: the saved run's row, buttons included, fits inside its panel.
    const runsPanel = page.getByRole('region', { name: 'Saved runs' });
    const runButtons = runsPanel.getByRole('button', { name: /^(Open|Delete) Fashion-MNIST sample/ });
    await expect(runButtons).toHaveCount(2);
    const panel = (await runsPanel.boundingBox())!;
    for (const button of await runButtons.all()) {
      const box = (await button.boundingBox())!;
      expect(box.x + box.width, 'a saved run\'s button ends inside the Saved runs panel').toBeLessThanOrEqual(panel.x + panel.width);
    }
    // A setup link scrolls its column only: the run bar and the status bar stay put (the page itself never scrolls).
    for (const link of ['Self-test', 'Runs']) {
      await page.getByRole('navigation', { name: 'Setup sections' }).getByRole('link', { name: link }).click();
      await expect(page.getByRole('heading', { name: link === 'Runs' ? 'Saved runs' : 'GPU self-test' })).toBeInViewport();
      await expect(page.getByRole('button', { name: 'Start' })).toBeInViewport({ ratio: 1 });
      expect(await page.evaluate(() => document.scrollingElement!.scrollTop), `the page scrolled after the ${link} link`).toBe(0);
      const bar = (await page.getByRole('status', { name: 'GPU status' }).boundingBox())!;
      expect(bar.y + bar.height).toBe(800);
    }

    // Zoom from the keyboard and by the wheel, and back.
    await map.focus();
    await page.keyboard.press('+');
    await expect(learnt.getByRole('button', { name: 'Zoom out' })).toBeEnabled();
    await page.keyboard.press('0');
    await expect(learnt.getByRole('button', { name: 'Zoom out' })).toBeDisabled();
    await map.hover();
    await page.mouse.wheel(0, -300);
    await expect(learnt.getByRole('button', { name: 'Zoom out' })).toBeEnabled();
    await learnt.getByRole('button', { name: 'Whole map' }).click();

    // Click an image on the map: its nearest neighbours.
    const { firstContent } = await mapPixels(page, map);
    await map.click({ position: { x: firstContent!.x + 4, y: firstContent!.y + 4 } });
    await expect(learnt.getByRole('heading', { name: /^Nearest neighbours of image \d+/ })).toBeVisible();
    await expect(learnt.getByRole('list', { name: 'Nearest neighbours at step 6' }).getByRole('listitem')).toHaveCount(8);

    // UMAP on request: a new snapshot of the current encoder.
    await learnt.getByRole('button', { name: 'Map with UMAP now' }).click();
    await expect(learnt.getByRole('img', { name: 'Embedding map: 40 images at step 6, UMAP of the representation' })).toBeVisible();

    // Replaying the first snapshot.
    const slider = learnt.getByRole('slider', { name: 'Snapshot' });
    await slider.focus();
    await page.keyboard.press('Home');
    await expect(learnt.getByRole('img', { name: /at step 0,/ })).toBeVisible();

    // Neighbours of an image, from the keyboard.
    await learnt.getByText(/Choose an image by number/).click();
    await learnt.getByRole('button', { name: /nearest neighbours of image 3/ }).click();
    const list = learnt.getByRole('list', { name: 'Nearest neighbours at step 6' });
    await expect(list.getByRole('listitem')).toHaveCount(8);
    await expect(list.getByRole('listitem').first()).toContainText(/similarity -?[01]\.\d{3}/);
    // Any image of the map, by its number.
    await learnt.getByLabel('Image number (1–40)').fill('40');
    await learnt.getByRole('button', { name: 'Show its neighbours' }).click();
    await expect(learnt.getByRole('heading', { name: /Nearest neighbours of image 40/ })).toBeVisible();
    await expect(learnt.getByRole('list', { name: 'Nearest neighbours at step 6' }).getByRole('listitem')).toHaveCount(8);
    await learnt.getByRole('heading', { name: /Nearest neighbours of image 40/ }).scrollIntoViewIfNeeded();
    await page.screenshot({ path: 'test-results/watch-neighbours-1280x800.png' });

    // A narrow window: one column, nothing wider than the window, the controls still on top.
    await page.setViewportSize({ width: 700, height: 900 });
    await expect(page.getByRole('button', { name: 'Pause' })).toBeInViewport();
    expect(await page.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(700);
    await expectBaselineLabelsApart(page);
    await page.screenshot({ path: 'test-results/watch-narrow-700x900.png' });
  });
});

test('an unlabelled folder shows the map but no kNN accuracy and no linear probe', async ({ page }) => {
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await open(page);
  const colours = ['#c00', '#0a0', '#00c', '#cc0', '#0cc', '#c0c', '#888', '#444'];
  const bytes = await encodeImages(page, colours.map((colour, i) => ({ path: `${i}.png`, width: 20 + i, height: 24, colour, type: 'image/png' as const })));
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose folder' }).click();
  await (await chooser).setFiles(writeFolder('flat', Object.fromEntries(bytes.map((b, i) => [`${i}.png`, b]))));
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('flat: 8 images');
  await tinyRun(page, 2, 1, 8);
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });
  const learnt = page.getByRole('region', { name: 'What it learnt' });
  await expect(learnt.getByRole('img', { name: /Embedding map: 8 images at step 2/ })).toBeVisible();
  await expect(page.getByLabel('kNN accuracy')).toHaveCount(0);
  await expect(page.getByLabel('Linear probe accuracy')).toHaveCount(0);
  await expect(page.getByRole('img', { name: /^Held-out accuracy chart/ })).toHaveCount(0);
});

test('a learning rate that blows up pauses the run, says why, and goes on with a lower rate', async ({ page }) => {
  await open(page);
  // SGD at 10⁶ overflows to NaN within a few steps: the gradient first (the embeddings collapse to zero, whose
  // normalisation has no finite gradient), which is caught before its update lands, or else the loss.
  await tinyRun(page, 12, 100, 8);
  await page.getByLabel('Optimiser', { exact: true }).selectOption('sgd');
  await page.getByRole('spinbutton', { name: 'Learning rate' }).fill('1000000');
  await page.getByRole('button', { name: 'Start' }).click();
  const fault = page.getByRole('alert').filter({ hasText: 'training diverged' });
  await expect(fault).toContainText(/gave a non-finite (gradient|loss) \(NaN or infinity\)/, { timeout: 150_000 });
  await expect(fault).toContainText('the learning rate is halved to 5.00e+5');
  await expect(fault).toContainText('Press Resume to go on');
  const restored = /went back to step (\d+)/.exec((await fault.textContent()) ?? '')![1]!;
  const runState = page.locator('.run-state');
  if (restored === '0') await expect(runState).toHaveText('Paused');
  else await expect(runState).toContainText(`Paused · step ${restored} of 12`);
  await expect(page.getByRole('spinbutton', { name: 'Learning rate' })).toHaveValue('500000');
  // No NaN is left on the curves: they end at the step the run went back to (or are empty, back at the start).
  const lossChart = page.getByRole('img', { name: /^Loss chart/ });
  await expect(lossChart).not.toHaveAccessibleName(/NaN/);
  await expect(lossChart).toHaveAccessibleName(restored === '0' ? /no steps yet/ : new RegExp(`at step ${restored},`));
  await expect(page.getByRole('img', { name: /^Gradient norm chart/ })).not.toHaveAccessibleName(/NaN/);
});
