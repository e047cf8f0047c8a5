import { unzipSync } from 'fflate';
import { readFileSync } from 'node:fs';
import { encodePng } from '../scripts/lib/png';
import { imagesFromSprite, readEmbeddings } from '../scripts/lib/quality';
import { runPython } from '../src/test/python';
import { decodePng, encodeImages, expect, removeFixtureFolders, test, writeFolder, type FixtureImage, type Page } from './fixtures';
import { mapPixels } from './mapPixels';

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

/** Seeded pictures with what makes resizing filters differ: noise over a gradient, thin lines, a flat block. */
function picture(width: number, height: number, channels: 1 | 3, seed: number): Uint8Array {
  let state = seed;
  const random = () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 16) / 65536;
  const out = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++)
      for (let c = 0; c < channels; c++) {
        let v = ((x * 255) / width + (y * 97) / height + c * 60) % 256;
        v += (random() - 0.5) * 80;
        if (x === (y * 3 + c) % width || y === Math.floor(height / 3)) v = 255;
        if (x > width / 3 && x < width / 2 && y > height / 2) v = 30 + 70 * c;
        out[(y * width + x) * channels + c] = Math.max(0, Math.min(255, Math.round(v)));
      }
  return out;
}

/** JPEG or WebP bytes of RGB pixels, encoded by the browser. */
async function encodeLossy(page: Page, rgb: Uint8Array, width: number, height: number, type: 'image/jpeg' | 'image/webp'): Promise<Buffer> {
  const base64 = await page.evaluate(
    async ({ data, width, height, type }) => {
      const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
      const rgba = new Uint8ClampedArray(width * height * 4);
      for (let p = 0; p < width * height; p++) rgba.set([bytes[p * 3]!, bytes[p * 3 + 1]!, bytes[p * 3 + 2]!, 255], p * 4);
      const canvas = new OffscreenCanvas(width, height);
      canvas.getContext('2d')!.putImageData(new ImageData(rgba, width, height), 0, 0);
      const blob = await canvas.convertToBlob({ type, quality: 0.9 });
      let binary = '';
      for (const b of new Uint8Array(await blob.arrayBuffer())) binary += String.fromCharCode(b);
      return btoa(binary);
    },
    { data: Buffer.from(rgb).toString('base64'), width, height, type },
  );
  return Buffer.from(base64, 'base64');
}

// What PyTorch pipelines do with the same files: PIL decodes, crops the centred square and resizes it (bilinear).
const PIL_PIXELS = `
import json, os, sys
from PIL import Image
root, size = sys.argv[1], int(sys.argv[2])
out = {}
for folder, _, files in os.walk(root):
    for name in files:
        path = os.path.join(folder, name)
        im = Image.open(path).convert("RGB")
        side = min(im.size)
        sx, sy = (im.size[0] - side) // 2, (im.size[1] - side) // 2
        out[os.path.relpath(path, root)] = list(im.crop((sx, sy, sx + side, sy + side)).resize((size, size), Image.BILINEAR).tobytes())
print(json.dumps(out))
`;

test('the images trained on are the pixels PIL gives PyTorch for the same files: the centred square, resized bilinear', async ({ page }) => {
  test.setTimeout(240_000);
  await ready(page);
  const png = (width: number, height: number, channels: 1 | 3, seed: number) => encodePng(picture(width, height, channels, seed), width, height, channels);
  // Up to REDUCING_GAP (8) times the training size, PIL's pixels exactly: thin strokes shrunk 28 → 16, where the
  // browser's own resampling gave other pixels; wide and tall pictures cropped first; one enlarged; one shrunk 8 times.
  const exact: Record<string, Buffer> = {
    'strokes/28-gray.png': png(28, 28, 1, 1),
    'strokes/37x23.png': png(37, 23, 3, 2),
    'photos/61x100.png': png(61, 100, 3, 3),
    'photos/10x12.png': png(10, 12, 3, 4),
    'photos/150x128.png': png(150, 128, 3, 5),
    'photos/120x80.jpg': await encodeLossy(page, picture(120, 80, 3, 6), 120, 80, 'image/jpeg'),
    'photos/64x64.webp': await encodeLossy(page, picture(64, 64, 3, 7), 64, 64, 'image/webp'),
  };
  // Larger: the browser shrinks them to 8 × 16 first (noise and one-pixel lines: the hardest case for that step).
  const large: Record<string, Buffer> = {
    'photos/260x208.png': png(260, 208, 3, 8),
    'photos/640x480.jpg': await encodeLossy(page, picture(640, 480, 3, 9), 640, 480, 'image/jpeg'),
  };
  const files = { ...exact, ...large };
  const dir = writeFolder('pixels', files);
  await page.getByLabel('Image size for training').selectOption('16');
  await chooseFolder(page, dir);
  const region = page.getByRole('region', { name: 'Images' });
  await expect(region.locator('.dataset-summary')).toHaveText('pixels: 9 images, 16 × 16 px, colour, 2 classes found (used only to evaluate)');

  // The images as the app holds them: one step of a tiny run, then "Download embeddings", whose sprite holds each image
  // at its training size.
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('4');
  await page.getByLabel('Steps', { exact: true }).fill('1');
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });
  const downloaded = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download embeddings (.zip)' }).click();
  const zip = new Map(Object.entries(unzipSync(new Uint8Array(readFileSync(await (await downloaded).path())))));
  const embeddings = readEmbeddings(zip, 'embeddings.zip');
  expect(embeddings.thumb).toBe(16);
  const sprite = await decodePng(page, embeddings.sprite);
  const held = imagesFromSprite(sprite.rgba, sprite.width, embeddings.names.length, 16, 3);

  const pil = JSON.parse(runPython(['-c', PIL_PIXELS, dir, '16'])) as Record<string, number[]>;
  const maxOff: Record<string, number> = {};
  const meanOff: Record<string, number> = {};
  for (const [i, name] of embeddings.names.entries()) {
    const file = Object.keys(files).find((f) => name.endsWith(f))!;
    const off = Array.from(held.subarray(i * 768, (i + 1) * 768), (v, j) => Math.abs(v - pil[file]![j]!));
    maxOff[file] = Math.max(...off);
    meanOff[file] = off.reduce((a, b) => a + b, 0) / off.length;
  }
  // Lossless files: the same bytes. JPEG and WebP: Chromium's decoders and PIL's (libjpeg-turbo, libwebp) agree too.
  expect(Object.fromEntries(Object.keys(exact).map((f) => [f, maxOff[f]]))).toEqual(Object.fromEntries(Object.keys(exact).map((f) => [f, 0])));
  // The larger ones within a grey level on average (measured: 0.64 and 0.67, at most 3 and 6 apart); the browser's
  // resize alone was 229 levels off on the 260 × 208 one.
  for (const f of Object.keys(large)) {
    expect(meanOff[f], f).toBeLessThan(1);
    expect(maxOff[f], f).toBeLessThanOrEqual(16);
  }
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

/** Names that run script if a page ever puts them in as HTML: one opens a dialog, the other sets a flag. */
const ALERTS = '<img src=x onerror=alert(1)>';
const FLAGS = '<img src=x onerror="window.__pwned=1">';

test.describe('names of files and folders', () => {
  // Without the app's Content-Security-Policy, which would refuse the payloads' inline handlers anyway: what is
  // tested here is that the page never treats a name as HTML, not that the policy catches it when it does.
  test.use({ bypassCSP: true });

  test('are shown as text, never run as HTML: import, skipped files, class list, map tooltip and neighbours', async ({ page }) => {
    test.setTimeout(300_000);
    const dialogs: string[] = [];
    page.on('dialog', (dialog) => {
      dialogs.push(dialog.message());
      void dialog.dismiss();
    });
    await ready(page);
    const colours = ['#c00', '#d22', '#e44', '#0a0', '#2b2', '#4c4', '#00c', '#22d', '#44e'];
    const bytes = await encodeImages(page, colours.map((colour, i) => ({ path: `${i}.png`, width: 24 + i, height: 24, colour, type: 'image/png' as const })));
    const files: Record<string, Buffer> = {
      [`${ALERTS}/1.png`]: bytes[0]!,
      [`${ALERTS}/2.png`]: bytes[1]!,
      [`${ALERTS}/3.png`]: bytes[2]!,
      [`${FLAGS}/1.png`]: bytes[3]!,
      [`${FLAGS}/2.png`]: bytes[4]!,
      [`${FLAGS}/3.png`]: bytes[5]!,
      [`plain/${ALERTS}.png`]: bytes[6]!,
      [`plain/${FLAGS}.png`]: bytes[7]!,
      [`plain/${FLAGS} copy.png`]: bytes[7]!,
      'plain/ok.png': bytes[8]!,
      // A JPEG's first bytes, then nothing a decoder can use.
      [`plain/${ALERTS}.jpg`]: Buffer.concat([Buffer.from([0xff, 0xd8, 0xff, 0xe0]), Buffer.from('the rest is missing')]),
    };
    // The chosen folder's own name is hostile too: it names the data set.
    await chooseFolder(page, writeFolder(FLAGS, files));
    const region = page.getByRole('region', { name: 'Images' });
    await expect(region).toContainText(`Imported ${FLAGS}: 11 of 11 files · 10 decoded · 0 from cache · 2 skipped (1 duplicates)`);
    await expect(region.locator('.dataset-summary')).toHaveText(`${FLAGS}: 9 images, 32 × 32 px, colour, 3 classes found (used only to evaluate)`);

    await region.getByText('2 files skipped').click();
    // In path order ('"' sorts before 'a'); of two files with the same bytes the first by path is kept (' copy' sorts before '.png').
    const rows = region.getByRole('row').filter({ has: page.getByRole('cell') });
    await expect(rows.nth(0).getByRole('cell')).toHaveText([`${FLAGS}/plain/${FLAGS}.png`, `same bytes as ${FLAGS}/plain/${FLAGS} copy.png; counted once`]);
    await expect(rows.nth(1).getByRole('cell')).toHaveText([`${FLAGS}/plain/${ALERTS}.jpg`, /^corrupt or truncated image/]);

    // Train a little, with a map at every step, to see the class names where the map shows them.
    await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
    await page.getByLabel('Batch size', { exact: true }).fill('8');
    await page.getByLabel('Steps', { exact: true }).fill('1');
    await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
    await page.getByText('Augmentation and monitoring').click();
    await page.getByLabel('Map every (steps)').fill('1');
    await page.getByLabel('Images on the map').fill('9');
    await page.getByRole('button', { name: 'Start' }).click();
    await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });
    const learnt = page.getByRole('region', { name: 'What it learnt' });
    const classes = [ALERTS, FLAGS, 'plain'];
    expect((await learnt.getByRole('list', { name: 'Classes' }).getByRole('listitem').allTextContents()).sort()).toEqual([...classes].sort());

    // The tooltip of an image: find one drawn on the map (its top left corner, in a screenshot), and hover inside it.
    const map = learnt.getByRole('img', { name: /Embedding map: 9 images at step 1/ });
    const { firstContent } = await mapPixels(page, map);
    await map.hover({ position: { x: firstContent!.x + 4, y: firstContent!.y + 4 } });
    await expect(learnt.locator('.map-tooltip')).toHaveText(new RegExp(`^(${classes.map(escapeRegExp).join('|')})$`));

    // Neighbours, named with their class.
    await learnt.getByText(/Choose an image by number/).click();
    await learnt.getByRole('group', { name: 'Probe images' }).getByRole('button').first().click();
    const named = `(${classes.map(escapeRegExp).join('|')})`;
    await expect(learnt.getByRole('heading', { name: /Nearest neighbours of image 1/ })).toHaveText(new RegExp(`^Nearest neighbours of image 1 \\(${named}\\)$`));
    const captions = learnt.getByRole('list', { name: /Nearest neighbours at step 1/ }).getByRole('listitem');
    await expect(captions).toHaveCount(8);
    for (const caption of await captions.allTextContents()) expect(caption).toMatch(new RegExp(`^image \\d+ \\(${named}\\): similarity -?\\d\\.\\d{3,6}$`));

    // Nothing ran: no dialog, no flag, not one element made from a name.
    expect(dialogs).toEqual([]);
    expect(await page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBeUndefined();
    await expect(page.locator('img')).toHaveCount(0);

    // The check itself works: the same name, put in as HTML on purpose, does run here.
    await page.evaluate((html) => document.body.insertAdjacentHTML('beforeend', html), FLAGS);
    await expect.poll(() => page.evaluate(() => (window as { __pwned?: number }).__pwned)).toBe(1);
  });
});

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
