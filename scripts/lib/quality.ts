// The quality benchmark's evaluation: kNN accuracy (k = 20, cosine, weighted vote; src/engine/knn.ts) of frozen
// representations, the labelled train folder as the memory and the test folder as the queries, for the trained
// encoder, the same encoder as initialised, and raw pixels. The representations are the app's own ("Download
// embeddings": vectors.tsv, metadata.tsv with the labels, sprite.png with the images as the app decoded them); only
// the kNN itself runs here, with the app's code, on tfjs's CPU backend in Node.
import { unzipSync } from 'fflate';
import { rawPixelVectors } from '../../src/engine/embed';
import { knnAccuracy } from '../../src/engine/knn';

export const KNN_K = 20;
/** The weighted vote's temperature: the app's monitor's (InstDisc, lightly). */
export const KNN_TEMPERATURE = 0.1;

const utf8 = new TextDecoder();

/** The files of a zip archive, by name. */
export function unzip(bytes: Uint8Array): Map<string, Uint8Array> {
  return new Map(Object.entries(unzipSync(bytes)));
}

/** What "Download embeddings" gives: the representation, the names and labels, and the sprite of the images. */
export interface EmbeddingsExport {
  names: string[];
  labels: string[] | null;
  vectors: Float32Array;
  dim: number;
  /** The sprite's cell size: the images' own size unless there are too many of them. */
  thumb: number;
  /** sprite.png, as saved. */
  sprite: Uint8Array;
}

export function readEmbeddings(zip: Map<string, Uint8Array>, archive: string): EmbeddingsExport {
  const file = (name: string) => {
    const bytes = zip.get(name);
    if (!bytes) throw new Error(`${archive} has no ${name}`);
    return bytes;
  };
  const { names, labels } = parseMetadata(utf8.decode(file('metadata.tsv')));
  const { vectors, rows, dim } = parseVectors(utf8.decode(file('vectors.tsv')));
  if (rows !== names.length) throw new Error(`${archive}: ${rows} vectors for ${names.length} images`);
  const config = JSON.parse(utf8.decode(file('projector_config.json'))) as { embeddings: { sprite: { singleImageDim: number[] } }[] };
  return { names, labels, vectors, dim, thumb: config.embeddings[0]!.sprite.singleImageDim[0]!, sprite: file('sprite.png') };
}

/** vectors.tsv: one row of tab-separated numbers per image. */
export function parseVectors(text: string): { vectors: Float32Array; rows: number; dim: number } {
  const lines = text.split('\n').filter((line) => line.trim() !== '');
  const dim = lines[0]?.split('\t').length ?? 0;
  const vectors = new Float32Array(lines.length * dim);
  lines.forEach((line, row) => {
    const values = line.split('\t');
    if (values.length !== dim) throw new Error(`vectors.tsv row ${row + 1} has ${values.length} values, the first has ${dim}`);
    values.forEach((v, j) => (vectors[row * dim + j] = Number(v)));
  });
  return { vectors, rows: lines.length, dim };
}

/** metadata.tsv: a `name\tlabel` header and a row per image, or names alone when the images carry no labels. */
export function parseMetadata(text: string): { names: string[]; labels: string[] | null } {
  const lines = text.split('\n').filter((line) => line !== '');
  if (lines[0] !== 'name\tlabel') return { names: lines, labels: null };
  const rows = lines.slice(1).map((line) => line.split('\t'));
  return { names: rows.map((r) => r[0]!), labels: rows.map((r) => r[1] ?? '') };
}

export interface LabelIndex {
  classNames: string[];
  train: Int32Array;
  test: Int32Array;
  /** Test classes with no train image: their queries cannot be classified correctly. */
  unseenTestClasses: string[];
}

/** Class names (sorted) over both folders, and each image's class index. */
export function indexLabels(train: string[], test: string[]): LabelIndex {
  const classNames = [...new Set([...train, ...test])].sort((a, b) => a.localeCompare(b));
  const index = new Map(classNames.map((c, i) => [c, i]));
  const seen = new Set(train);
  return {
    classNames,
    train: Int32Array.from(train, (c) => index.get(c)!),
    test: Int32Array.from(test, (c) => index.get(c)!),
    unseenTestClasses: [...new Set(test)].filter((c) => !seen.has(c)).sort(),
  };
}

/**
 * The images of a sprite (a row-major grid of `thumb`-px cells, `columns` wide) as a uint8 NHWC store with `channels`
 * channels: the red channel for grayscale images, RGB otherwise.
 */
export function imagesFromSprite(rgba: Uint8Array, spriteWidth: number, count: number, thumb: number, channels: 1 | 3): Uint8Array {
  const columns = Math.floor(spriteWidth / thumb);
  const out = new Uint8Array(count * thumb * thumb * channels);
  let o = 0;
  for (let n = 0; n < count; n++) {
    const x0 = (n % columns) * thumb;
    const y0 = Math.floor(n / columns) * thumb;
    for (let y = 0; y < thumb; y++) {
      for (let x = 0; x < thumb; x++) {
        const p = ((y0 + y) * spriteWidth + x0 + x) * 4;
        for (let c = 0; c < channels; c++) out[o++] = rgba[p + c]!;
      }
    }
  }
  return out;
}

/** A labelled folder as the app decoded it. */
export interface LabelledImages {
  pixels: Uint8Array;
  count: number;
  labels: Int32Array;
}

export interface KnnResult {
  knn_acc: number;
  knn_acc_random_init: number;
  knn_acc_raw_pixels: number;
}

/** kNN accuracy of the test images against the train images, for one representation of each. */
export function knnOf(train: Float32Array, test: Float32Array, dim: number, labels: LabelIndex): Promise<number> {
  return knnAccuracy(train, labels.train, test, labels.test, dim, labels.classNames.length, KNN_K, KNN_TEMPERATURE);
}

/** The three accuracies, from representations already computed (`dim` each) and the pixels for the raw baseline. */
export async function evaluate(
  vectors: { trained: { train: Float32Array; test: Float32Array }; initial: { train: Float32Array; test: Float32Array }; dim: number },
  train: LabelledImages,
  test: LabelledImages,
  labels: LabelIndex,
  imageSize: number,
  channels: number,
): Promise<KnnResult> {
  const all = (n: number) => Array.from({ length: n }, (_, i) => i);
  const rawTrain = rawPixelVectors(train.pixels, all(train.count), imageSize, channels);
  const rawTest = rawPixelVectors(test.pixels, all(test.count), imageSize, channels);
  return {
    knn_acc: await knnOf(vectors.trained.train, vectors.trained.test, vectors.dim, labels),
    knn_acc_random_init: await knnOf(vectors.initial.train, vectors.initial.test, vectors.dim, labels),
    knn_acc_raw_pixels: await knnOf(rawTrain, rawTest, imageSize * imageSize * channels, labels),
  };
}
