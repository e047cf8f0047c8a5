// The whole folder's representation turned into answers: each image's nearest neighbours (on the device, in tiles),
// outlier scores, k-means groups (k given or suggested by silhouette) with their sizes and typical members, and a 2-D
// map. Near-duplicate groups come from the neighbour lists at whatever threshold the person sets (duplicates.ts).
import { groupSizes, kMeans, typicalMembers } from './kmeans';
import { MAX_GROUPS } from './limits';
import { pcaMap } from './map';
import { outlierScores } from './outliers';
import { suggestK, type KSuggestion } from './silhouette';
import { neighbourLists, type Neighbours } from './topk';

export type AnalysisStage = 'neighbours' | 'groups' | 'map';

export interface AnalysisOptions {
  /** Groups wanted; null: the best silhouette over SUGGEST_RANGE. */
  k: number | null;
  /** Neighbours kept per image (duplicates and the list shown); outlier scores use the first OUTLIER_K of them. */
  neighbours: number;
  /** The run's seed: k-means++ draws from it, so the same run gives the same groups. */
  seed: number;
  signal?: AbortSignal;
  onProgress?(stage: AnalysisStage, done: number, total: number): void;
}

export interface Analysis {
  neighbours: Neighbours;
  outlierScores: Float32Array;
  k: number;
  groups: Int32Array;
  sizes: number[];
  /** Per group, its images nearest the centre first. */
  typical: number[][];
  suggestion: KSuggestion | null;
  /**
   * 2-D PCA of the representation as the table holds it (unit rows, not centred), x and y interleaved: of the centred
   * unit rows it would put every image near one circle (each row has length 1, and two directions carry most of it).
   */
  coords: Float32Array;
}

/** k tried when none is given. */
export const SUGGEST_RANGE = [2, 15] as const;
/** Neighbours an outlier score averages over. */
export const OUTLIER_K = 5;
/** Typical images kept per group. */
export const TYPICAL_PER_GROUP = 6;

/** The rows an analysis reads, n × dim each. */
export interface AnalysedRows {
  /** The representation as the table holds it: each row at unit length, not centred (the map's rows). */
  unit: Float32Array;
  /** The rows centred on the folder's mean and scaled to unit length (neighbours, duplicates, groups; centre.ts). */
  centred: Float32Array;
  /** Each centred row's length before it was scaled, from which outlier scores get the distances between the unit rows. */
  lengths: Float32Array;
}

export async function analyseRepresentation(rows: AnalysedRows, count: number, dim: number, options: AnalysisOptions): Promise<Analysis> {
  const { centred, lengths } = rows;
  const { signal, onProgress } = options;
  if (options.k !== null && !(Number.isInteger(options.k) && options.k >= 1 && options.k <= Math.min(MAX_GROUPS, count))) {
    throw new RangeError(`groups must be a whole number from 1 to ${Math.min(MAX_GROUPS, count)}, got ${options.k}`);
  }
  const { similar: neighbours, nearest } = await neighbourLists(centred, lengths, dim, options.neighbours, {
    signal,
    onProgress: (done, total) => onProgress?.('neighbours', done, total),
  });
  const scores = outlierScores(nearest, count, OUTLIER_K);
  signal?.throwIfAborted();
  onProgress?.('groups', 0, 1);
  const suggestion = options.k === null ? suggestK(centred, dim, SUGGEST_RANGE[0], SUGGEST_RANGE[1], options.seed, 1000, signal) : null;
  const k = Math.min(options.k ?? suggestion!.k, count);
  signal?.throwIfAborted();
  const grouping = kMeans(centred, dim, k, options.seed);
  onProgress?.('groups', 1, 1);
  signal?.throwIfAborted();
  onProgress?.('map', 0, 1);
  const coords = pcaMap(rows.unit, count, dim);
  onProgress?.('map', 1, 1);
  return {
    neighbours,
    outlierScores: scores,
    k,
    groups: grouping.assignments,
    sizes: groupSizes(grouping.assignments, k),
    typical: typicalMembers(centred, dim, grouping, TYPICAL_PER_GROUP),
    suggestion,
    coords,
  };
}
