import { describe, expect, it } from 'vitest';
import { Random } from './random';
import { umap2d, UMAP_MAX_POINTS } from './umap';

/** Two well-separated Gaussian clusters in 8-D. */
function clusters(n: number, seed: number): Float32Array {
  const rng = new Random(seed);
  const out = new Float32Array(n * 8);
  for (let i = 0; i < n; i++) for (let d = 0; d < 8; d++) out[i * 8 + d] = (i < n / 2 ? 5 : -5) * (d === 0 ? 1 : 0) + rng.uniform(-0.5, 0.5);
  return out;
}

describe('umap2d', () => {
  it('keeps separated clusters separated, reports progress, and is reproducible from the seed', async () => {
    const n = 60;
    const progress: number[] = [];
    const coords = await umap2d(clusters(n, 1), n, 8, 3, { onProgress: (e, total) => progress.push(e / total) });
    expect(coords).toHaveLength(2 * n);
    expect(progress.at(-1)).toBe(1);
    // Every point is nearer its own cluster's centre than the other's.
    const centre = (from: number) => {
      let x = 0;
      let y = 0;
      for (let i = from; i < from + n / 2; i++) {
        x += coords[2 * i]!;
        y += coords[2 * i + 1]!;
      }
      return [x / (n / 2), y / (n / 2)] as const;
    };
    const [a, b] = [centre(0), centre(n / 2)];
    for (let i = 0; i < n; i++) {
      const p = [coords[2 * i]!, coords[2 * i + 1]!];
      const da = Math.hypot(p[0]! - a[0], p[1]! - a[1]);
      const db = Math.hypot(p[0]! - b[0], p[1]! - b[1]);
      expect(i < n / 2 ? da < db : db < da).toBe(true);
    }
    expect(Array.from(await umap2d(clusters(n, 1), n, 8, 3))).toEqual(Array.from(coords));
  });

  it('handles tiny inputs and refuses too many points', async () => {
    expect(Array.from(await umap2d(new Float32Array(6), 3, 2, 1))).toEqual([0, 0, 0, 0, 0, 0]);
    await expect(umap2d(new Float32Array(UMAP_MAX_POINTS + 1), UMAP_MAX_POINTS + 1, 1, 1)).rejects.toThrow(/limited/);
  });
});
