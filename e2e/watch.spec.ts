import { expect, test, type Page } from './fixtures';
import { encodeImages, removeFixtureFolders, writeFolder } from './fixtures';

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

test('training on the labelled sample: curves grow, the map shows every probe image, kNN beside its baselines, neighbours on click', async ({ page }) => {
  await open(page);
  await tinyRun(page, 4, 2, 40);
  await page.getByRole('button', { name: 'Start' }).click();
  const learnt = page.getByRole('region', { name: 'What it learnt' });
  await expect(learnt.getByRole('img', { name: /Embedding map: 40 images at step 0/ })).toBeVisible({ timeout: 120_000 });
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });
  await expect(learnt.getByRole('img', { name: 'Embedding map: 40 images at step 4, PCA of the representation' })).toBeVisible();
  await expect(learnt.getByLabel('kNN accuracy')).toContainText(/kNN accuracy at step 4: [\d.]+% \(untrained encoder [\d.]+%, raw pixels [\d.]+%\)/);

  // The loss chart has every step.
  await expect(page.getByRole('img', { name: /latest loss [\d.]+ at step 4/i })).toBeVisible();

  // UMAP on request: a new snapshot of the current encoder.
  await learnt.getByRole('button', { name: 'Map with UMAP now' }).click();
  await expect(learnt.getByRole('img', { name: 'Embedding map: 40 images at step 4, UMAP of the representation' })).toBeVisible();

  // Replaying the first snapshot.
  const slider = learnt.getByRole('slider', { name: 'Snapshot' });
  await slider.focus();
  await page.keyboard.press('Home');
  await expect(learnt.getByRole('img', { name: /at step 0,/ })).toBeVisible();

  // Neighbours of an image, from the keyboard.
  await learnt.getByRole('button', { name: /nearest neighbours of image 3/ }).click();
  const list = learnt.getByRole('list', { name: 'Nearest neighbours at step 4' });
  await expect(list.getByRole('listitem')).toHaveCount(8);
  await expect(list.getByRole('listitem').first()).toContainText(/similarity -?[01]\.\d{3}/);
  // Any image of the map, by its number.
  await learnt.getByLabel('Image number (1–40)').fill('40');
  await learnt.getByRole('button', { name: 'Show its neighbours' }).click();
  await expect(learnt.getByRole('heading', { name: /Nearest neighbours of image 40/ })).toBeVisible();
  await expect(learnt.getByRole('list', { name: 'Nearest neighbours at step 4' }).getByRole('listitem')).toHaveCount(8);
  await page.screenshot({ path: 'test-results/watch.png', fullPage: true });
});

test('an unlabelled folder shows the map but no kNN accuracy', async ({ page }) => {
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
  await expect(learnt.getByLabel('kNN accuracy')).toHaveCount(0);
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
