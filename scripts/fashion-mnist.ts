// Turns Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) into
//   --sample DIR                 the built-in sample set: one sprite PNG + manifest.json (+ licence), or
//   --folders DIR [--train N] [--test M]
//                                labelled image folders DIR/train/<class>/*.png and DIR/test/<class>/*.png
// Images are taken in file order, an equal number per class, so the output is deterministic.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { encodePng } from './lib/png';

const SOURCE = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
export const CLASS_NAMES = ['t-shirt', 'trouser', 'pullover', 'dress', 'coat', 'sandal', 'shirt', 'sneaker', 'bag', 'ankle-boot'];
const SIDE = 28;

function readIdx(file: string): { data: Uint8Array; count: number } {
  const path = join(SOURCE, file);
  if (!existsSync(path)) {
    console.error(`${path} not found: install Debian's dataset-fashion-mnist package (apt-get install dataset-fashion-mnist) or set FASHION_MNIST_DIR`);
    process.exit(2);
  }
  const bytes = gunzipSync(readFileSync(path));
  const dims = bytes[3]!;
  const count = bytes.readUInt32BE(4);
  return { data: new Uint8Array(bytes.buffer, bytes.byteOffset + 4 + 4 * dims), count };
}

function split(kind: 'train' | 't10k') {
  return { images: readIdx(`${kind}-images-idx3-ubyte.gz`), labels: readIdx(`${kind}-labels-idx1-ubyte.gz`) };
}

/** Indices of the first `perClass` images of every class, in class-interleaved file order. */
function balanced(labels: Uint8Array, perClass: number): number[] {
  const taken = new Array(CLASS_NAMES.length).fill(0);
  const picked: number[] = [];
  for (let i = 0; i < labels.length && picked.length < perClass * CLASS_NAMES.length; i++) {
    if (taken[labels[i]!] < perClass) {
      taken[labels[i]!]++;
      picked.push(i);
    }
  }
  return picked;
}

function image(images: Uint8Array, index: number): Uint8Array {
  return images.subarray(index * SIDE * SIDE, (index + 1) * SIDE * SIDE);
}

function writeSample(dir: string, perClass = 30, columns = 20): void {
  const { images, labels } = split('train');
  const picked = balanced(labels.data, perClass);
  const rows = Math.ceil(picked.length / columns);
  const sprite = new Uint8Array(columns * SIDE * rows * SIDE);
  picked.forEach((index, n) => {
    const px = image(images.data, index);
    const x0 = (n % columns) * SIDE;
    const y0 = Math.floor(n / columns) * SIDE;
    for (let y = 0; y < SIDE; y++) sprite.set(px.subarray(y * SIDE, (y + 1) * SIDE), (y0 + y) * columns * SIDE + x0);
  });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'sprite.png'), encodePng(sprite, columns * SIDE, rows * SIDE, 1));
  const manifest = {
    name: 'Fashion-MNIST sample',
    description: `${picked.length} Fashion-MNIST training images, ${perClass} of each of its 10 classes, 28×28 grayscale`,
    source: 'https://github.com/zalandoresearch/fashion-mnist (via the Debian package dataset-fashion-mnist)',
    licence: 'MIT (see LICENSE in this folder)',
    sprite: 'sprite.png',
    imageSize: SIDE,
    channels: 1,
    columns,
    count: picked.length,
    classNames: CLASS_NAMES,
    labels: picked.map((i) => labels.data[i]!),
  };
  writeFileSync(join(dir, 'manifest.json'), `${JSON.stringify(manifest)}\n`);
  console.log(`wrote ${picked.length} images to ${dir}`);
}

function writeFolders(dir: string, trainPerClass: number, testPerClass: number): void {
  for (const [kind, name, perClass] of [['train', 'train', trainPerClass], ['t10k', 'test', testPerClass]] as const) {
    const { images, labels } = split(kind);
    const picked = balanced(labels.data, perClass);
    for (const c of CLASS_NAMES) mkdirSync(join(dir, name, c), { recursive: true });
    for (const index of picked) {
      const file = join(dir, name, CLASS_NAMES[labels.data[index]!]!, `${kind}-${String(index).padStart(5, '0')}.png`);
      writeFileSync(file, encodePng(image(images.data, index), SIDE, SIDE, 1));
    }
    console.log(`wrote ${picked.length} ${name} images to ${join(dir, name)}`);
  }
}

function main(argv: string[]): void {
  const arg = (flag: string) => {
    const i = argv.indexOf(flag);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const count = (flag: string, fallback: number) => {
    const value = arg(flag);
    const n = value === undefined ? fallback : Number(value);
    if (!Number.isInteger(n) || n < 1) {
      console.error(`${flag} must be a whole number ≥ 1 (images per class), got ${value}`);
      process.exit(2);
    }
    return n;
  };
  const sample = arg('--sample');
  const folders = arg('--folders');
  if (sample) writeSample(sample);
  else if (folders) writeFolders(folders, count('--train', 200), count('--test', 100));
  else {
    console.error('usage: tsx scripts/fashion-mnist.ts --sample DIR | --folders DIR [--train PER_CLASS] [--test PER_CLASS]');
    process.exit(2);
  }
}

main(process.argv.slice(2));
