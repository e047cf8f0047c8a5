import { describe, expect, it } from 'vitest';
import { memoryBudgetBytes } from './budget';
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
    expect(result.counts).toMatchObject({ found: 8, processed: 8, decoded: 4, fromCache: 0, skipped: 4, duplicates: 0, leftOut: 0 });
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

  describe('with a memory budget', () => {
    // imageSize 2: 12 bytes of RGB per image.
    const IMAGE = 2 * 2 * 3;
    const ten = Array.from({ length: 10 }, (_, i) => image(`big/${i}.png`, [i * 20, 5, 5]));

    it('imports images in path order until the budget is full, reads none after, and counts the files left out', async () => {
      const decoded: string[] = [];
      const decode = async (blob: Blob, size: number) => {
        const pixels = await fakeDecode(blob, size);
        decoded.push(String(pixels[0]));
        return pixels;
      };
      const progress: number[] = [];
      const result = await importImages(ten, options({ decode, concurrency: 1, memoryBudget: 4 * IMAGE + 5, onProgress: (c) => progress.push(c.leftOut!) }));
      expect(result.dataset.count).toBe(4);
      expect(result.dataset.names).toEqual(['big/0.png', 'big/1.png', 'big/2.png', 'big/3.png']);
      expect(result.dataset.pixels.length).toBe(4 * IMAGE);
      expect(decoded).toEqual(['0', '20', '40', '60']);
      expect(result.counts).toEqual({ found: 10, processed: 4, decoded: 4, fromCache: 0, skipped: 0, duplicates: 0, leftOut: 6, budgetBytes: 4 * IMAGE + 5 });
      // The last progress report already says so.
      expect(progress.at(-1)).toBe(6);
    });

    it('decodes no more than the lanes already in flight when the budget fills, and keeps none of them', async () => {
      let decodes = 0;
      const decode = async (blob: Blob, size: number) => {
        decodes++;
        return fakeDecode(blob, size);
      };
      const result = await importImages(ten, options({ decode, concurrency: 3, memoryBudget: 4 * IMAGE }));
      expect(result.dataset.names).toEqual(['big/0.png', 'big/1.png', 'big/2.png', 'big/3.png']);
      expect(decodes).toBeLessThanOrEqual(4 + 2);
      expect(result.counts).toMatchObject({ processed: 4, decoded: 4, leftOut: 6 });
    });

    it('spends the budget on images only: skipped files and duplicates before the cut take no room', async () => {
      const files = [
        image('m/a.png', [1, 2, 3]),
        raw('m/b.jpg', [0xff, 0xd8, 0xff, 0xe0, 0, 0, 0, 0, 0xde]),
        image('m/c.png', [1, 2, 3]),
        raw('m/d.txt', [...new TextEncoder().encode('notes')]),
        image('m/e.png', [4, 5, 6]),
        image('m/f.png', [7, 8, 9]),
        image('m/g.png', [10, 11, 12]),
      ];
      const result = await importImages(files, options({ concurrency: 1, memoryBudget: 2 * IMAGE }));
      expect(result.dataset.names).toEqual(['m/a.png', 'm/e.png']);
      expect(result.skipped.map((s) => [s.path, s.reason])).toEqual([
        ['m/b.jpg', 'corrupt'],
        ['m/c.png', 'duplicate'],
        ['m/d.txt', 'not-an-image'],
      ]);
      expect(result.counts).toMatchObject({ found: 7, processed: 5, skipped: 3, duplicates: 1, leftOut: 2 });
    });

    it('leaves nothing out when the images fit exactly, and cached images count against the budget too', async () => {
      const cache = new MemoryCache();
      const exact = await importImages(ten, options({ cache, memoryBudget: 10 * IMAGE }));
      expect(exact.counts).toMatchObject({ processed: 10, decoded: 10, leftOut: 0 });
      expect(exact.dataset.count).toBe(10);
      const again = await importImages(ten, options({ cache, memoryBudget: 3 * IMAGE }));
      expect(again.dataset.count).toBe(3);
      expect(again.counts).toMatchObject({ processed: 3, decoded: 0, fromCache: 3, leftOut: 7 });
    });

    it('holds the images once: the store is the buffer they were written into, with no slack', async () => {
      const all = await importImages(ten, options({ memoryBudget: 1 << 20 }));
      expect(all.dataset.pixels.buffer.byteLength).toBe(10 * IMAGE);
      // Room set aside for files that turned out not to be images is let go.
      const mostlyText = [...ten.slice(0, 2), ...Array.from({ length: 8 }, (_, i) => raw(`big/t${i}.txt`, [...new TextEncoder().encode(`note ${i}`)]))];
      const few = await importImages(mostlyText, options({ memoryBudget: 1 << 20 }));
      expect(few.dataset.count).toBe(2);
      expect(few.dataset.pixels.buffer.byteLength).toBe(2 * IMAGE);
    });

    it('uses memoryBudgetBytes() when no budget is given', async () => {
      const result = await importImages(ten, options());
      expect(result.counts.budgetBytes).toBe(memoryBudgetBytes());
      expect(result.counts.leftOut).toBe(0);
    });
  });

  it('an empty selection gives an empty data set, not a crash', async () => {
    const result = await importImages([], options());
    expect(result.dataset.count).toBe(0);
  });
});
