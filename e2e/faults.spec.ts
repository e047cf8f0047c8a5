// Faults injected for real in one run: a NaN weight (the loss goes non-finite, as when training diverges) and a
// destroyed WebGPU device (as when a driver resets). The run must survive both and finish.
import { expect, test } from './fixtures';

// Two trainer start-ups, each compiling its GPU pipelines on a software adapter.
test.describe.configure({ timeout: 420_000 });

test('a NaN loss goes back to the last checkpoint with a lower learning rate; a lost GPU device restarts the trainer and the run goes on', async ({ page }) => {
  await page.goto('/?test-nan-at-step=3&test-lose-device-at-step=5');
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed', { timeout: 120_000 });
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill('7');
  const learningRate = page.getByRole('spinbutton', { name: 'Learning rate' });
  const rate = Number(await learningRate.inputValue());
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Images on the map', { exact: true }).fill('30');
  await page.getByLabel('Checkpoint every (steps)', { exact: true }).fill('2');
  await page.getByRole('button', { name: 'Start' }).click();

  // Step 3's loss is NaN: paused at step 2, told why, with half the learning rate.
  const alert = page.getByRole('alert').filter({ hasText: 'non-finite' });
  await expect(alert).toContainText('Step 3 gave a non-finite loss', { timeout: 180_000 });
  await expect(alert).toContainText('went back to step 2');
  const runState = page.locator('.run-state');
  await expect(runState).toContainText('Paused · step 2 of 7');
  await expect(learningRate).toHaveValue(String(rate / 2));
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await page.getByRole('button', { name: 'Resume', exact: true }).click();

  // Before step 5 the GPU device is destroyed: a new trainer takes over from the checkpoint at step 4.
  const lost = page.getByRole('alert').filter({ hasText: 'GPU device was lost' });
  await expect(lost).toContainText('tabclr restarted its trainer and continues the run from its last checkpoint', { timeout: 180_000 });
  await expect(runState).toContainText('step 4 of 7', { timeout: 120_000 });
  await expect(runState).toContainText('Finished · step 7 of 7', { timeout: 240_000 });
  // The run kept the lowered learning rate through the restart.
  await expect(learningRate).toHaveValue(String(rate / 2));
});
