// The built-in sample set (public/sample/): a sprite of Fashion-MNIST images and a manifest with their labels.
// Runs in the worker: fetch, decode and slice never touch the page's thread.
import type { DatasetPayload } from '../worker/protocol';
import { sliceSprite } from './sprite';

export const SAMPLE_SET_URL = 'sample/fashion-mnist/manifest.json';

interface SampleManifest {
  name: string;
  sprite: string;
  imageSize: number;
  channels: 1 | 3;
  columns: number;
  count: number;
  classNames: string[];
  labels: number[];
}

export async function loadSampleSet(manifestUrl: string, base: string): Promise<DatasetPayload> {
  const url = new URL(manifestUrl, base);
  const response = await fetch(url);
  if (!response.ok) throw new Error(`the sample set could not be read (${response.status} ${response.statusText})`);
  const manifest = (await response.json()) as SampleManifest;
  const sprite = await fetch(new URL(manifest.sprite, url));
  if (!sprite.ok) throw new Error(`the sample sprite could not be read (${sprite.status})`);
  const bitmap = await createImageBitmap(await sprite.blob());
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext('2d', { willReadFrequently: true });
  if (!context) throw new Error('this browser cannot decode images off the main thread (no OffscreenCanvas 2D)');
  context.drawImage(bitmap, 0, 0);
  bitmap.close();
  const { data } = context.getImageData(0, 0, canvas.width, canvas.height);
  return {
    name: manifest.name,
    pixels: sliceSprite(data, canvas.width, manifest.columns, manifest.count, manifest.imageSize, manifest.channels),
    count: manifest.count,
    imageSize: manifest.imageSize,
    channels: manifest.channels,
    labels: Int32Array.from(manifest.labels),
    classNames: manifest.classNames,
    names: manifest.labels.map((label, i) => `${manifest.classNames[label]}/${String(i).padStart(4, '0')}.png`),
  };
}
