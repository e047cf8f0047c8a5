// Checkpoints as a user meets them: a reload in the middle of a run, and a tab killed while a checkpoint is written.
import { expect, test, type Page } from './fixtures';

// Two trainer start-ups per test, each compiling its GPU pipelines on a software adapter (about a minute).
test.describe.configure({ timeout: 420_000 });

async function openApp(page: Page, query = '') {
  await page.goto(`/${query}`);
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed', { timeout: 120_000 });
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
}

/** A run small enough for a software adapter, saved every `every` steps. */
async function tinyRun(page: Page, steps: number, every: number) {
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill(String(steps));
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Images on the map', { exact: true }).fill('50');
  await page.getByLabel('Checkpoint every (steps)', { exact: true }).fill(String(every));
}

function lossChart(page: Page) {
  return page.getByRole('img', { name: /^Loss chart/ });
}

/** The loss chart's accessible name, once it is drawn (charts redraw when on screen). */
async function lossReading(page: Page): Promise<string> {
  await lossChart(page).scrollIntoViewIfNeeded();
  await expect(lossChart(page)).toHaveAccessibleName(/latest loss/);
  return (await lossChart(page).getAttribute('aria-label'))!;
}

test('a run saved on pause comes back after a reload and goes on from the same step on the same curve', async ({ page }) => {
  await openApp(page);
  await tinyRun(page, 6, 2);
  const runState = page.locator('.run-state');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(runState).toContainText('step 3 of 6', { timeout: 180_000 });
  await page.getByRole('button', { name: 'Pause' }).click();
  await expect(runState).toContainText('Paused');
  const pausedAt = Number(/step (\d+)/.exec((await runState.textContent())!)![1]);
  const saved = page.getByRole('region', { name: 'Saved runs' });
  await expect(saved.getByText(`Checkpoint saved at step ${pausedAt}`)).toBeVisible();
  const before = await lossReading(page);
  expect(before).toContain(`at step ${pausedAt}`);

  await page.reload();
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed', { timeout: 120_000 });
  const offer = page.getByRole('region', { name: 'Resume last run' });
  await expect(offer).toContainText(`stopped at step ${pausedAt} of 6`);
  await expect(saved.getByRole('row', { name: new RegExp(`Fashion-MNIST.*${pausedAt} of 6`) })).toBeVisible();
  await offer.getByRole('button', { name: 'Continue last run' }).click();

  // The same curve, drawn again from the checkpoint: same last loss and the same smoothed value at the same step.
  await expect(runState).toContainText(`step ${pausedAt} of 6`);
  expect(await lossReading(page)).toBe(before);
  await expect(page.getByLabel('Steps', { exact: true })).toHaveValue('6');
  await expect(page.getByLabel('Batch size', { exact: true })).toHaveValue('8');
  // Training goes on from the next step to the end.
  await expect(runState).toContainText('Finished · step 6 of 6', { timeout: 240_000 });
  const after = await lossReading(page);
  expect(after).toContain('at step 6');
  // Continuous: the smoothed loss carries on from its value before the reload. (Had the curve restarted, the smoothed
  // value would equal the first new step's raw loss; one step's raw loss at batch 8 is too noisy to compare.)
  const smoothed = (text: string) => Number(/smoothed ([\d.]+)/.exec(text)![1]);
  const raw = (text: string) => Number(/latest loss ([\d.]+)/.exec(text)![1]);
  expect(Math.abs(smoothed(after) - smoothed(before))).toBeLessThan(0.3);
  expect(smoothed(after)).not.toBe(raw(after));
  await expect(offer).toBeHidden();
  await expect(saved.getByRole('row', { name: /Fashion-MNIST.*6 of 6/ })).toBeVisible();

  // A finished run can be deleted from the list.
  await saved.getByRole('button', { name: /^Delete Fashion-MNIST/ }).click();
  await expect(saved.getByRole('row', { name: /Fashion-MNIST/ })).toHaveCount(0);
});

test('killing the page while a checkpoint is written leaves the previous checkpoint, which loads', async ({ page, context }) => {
  // Every checkpoint waits 5 s between writing its state and switching the run to it: the window the kill lands in.
  await openApp(page, '?test-checkpoint-delay=5000');
  await tinyRun(page, 20, 1);
  await page.getByRole('button', { name: 'Start' }).click();
  const saved = page.getByRole('region', { name: 'Saved runs' });
  await expect(saved.getByText('Checkpoint saved at step 1')).toBeVisible({ timeout: 180_000 });
  await expect(saved.getByText('Saving checkpoint at step 2…')).toBeVisible({ timeout: 60_000 });
  // The tab goes at once, worker and all, as when it is closed or killed: no unload handlers, no chance to finish.
  await page.close({ runBeforeUnload: false });

  const next = await context.newPage();
  await openApp(next);
  const offer = next.getByRole('region', { name: 'Resume last run' });
  await expect(offer).toContainText('stopped at step 1 of 20');
  await offer.getByRole('button', { name: 'Continue last run' }).click();
  const runState = next.locator('.run-state');
  await expect(runState).toContainText('step 2 of 20', { timeout: 240_000 });
  await next.getByRole('button', { name: 'Stop' }).click();
  await expect(runState).toContainText('Stopped');
});
