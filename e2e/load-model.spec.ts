// A downloaded model zip comes back in: chosen like any file, it maps and embeds the images; a zip that is cut short
// or is not tabclr's is refused with the reason, and what was loaded stays.
import { unzipSync, zipSync } from 'fflate';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test, type Page } from './fixtures';

test.describe.configure({ timeout: 300_000 });

async function chooseZip(page: Page, path: string) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Load model (.zip)' }).click();
  await (await chooser).setFiles(path);
}

test('a downloaded model loads back and embeds the images; a cut or foreign zip is refused and changes nothing', async ({ page }, testInfo) => {
  await page.goto('/');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill('2');
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Images on the map', { exact: true }).fill('20');
  await page.getByLabel('Checkpoint every (steps)', { exact: true }).fill('0');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 180_000 });
  const download = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download weights (.zip)' }).click();
  const zipPath = testInfo.outputPath('tabclr-convnet4-step2.zip');
  await (await download).saveAs(zipPath);

  // A fresh page: no run, no model.
  await page.reload();
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await expect(page.getByRole('button', { name: 'Download embeddings (.zip)' })).toBeDisabled();
  const runs = page.getByRole('region', { name: 'Saved runs' });
  await chooseZip(page, zipPath);
  await expect(runs.getByText(/Loaded tabclr-convnet4-step2\.zip: convnet4 \(width 0\.125\), 28 px × 1, trained for 2 steps/)).toBeVisible();
  await expect(runs).toContainText('The map and “Download embeddings” use it');
  await expect(page.getByLabel('Width multiplier', { exact: true })).toHaveValue('0.125');
  // The loaded encoder embeds every image.
  const embeddings = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download embeddings (.zip)' }).click();
  const saved = await embeddings;
  expect(saved.suggestedFilename()).toBe('tabclr-embeddings-step2.zip');
  const rows = new TextDecoder().decode(unzipSync(new Uint8Array(readFileSync(await saved.path())))['vectors.tsv']).trimEnd().split('\n');
  expect(rows).toHaveLength(300);

  // Cut short, and not ours: refused with the reason; the loaded model stays.
  const bytes = new Uint8Array(readFileSync(zipPath));
  const cut = join(testInfo.outputPath(), 'cut.zip');
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
  await chooseZip(page, cut);
  await expect(page.getByRole('alert')).toContainText('cut.zip cannot be loaded: it is not a zip file, or it is damaged or cut short');
  await page.getByRole('button', { name: 'Dismiss' }).click();
  const foreign = join(testInfo.outputPath(), 'holiday.zip');
  writeFileSync(foreign, zipSync({ 'photo.txt': new TextEncoder().encode('not a model') }));
  await chooseZip(page, foreign);
  await expect(page.getByRole('alert')).toContainText('holiday.zip cannot be loaded: it has no config.json, so it is not a model downloaded from tabclr');
  await expect(runs.getByText(/Loaded tabclr-convnet4-step2\.zip/)).toBeVisible();
  await expect(page.getByRole('button', { name: 'Download embeddings (.zip)' })).toBeEnabled();
});
