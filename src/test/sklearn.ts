// Runs a short Python program with NumPy and scikit-learn (Debian's python3-numpy and python3-sklearn) on arrays
// written to a temporary folder, and returns what it printed as JSON: the tests' independent reference.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { run } from './python';

const PYTHON = process.env.TABCLR_PYTHON ?? '/usr/bin/python3';

/** `arrays` are saved as raw little-endian files `<name>.bin` in the folder the program gets as sys.argv[1]. */
export function runSklearn(program: string, arrays: Record<string, Float32Array | Int32Array>): unknown {
  const folder = mkdtempSync(join(tmpdir(), 'tabclr-sklearn-'));
  try {
    for (const [name, values] of Object.entries(arrays)) writeFileSync(join(folder, `${name}.bin`), new Uint8Array(values.buffer, values.byteOffset, values.byteLength));
    const prelude = 'import sys, json, numpy as np\nD = sys.argv[1]\ndef f32(n): return np.fromfile(f"{D}/{n}.bin", dtype="<f4")\ndef i32(n): return np.fromfile(f"{D}/{n}.bin", dtype="<i4")\n';
    return JSON.parse(run([PYTHON, '-c', prelude + program, folder], { timeoutMs: 120_000 }));
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
}
