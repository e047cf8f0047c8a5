import { describe, expect, it } from 'vitest';
import { SkipError } from './decode';
import { importImages, sha256, type CacheEntry, type ImageCache, type ImportFile, type ImportOptions } from './importer';

// Fake "images": a PNG signature, then one byte per channel that the fake decoder paints the whole image with.
const PNG = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
const image = (path: string, rgb: [number, number, number], extra = 0): ImportFile => ({
  path,
  file: new File([Uint8Array.from([...PNG, ...rgb, extra])], path.split('/').pop()!, { lastModified: 1000 }),
});
const raw = (path: string, bytes: number[]): ImportFile => ({ path, file: new File([Uint8Array.from(bytes)], path, { lastModified: 1000 }) });

async function fakeDecode(blob: Blob, size: number): Promise<Uint8Array> {
  const bytes = new Uint8Array(await blob.arrayBuffer());
  if (bytes[8] === 0xde) throw new SkipError('corrupt', 'bad data');
  const out = new Uint8Array(size * size * 3);
  for (let i = 0; i < out.length; i++) out[i] = bytes[8 + (i % 3)]!;
  return out;
}

class MemoryCache implements ImageCache {
  readonly store = new Map<string, CacheEntry>();
  writeProblem: string | null = null;
  async getMany(keys: string[]) {
    return keys.map((k) => this.store.get(k));
  }
  async putMany(items: CacheEntry[]) {
    for (const item of items) this.store.set(item.key, item);
  }
}

const options = (extra: Partial<ImportOptions> = {}): ImportOptions => ({ imageSize: 2, name: 'test', decode: fakeDecode, hash: sha256, cache: null, ...extra });

describe('importImages', () => {
  const folder = [
    image('photos/cats/a.png', [200, 10, 10]),
    image('photos/cats/b.png', [190, 20, 10]),
    image('photos/dogs/c.png', [10, 10, 200]),
    image('photos/dogs/deep/d.png', [10, 20, 190]),
    raw('photos/broken.jpg', [0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0xde]),
    raw('photos/empty.png', []),
    raw('photos/notes.txt', [...new TextEncoder().encode('not a picture')]),
    raw('photos/cats/phone.heic', [0, 0, 0, 0x18, ...new TextEncoder().encode('ftypheic'), 0, 0]),
  ];

  it('imports every good image and lists every bad file with its reason', async () => {
    const result = await importImages(folder, options());
    expect(result.dataset.count).toBe(4);
    expect(result.dataset.channels).toBe(3);
    expect(result.dataset.pixels.length).toBe(4 * 2 * 2 * 3);
    expect(result.skipped.map((s) => [s.path, s.reason])).toEqual([
      ['photos/broken.jpg', 'corrupt'],
      ['photos/cats/phone.heic', 'unsupported-format'],
      ['photos/empty.png', 'empty'],
      ['photos/notes.txt', 'not-an-image'],
    ]);
    expect(result.skipped[0]!.message).toMatch(/corrupt.*bad data/);
    expect(result.counts).toMatchObject({ found: 8, processed: 8, decoded: 4, fromCache: 0, skipped: 4, duplicates: 0 });
  });

  it('labels images by their sub-folder, in path order', async () => {
    const { dataset } = await importImages(folder, options());
    expect(dataset.classNames).toEqual(['cats', 'dogs']);
    expect(Array.from(dataset.labels!)).toEqual([0, 0, 1, 1]);
    // The first image is a's red: pixels follow the sorted paths.
    expect(Array.from(dataset.pixels.subarray(0, 3))).toEqual([200, 10, 10]);
  });

  it('counts files with the same bytes once, keeping the first by path', async () => {
    const result = await importImages([image('x/b.png', [1, 2, 3]), image('x/a.png', [1, 2, 3]), image('x/c.png', [4, 5, 6])], options());
    expect(result.dataset.count).toBe(2);
    expect(result.counts.duplicates).toBe(1);
    expect(result.skipped).toEqual([{ path: 'x/b.png', reason: 'duplicate', message: 'same bytes as x/a.png; counted once' }]);
  });

  it('stores grayscale folders with one channel', async () => {
    const { dataset } = await importImages([image('g/a.png', [7, 7, 7]), image('g/b.png', [9, 9, 9])], options());
    expect(dataset.channels).toBe(1);
    expect(Array.from(dataset.pixels)).toEqual([7, 7, 7, 7, 9, 9, 9, 9]);
    expect(dataset.labels).toBeNull();
  });

  it('a second import of the same files comes from the cache, decoding nothing', async () => {
    const cache = new MemoryCache();
    let decodes = 0;
    const counting = async (blob: Blob, size: number) => {
      decodes++;
      return fakeDecode(blob, size);
    };
    const first = await importImages(folder, options({ cache, decode: counting }));
    expect(decodes).toBe(5); // 4 images + the corrupt one
    expect(cache.store.size).toBe(5); // the corrupt file's verdict is cached too
    const second = await importImages(folder, options({ cache, decode: counting }));
    expect(decodes).toBe(5);
    expect(second.counts).toMatchObject({ decoded: 0, fromCache: 5 });
    expect(second.skipped).toEqual(first.skipped);
    expect(Array.from(second.dataset.pixels)).toEqual(Array.from(first.dataset.pixels));
    // A different training size is a different entry.
    await importImages(folder, options({ cache, decode: counting, imageSize: 3 }));
    expect(decodes).toBe(10);
  });

  it('reports progress and stops when cancelled', async () => {
    const seen: number[] = [];
    const controller = new AbortController();
    const many = Array.from({ length: 200 }, (_, i) => image(`m/${String(i).padStart(3, '0')}.png`, [i % 256, 0, 0], i >> 8));
    const run = importImages(many, options({ signal: controller.signal, concurrency: 2, onProgress: (c) => {
      seen.push(c.processed);
      if (c.processed === 50) controller.abort();
    } }));
    await expect(run).rejects.toThrow(/abort/i);
    expect(seen[0]).toBe(1);
    expect(Math.max(...seen)).toBeLessThan(200);
  });

  it('an empty selection gives an empty data set, not a crash', async () => {
    const result = await importImages([], options());
    expect(result.dataset.count).toBe(0);
  });
});
