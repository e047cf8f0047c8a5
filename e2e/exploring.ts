// The Explore specs' common steps, as a person takes them: open the page, choose a folder, train a few steps, explore.
import { expect, type Page } from './fixtures';

/** The page (`query` for a test build's faults), with the folder picker that Playwright can fill. */
export async function open(page: Page, query = '') {
  // The <input webkitdirectory> path, which Playwright can fill (as e2e/import.spec.ts does).
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await page.goto(`/${query}`);
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('images,');
}

export async function chooseFolder(page: Page, dir: string) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose folder' }).click();
  await (await chooser).setFiles(dir);
}

/** A short run (the default encoder, whose untrained representation already tells pictures apart). */
export async function tinyRun(page: Page) {
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill('2');
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Map every (steps)').fill('100');
  await page.getByLabel('Images on the map').fill('8');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });
}

/** Explores every image under `representation` (a radio's name) and waits for the answers. */
export async function explore(page: Page, representation: string) {
  const panel = page.getByRole('region', { name: 'Explore' });
  await panel.getByRole('radio', { name: representation, exact: true }).check();
  await panel.getByRole('button', { name: 'Explore all images' }).click();
  await expect(panel.getByText(/^Explored \d+ images under/)).toBeVisible({ timeout: 120_000 });
  await expect(panel.getByRole('progressbar', { name: 'Explore progress' })).toHaveCount(0);
  return panel;
}
