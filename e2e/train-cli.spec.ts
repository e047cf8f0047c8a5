// `npm run train` on folders with symbolic links, as `~/photos` often is: the real command line (tsx scripts/train.ts)
// against the built app, two steps on 16 px images. Chromium's own enumeration of a folder for <input webkitdirectory>
// does not follow links (a linked folder gave the page no file, and the script waited for an import that never came);
// the script reads the folder itself and hands the page a staged copy of the tree (scripts/lib/folder.ts).
// Here, not in vitest: it needs the built app, which `npm test` builds after the unit tests.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { encodePng } from '../scripts/lib/png';
import { expect, test } from './fixtures';

const ROOT = new URL('..', import.meta.url).pathname;

let tmp: string;
test.beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'tabclr-train-cli-'));
});
test.afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A 16 × 16 grayscale PNG of its own (the page counts identical bytes once): stripes whose period is `n`. */
function png(n: number): Buffer {
  const pixels = new Uint8Array(16 * 16).map((_, i) => ((Math.floor(i / 16) + (i % 16)) % (n + 2) < (n + 2) / 2 ? 230 : 20));
  pixels[n] = n;
  return encodePng(pixels, 16, 16, 1);
}

let made = 0;
function images(dir: string, count: number): void {
  mkdirSync(join(tmp, dir), { recursive: true });
  for (let i = 0; i < count; i++) writeFileSync(join(tmp, dir, `${i}.png`), png(made++));
}

function link(path: string, target: string): void {
  mkdirSync(dirname(join(tmp, path)), { recursive: true });
  symlinkSync(target, join(tmp, path));
}

interface Ran {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `tsx scripts/train.ts ARGS` with its own TMPDIR (to find what it leaves there), on the build the suite serves. */
function train(args: string[], temp: string): Promise<Ran> {
  return new Promise((done, failed) => {
    const child = spawn('npx', ['tsx', 'scripts/train.ts', ...args], {
      cwd: ROOT,
      env: { ...process.env, TABCLR_DIST: process.env.E2E_DIST ?? 'dist', TMPDIR: temp },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', failed);
    child.on('close', (code) => done({ code, stdout, stderr }));
  });
}

/** The smallest run the script allows: 2 steps of batch 4 at 16 px, on WebGL (it compiles in seconds on a software adapter). */
async function trainOn(data: string): Promise<{ summary: { images: number; classes: number; steps: number }; stderr: string; temp: string }> {
  const temp = mkdtempSync(join(tmp, 'tmpdir-'));
  const out = join(tmp, `${made}.zip`);
  const ran = await train(['--data', data, '--steps', '2', '--image-size', '16', '--batch', '4', '--backend', 'webgl', '--json', '--out', out], temp);
  expect(ran.code, ran.stderr).toBe(0);
  const summary = JSON.parse(ran.stdout.trim().split('\n').at(-1)!);
  expect(summary.kind).toBe('summary');
  return { summary, stderr: ran.stderr, temp };
}

/** The staged trees are gone once the run is over. */
const staged = (temp: string) => readdirSync(temp).filter((name) => name.startsWith('tabclr-folder-'));

// One run for both cases (a run is most of this file's time): the folder given is a link, and it holds links.
test('a folder reached through a symbolic link, with links inside, is imported whole; a broken link is reported and left out', async () => {
  images('store/labelled/cats', 3);
  images('elsewhere/dogs', 4);
  images('elsewhere/single', 1);
  link('store/labelled/cats/3.png', '../../../elsewhere/single/0.png');
  link('store/labelled/dogs', '../../elsewhere/dogs');
  link('store/labelled/cats/broken.png', 'nowhere.png');
  link('photos', 'store/labelled');
  const { summary, stderr, temp } = await trainOn(join(tmp, 'photos'));
  // Every image, under the links' names: cats (3 files and a linked one) and dogs (a linked folder) are the classes.
  expect(summary).toMatchObject({ images: 8, classes: 2, steps: 2 });
  expect(stderr).toContain('holds symbolic links, which Chromium does not follow');
  expect(stderr).toContain(`[train] skipped ${join(tmp, 'photos/cats/broken.png')}: a link to "nowhere.png", its target does not exist`);
  expect(staged(temp)).toEqual([]);
});

test('a link back to a folder it is inside of is refused with exit code 2, before the browser opens', async () => {
  images('looped/sub', 2);
  link('looped/sub/back', '..');
  const ran = await train(['--data', join(tmp, 'looped'), '--steps', '2', '--json'], mkdtempSync(join(tmp, 'tmpdir-')));
  expect(ran.code).toBe(2);
  expect(ran.stdout).toBe('');
  expect(ran.stderr.trim()).toBe(
    `train: --data "${join(tmp, 'looped')}": the link "${join(tmp, 'looped/sub/back')}" points to ".." (${join(tmp, 'looped')}), a folder it is inside of: following it would never end`,
  );
});
