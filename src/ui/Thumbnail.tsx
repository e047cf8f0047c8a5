import { useEffect, useRef } from 'react';
import { imageToRgba } from '../data/rgba';
import type { ProbeSet } from '../worker/protocol';

/** Images stored back to back as uint8 NHWC, as the worker sends them. */
export type ImageStrip = Pick<ProbeSet, 'imageSize' | 'channels' | 'pixels'>;

/** One image of a strip drawn from its uint8 pixels (no data: URLs, nothing leaves the page). */
export function Thumbnail({ probe, position, size = 48 }: { probe: ImageStrip; position: number; size?: number }) {
  const canvas = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const ctx = canvas.current?.getContext('2d');
    if (!ctx) return;
    const { imageSize: s, channels, pixels } = probe;
    const image = ctx.createImageData(s, s);
    imageToRgba(pixels, position, s, channels, image.data);
    ctx.putImageData(image, 0, 0);
  }, [probe, position]);
  return <canvas ref={canvas} className="thumbnail" width={probe.imageSize} height={probe.imageSize} style={{ width: size, height: size }} aria-hidden="true" />;
}

export function labelOf(probe: ProbeSet, position: number): string | null {
  return probe.labels ? (probe.classNames[probe.labels[position]!] ?? null) : null;
}
