// Explore, as a person uses it: a folder with planted near-duplicates (the same picture re-encoded as a low-quality
// JPEG, resized to half, cropped by a few pixels) and planted outliers (pictures of another kind) is found out under
// the trained and the untrained encoder; an image from outside the set is searched for from the file field, dropped
// onto the map and pasted onto it, and its nearest images are boxed on the map; what is not an image is refused with a
// reason; a lasso drawn with the mouse selects what it encloses; the table downloads and reads back in NumPy and
// pandas to the page's values; a labelled folder is sorted into group folders, as a zip and through the File System
// Access API, every original file once, byte for byte (explore-interrupted.spec.ts: another folder mid-exploration).
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fitCoords } from '../src/ui/map/mapView';
import { run } from '../src/test/python';
import { expect, removeFixtureFolders, test, unzipDownload, writeFolder, type Locator, type Page } from './fixtures';
import { chooseFolder, explore, open, tinyRun } from './exploring';
import { OUTLIERS, PLANTED, SCENES, plantedFolder } from './planted';

test.afterAll(removeFixtureFolders);

const PYTHON = process.env.TABCLR_PYTHON ?? '/usr/bin/python3';
/** The page's default near-duplicate threshold, and one where the planted pairs of this folder stand alone. */
const DEFAULT_THRESHOLD = 0.95;
const STRICT_THRESHOLD = 0.98;

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

/** The near-duplicate slider moved with the keyboard (Arrow keys step 0.005) to `threshold`. */
async function setThreshold(page: Page, threshold: number) {
  const slider = page.getByRole('slider', { name: 'Near-duplicate threshold' });
  const now = Number(await slider.inputValue());
  const steps = Math.round((threshold - now) / 0.005);
  await slider.focus();
  for (let i = 0; i < Math.abs(steps); i++) await page.keyboard.press(steps > 0 ? 'ArrowRight' : 'ArrowLeft');
  await expect(slider).toHaveAttribute('aria-valuetext', new RegExp(`^${threshold.toFixed(3)}: `));
}

/**
 * What the representation explored finds: at the default threshold every planted pair in one group (complete linkage:
 * a group holds no image less similar than the threshold to any other member, which the table's check in NumPy
 * confirms); at the strict threshold each planted pair a group of its own; the planted outliers the two most
 * outlying images. The slider goes back to the default.
 */
async function checkFound(page: Page, representation: string) {
  const rows = await duplicateRows(page);
  for (const [original, copy] of PLANTED) expect(rows.find((r) => r.includes(original)), `${representation}: ${original} + ${copy} at ${DEFAULT_THRESHOLD}`).toContain(copy);
  await setThreshold(page, STRICT_THRESHOLD);
  const strict = await duplicateRows(page);
  for (const [original, copy] of PLANTED) expect(strict.find((r) => r.includes(original))?.sort(), `${representation}: ${original} + ${copy} at ${STRICT_THRESHOLD}`).toEqual([original, copy].sort());
  await setThreshold(page, DEFAULT_THRESHOLD);
  const outliers = await outlierNames(page);
  expect(outliers.slice(0, OUTLIERS.length).sort(), `${representation}: the most outlying`).toEqual([...OUTLIERS].sort());
  // For the README's figures: the groups holding planted pairs at the default threshold, the most outlying five.
  console.log(`${representation}: at ${DEFAULT_THRESHOLD} ${rows.length} groups, those with a planted pair: ${PLANTED.map(([o]) => rows.find((r) => r.includes(o))!.join(' + ')).join(' | ')}; at ${STRICT_THRESHOLD} ${strict.length} groups; most outlying: ${outliers.slice(0, 5).join(', ')}`);
}

/** A picture of the folder shrunk to `side` px and encoded again, as bytes in base64: an image from outside the set. */
async function outsideImage(page: Page, original: Buffer, side: number, type: string): Promise<string> {
  return page.evaluate(
    async ({ base64, side, type }) => {
      const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(base64), (c) => c.charCodeAt(0))]));
      const canvas = new OffscreenCanvas(side, side);
      canvas.getContext('2d')!.drawImage(bitmap, 0, 0, side, side);
      const bytes = new Uint8Array(await (await canvas.convertToBlob({ type, quality: 0.6 })).arrayBuffer());
      let binary = '';
      for (const b of bytes) binary += String.fromCharCode(b);
      return btoa(binary);
    },
    { base64: original.toString('base64'), side, type },
  );
}

interface PageFile {
  name: string;
  type: string;
  base64: string;
}

/** A file made in the page and dropped onto the map: dragenter, dragover and drop with a DataTransfer holding it. */
async function dropOnMap(map: Locator, file: PageFile) {
  await map.evaluate((canvas, f) => {
    const data = new DataTransfer();
    data.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
    for (const type of ['dragenter', 'dragover', 'drop']) canvas.dispatchEvent(new DragEvent(type, { dataTransfer: data, bubbles: true, cancelable: true }));
  }, file);
}

/** A file made in the page and pasted onto the focused map: a paste ClipboardEvent whose DataTransfer holds it. */
async function pasteOnMap(map: Locator, file: PageFile) {
  await map.focus();
  await map.evaluate((canvas, f) => {
    const data = new DataTransfer();
    data.items.add(new File([Uint8Array.from(atob(f.base64), (c) => c.charCodeAt(0))], f.name, { type: f.type }));
    canvas.dispatchEvent(new ClipboardEvent('paste', { clipboardData: data, bubbles: true, cancelable: true }));
  }, file);
}

/**
 * Red pixels (the search's boxes, #d62728) on a ring 5.5–9.5 px around each point of the map (in its 420-unit
 * drawing), read from a screenshot of it: what the person sees.
 */
async function redAround(page: Page, map: Locator, points: { x: number; y: number }[]): Promise<number[]> {
  const png = (await map.screenshot()).toString('base64');
  const width = (await map.boundingBox())!.width;
  return page.evaluate(
    async ({ png, points, width }) => {
      const bitmap = await createImageBitmap(new Blob([Uint8Array.from(atob(png), (c) => c.charCodeAt(0))], { type: 'image/png' }));
      const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
      const ctx = canvas.getContext('2d')!;
      ctx.drawImage(bitmap, 0, 0);
      const data = ctx.getImageData(0, 0, bitmap.width, bitmap.height).data;
      // The element is 420 CSS px with a 1 px border inside it (box-sizing: border-box): the drawing fills the rest.
      const scale = ((width - 2) / 420) * (bitmap.width / width);
      const border = bitmap.width / width;
      return points.map(({ x, y }) => {
        const cx = border + x * scale;
        const cy = border + y * scale;
        let red = 0;
        for (let py = Math.floor(cy - 10 * scale); py <= Math.ceil(cy + 10 * scale); py++) {
          for (let px = Math.floor(cx - 10 * scale); px <= Math.ceil(cx + 10 * scale); px++) {
            const ring = Math.max(Math.abs(px - cx), Math.abs(py - cy)) / scale;
            if (ring < 5.5 || ring > 9.5 || px < 0 || py < 0 || px >= bitmap.width || py >= bitmap.height) continue;
            const i = (py * bitmap.width + px) * 4;
            if (data[i]! > 170 && data[i + 1]! < 70 && data[i + 2]! < 70) red += 1;
          }
        }
        return red;
      });
    },
    { png, points, width },
  );
}

/**
 * A search's answer as the person sees it: 12 images listed, `first` first, and each of them boxed in red on the map,
 * while dots far from every one of them are not.
 */
async function checkSearch(page: Page, query: string, first: string, screen: { x: number; y: number }[], paths: string[]) {
  const panel = page.getByRole('region', { name: 'Explore' });
  const found = panel.getByRole('list', { name: `Images nearest to ${query}` }).locator('figure');
  await expect(found).toHaveCount(12);
  await expect(found.first()).toHaveAttribute('title', new RegExp(`${first.replace('.', '\\.')}$`));
  const titles = await found.evaluateAll((figures) => figures.map((f) => f.getAttribute('title')!));
  const indices = titles.map((t) => paths.indexOf(t));
  expect(indices.every((i) => i >= 0)).toBe(true);
  const map = panel.getByRole('img', { name: /^Map of all/ });
  await map.scrollIntoViewIfNeeded();
  const boxed = await redAround(page, map, indices.map((i) => screen[i]!));
  for (const [n, red] of boxed.entries()) expect(red, `${titles[n]} boxed on the map`).toBeGreaterThanOrEqual(12);
  const far = screen.filter((p) => indices.every((i) => Math.hypot(p.x - screen[i]!.x, p.y - screen[i]!.y) > 24));
  expect(far.length).toBeGreaterThan(0);
  for (const red of await redAround(page, map, far)) expect(red).toBe(0);
}

test('planted near-duplicates and outliers are found with the trained and the untrained encoder; search by file, drop and paste boxes the nearest images; a lasso selects; the table reads back in NumPy and pandas', async ({ page }) => {
  test.setTimeout(540_000);
  await open(page);
  const files = await plantedFolder(page);
  await chooseFolder(page, writeFolder('planted', files));
  const count = SCENES + PLANTED.length + OUTLIERS.length;
  const images = page.getByRole('region', { name: 'Images' });
  await expect(images).toContainText(`planted: ${count} images`);
  await tinyRun(page);

  await explore(page, 'Untrained encoder');
  await checkFound(page, 'untrained');
  const panel = await explore(page, 'Trained encoder');
  await expect(panel.getByText(`Explored ${count} images under the trained encoder at step 2`)).toBeVisible();
  await checkFound(page, 'trained');
  await page.setViewportSize({ width: 1280, height: 800 });
  await panel.getByRole('heading', { name: 'Near-duplicates' }).evaluate((e) => e.scrollIntoView({ block: 'start' }));
  await page.screenshot({ path: 'test-results/explore-duplicates-1280x800.png' });

  // The table, read by NumPy and pandas.
  const tableDownload = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download table (.zip)' }).click();
  const table = await unzipDownload(await tableDownload);
  const folder = mkdtempSync(join(tmpdir(), 'tabclr-explore-'));
  for (const [name, bytes] of table) writeFileSync(join(folder, name), bytes);
  // With the least similarity within each near-duplicate group, on the rows centred as the page centres them.
  const program = `import sys, json, numpy as np, pandas as pd
d = pd.read_csv(sys.argv[1] + "/embeddings.csv", keep_default_na=False)
e = np.load(sys.argv[1] + "/embeddings.npy")
paths = open(sys.argv[1] + "/paths.txt").read().splitlines()
cols = d[[c for c in d.columns if c.startswith("e")]].to_numpy(dtype=np.float32)
c = e.astype(np.float64) - e.astype(np.float64).mean(axis=0)
c /= np.linalg.norm(c, axis=1, keepdims=True)
dup = [str(v) for v in d["duplicate_group"]]
least = [float((c[m] @ c[m].T).min()) for m in [[i for i, g in enumerate(dup) if g == name] for name in sorted(set(dup) - {""})]]
print(json.dumps({"shape": list(e.shape), "dtype": str(e.dtype), "same": bool(np.array_equal(cols, e)), "paths": d["path"].tolist(), "paths_txt": paths,
  "score": d["outlier_score"].tolist(), "dup": dup, "group": d["group"].tolist(), "x": d["x"].tolist(), "y": d["y"].tolist(),
  "norms": np.linalg.norm(e, axis=1).tolist(), "least": least}))`;
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
    least: number[];
  };
  expect(read.shape[0]).toBe(count);
  expect(read.dtype).toBe('float32');
  expect(read.same).toBe(true);
  for (const n of read.norms) expect(n).toBeCloseTo(1, 4);
  expect(read.paths).toEqual(read.paths_txt);
  expect(read.paths.map((p) => p.split('/').pop()).sort()).toEqual(Object.keys(files).sort());
  // No chains: every two images of a near-duplicate group are at least as similar as the threshold (float32 rounding apart).
  expect(read.least.length).toBeGreaterThanOrEqual(PLANTED.length);
  for (const least of read.least) expect(least).toBeGreaterThan(DEFAULT_THRESHOLD - 1e-4);
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
  // Where the map draws each image (its 420-unit drawing), from the table's x and y as the map fits them.
  const fitted = fitCoords(Float32Array.from(read.x.flatMap((x, i) => [x, read.y[i]!])));
  const screen = Array.from({ length: count }, (_, i) => ({ x: 10 + (fitted[2 * i]! + 1) * 200, y: 10 + (fitted[2 * i + 1]! + 1) * 200 }));
  const map = panel.getByRole('img', { name: /^Map of all/ });

  // Search by images from outside the set: a scene shrunk and saved again, from the file field, dropped onto the map,
  // and pasted onto it. Each time its own scene comes first and the 12 nearest are boxed on the map.
  const fromField = await outsideImage(page, files['scene-10.png']!, 40, 'image/jpeg');
  await panel.getByLabel('Image to search for').setInputFiles({ name: 'query.jpg', mimeType: 'image/jpeg', buffer: Buffer.from(fromField, 'base64') });
  await checkSearch(page, 'query.jpg', 'scene-10.png', screen, read.paths);
  await dropOnMap(map, { name: 'dropped.jpg', type: 'image/jpeg', base64: await outsideImage(page, files['scene-20.png']!, 48, 'image/jpeg') });
  await checkSearch(page, 'dropped.jpg', 'scene-20.png', screen, read.paths);
  // The panel at 1280 × 800 with the map and the search's boxes on it.
  await map.evaluate((e) => e.scrollIntoView({ block: 'center' }));
  await page.screenshot({ path: 'test-results/explore-search-1280x800.png' });
  await pasteOnMap(map, { name: 'pasted.png', type: 'image/png', base64: await outsideImage(page, files['scene-30.png']!, 64, 'image/png') });
  await checkSearch(page, 'pasted.png', 'scene-30.png', screen, read.paths);
  // What is not an image says so and loses nothing: the search, the exploration and the images stay.
  await dropOnMap(map, { name: 'notes.txt', type: 'text/plain', base64: Buffer.from('not a picture').toString('base64') });
  await expect(panel.getByRole('alert')).toHaveText(/^notes\.txt is not an image \(text\/plain\): drop or paste a JPEG, PNG, WebP, GIF or AVIF file to search for it\. The search for pasted\.png stays\.$/);
  await dropOnMap(map, { name: 'broken.png', type: 'image/png', base64: Buffer.from('\x89PNG\r\n\x1a\n not really').toString('base64') });
  await expect(panel.getByRole('alert')).toHaveText(/^broken\.png could not be read as an image \(.+\)\. The search for pasted\.png stays\.$/);
  await checkSearch(page, 'pasted.png', 'scene-30.png', screen, read.paths);
  await expect(images).toContainText(`planted: ${count} images`);
  await expect(panel.getByText(`Explored ${count} images under the trained encoder at step 2`)).toBeVisible();

  // A lasso drawn with the mouse around the first outlier's dot.
  await panel.getByRole('radio', { name: 'Lasso' }).check();
  await map.scrollIntoViewIfNeeded();
  const box = (await map.boundingBox())!;
  const scale = box.width / 420;
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

/** Every file under a folder of the page's Origin Private File System, by path, with its SHA-256. */
async function opfsTree(page: Page, folder: string): Promise<Record<string, string>> {
  return page.evaluate(async (folder) => {
    type Entry = { kind: 'file' | 'directory'; getFile?(): Promise<File> };
    type Folder = { entries(): AsyncIterable<[string, Entry]> };
    const out: Record<string, string> = {};
    const walk = async (dir: Folder, prefix: string): Promise<void> => {
      for await (const [name, handle] of dir.entries()) {
        if (handle.kind === 'directory') await walk(handle as unknown as Folder, `${prefix}${name}/`);
        else {
          const digest = await crypto.subtle.digest('SHA-256', await (await handle.getFile!()).arrayBuffer());
          out[`${prefix}${name}`] = Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
        }
      }
    };
    const root = await navigator.storage.getDirectory();
    await walk((await root.getDirectoryHandle(folder)) as unknown as Folder, '');
    return out;
  }, folder);
}

test('a labelled folder sorts into group folders, as a zip and into a folder picked through the File System Access API: every original file once, byte for byte; groups are compared with the labels', async ({ page }) => {
  test.setTimeout(420_000);
  await open(page);
  const root = writeFolder('colours', await plantedFolder(page, { labelled: true }));
  await chooseFolder(page, root);
  const images = page.getByRole('region', { name: 'Images' });
  await expect(images).toContainText(`colours: ${SCENES} images`);
  await tinyRun(page);
  // The folder picker, from here on: a folder of the page's Origin Private File System (a real directory handle), or
  // the person closing the picker.
  await page.evaluate(() => {
    const w = window as unknown as { showDirectoryPicker: () => Promise<unknown>; closePicker: boolean };
    w.closePicker = false;
    w.showDirectoryPicker = async () => {
      if (w.closePicker) throw new DOMException('The user aborted a request.', 'AbortError');
      return (await navigator.storage.getDirectory()).getDirectoryHandle('picked', { create: true });
    };
  });
  const panel = page.getByRole('region', { name: 'Explore' });
  await panel.getByRole('checkbox', { name: 'Suggest the number of groups' }).uncheck();
  await panel.getByRole('spinbutton', { name: /^Groups/ }).fill('3');
  await explore(page, 'Raw pixels');
  const agreement = panel.getByRole('table', { name: /How well the 3 groups match the labels/ });
  for (const name of ['Trained encoder', 'Untrained encoder', 'Raw pixels']) await expect(agreement.getByRole('row', { name: new RegExp(`^${name}`) })).toBeVisible();
  const originals = walk(root).map((full) => ({ path: relative(root, full), hash: sha(readFileSync(full)) }));

  // The picker closed: nothing is written, the page says so and goes on.
  await page.evaluate(() => ((window as unknown as { closePicker: boolean }).closePicker = true));
  const intoFolder = panel.getByRole('button', { name: 'Sort into a folder…' });
  await intoFolder.click();
  await expect(panel.getByText('No folder was chosen: nothing was written.')).toBeVisible();

  // The zip.
  const download = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Sort into folders (.zip)' }).click();
  const sorted = await unzipDownload(await download);
  await expect(panel.getByText(`${SCENES} files in 3 group folders`)).toBeVisible();
  expect([...sorted.keys()].every((name) => /^group 0[1-3]\/scene-\d\d\.png$/.test(name))).toBe(true);
  // Every file once, with its own bytes.
  expect([...sorted.values()].map(sha).sort()).toEqual(originals.map((o) => o.hash).sort());
  expect(sorted.size).toBe(originals.length);
  // Each file is in its group's folder, as the table says.
  const tableDownload = page.waitForEvent('download');
  await panel.getByRole('button', { name: 'Download table (.zip)' }).click();
  const csv = new TextDecoder().decode((await unzipDownload(await tableDownload)).get('embeddings.csv')!);
  const expectedPaths = new Map<string, string>();
  for (const line of csv.trimEnd().split('\r\n').slice(1)) {
    const [path, , group] = line.split(',');
    const name = path!.split('/').pop()!;
    const folderName = `group ${String(Number(group) + 1).padStart(2, '0')}`;
    expectedPaths.set(`${folderName}/${name}`, originals.find((o) => o.path.endsWith(`/${name}`))!.hash);
  }
  for (const [path, hash] of expectedPaths) expect(sha(sorted.get(path)!)).toBe(hash);

  // Into the folder picked: a new folder in it holds the same group folders, read back from the page's file system.
  await page.evaluate(() => ((window as unknown as { closePicker: boolean }).closePicker = false));
  await intoFolder.click();
  await expect(panel.getByText(`Wrote ${SCENES} files into tabclr-groups-pixels-k3, in 3 group folders, inside the folder you chose.`)).toBeVisible();
  const written = await opfsTree(page, 'picked');
  expect(Object.keys(written).every((path) => /^tabclr-groups-pixels-k3\/group 0[1-3]\/scene-\d\d\.png$/.test(path))).toBe(true);
  expect(Object.keys(written)).toHaveLength(SCENES);
  expect(Object.fromEntries(Object.entries(written).map(([path, hash]) => [path.slice('tabclr-groups-pixels-k3/'.length), hash]))).toEqual(Object.fromEntries(expectedPaths));

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
