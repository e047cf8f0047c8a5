// An impatient person: another folder chosen the moment Explore starts. The test build holds each chunk of the
// exploration (?test-explore-chunk-delay), so that the exploration is certainly under way when the folder comes, on a
// machine of any speed; the hold ends early when the exploration is cancelled.
import { expect, removeFixtureFolders, test, writeFolder } from './fixtures';
import { chooseFolder, open, tinyRun } from './exploring';
import { OUTLIERS, PLANTED, SCENES, plantedFolder } from './planted';

test.afterAll(removeFixtureFolders);

test('another folder chosen while the images are explored stops the exploration at once, says why, and loads the folder', async ({ page }) => {
  test.setTimeout(300_000);
  await open(page, '?test-explore-chunk-delay=20000');
  await chooseFolder(page, writeFolder('first', await plantedFolder(page, { scenes: 24 })));
  const images = page.getByRole('region', { name: 'Images' });
  await expect(images).toContainText(`first: ${24 + PLANTED.length + OUTLIERS.length} images`);
  await tinyRun(page);
  const more = writeFolder('more', await plantedFolder(page, { seed: 7 }));
  const panel = page.getByRole('region', { name: 'Explore' });
  await panel.getByRole('radio', { name: 'Trained encoder', exact: true }).check();
  // Chosen right after the click, not after any sign of progress.
  await panel.getByRole('button', { name: 'Explore all images' }).click();
  const started = Date.now();
  await page.locator('input[webkitdirectory]').setInputFiles(more);
  await expect(panel.getByRole('status')).toHaveText('Exploring stopped: other images are being loaded.');
  await expect(images).toContainText(`more: ${SCENES + PLANTED.length + OUTLIERS.length} images`);
  // Long before the held chunk would have gone on: cancelling cut the hold short.
  expect(Date.now() - started).toBeLessThan(20_000);
  await expect(panel.getByText(/^Explored/)).toHaveCount(0);
  await expect(panel.getByRole('progressbar', { name: 'Explore progress' })).toHaveCount(0);
  // The new images replace the run they were not explored with: the panel asks for a run, not for patience.
  await expect(panel.getByText('Start a run (or load a model) to explore the images with its encoder.')).toBeVisible();
});
