// A folder with planted near-duplicates and planted outliers, drawn in the page (so the browser encodes the PNGs and
// JPEGs as it does any picture): `scenes` smooth scenes (a gradient sky and a few soft shapes), copies of six of them
// (re-encoded as a JPEG at quality 0.25, resized to half, cropped by 3 px), and two pictures of another kind. The
// seed draws every scene and every outlier's colours, so a held-out folder is the same recipe with another seed.
import type { Page } from '@playwright/test';

/** Planted pairs: [original, copy, how]. Names with a comma and quotes go through the CSV too. */
export const PLANTED = [
  ['scene-00.png', 'scene-00 lowq.jpg', 'jpeg'],
  ['scene-01.png', 'scene-01 "half", small.png', 'half'],
  ['scene-02.png', 'scene-02-crop.png', 'crop'],
  ['scene-03.png', 'scene-03 lowq.jpg', 'jpeg'],
  ['scene-04.png', 'scene-04-half.png', 'half'],
  ['scene-05.png', 'scene-05, cropped.png', 'crop'],
] as const;
/** Pictures of another kind the folder can hold, each drawn as `odd-<kind>.png`. */
export const OUTLIER_KINDS = ['blocks', 'checks', 'red-cyan', 'stripes', 'fine-checks', 'noise', 'grey-noise', 'rings', 'writing', 'black'] as const;
export type OutlierKind = (typeof OUTLIER_KINDS)[number];
// Two pictures of another kind, of those every seed's folder (1–5 and 12345) ranks first under the untrained encoder and
// after 2 steps in scripts/explore-planted.ts --candidates. Not the blocks of random colours: averaged, they are the
// folder's average picture, and its representation lies near the folder's mean (README, Explore).
export const PLANTED_OUTLIERS: OutlierKind[] = ['checks', 'red-cyan'];
export const OUTLIERS = PLANTED_OUTLIERS.map((kind) => `odd-${kind}.png`);
export const SCENES = 100;

export interface PlantedOptions {
  /** Draws the scenes and the blocks' colours; 12345 is the browser test's folder. */
  seed?: number;
  /** Scenes in three hue classes, in folders red/, green/ and blue/, and nothing planted. */
  labelled?: boolean;
  scenes?: number;
  /** The pictures of another kind planted (PLANTED_OUTLIERS unless given). */
  outliers?: readonly OutlierKind[];
}

/** The folder's files, path → bytes. */
export async function plantedFolder(page: Page, options: PlantedOptions = {}): Promise<Record<string, Buffer>> {
  const { seed = 12345, labelled = false, scenes = SCENES, outliers = PLANTED_OUTLIERS } = options;
  const encoded = await page.evaluate(
    async ({ seed, scenes, planted, outliers, labelled }) => {
      let state = seed;
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
      const grid = (cell: number, fill: (x: number, y: number) => string) => (ctx: OffscreenCanvasRenderingContext2D) => {
        for (let y = 0; y < side; y += cell) for (let x = 0; x < side; x += cell) {
          ctx.fillStyle = fill(x / cell, y / cell);
          ctx.fillRect(x, y, cell, cell);
        }
      };
      const kinds: Record<string, (ctx: OffscreenCanvasRenderingContext2D) => void> = {
        // Blocks of random colours.
        blocks: grid(12, () => `rgb(${random() * 255} ${random() * 255} ${random() * 255})`),
        checks: grid(12, (x, y) => ((x + y) % 2 ? '#000' : '#fff')),
        'red-cyan': grid(12, (x, y) => ((x + y) % 2 ? '#f00' : '#0ff')),
        stripes: grid(8, (x) => (x % 2 ? '#000' : '#fff')),
        'fine-checks': grid(4, (x, y) => ((x + y) % 2 ? '#000' : '#fff')),
        noise: grid(2, () => `rgb(${random() * 255} ${random() * 255} ${random() * 255})`),
        'grey-noise': grid(3, () => `hsl(0 0% ${Math.round(random() * 100)}%)`),
        rings: (ctx) => {
          for (let r = side; r > 0; r -= 8) {
            ctx.fillStyle = (r / 8) % 2 ? '#000' : '#fff';
            ctx.beginPath();
            ctx.arc(side / 2, side / 2, r, 0, 2 * Math.PI);
            ctx.fill();
          }
        },
        writing: (ctx) => {
          ctx.fillStyle = '#fff';
          ctx.fillRect(0, 0, side, side);
          ctx.fillStyle = '#000';
          ctx.font = '14px sans-serif';
          for (let line = 0; line < 6; line++) ctx.fillText('The quick brown fox'.slice(line % 3), 2, 14 + line * 15);
        },
        black: (ctx) => {
          ctx.fillStyle = '#000';
          ctx.fillRect(0, 0, side, side);
        },
      };
      for (const kind of outliers) out[`odd-${kind}.png`] = await bytes(odd(kinds[kind]!));
      return out;
    },
    { seed, scenes, planted: PLANTED.map((p) => [...p]), outliers: [...outliers], labelled },
  );
  return Object.fromEntries(Object.entries(encoded).map(([name, b64]) => [name, Buffer.from(b64, 'base64')]));
}
