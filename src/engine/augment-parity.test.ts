// Distribution-level parity of the augmentation with torchvision, the reference's (fixture written by
// scripts/parity/augment_parity.py; no PyTorch at test time).
import * as tf from '@tensorflow/tfjs';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { applyView, sampleCrop, type JitterOp, type ViewParams } from './augment';
import { defaultAugmentConfig } from './config';
import { Random } from './random';

interface Case {
  channels: 1 | 3;
  crop: { top: number; left: number; height: number; width: number };
  flip: boolean;
  jitter: { op: JitterOp; factor: number }[];
  image: string;
  /** torchvision's crop and flip alone, and its jitter alone on the whole image. */
  cropped: string;
  jittered: string;
}

const fixture = JSON.parse(readFileSync(new URL('./fixtures/augment-parity.json', import.meta.url), 'utf8')) as {
  size: number;
  cases: Case[];
  crop: { area_mean: number; area_sd: number; log_aspect_mean: number; log_aspect_sd: number; whole_image_share: number };
};
const S = fixture.size;

function decode(b64: string): Float32Array {
  const bytes = Buffer.from(b64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
}

describe('augmentation against torchvision', () => {
  it('crops, resizes and flips as resized_crop and hflip do, the outermost samples clamped at the crop', async () => {
    for (const [k, c] of fixture.cases.entries()) {
      const crops = [{ ...c.crop, flip: c.flip }];
      const params: ViewParams = { imageSize: S, channels: c.channels, crops, jitter: null, grayscale: null, blur: null };
      const image = tf.tensor4d(decode(c.image), [1, S, S, c.channels]);
      const view = applyView(image, params);
      const got = await view.data();
      let worst = 0;
      decode(c.cropped).forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]!))));
      expect(worst, `case ${k} (${c.channels} channels, ${JSON.stringify(c.crop)}, flip ${c.flip})`).toBeLessThan(2e-5);
      tf.dispose([image, view]);
    }
  });

  it('jitters brightness and contrast as adjust_brightness and adjust_contrast do, in either order, grayscale and RGB', async () => {
    for (const [k, c] of fixture.cases.entries()) {
      // The whole-image crop reproduces the input exactly, so only the jitter acts.
      const params: ViewParams = {
        imageSize: S,
        channels: c.channels,
        crops: [{ top: 0, left: 0, height: S, width: S, flip: false }],
        jitter: { ops: ['brightness', 'contrast'], perImage: [c.jitter] },
        grayscale: null,
        blur: null,
      };
      const image = tf.tensor4d(decode(c.image), [1, S, S, c.channels]);
      const view = applyView(image, params);
      const got = await view.data();
      let worst = 0;
      decode(c.jittered).forEach((v, i) => (worst = Math.max(worst, Math.abs(v - got[i]!))));
      // RGB: torchvision's grey (contrast's mean) weighs red 0.2989, tabclr BT.601's 0.299: up to 1e-4 × red apart.
      expect(worst, `case ${k} (${c.channels} channels, ${c.jitter.map((j) => `${j.op} ${j.factor}`).join(' then ')})`).toBeLessThan(c.channels === 1 ? 2e-5 : 1e-4);
      tf.dispose([image, view]);
    }
  });

  it('draws crops as RandomResizedCrop does: the same area and aspect statistics, whole pixels included', () => {
    const config = defaultAugmentConfig(S, 1);
    const rng = new Random(1);
    const draws = 40_000;
    const areas: number[] = [];
    const aspects: number[] = [];
    let whole = 0;
    for (let i = 0; i < draws; i++) {
      const { height: h, width: w } = sampleCrop(config, rng, S);
      areas.push((h * w) / (S * S));
      aspects.push(Math.log(w / h));
      if (h === S && w === S) whole += 1;
    }
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const sd = (a: number[]) => {
      const m = mean(a);
      return Math.sqrt(mean(a.map((v) => (v - m) ** 2)));
    };
    const ref = fixture.crop;
    // Two samplers of 40,000 draws each: the standard error of a mean area is about 0.001.
    expect(Math.abs(mean(areas) - ref.area_mean)).toBeLessThan(0.006);
    expect(Math.abs(sd(areas) - ref.area_sd)).toBeLessThan(0.006);
    expect(Math.abs(mean(aspects) - ref.log_aspect_mean)).toBeLessThan(0.006);
    expect(Math.abs(sd(aspects) - ref.log_aspect_sd)).toBeLessThan(0.006);
    expect(Math.abs(whole / draws - ref.whole_image_share)).toBeLessThan(0.004);
  });
});
