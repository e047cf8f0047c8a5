// Faults injected for real (in the build made for tests: src/worker/faults.ts): a NaN weight (the loss goes non-finite,
// as when training diverges), exploding gradients (a batch norm shrunk 10⁴-fold), an out-of-memory error from the GPU
// device, a destroyed WebGPU device (as when a driver resets), a lost WebGL context, and a crash of the trainer
// worker. The run must survive each and finish. And a memory budget too small for the folder chosen.
import { encodeImages, expect, removeFixtureFolders, test, writeFolder, type Page } from './fixtures';

test.afterAll(removeFixtureFolders);

// Trainer start-ups, each compiling its GPU pipelines on a software adapter.
test.describe.configure({ timeout: 480_000 });

async function setUpRun(page: Page, { steps, batch, checkpointEvery }: { steps: number; batch: number; checkpointEvery: number }) {
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed', { timeout: 120_000 });
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill(String(batch));
  await page.getByLabel('Steps', { exact: true }).fill(String(steps));
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('1');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Images on the map', { exact: true }).fill('30');
  await page.getByLabel('Checkpoint every (steps)', { exact: true }).fill(String(checkpointEvery));
}

test('a NaN loss goes back to the last checkpoint with a lower learning rate; out of GPU memory offers half the batch; a lost GPU device restarts the trainer; the run goes on', async ({
  page,
}) => {
  await page.goto('/?test-nan-at-step=3&test-out-of-memory-at-step=5&test-lose-device-at-step=7');
  await setUpRun(page, { steps: 8, batch: 8, checkpointEvery: 2 });
  const learningRate = page.getByRole('spinbutton', { name: 'Learning rate' });
  const batchSize = page.getByLabel('Batch size', { exact: true });
  const rate = Number(await learningRate.inputValue());
  await page.getByRole('button', { name: 'Start' }).click();

  // Step 3's loss is NaN: paused at step 2, told why, with half the learning rate.
  const alert = page.getByRole('alert').filter({ hasText: 'non-finite' });
  await expect(alert).toContainText('Step 3 gave a non-finite loss', { timeout: 180_000 });
  await expect(alert).toContainText('went back to step 2');
  const runState = page.locator('.run-state');
  await expect(runState).toContainText('Paused · step 2 of 8');
  await expect(learningRate).toHaveValue(String(rate / 2));
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await page.getByRole('button', { name: 'Resume', exact: true }).click();

  // Step 5 runs out of GPU memory: back to step 4, and the way on is offered.
  const memory = page.getByRole('alert').filter({ hasText: 'out of memory' });
  await expect(memory).toContainText('The GPU ran out of memory at step 5 with a batch of 8', { timeout: 180_000 });
  await expect(memory).toContainText('went back to step 4');
  await expect(runState).toContainText('Paused · step 4 of 8');
  await memory.getByRole('button', { name: 'Continue with batch 4' }).click();
  await expect(memory).toBeHidden();
  await expect(batchSize).toHaveValue('4');

  // Before step 7 the GPU device is destroyed: a new trainer takes over from the checkpoint at step 6.
  const lost = page.getByRole('alert').filter({ hasText: 'GPU device was lost' });
  await expect(lost).toContainText('tabclr restarted its trainer and continues the run from its last checkpoint', { timeout: 240_000 });
  await expect(runState).toContainText('step 6 of 8', { timeout: 120_000 });
  await expect(runState).toContainText('Finished · step 8 of 8', { timeout: 240_000 });
  // The run kept the lowered learning rate and the smaller batch through the restart.
  await expect(learningRate).toHaveValue(String(rate / 2));
  await expect(batchSize).toHaveValue('4');
});

// WebGL compiles far faster on the software adapter: the restart path is the same on either backend.
const resumedFromCheckpoint = 'tabclr restarted its trainer and continues the run from its last checkpoint';

test('on WebGL, exploding gradients send the run back to its checkpoint; a crashed trainer worker is restarted on WebGL and the run goes on', async ({ page }) => {
  // Twelve steps set the scale of the gradient norm; before step 13 the last batch norm shrinks 10⁴-fold.
  await page.goto('/?backend=webgl&test-explode-at-step=13&test-crash-at-step=15');
  await setUpRun(page, { steps: 16, batch: 8, checkpointEvery: 2 });
  const learningRate = page.getByRole('spinbutton', { name: 'Learning rate' });
  const rate = Number(await learningRate.inputValue());
  await page.getByRole('button', { name: 'Start' }).click();

  const exploded = page.getByRole('alert').filter({ hasText: 'exploded' });
  await expect(exploded).toContainText(/Step 13's gradients exploded: their norm was \S+, \d+× the recent median of \S+, so its update was not applied\./, { timeout: 180_000 });
  await expect(exploded).toContainText('went back to step 12');
  const runState = page.locator('.run-state');
  await expect(runState).toContainText('Paused · step 12 of 16');
  await expect(learningRate).toHaveValue(String(rate / 2));
  await page.getByRole('button', { name: 'Dismiss' }).click();
  await page.getByRole('button', { name: 'Resume', exact: true }).click();

  const crashed = page.getByRole('alert').filter({ hasText: 'The trainer stopped unexpectedly' });
  await expect(crashed).toContainText(resumedFromCheckpoint, { timeout: 180_000 });
  await expect(runState).toContainText('Finished · step 16 of 16', { timeout: 180_000 });
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('WebGL');
  await expect(page.getByRole('img', { name: /^Gradient norm chart; latest \d\S* at step 16\./ })).toBeVisible();
  await expect(learningRate).toHaveValue(String(rate / 2));
});

test('on WebGL, a lost context restarts the trainer on WebGL and the run goes on from its checkpoint', async ({ page }) => {
  await page.goto('/?backend=webgl&test-lose-device-at-step=3');
  await setUpRun(page, { steps: 4, batch: 8, checkpointEvery: 1 });
  await page.getByRole('button', { name: 'Start' }).click();
  const lost = page.getByRole('alert').filter({ hasText: 'The GPU device was lost (the WebGL context was lost)' });
  await expect(lost).toContainText(resumedFromCheckpoint, { timeout: 180_000 });
  await expect(page.locator('.run-state')).toContainText('Finished · step 4 of 4', { timeout: 180_000 });
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('WebGL');
  await expect(page.getByRole('img', { name: /^Loss chart \(NT-Xent\); latest loss .* at step 4/ })).toBeVisible();
});

test('a folder larger than the memory budget imports up to the budget and says how many files were left out', async ({ page }) => {
  // 1 MiB holds 21 images of 128 × 128 RGB (48 KiB each); the folder has 25.
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await page.goto('/?test-memory-budget-mb=1');
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('Fashion-MNIST sample');
  const many = Array.from({ length: 25 }, (_, i) => ({ path: `p${String(i).padStart(2, '0')}.png`, width: 40, height: 40, colour: `hsl(${i * 14}, 70%, 50%)`, type: 'image/png' as const }));
  const bytes = await encodeImages(page, many);
  await page.getByLabel('Image size for training').selectOption('128');
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose folder' }).click();
  await (await chooser).setFiles(writeFolder('many', Object.fromEntries(many.map((img, i) => [img.path, bytes[i]!]))));
  const region = page.getByRole('region', { name: 'Images' });
  await expect(region.locator('.dataset-summary')).toHaveText('many: 21 images, 128 × 128 px, colour, no labels');
  await expect(region).toContainText(
    'Imported 21 images, from the first 21 of 25 files. The other 4 files were left out: their images would not fit in the memory budget of 1 MB.',
  );
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});
