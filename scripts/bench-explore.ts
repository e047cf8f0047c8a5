// Explore's stages measured in Node on WebGPU through Dawn (SwiftShader here): the whole folder embedded (the default
// encoder, untrained: the cost is the same trained), every image's 10 nearest neighbours on the device in tiles, the
// close pairs sorted for near-duplicate groups, one slider move's regrouping and the counts at five thresholds,
// outlier scores, the silhouette sweep for k and k-means, and the PCA map (of the unit rows, as the panel draws it),
// for growing numbers of synthetic 32 px images. Peak memory: the process's peak resident set (getrusage maxrss, which
// only grows) after each stage, and the most bytes tfjs held on the device at any check.
//
//   npx tsx scripts/bench-explore.ts [--sizes 1000,2500,5000,10000] [--representation encoder|pixels]
import * as tf from '@tensorflow/tfjs';
import { embedImages, pooledPixelVectors } from '../src/engine/embed';
import { createEncoder } from '../src/engine/encoders';
import { defaultTrainConfig } from '../src/engine/config';
import { centredRows, meanRow } from '../src/engine/explore/centre';
import { NearDuplicates } from '../src/engine/explore/duplicates';
import { kMeans } from '../src/engine/explore/kmeans';
import { pcaMap } from '../src/engine/explore/map';
import { outlierScores } from '../src/engine/explore/outliers';
import { suggestK } from '../src/engine/explore/silhouette';
import { neighbourLists } from '../src/engine/explore/topk';
import { syntheticImages } from '../src/engine/synthetic';
import { loadavg } from 'node:os';
import { describeAdapter, startDawn } from './lib/dawn';

const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1]! : fallback;
};
const sizes = arg('sizes', '1000,2500,5000,10000').split(',').map(Number);
const representation = arg('representation', 'encoder') as 'encoder' | 'pixels';
const SIZE = 32;
const CHUNK = 256;

const peakRssMb = () => process.resourceUsage().maxRSS / 1024;
let gpuPeak = 0;
const noteGpu = () => (gpuPeak = Math.max(gpuPeak, tf.memory().numBytes));

async function main() {
  const dawn = await startDawn();
  console.error(`adapter: ${describeAdapter(dawn.adapter)}${dawn.adapter.software ? ' (software)' : ''}`);
  const config = defaultTrainConfig(SIZE, 3);
  const rows: string[] = [];
  try {
    for (const n of sizes) {
      const pixels = syntheticImages(n, SIZE, 3, n);
      const all = Array.from({ length: n }, (_, i) => i);
      const stage: Record<string, { ms: number; rssMb: number }> = {};
      const time = async <T>(name: string, work: () => Promise<T> | T): Promise<T> => {
        const t0 = performance.now();
        const out = await work();
        noteGpu();
        stage[name] = { ms: performance.now() - t0, rssMb: peakRssMb() };
        console.error(`${n} images: ${name} ${(stage[name].ms / 1000).toFixed(2)} s, peak RSS ${Math.round(stage[name].rssMb)} MB, peak tfjs ${(gpuPeak / 2 ** 20).toFixed(0)} MB, load ${loadavg()[0]!.toFixed(2)}`);
        return out;
      };
      gpuPeak = tf.memory().numBytes;
      const encoder = representation === 'encoder' ? createEncoder(config.model, config.seed) : null;
      let dim = 0;
      const vectors = await time('embedding', async () => {
        if (!encoder) {
          const pooled = pooledPixelVectors(pixels, all, SIZE, 3, 32);
          dim = pooled.dim;
          return pooled.vectors;
        }
        let out: Float32Array | null = null;
        for (let start = 0; start < n; start += CHUNK) {
          const indices = all.slice(start, start + CHUNK);
          const v = await embedImages(encoder, pixels, indices, SIZE, 3, config.batchSize);
          noteGpu();
          dim = v.length / indices.length;
          out ??= new Float32Array(n * dim);
          out.set(v, start * dim);
        }
        return out!;
      });
      encoder?.dispose();
      const { rows: centred, lengths } = await time('centring', () => centredRows(vectors, dim, meanRow(vectors, dim)));
      const { similar: neighbours, nearest } = await time('neighbours', () => neighbourLists(centred, lengths, dim, 10, { onProgress: noteGpu }));
      // As the panel does: the close pairs (≥ its slider's 0.8) sorted once, then per slider move one pass over them,
      // and the counts it lists beside the slider.
      const pairs = await time('duplicate pairs', () => new NearDuplicates(neighbours, n, 0.8));
      await time('slider move', () => pairs.groups(0.95));
      await time('counts', () => [0.9, 0.93, 0.95, 0.97, 0.99].map((t) => pairs.groupCount(t)));
      await time('outliers', () => outlierScores(nearest, n, 5));
      const suggestion = await time('k sweep', () => suggestK(centred, dim, 2, 15, config.seed, 1000));
      await time('k-means', () => kMeans(centred, dim, suggestion.k, config.seed));
      await time('map', () => pcaMap(vectors, n, dim));
      const total = Object.values(stage).reduce((s, v) => s + v.ms, 0);
      const cells = ['embedding', 'neighbours', 'duplicate pairs', 'slider move', 'counts', 'outliers', 'k sweep', 'k-means', 'map'].map((k) => (stage[k]!.ms / 1000).toFixed(2));
      const row = `| ${n.toLocaleString('en')} | ${dim} | ${cells.join(' | ')} | ${(total / 1000).toFixed(1)} | ${Math.round(peakRssMb())} | ${(gpuPeak / 2 ** 20).toFixed(0)} | ${suggestion.k} |`;
      console.error(row);
      rows.push(row);
      if (tf.memory().numTensors !== 0) console.error(`tensors left: ${tf.memory().numTensors}`);
    }
  } finally {
    await dawn.stop();
  }
  console.log('| images | d | embedding s | neighbours s | duplicate pairs s | slider move s | counts s | outliers s | k sweep (2–15) s | k-means s | map s | total s | peak RSS MB | peak tfjs MB | k |');
  console.log('|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const row of rows) console.log(row);
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
