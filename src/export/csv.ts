// CSV as RFC 4180 writes it: fields with a comma, a double quote, CR or LF are quoted, quotes inside doubled, lines
// ended by CRLF. pandas.read_csv and Python's csv module read it back exactly.

export function csvField(value: string | number): string {
  const text = typeof value === 'number' ? (Number.isFinite(value) ? String(value) : '') : value;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

export function csvRow(fields: (string | number)[]): string {
  return `${fields.map(csvField).join(',')}\r\n`;
}

/** What embeddings.csv holds for each image, in the data set's order. */
export interface EmbeddingsTable {
  paths: string[];
  /** Class name per image, or null without labels. */
  labels: (string | null)[] | null;
  /** k-means group per image. */
  groups: Int32Array;
  /** Near-duplicate group per image, −1 when in none (written empty). */
  duplicateGroups: Int32Array;
  outlierScores: Float32Array;
  /** Map position, x and y interleaved. */
  coords: Float32Array;
  /** n × dim representation, row-major. */
  vectors: Float32Array;
  dim: number;
}

/**
 * embeddings.csv: path, label, group, duplicate_group, outlier_score, x, y, then the representation as e0…e(d−1).
 * Floats are written with 9 significant digits, enough to give the same float32 back.
 */
export function embeddingsCsv(table: EmbeddingsTable): string {
  const { paths, labels, groups, duplicateGroups, outlierScores, coords, vectors, dim } = table;
  const float = (v: number) => (Number.isFinite(v) ? Number(v.toPrecision(9)) : Number.NaN);
  const parts = [csvRow(['path', 'label', 'group', 'duplicate_group', 'outlier_score', 'x', 'y', ...Array.from({ length: dim }, (_, j) => `e${j}`)])];
  for (let i = 0; i < paths.length; i++) {
    const row: (string | number)[] = [
      paths[i]!,
      labels?.[i] ?? '',
      groups[i]!,
      duplicateGroups[i]! >= 0 ? duplicateGroups[i]! : '',
      float(outlierScores[i]!),
      float(coords[2 * i]!),
      float(coords[2 * i + 1]!),
    ];
    for (let j = 0; j < dim; j++) row.push(float(vectors[i * dim + j]!));
    parts.push(csvRow(row));
  }
  return parts.join('');
}

/** One path a line (paths.txt, the selection): a path with a line break in it is written as a CSV field would be. */
export function pathList(paths: string[]): string {
  return paths.map((p) => (/[\r\n]/.test(p) ? csvField(p) : p)).join('\n') + (paths.length ? '\n' : '');
}
