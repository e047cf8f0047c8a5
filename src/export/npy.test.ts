import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../test/python';
import { encodeNpyFloat32 } from './npy';

describe('.npy', () => {
  it('has a v1.0 header padded to 64 bytes that ends in a newline', () => {
    const bytes = encodeNpyFloat32(new Float32Array(6), 2, 3);
    expect(Array.from(bytes.subarray(0, 8))).toEqual([0x93, 78, 85, 77, 80, 89, 1, 0]);
    const headerLength = bytes[8]! | (bytes[9]! << 8);
    expect((10 + headerLength) % 64).toBe(0);
    const header = new TextDecoder().decode(bytes.subarray(10, 10 + headerLength));
    expect(header.startsWith("{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }")).toBe(true);
    expect(header.endsWith('\n')).toBe(true);
    expect(bytes.length).toBe(10 + headerLength + 24);
  });

  it('is read back by numpy.load with the same shape and values', () => {
    const values = Float32Array.from({ length: 7 * 5 }, (_, i) => Math.sin(i) * 1e3 + i / 7);
    const folder = mkdtempSync(join(tmpdir(), 'tabclr-npy-'));
    try {
      const path = join(folder, 'e.npy');
      writeFileSync(path, encodeNpyFloat32(values, 7, 5));
      const out = JSON.parse(
        run(['/usr/bin/python3', '-c', 'import sys, json, numpy as np\na = np.load(sys.argv[1])\nprint(json.dumps({"shape": list(a.shape), "dtype": str(a.dtype), "values": a.ravel().tolist()}))', path]),
      ) as { shape: number[]; dtype: string; values: number[] };
      expect(out.shape).toEqual([7, 5]);
      expect(out.dtype).toBe('float32');
      expect(out.values).toEqual(Array.from(values));
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });
});
