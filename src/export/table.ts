// The Explore panel's take-away files: embeddings.csv, embeddings.npy and paths.txt in the data set's order, and the
// selection as a list of paths; they go into the "Download embeddings" zip beside the Projector files.
import { duplicateGroupOf, duplicateGroups } from '../engine/explore/duplicates';
import type { ExploreResult } from '../worker/protocol';
import { embeddingsCsv, pathList } from './csv';
import type { ZipEntry } from './download';
import { encodeNpyFloat32 } from './npy';

const text = (s: string) => new TextEncoder().encode(s);

export function exploreTableFiles(result: ExploreResult, duplicateThreshold: number, selection: readonly number[]): ZipEntry[] {
  const groups = duplicateGroups(result.neighbours, result.count, duplicateThreshold);
  const csv = embeddingsCsv({
    paths: result.names,
    labels: result.labels ? Array.from(result.labels, (l) => result.classNames[l] ?? '') : null,
    groups: result.groups,
    duplicateGroups: duplicateGroupOf(groups, result.count),
    outlierScores: result.outlierScores,
    coords: result.coords,
    vectors: result.vectors,
    dim: result.dim,
  });
  const files: ZipEntry[] = [
    { name: 'embeddings.csv', bytes: text(csv) },
    { name: 'embeddings.npy', bytes: encodeNpyFloat32(result.vectors, result.count, result.dim) },
    { name: 'paths.txt', bytes: text(pathList(result.names)) },
  ];
  if (selection.length) files.push({ name: 'selection.txt', bytes: text(pathList(selection.map((i) => result.names[i]!))) });
  return files;
}
