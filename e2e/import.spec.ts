import { encodeImages, expect, removeFixtureFolders, test, writeFolder, type FixtureImage, type Page } from './fixtures';

test.afterAll(removeFixtureFolders);

const images: FixtureImage[] = [
  { path: 'red/a1.jpg', width: 64, height: 48, colour: '#c00', type: 'image/jpeg' },
  { path: 'red/a2.png', width: 30, height: 40, colour: '#e33', type: 'image/png' },
  { path: 'red/a3.webp', width: 100, height: 100, colour: '#a11', type: 'image/webp' },
  { path: 'blue/b1.jpg', width: 50, height: 50, colour: '#00c', type: 'image/jpeg' },
  { path: 'blue/b2.png', width: 80, height: 20, colour: '#33e', type: 'image/png' },
  { path: 'blue/nested/b3.webp', width: 40, height: 60, colour: '#11a', type: 'image/webp' },
];

async function ready(page: Page) {
  // Use the <input webkitdirectory> path that browsers without showDirectoryPicker take, which Playwright can fill.
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await page.goto('/');
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('Fashion-MNIST sample');
}

async function chooseFolder(page: Page, dir: string) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose folder' }).click();
  await (await chooser).setFiles(dir);
}

async function labelledFolder(page: Page): Promise<string> {
  const bytes = await encodeImages(page, images);
  const files: Record<string, Buffer | string> = Object.fromEntries(images.map((img, i) => [img.path, bytes[i]!]));
  files['red/a1-copy.jpg'] = bytes[0]!;
  files['broken.jpg'] = Buffer.concat([bytes[3]!.subarray(0, 40), Buffer.from('this is not the rest of a JPEG')]);
  files['empty.png'] = Buffer.alloc(0);
  files['notes.txt'] = 'shopping list: not an image';
  return writeFolder('clothes', files);
}

test('a nested folder imports every good image, lists the bad files with reasons, and finds its labels', async ({ page }) => {
  await ready(page);
  await chooseFolder(page, await labelledFolder(page));
  const region = page.getByRole('region', { name: 'Images' });
  await expect(region).toContainText('Imported clothes: 10 of 10 files · 7 decoded · 0 from cache · 4 skipped (1 duplicates)');
  await expect(region.locator('.dataset-summary')).toHaveText('clothes: 6 images, 32 × 32 px, colour, 2 classes found (used only to evaluate)');

  await region.getByText('4 files skipped').click();
  const rows = region.getByRole('row');
  await expect(rows.filter({ hasText: 'broken.jpg' })).toContainText('corrupt or truncated image');
  await expect(rows.filter({ hasText: 'empty.png' })).toContainText('empty file (0 bytes)');
  await expect(rows.filter({ hasText: 'notes.txt' })).toContainText('not an image');
  await expect(rows.filter({ hasText: 'a1.jpg' })).toContainText('same bytes as clothes/red/a1-copy.jpg; counted once');
  await expect(page.getByRole('button', { name: 'Start' })).toBeEnabled();
});

test('a flat folder gives "no labels"; too few images keep training disabled', async ({ page }) => {
  await ready(page);
  const bytes = await encodeImages(page, images.slice(0, 3));
  await chooseFolder(page, writeFolder('flat', { 'x.jpg': bytes[0]!, 'y.png': bytes[1]!, 'z.webp': bytes[2]! }));
  const region = page.getByRole('region', { name: 'Images' });
  await expect(region.locator('.dataset-summary')).toHaveText('flat: 3 images, 32 × 32 px, colour, no labels');

  await chooseFolder(page, writeFolder('lonely', { 'only.jpg': bytes[0]!, 'readme.txt': 'hello' }));
  await expect(page.getByRole('alert')).toContainText('Only one usable image among the 2 files');
  await expect(region.locator('.dataset-summary')).toHaveCount(0);
  await expect(page.getByRole('button', { name: 'Start' })).toBeDisabled();
});

test('after a reload the same folder comes from the decode cache, with nothing decoded again', async ({ page }) => {
  await ready(page);
  await page.getByRole('button', { name: 'Clear image cache' }).click();
  await expect(page.getByText('Image cache cleared.')).toBeVisible();
  const dir = await labelledFolder(page);
  await page.getByLabel('Image size for training').selectOption('16');
  await chooseFolder(page, dir);
  const region = page.getByRole('region', { name: 'Images' });
  await expect(region).toContainText('7 decoded · 0 from cache');

  await page.reload();
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  await page.getByLabel('Image size for training').selectOption('16');
  await chooseFolder(page, dir);
  await expect(region).toContainText('Imported clothes: 10 of 10 files · 0 decoded · 8 from cache · 4 skipped');
  await expect(region.locator('.dataset-summary')).toHaveText('clothes: 6 images, 16 × 16 px, colour, 2 classes found (used only to evaluate)');
});

test('images dropped on the page are imported', async ({ page }) => {
  await ready(page);
  const bytes = await encodeImages(page, images.slice(0, 3));
  const payload = bytes.map((b, i) => ({ name: ['x.jpg', 'y.png', 'z.webp'][i]!, base64: b.toString('base64') }));
  // A drop as the browser delivers it for plain files: a DataTransfer holding File objects.
  await page.getByText('Drop a folder or images here').evaluate((zone, files) => {
    const transfer = new DataTransfer();
    for (const f of files) transfer.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name));
    zone.parentElement!.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true, cancelable: true }));
  }, payload);
  const region = page.getByRole('region', { name: 'Images' });
  await expect(region).toContainText('Imported 3 files: 3 of 3 files · 3 decoded');
  await expect(region.locator('.dataset-summary')).toHaveText('3 files: 3 images, 32 × 32 px, colour, no labels');
});
