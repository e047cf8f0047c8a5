import { describe, expect, it } from 'vitest';
import { centredUnitRows, meanRow } from './centre';

describe('centring', () => {
  it('takes out the common direction and leaves unit rows', () => {
    // Three rows sharing a large first component: cosine ≈ 1 between all of them before, apart after.
    const vectors = Float32Array.from([10, 1, 0, 10, -1, 0, 10, 0, 1]);
    const mean = meanRow(vectors, 3);
    expect(Array.from(mean)).toEqual([10, 0, Math.fround(1 / 3)]);
    const centred = centredUnitRows(vectors, 3, mean);
    for (let i = 0; i < 3; i++) expect(Math.hypot(...centred.subarray(i * 3, i * 3 + 3))).toBeCloseTo(1, 6);
    const dot = centred[0]! * centred[3]! + centred[1]! * centred[4]! + centred[2]! * centred[5]!;
    expect(dot).toBeLessThan(0);
    expect(Array.from(centredUnitRows(Float32Array.from([1, 2]), 2, Float32Array.from([1, 2])))).toEqual([0, 0]);
  });
});
