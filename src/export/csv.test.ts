import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../test/python';
import { csvField, embeddingsCsv, pathList } from './csv';

const NAMES = ['plain.png', 'a, comma.jpg', 'say "cheese".png', 'two\nlines.png', 'crlf\r\nname.png', 'mixed, "all"\nthree.webp'];

describe('CSV', () => {
  it('quotes fields with commas, quotes and line breaks, and only those', () => {
    expect(csvField('plain.png')).toBe('plain.png');
    expect(csvField('a, comma.jpg')).toBe('"a, comma.jpg"');
    expect(csvField('say "cheese".png')).toBe('"say ""cheese"".png"');
    expect(csvField('two\nlines.png')).toBe('"two\nlines.png"');
    expect(csvField(0.5)).toBe('0.5');
    expect(csvField(Number.NaN)).toBe('');
  });

  it('is read back by pandas and csv to the same names and numbers', () => {
    const n = NAMES.length;
    const dim = 3;
    const vectors = Float32Array.from({ length: n * dim }, (_, i) => Math.cos(i) / 3);
    const text = embeddingsCsv({
      paths: NAMES,
      labels: NAMES.map((_, i) => (i % 2 ? 'cats, big' : 'dogs')),
      groups: Int32Array.from({ length: n }, (_, i) => i % 3),
      duplicateGroups: Int32Array.from({ length: n }, (_, i) => (i < 2 ? 0 : -1)),
      outlierScores: Float32Array.from({ length: n }, (_, i) => i / 10),
      coords: Float32Array.from({ length: 2 * n }, (_, i) => i - 3.25),
      vectors,
      dim,
    });
    const folder = mkdtempSync(join(tmpdir(), 'tabclr-csv-'));
    try {
      const path = join(folder, 'embeddings.csv');
      writeFileSync(path, text);
      const program = `import sys, json, csv, numpy as np, pandas as pd
d = pd.read_csv(sys.argv[1], keep_default_na=False)
rows = list(csv.reader(open(sys.argv[1], newline="")))
e = d[[c for c in d.columns if c.startswith("e")]].to_numpy(dtype=np.float32)
print(json.dumps({"paths": d["path"].tolist(), "labels": d["label"].tolist(), "group": d["group"].tolist(), "dup": [str(v) for v in d["duplicate_group"]], "x": d["x"].tolist(), "e": e.ravel().tolist(), "csv_paths": [r[0] for r in rows[1:]], "columns": list(d.columns)}))`;
      const out = JSON.parse(run(['/usr/bin/python3', '-c', program, path])) as Record<string, unknown[]>;
      expect(out.paths).toEqual(NAMES);
      expect(out.csv_paths).toEqual(NAMES);
      expect(out.labels).toEqual(NAMES.map((_, i) => (i % 2 ? 'cats, big' : 'dogs')));
      expect(out.group).toEqual([0, 1, 2, 0, 1, 2]);
      expect(out.dup).toEqual(['0', '0', '', '', '', '']);
      expect(out.x).toEqual([-3.25, -1.25, 0.75, 2.75, 4.75, 6.75]);
      expect(out.e).toEqual(Array.from(vectors));
      expect(out.columns).toEqual(['path', 'label', 'group', 'duplicate_group', 'outlier_score', 'x', 'y', 'e0', 'e1', 'e2']);
    } finally {
      rmSync(folder, { recursive: true, force: true });
    }
  });

  it('lists paths one a line', () => {
    expect(pathList(['a.png', 'b/c.png'])).toBe('a.png\nb/c.png\n');
    expect(pathList([])).toBe('');
  });
});
