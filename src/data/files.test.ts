import { describe, expect, it } from 'vitest';
import { cacheKey, centreSquare, isGray, labelsFromPaths, precheck, sniffFormat, toSingleChannel } from './files';

const bytes = (...xs: (number | string)[]) =>
  Uint8Array.from(xs.flatMap((x) => (typeof x === 'string' ? [...x].map((c) => c.charCodeAt(0)) : [x])));

describe('sniffFormat', () => {
  it('recognises the browser-decodable formats by their magic numbers', () => {
    expect(sniffFormat(bytes(0xff, 0xd8, 0xff, 0xe0))).toBe('jpeg');
    expect(sniffFormat(bytes(0x89, 'PNG', 0x0d, 0x0a, 0x1a, 0x0a))).toBe('png');
    expect(sniffFormat(bytes('GIF89a'))).toBe('gif');
    expect(sniffFormat(bytes('RIFF', 0, 0, 0, 0, 'WEBP'))).toBe('webp');
    expect(sniffFormat(bytes('BM', 0, 0))).toBe('bmp');
    expect(sniffFormat(bytes(0, 0, 0, 0x1c, 'ftypavif'))).toBe('avif');
  });

  it('knows HEIC and TIFF are images, and text is not', () => {
    expect(sniffFormat(bytes(0, 0, 0, 0x18, 'ftypheic'))).toBe('heic');
    expect(sniffFormat(bytes('II*', 0))).toBe('tiff');
    expect(sniffFormat(bytes('hello world'))).toBeNull();
    expect(sniffFormat(new Uint8Array(0))).toBeNull();
  });
});

describe('precheck', () => {
  it('gives a reason for empty, non-image, unsupported and oversized files', () => {
    expect(precheck(0, new Uint8Array(0))).toBe('empty');
    expect(precheck(11, bytes('hello world'))).toBe('not-an-image');
    expect(precheck(100, bytes(0, 0, 0, 0x18, 'ftypheic'))).toBe('unsupported-format');
    expect(precheck(2 ** 40, bytes(0xff, 0xd8, 0xff))).toBe('too-large');
    expect(precheck(100, bytes(0xff, 0xd8, 0xff))).toBeNull();
  });
});

describe('labelsFromPaths', () => {
  it('names classes after the first folder below the common root', () => {
    const { labels, classNames } = labelsFromPaths(['photos/cats/a.jpg', 'photos/dogs/b.jpg', 'photos/cats/deep/c.jpg']);
    expect(classNames).toEqual(['cats', 'dogs']);
    expect(labels).toEqual([0, 1, 0]);
  });

  it('gives no labels for a flat folder, a single class, or images loose in the root', () => {
    expect(labelsFromPaths(['photos/a.jpg', 'photos/b.jpg']).labels).toBeNull();
    expect(labelsFromPaths(['photos/cats/a.jpg', 'photos/cats/b.jpg']).labels).toBeNull();
    expect(labelsFromPaths(['photos/cats/a.jpg', 'photos/b.jpg']).labels).toBeNull();
    expect(labelsFromPaths(['a.jpg', 'b.png']).labels).toBeNull();
  });

  it('works without a common root folder (plain files from several folders)', () => {
    expect(labelsFromPaths(['cats/a.jpg', 'dogs/b.jpg']).classNames).toEqual(['cats', 'dogs']);
  });
});

describe('helpers', () => {
  it('cacheKey changes with the path, size, modification time and training size', () => {
    const k = cacheKey('a/b.jpg', 10, 5, 32);
    expect(new Set([k, cacheKey('a/c.jpg', 10, 5, 32), cacheKey('a/b.jpg', 11, 5, 32), cacheKey('a/b.jpg', 10, 6, 32), cacheKey('a/b.jpg', 10, 5, 64)]).size).toBe(5);
  });

  it('centreSquare keeps the largest centred square', () => {
    expect(centreSquare(640, 480)).toEqual({ sx: 80, sy: 0, side: 480 });
    expect(centreSquare(300, 500)).toEqual({ sx: 0, sy: 100, side: 300 });
  });

  it('detects grayscale and compacts it to one channel', () => {
    const gray = Uint8Array.from([5, 5, 5, 9, 9, 9]);
    expect(isGray(gray)).toBe(true);
    expect(isGray(Uint8Array.from([5, 5, 6]))).toBe(false);
    expect(Array.from(toSingleChannel(gray))).toEqual([5, 9]);
  });
});
