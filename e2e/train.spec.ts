import { unzipSync } from 'fflate';
import { readFileSync } from 'node:fs';
import { expect, test, type Page } from './fixtures';

async function openWithSample(page: Page) {
  await page.goto('/');
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  const images = page.getByRole('region', { name: 'Images' });
  await expect(images).toContainText('300 images');
  await expect(images).toContainText('10 classes found');
}

/** A run small enough for a software adapter: convnet4 at 1/8 width, batch 8, a few steps. */
async function tinySettings(page: Page, steps: number) {
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill(String(steps));
}

/** The step the run bar shows ("Training · step 7 of 40"), or 0 before the first. */
function shownStep(text: string | null): number {
  return Number(/step (\d+) of/.exec(text ?? '')?.[1] ?? 0);
}

test('first open trains on the sample images: start, pause, resume, stop', async ({ page }) => {
  await openWithSample(page);
  await tinySettings(page, 40);
  const runState = page.locator('.run-state');
  await page.getByRole('button', { name: 'Start' }).click();
  // At least two steps: the bar shows the latest step each frame, so a fast run can go from step 1 to step 3.
  await expect.poll(async () => shownStep(await runState.textContent()), { timeout: 120_000 }).toBeGreaterThanOrEqual(2);

  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(runState).toContainText('Paused');
  const pausedAt = await runState.textContent();
  await page.waitForTimeout(3000);
  expect(await runState.textContent()).toBe(pausedAt);

  await page.getByRole('button', { name: 'Resume' }).click();
  const resumedFrom = shownStep(pausedAt);
  await expect.poll(async () => shownStep(await runState.textContent()), { timeout: 120_000 }).toBeGreaterThanOrEqual(resumedFrom + 2);
  await page.getByRole('button', { name: 'Stop' }).click();
  await expect(runState).toContainText('Stopped');
  const stoppedAt = await runState.textContent();
  await page.waitForTimeout(3000);
  expect(await runState.textContent()).toBe(stoppedAt);
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
  const lastStep = page.getByRole('definition').first();
  await expect(lastStep).toContainText('no learning: ln 15 = 2.71');
  await page.screenshot({ path: 'test-results/train.png', fullPage: true });
});

test('presets fill the settings, and the augmentation preview shows pairs of views of the sample images', async ({ page }) => {
  await openWithSample(page);
  await page.getByRole('button', { name: 'Best quality' }).click();
  await expect(page.getByLabel('Encoder', { exact: true })).toHaveValue('resnet18');
  await page.getByRole('button', { name: 'Quick look' }).click();
  await expect(page.getByLabel('Encoder', { exact: true })).toHaveValue('convnet4');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByRole('button', { name: 'Preview augmented pairs' }).click();
  const pairs = page.getByRole('group', { name: 'Augmented pairs' });
  await expect(pairs.locator('canvas')).toHaveCount(12);
});

test('absurd settings are refused next to the field, and Start stays disabled; a setting that gives up part of the method is said there and Start stays enabled', async ({ page }) => {
  await openWithSample(page);
  const batch = page.getByLabel('Batch size', { exact: true });
  const start = page.getByRole('button', { name: 'Start' });
  await batch.fill('1');
  await expect(batch).toHaveAttribute('aria-invalid', 'true');
  await expect(page.getByText('must be a whole number from 2 to 8192, got 1')).toBeVisible();
  await expect(start).toBeDisabled();
  await batch.fill('500');
  await expect(page.getByText('the data set has only 300 images')).toBeVisible();
  await batch.fill('16');
  await expect(start).toBeEnabled();

  // MoCo's shuffled batch norm: a batch too small for its groups is refused beside them; 1 group (off) is a caution.
  await page.getByLabel('Method', { exact: true }).selectOption('moco');
  const groups = page.getByLabel('Shuffled BN groups', { exact: true });
  await batch.fill('3');
  await expect(groups).toHaveAttribute('aria-invalid', 'true');
  await expect(groups).toHaveAccessibleDescription(/^2 shuffled batch-norm groups need a batch of at least 4 .*no two groups can be formed.* Raise the batch size to 4\.$/);
  await expect(start).toBeDisabled();
  await groups.fill('1');
  await expect(groups).not.toHaveAttribute('aria-invalid');
  await expect(groups).toHaveAccessibleDescription(/^1 group turns the shuffled batch norm off: .*find its key from those batch statistics.* Use 2 or more groups/);
  await expect(start).toBeEnabled();
  await batch.fill('16');
  await groups.fill('2');
  await expect(groups).not.toHaveAccessibleDescription(/./);
});

test('BYOL trains on the same page: its own setting, curves and collapse level, and a download that says which method made it', async ({ page }) => {
  // WebGL compiles in seconds on a software adapter; the method is the same code on either backend.
  await page.goto('/?backend=webgl');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await page.getByLabel('Method', { exact: true }).selectOption('byol');
  await expect(page.getByLabel('Target momentum', { exact: true })).toHaveValue('0.99');
  await expect(page.getByLabel('Temperature', { exact: true })).toHaveCount(0);
  await page.getByLabel('Target momentum', { exact: true }).fill('1.5');
  await expect(page.getByText('must be a number between 0 and 0.9999, got 1.5')).toBeVisible();
  await expect(page.getByRole('button', { name: 'Start' })).toBeDisabled();
  await page.getByLabel('Target momentum', { exact: true }).fill('0.98');
  await tinySettings(page, 4);
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('1');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });

  await expect(page.getByRole('img', { name: /^Loss chart \(normalised squared error\); latest loss [\d.]+ at step 4, .*dashed: every prediction exact \(0\)/ })).toBeAttached();
  await expect(page.getByRole('img', { name: /^View agreement chart; latest -?[\d.]+ at step 4/ })).toBeAttached();
  await expect(page.getByRole('img', { name: /Contrastive accuracy/ })).toHaveCount(0);
  await expect(page.getByRole('definition').first()).toContainText('collapse: 0');

  // The download has the encoder (and, asked for, the projection head and predictor), never the target network.
  await page.getByLabel('Include the projection head').check();
  const weights = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download weights (.zip)' }).click();
  const zip = unzipSync(new Uint8Array(readFileSync((await (await weights).path())!)));
  const config = JSON.parse(new TextDecoder().decode(zip['config.json']!));
  expect(config.training.method).toEqual({ name: 'byol', targetMomentum: 0.98 });
  expect(Object.keys(config.final_metrics)).toEqual(expect.arrayContaining(['method_loss', 'view_cosine']));
  expect(Object.keys(zip).filter((name) => name.endsWith('model.json')).sort()).toEqual(['encoder/model.json', 'predictor/model.json', 'projection_head/model.json']);
  expect(new TextDecoder().decode(zip['README.md']!)).toMatch(/^# A BYOL encoder trained with tabclr/);
});
