// Explore, as a person uses it: a folder with planted near-duplicates (the same picture re-encoded as a low-quality
// JPEG, resized to half, cropped by a few pixels) and planted outliers (pictures of another kind) is found out under
// the trained and the untrained encoder; a lasso drawn with the mouse selects what it encloses; the table downloads
// and reads back in NumPy and pandas to the page's values; a labelled folder is sorted into group folders, every
// original file once, byte for byte.
import { unzipSync } from 'fflate';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fitCoords } from '../src/ui/map/mapView';
import { run } from '../src/test/python';
import { expect, removeFixtureFolders, test, writeFolder, type Download, type Page } from './fixtures';

test.afterAll(removeFixtureFolders);

const PYTHON = process.env.TABCLR_PYTHON ?? '/usr/bin/python3';

/** Planted pairs: [original, copy, how]. Names with a comma and quotes go through the CSV too. */
const PLANTED = [
  ['scene-00.png', 'scene-00 lowq.jpg', 'jpeg'],
  ['scene-01.png', 'scene-01 "half", small.png', 'half'],
  ['scene-02.png', 'scene-02-crop.png', 'crop'],
  ['scene-03.png', 'scene-03 lowq.jpg', 'jpeg'],
  ['scene-04.png', 'scene-04-half.png', 'half'],
  ['scene-05.png', 'scene-05, cropped.png', 'crop'],
] as const;
// Two pictures of another kind. Under the untrained 64-value encoder, a red-and-cyan checkerboard, black-and-white
// stripes and black writing on white did not rank above the most unusual scenes: see README's Explore paragraph.
const OUTLIERS = ['odd-blocks.png', 'odd-checks.png'];
const SCENES = 100;

/**
 * Pictures drawn in the page: `scenes` smooth scenes (a gradient sky and a few soft shapes, seeded), the planted
 * copies, and three pictures of another kind (pixel noise, a fine checkerboard, thin coloured lines).
 */
async function plantedFolder(page: Page, labelled = false): Promise<Record<string, Buffer>> {
  const encoded = await page.evaluate(
    async ({ scenes, planted, outliers, labelled }) => {
      let state = 12345;
      const random = () => {
        state = (state * 1103515245 + 12345) % 2147483648;
        return state / 2147483648;
      };
      const side = 96;
      const hsl = (h: number, s: number, l: number) => `hsl(${Math.round(h)} ${Math.round(s)}% ${Math.round(l)}%)`;
      const scene = (hue: number | null) => {
        const canvas = new OffscreenCanvas(side, side);
        const ctx = canvas.getContext('2d')!;
        const h = hue ?? random() * 360;
        const sky = ctx.createLinearGradient(0, 0, random() * side, side);
        sky.addColorStop(0, hsl(h, 40 + random() * 40, 70 + random() * 20));
        sky.addColorStop(1, hsl(h + 40 * (random() - 0.5), 40 + random() * 40, 25 + random() * 30));
        ctx.fillStyle = sky;
        ctx.fillRect(0, 0, side, side);
        for (let s = 0; s < 4; s++) {
          ctx.fillStyle = hsl((hue ?? random() * 360) + 30 * (random() - 0.5), 50 + random() * 40, 30 + random() * 50);
          ctx.beginPath();
          if (random() < 0.5) ctx.ellipse(random() * side, random() * side, 8 + random() * 25, 8 + random() * 25, random() * 3, 0, 2 * Math.PI);
          else ctx.rect(random() * side * 0.8, random() * side * 0.8, 10 + random() * 40, 10 + random() * 40);
          ctx.fill();
        }
        return canvas;
      };
      const bytes = async (canvas: OffscreenCanvas, type = 'image/png', quality?: number) => {
        const data = new Uint8Array(await (await canvas.convertToBlob({ type, quality })).arrayBuffer());
        let binary = '';
        for (const b of data) binary += String.fromCharCode(b);
        return btoa(binary);
      };
      const out: Record<string, string> = {};
      const classes = ['red', 'green', 'blue'];
      const drawn: OffscreenCanvas[] = [];
      for (let i = 0; i < scenes; i++) {
        const c = labelled ? i % 3 : null;
        const canvas = scene(c === null ? null : [0, 120, 230][c]!);
        drawn.push(canvas);
        const name = `scene-${String(i).padStart(2, '0')}.png`;
        out[c === null ? name : `${classes[c]}/${name}`] = await bytes(canvas);
      }
      if (labelled) return out;
      for (const [original, copy, how] of planted) {
        const source = drawn[Number(original.slice(6, 8))]!;
        if (how === 'jpeg') out[copy] = await bytes(source, 'image/jpeg', 0.25);
        else if (how === 'half') {
          const half = new OffscreenCanvas(side / 2, side / 2);
          half.getContext('2d')!.drawImage(source, 0, 0, side / 2, side / 2);
          out[copy] = await bytes(half);
        } else {
          const crop = new OffscreenCanvas(side - 6, side - 6);
          crop.getContext('2d')!.drawImage(source, -3, -3);
          out[copy] = await bytes(crop);
        }
      }
      const odd = (draw: (ctx: OffscreenCanvasRenderingContext2D) => void) => {
        const canvas = new OffscreenCanvas(side, side);
        const ctx = canvas.getContext('2d')!;
        draw(ctx);
        return canvas;
      };
      // Of another kind, and coarse enough to stay so at 32 px: blocks of random colours, a black-and-white checkerboard.
      out[outliers[0]!] = await bytes(
        odd((ctx) => {
          for (let y = 0; y < side; y += 12) for (let x = 0; x < side; x += 12) {
            ctx.fillStyle = `rgb(${random() * 255} ${random() * 255} ${random() * 255})`;
            ctx.fillRect(x, y, 12, 12);
          }
        }),
      );
      out[outliers[1]!] = await bytes(
        odd((ctx) => {
          for (let y = 0; y < side; y += 12) for (let x = 0; x < side; x += 12) {
            ctx.fillStyle = (x + y) % 24 ? '#000' : '#fff';
            ctx.fillRect(x, y, 12, 12);
          }
        }),
      );
      return out;
    },
    { scenes: SCENES, planted: PLANTED.map((p) => [...p]), outliers: OUTLIERS, labelled },
  );
  return Object.fromEntries(Object.entries(encoded).map(([name, b64]) => [name, Buffer.from(b64, 'base64')]));
}

async function open(page: Page) {
  // The <input webkitdirectory> path, which Playwright can fill (as e2e/import.spec.ts does).
  await page.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  await page.goto('/');
  await expect(page.getByRole('status', { name: 'GPU status' })).toContainText('GPU check passed');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('images,');
}

async function chooseFolder(page: Page, dir: string) {
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Choose folder' }).click();
  await (await chooser).setFiles(dir);
}

/** A short run (the default encoder, whose untrained representation already tells pictures apart). */
async function tinyRun(page: Page) {
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill('2');
  await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill('0');
  await page.getByText('Augmentation and monitoring').click();
  await page.getByLabel('Map every (steps)').fill('100');
  await page.getByLabel('Images on the map').fill('8');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Finished', { timeout: 150_000 });
}

async function explore(page: Page, representation: string) {
  const panel = page.getByRole('region', { name: 'Explore' });
  await panel.getByRole('radio', { name: representation, exact: true }).check();
  await panel.getByRole('button', { name: 'Explore all images' }).click();
  await expect(panel.getByText(/^Explored \d+ images under/)).toBeVisible({ timeout: 120_000 });
  await expect(panel.getByRole('progressbar', { name: 'Explore progress' })).toHaveCount(0);
  return panel;
}

/** The file names shown in each near-duplicate row. */
async function duplicateRows(page: Page): Promise<string[][]> {
  const rows = page.getByRole('list', { name: 'Near-duplicate groups' }).getByRole('listitem');
  return rows.evaluateAll((items) => items.map((li) => Array.from(li.querySelectorAll('figure')).map((f) => f.getAttribute('title')!.split('/').pop()!)));
}

async function outlierNames(page: Page): Promise<string[]> {
  return page
    .getByRole('list', { name: 'Outliers, most outlying first' })
    .locator('figure')
    .evaluateAll((figures) => figures.map((f) => f.getAttribute('title')!.split('/').pop()!));
}

/** Planted outliers must rank within the most outlying 5 % of the folder (under the untrained encoder they are first). */
const OUTLIER_SHARE = 0.05;

async function checkFound(page: Page, count: number) {
  const rows = await duplicateRows(page);
  // Every planted pair is found together, and the groups holding them are the closest ones (a scene close enough to
  // one of them may join its group at the default threshold: the person then moves the threshold up).
  for (const [original, copy] of PLANTED) expect(rows.slice(0, PLANTED.length).some((r) => r.includes(original) && r.includes(copy)), `${original} + ${copy}`).toBe(true);
  const outliers = await outlierNames(page);
  const top = outliers.slice(0, Math.max(OUTLIERS.length, Math.ceil(OUTLIER_SHARE * count)));
  for (const name of OUTLIERS) expect(top, name).toContain(name);
  return outliers;
}

async function unzipDownload(download: Download): Promise<Map<string, Uint8Array>> {
  return new Map(Object.entries(unzipSync(new Uint8Array(readFileSync(await download.path())))));
}

test('planted near-duplicates and outliers are found with the trained and the untrained encoder; a lasso selects; the table reads back in NumPy and pandas', async ({ page }) => {
  test.setTimeout(420_000);
  await open(page);
  const files = await plantedFolder(page);
  await chooseFolder(page, writeFolder('planted', files));
  const count = SCENES + PLANTED.length + OUTLIERS.length;
  await expect(page.getByRole('region', { name: 'Images' })).toContainText(`planted: ${count} images`);
  await tinyRun(page);

  await explore(page, 'Untrained encoder');
  // The untrained encoder puts the two planted outliers first.
  expect((await checkFound(page, count)).slice(0, 2).sort()).toEqual([...OUTLIERS].sort());
  const panel = await explore(page, 'Trained encoder');
  await expect(panel.getByText(`Explored ${count} images under the trained encoder at step 2`)).toBeVisible();
  await checkFound(page, count);
  await page.setViewportSize({ width: 1280, height: 800 });
  await panel.getByRole('heading', { name: 'Near-duplicates' }).evaluate((e) => e.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: 'test-results/explore-duplicates-1280x800.png' });

  // Search by an image from outside the set: scene-10 shrunk to 40 px and saved as a JPEG, chosen in the file field.
  const outside = await page.evaluate(async (base64) => {
    const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))]));
    const canvas = new OffscreenCanvas(40, 40);
    canvas.getContext('2d')!.drawImage(bitmap, 0, 0, 40, 40);
    const bytes = new Uint8Array(await (await canvas.convertToBlob({ type: 'image/jpeg', quality: 0.6 })).arrayBuffer());
    let binary = '';
    for (const b of bytes) binary += String.fromCharCode(b);
    return btoa(binary);
  }, files['scene-10.png']!.toString('base64'));
  await panel.getByLabel('Image to search for').setInputFiles({ name: 'query.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(outside, 'base64') });
  const found = panel.getByRole('list', { name: 'Images nearest to query.jpg' }).locator('figure');
  await expect(found).toHaveCount(12);
  await expect(found.first()).toHaveAttribute('title', /scene-10\.png$/);

  // The table, read by NumPy and pandas.
  const tableDownload = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download table (.zip)' }).click();
  const table = await unzipDownload(await tableDownload);
  const folder = mkdtempSync(join(tmpdir(), 'tabclr-explore-'));
  for (const [name, bytes] of table) writeFileSync(join(folder, name), bytes);
  const program = `import sys, json, numpy as np, pandas as pd
d = pd.read_csv(sys.argv[1] + "/embeddings.csv", keep_default_na=False)
e = np.load(sys.argv[1] + "/embeddings.npy")
paths = open(sys.argv[1] + "/paths.txt").read().splitlines()
cols = d[[c for c in d.columns if c.startswith("e")]].to_numpy(dtype=np.float32)
print(json.dumps({"shape": list(e.shape), "dtype": str(e.dtype), "same": bool(np.array_equal(cols, e)), "paths": d["path"].tolist(), "paths_txt": paths,
  "score": d["outlier_score"].tolist(), "dup": [str(v) for v in d["duplicate_group"]], "group": d["group"].tolist(), "x": d["x"].tolist(), "y": d["y"].tolist(),
  "norms": np.linalg.norm(e, axis=1).tolist()}))`;
  const read = JSON.parse(run([PYTHON, '-c', program, folder])) as {
    shape: number[];
    dtype: string;
    same: boolean;
    paths: string[];
    paths_txt: string[];
    score: number[];
    dup: string[];
    group: number[];
    x: number[];
    y: number[];
    norms: number[];
  };
  expect(read.shape[0]).toBe(count);
  expect(read.dtype).toBe('float32');
  expect(read.same).toBe(true);
  for (const n of read.norms) expect(n).toBeCloseTo(1, 4);
  expect(read.paths).toEqual(read.paths_txt);
  expect(read.paths.map((p) => p.split('/').pop()).sort()).toEqual(Object.keys(files).sort());
  // The page's outliers are the table's highest scores, in order.
  const byScore = read.paths.map((p, i) => ({ name: p.split('/').pop()!, score: read.score[i]! })).sort((a, b) => b.score - a.score);
  expect((await outlierNames(page)).slice(0, 10)).toEqual(byScore.slice(0, 10).map((r) => r.name));
  // The page's duplicate rows are the table's duplicate groups.
  const dupGroups = new Map<string, string[]>();
  read.dup.forEach((g, i) => g !== '' && dupGroups.set(g, [...(dupGroups.get(g) ?? []), read.paths[i]!.split('/').pop()!]));
  expect([...dupGroups.values()].map((g) => g.sort().join(' + ')).sort()).toEqual((await duplicateRows(page)).map((r) => r.sort().join(' + ')).sort());
  // The group sizes the page lists are the table's.
  for (let g = 0; g < Math.max(...read.group) + 1; g++) {
    const size = read.group.filter((v) => v === g).length;
    await expect(panel.getByRole('list', { name: 'Groups' }).getByText(`Group ${g + 1}: ${size} ${size === 1 ? 'image' : 'images'}`, { exact: true })).toBeVisible();
  }

  // A lasso drawn with the mouse around the first outlier's dot, as the map draws it from the table's x and y.
  const coords = Float32Array.from(read.x.flatMap((x, i) => [x, read.y[i]!]));
  const fitted = fitCoords(coords);
  const map = panel.getByRole('img', { name: /^Map of all/ });
  await panel.getByRole('radio', { name: 'Lasso' }).check();
  await map.scrollIntoViewIfNeeded();
  const box = (await map.boundingBox())!;
  const scale = box.width / 420;
  const screen = Array.from({ length: count }, (_, i) => ({ x: 10 + (fitted[2 * i]! + 1) * 200, y: 10 + (fitted[2 * i + 1]! + 1) * 200 }));
  const target = read.paths.findIndex((p) => p.endsWith(OUTLIERS[0]!));
  const centre = screen[target]!;
  const distances = screen.map((p) => Math.hypot(p.x - centre.x, p.y - centre.y)).sort((a, b) => a - b);
  // A radius halfway between two dots' distances (at least a few points in), so that no dot sits on the line.
  let pick = Math.min(4, count - 1);
  while (pick < count - 1 && distances[pick + 1]! - distances[pick]! < 4) pick += 1;
  const radius = (distances[pick]! + distances[pick + 1]!) / 2;
  const expected = read.paths.filter((_, i) => Math.hypot(screen[i]!.x - centre.x, screen[i]!.y - centre.y) < radius).sort();
  const toPage = (x: number, y: number) => [box.x + x * scale, box.y + y * scale] as const;
  await page.mouse.move(...toPage(centre.x + radius, centre.y));
  await page.mouse.down();
  for (let a = 1; a <= 48; a++) await page.mouse.move(...toPage(centre.x + radius * Math.cos((a * Math.PI) / 24), centre.y + radius * Math.sin((a * Math.PI) / 24)));
  await page.mouse.up();
  await expect(panel.getByText(`${expected.length} images selected`)).toBeVisible();
  await expect(panel.getByRole('list', { name: 'Selected images' }).getByRole('listitem')).toHaveCount(expected.length);
  const selectionDownload = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download selection (.txt)' }).click();
  const selected = readFileSync(await (await selectionDownload).path(), 'utf8').trimEnd().split('\n').sort();
  expect(selected).toEqual(expected);

  // The Projector zip carries the same table beside its own files.
  const projectorDownload = page.waitForEvent('download');
  await page.getByRole('button', { name: 'Download embeddings (.zip)' }).click();
  const projector = await unzipDownload(await projectorDownload);
  for (const name of ['vectors.tsv', 'metadata.tsv', 'embeddings.csv', 'embeddings.npy', 'paths.txt', 'selection.txt']) expect(projector.has(name), name).toBe(true);
  expect(Buffer.from(projector.get('embeddings.npy')!).equals(Buffer.from(table.get('embeddings.npy')!))).toBe(true);

  // Keep one per group: the planted copies leave the selection when it is everything.
  await panel.getByRole('button', { name: 'Clear selection' }).click();
  await panel.getByRole('button', { name: 'Keep one per group' }).click();
  const rows = await duplicateRows(page);
  await expect(panel.getByText(`${count - rows.reduce((n, r) => n + r.length - 1, 0)} images selected`)).toBeVisible();
});

function walk(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const full = join(dir, name);
    return statSync(full).isDirectory() ? walk(full) : [full];
  });
}

const sha = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex');

test('a labelled folder sorts into group folders: every original file once, byte for byte; groups are compared with the labels', async ({ page }) => {
  test.setTimeout(300_000);
  await open(page);
  const root = writeFolder('colours', await plantedFolder(page, true));
  await chooseFolder(page, root);
  await expect(page.getByRole('region', { name: 'Images' })).toContainText(`colours: ${SCENES} images`);
  await tinyRun(page);
  const panel = page.getByRole('region', { name: 'Explore' });
  await panel.getByRole('checkbox', { name: 'Suggest the number of groups' }).uncheck();
  await panel.getByRole('spinbutton', { name: /^Groups/ }).fill('3');
  await explore(page, 'Raw pixels');
  const agreement = panel.getByRole('table', { name: /How well the 3 groups match the labels/ });
  for (const name of ['Trained encoder', 'Untrained encoder', 'Raw pixels']) await expect(agreement.getByRole('row', { name: new RegExp(`^${name}`) })).toBeVisible();

  const download = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Sort into folders (.zip)' }).click();
  const sorted = await unzipDownload(await download);
  await expect(panel.getByText(`${SCENES} files in 3 group folders`)).toBeVisible();
  const originals = walk(root).map((full) => ({ path: relative(root, full), hash: sha(readFileSync(full)) }));
  expect([...sorted.keys()].every((name) => /^group 0[1-3]\/scene-\d\d\.png$/.test(name))).toBe(true);
  // Every file once, with its own bytes.
  expect([...sorted.values()].map(sha).sort()).toEqual(originals.map((o) => o.hash).sort());
  expect(sorted.size).toBe(originals.length);
  // Each file is in its group's folder, as the table says.
  const tableDownload = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download table (.zip)' }).click();
  const csv = new TextDecoder().decode((await unzipDownload(await tableDownload)).get('embeddings.csv')!);
  for (const line of csv.trimEnd().split('\r\n').slice(1)) {
    const [path, , group] = line.split(',');
    const name = path!.split('/').pop()!;
    const folderName = `group ${String(Number(group) + 1).padStart(2, '0')}`;
    expect(sha(sorted.get(`${folderName}/${name}`)!)).toBe(originals.find((o) => o.path.endsWith(`/${name}`))!.hash);
  }
});

test('exploring during a run uses the latest weights, can be cancelled, and is screenshotted at 1280 × 800', async ({ page }) => {
  test.setTimeout(300_000);
  await page.setViewportSize({ width: 1280, height: 800 });
  await page.goto('/');
  await expect(page.getByRole('region', { name: 'Images' })).toContainText('300 images');
  await page.getByLabel('Width multiplier', { exact: true }).fill('0.125');
  await page.getByLabel('Batch size', { exact: true }).fill('8');
  await page.getByLabel('Steps', { exact: true }).fill('400');
  await page.getByRole('button', { name: 'Start' }).click();
  await expect(page.locator('.run-state')).toContainText('Training', { timeout: 120_000 });
  await expect(page.locator('.run-state')).toContainText(/step [1-9]/, { timeout: 120_000 });
  const panel = page.getByRole('region', { name: 'Explore' });
  // Cancelled half-way: the panel says nothing was explored and offers the button again.
  await panel.getByRole('radio', { name: 'Untrained encoder' }).check();
  await panel.getByRole('button', { name: 'Explore all images' }).click();
  await panel.getByRole('button', { name: 'Cancel exploring' }).click();
  await expect(panel.getByRole('button', { name: 'Explore all images' })).toBeEnabled();
  await expect(panel.getByText(/^Explored/)).toHaveCount(0);
  await explore(page, 'Trained encoder');
  await expect(panel.getByText(/^Explored 300 images under the trained encoder at step \d+/)).toBeVisible();
  // Still training: the exploration ran beside the steps.
  await expect(page.locator('.run-state')).toContainText('Training');
  // The keyboard's box: the cross to the top left corner, Space, to the bottom right, Space: every image.
  const map = panel.getByRole('img', { name: /^Map of all/ });
  await panel.getByRole('radio', { name: 'Box' }).check();
  await map.focus();
  for (let i = 0; i < 6; i++) await page.keyboard.press('Shift+ArrowLeft');
  for (let i = 0; i < 6; i++) await page.keyboard.press('Shift+ArrowUp');
  await page.keyboard.press('Space');
  for (let i = 0; i < 11; i++) await page.keyboard.press('Shift+ArrowRight');
  for (let i = 0; i < 11; i++) await page.keyboard.press('Shift+ArrowDown');
  await page.keyboard.press('Space');
  await expect(panel.getByText('300 images selected')).toBeVisible();
  await panel.getByRole('button', { name: 'Clear selection' }).click();
  await panel.getByRole('button', { name: 'Select group 1' }).click();
  await expect(panel.getByText(/^\d+ images? selected$/)).toBeVisible();
  // The map, the selection and the start of the lists in view, the run bar above them.
  await panel.getByText(/^Explored 300 images/).evaluate((e) => e.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: 'test-results/explore-training-1280x800.png' });
  await page.getByRole('button', { name: 'Stop' }).click();
});
