import * as tf from '@tensorflow/tfjs';
import { zipSync } from 'fflate';
import { describe, expect, it } from 'vitest';
import { evaluate, imagesFromSprite, indexLabels, parseMetadata, parseVectors, readEmbeddings, unzip } from './quality';

describe('embedding files', () => {
  it('vectors.tsv rows, and a ragged row is an error', () => {
    const { vectors, rows, dim } = parseVectors('0.5\t-1\t2\n3\t4\t5\n');
    expect([rows, dim]).toEqual([2, 3]);
    expect(Array.from(vectors)).toEqual([0.5, -1, 2, 3, 4, 5]);
    expect(() => parseVectors('1\t2\n3\n')).toThrow('row 2 has 1 values');
  });

  it('metadata.tsv with and without labels', () => {
    expect(parseMetadata('name\tlabel\nbag/1.png\tbag\ncoat/2.png\tcoat\n')).toEqual({ names: ['bag/1.png', 'coat/2.png'], labels: ['bag', 'coat'] });
    expect(parseMetadata('a.png\nb.png\n')).toEqual({ names: ['a.png', 'b.png'], labels: null });
  });

  it('labels share one index over both folders; test classes missing from train are named', () => {
    const index = indexLabels(['coat', 'bag', 'coat'], ['bag', 'shirt']);
    expect(index.classNames).toEqual(['bag', 'coat', 'shirt']);
    expect(Array.from(index.train)).toEqual([1, 0, 1]);
    expect(Array.from(index.test)).toEqual([0, 2]);
    expect(index.unseenTestClasses).toEqual(['shirt']);
  });

  it('sprite cells back to images, row-major, one or three channels', () => {
    // A 2-column sprite of 2×2 cells, 3 images: cell n has value 10·n + pixel index in red, +1 in green, +2 in blue.
    const width = 4;
    const height = 4;
    const rgba = new Uint8Array(width * height * 4);
    for (let n = 0; n < 3; n++) {
      for (let p = 0; p < 4; p++) {
        const x = (n % 2) * 2 + (p % 2);
        const y = Math.floor(n / 2) * 2 + Math.floor(p / 2);
        rgba.set([10 * n + p, 10 * n + p + 1, 10 * n + p + 2, 255], (y * width + x) * 4);
      }
    }
    expect(Array.from(imagesFromSprite(rgba, width, 3, 2, 1))).toEqual([0, 1, 2, 3, 10, 11, 12, 13, 20, 21, 22, 23]);
    expect(Array.from(imagesFromSprite(rgba, width, 1, 2, 3))).toEqual([0, 1, 2, 1, 2, 3, 2, 3, 4, 3, 4, 5]);
  });
});

describe('kNN from the app\'s exports', () => {
  it('reads a "Download embeddings" zip, and refuses one whose parts disagree', () => {
    const text = (t: string) => new TextEncoder().encode(t);
    const config = { embeddings: [{ tensorName: 'x', tensorShape: [2, 2], tensorPath: 'vectors.tsv', metadataPath: 'metadata.tsv', sprite: { imagePath: 'sprite.png', singleImageDim: [16, 16] } }] };
    const files = {
      'vectors.tsv': text('1\t0\n0\t1\n'),
      'metadata.tsv': text('name\tlabel\na/1.png\ta\nb/2.png\tb\n'),
      'sprite.png': Uint8Array.from([137, 80, 78, 71]),
      'projector_config.json': text(JSON.stringify(config)),
    };
    const read = readEmbeddings(unzip(zipSync(files)), 'test.zip');
    expect(read).toMatchObject({ names: ['a/1.png', 'b/2.png'], labels: ['a', 'b'], dim: 2, thumb: 16 });
    expect(Array.from(read.vectors)).toEqual([1, 0, 0, 1]);
    expect(() => readEmbeddings(unzip(zipSync({ ...files, 'vectors.tsv': text('1\t0\n') })), 'cut.zip')).toThrow('cut.zip: 1 vectors for 2 images');
    const { 'sprite.png': _, ...noSprite } = files;
    expect(() => readEmbeddings(unzip(zipSync(noSprite)), 'partial.zip')).toThrow('partial.zip has no sprite.png');
  });

  it('kNN of test against train for each representation: separable raw pixels score 1, noise scores near chance', async () => {
    // Two classes of 4×4 gray images: dark ones and bright ones, with a little per-image variation.
    const make = (n: number, offset: number) => {
      const pixels = new Uint8Array(n * 16);
      const labels = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        labels[i] = i % 2;
        for (let p = 0; p < 16; p++) pixels[i * 16 + p] = labels[i] ? (p < 8 ? 250 : 10) - ((i + offset) % 5) : (p < 8 ? 10 : 250) + ((i + offset) % 5);
      }
      return { pixels, count: n, labels };
    };
    const train = make(40, 0);
    const test = make(20, 3);
    const labels = { classNames: ['a', 'b'], train: train.labels, test: test.labels, unseenTestClasses: [] };
    // "Trained": one-hot of the class; "initial": the same vector for every image (no information).
    const oneHot = (l: Int32Array) => Float32Array.from(Array.from(l).flatMap((c) => (c ? [0, 1] : [1, 0])));
    const constant = (n: number) => new Float32Array(n * 2).fill(1);
    const result = await evaluate(
      { trained: { train: oneHot(train.labels), test: oneHot(test.labels) }, initial: { train: constant(40), test: constant(20) }, dim: 2 },
      train,
      test,
      labels,
      4,
      1,
    );
    expect(result.knn_acc).toBe(1);
    expect(result.knn_acc_raw_pixels).toBe(1);
    // Every memory image ties: the vote goes to the lower class id, right for half the queries.
    expect(result.knn_acc_random_init).toBe(0.5);
    expect(tf.memory().numTensors).toBeLessThan(50);
  });
});
