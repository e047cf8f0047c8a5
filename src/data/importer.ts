// Importing a user's files: skip what cannot be used (with a reason), reuse cached decodes, decode the rest a few
// at a time, drop duplicates, and write the images into one uint8 store, with labels from sub-folders, until the
// memory budget is spent.
import type { DatasetPayload } from '../worker/protocol';
import { memoryBudgetBytes } from './budget';
import { SkipError } from './decode';
import { cacheKey, isGray, labelsFromPaths, precheck, SKIP_REASON_TEXT, toSingleChannel, type SkipReason } from './files';

export interface ImportFile {
  file: File;
  /** Path relative to what the user chose, with '/' separators: 'photos/cats/a.jpg'. */
  path: string;
}

export interface SkippedFile {
  path: string;
  reason: SkipReason | 'duplicate';
  /** What a person reads: the reason in words, plus detail where there is any. */
  message: string;
}

export interface ImportCounts {
  found: number;
  processed: number;
  decoded: number;
  fromCache: number;
  skipped: number;
  duplicates: number;
  /**
   * Files not imported because their decoded images would not have fit in the memory budget: every file after the
   * one that filled it, in path order. The importer always sets it; optional only for counts made elsewhere.
   */
  leftOut?: number;
  /** The memory budget for decoded images this import had, in bytes (see memoryBudgetBytes). */
  budgetBytes?: number;
}

export interface ImportResult {
  dataset: DatasetPayload;
  skipped: SkippedFile[];
  counts: ImportCounts;
  /** Why decoded images could not be cached, if they could not. */
  cacheProblem: string | null;
}

/** A decode's result as cached: the pixels, or why the file could not be decoded (so it is not tried again). */
export type CacheEntry = { key: string; hash: string; pixels: Uint8Array } | { key: string; skip: SkipReason; detail: string };

export interface ImageCache {
  getMany(keys: string[]): Promise<(CacheEntry | undefined)[]>;
  putMany(items: CacheEntry[]): Promise<void>;
  readonly writeProblem: string | null;
}

export interface ImportOptions {
  imageSize: number;
  name: string;
  /** RGB pixels (imageSize² × 3) of an image file; throws SkipError for files it cannot use. */
  decode(blob: Blob, imageSize: number): Promise<Uint8Array>;
  hash(bytes: Uint8Array): Promise<string>;
  cache: ImageCache | null;
  signal?: AbortSignal;
  onProgress?(counts: ImportCounts): void;
  /** Decodes in flight at once: the browser decodes on its own threads. */
  concurrency?: number;
  /** Bytes of decoded RGB pixels the import may hold; memoryBudgetBytes() when absent. */
  memoryBudget?: number;
}

/**
 * Decoded images written straight into one preallocated store, in data-set order: the pixels are held once, not once
 * per image and again in the assembled store.
 */
class ImageStore {
  private readonly rgb: Uint8Array;
  count = 0;
  gray = true;

  constructor(
    private readonly imageBytes: number,
    readonly capacity: number,
  ) {
    this.rgb = new Uint8Array(capacity * imageBytes);
  }

  get full(): boolean {
    return this.count >= this.capacity;
  }

  add(pixels: Uint8Array): void {
    this.rgb.set(pixels, this.count * this.imageBytes);
    this.gray &&= isGray(pixels);
    this.count++;
  }

  /** The images, RGB or (when every one is gray) one channel. */
  pixels(): { pixels: Uint8Array; channels: 1 | 3 } {
    const used = this.rgb.subarray(0, this.count * this.imageBytes);
    if (this.count > 0 && this.gray) return { pixels: toSingleChannel(used), channels: 1 };
    // Room left for files that were not images: a view when it is little, else a copy that lets the rest go.
    const unused = this.rgb.length - used.length;
    return { pixels: unused * 8 <= this.rgb.length ? used : used.slice(), channels: 3 };
  }
}

type Outcome = { pixels: Uint8Array; hash: string } | { skip: SkipReason; detail: string };
/** Where an outcome came from: the decode cache, a fresh decode, or the file alone (skipped unread or undecodable). */
type Source = 'cache' | 'decode' | 'file';

/** Bytes that identify a file's format. */
const HEAD_BYTES = 32;
const SIZE_ONLY = new Uint8Array(0);
/** Files whose cache entries are looked up, and whose new decodes are written, in one transaction. */
const CHUNK = 64;

function skipReasonOf(e: unknown): { skip: SkipReason; detail: string } {
  const reason = (e as { reason?: SkipReason }).reason;
  return { skip: reason ?? 'corrupt', detail: (e as Error).message ?? String(e) };
}

export async function importImages(files: ImportFile[], options: ImportOptions): Promise<ImportResult> {
  const { imageSize, decode, hash, cache, signal, onProgress, concurrency = 4, memoryBudget = memoryBudgetBytes() } = options;
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const counts: ImportCounts = { found: sorted.length, processed: 0, decoded: 0, fromCache: 0, skipped: 0, duplicates: 0, leftOut: 0, budgetBytes: memoryBudget };
  const imageBytes = imageSize * imageSize * 3;
  // Room for every file, or for as many images as the budget holds, whichever is less.
  const store = new ImageStore(imageBytes, Math.min(sorted.length, Math.floor(memoryBudget / imageBytes)));
  const skipped: SkippedFile[] = [];
  const keptPaths: string[] = [];
  const firstWithHash = new Map<string, string>();
  // Outcomes wait here until every file before them has one, then go into the store (or the skipped list) in path
  // order, so that which copy of a duplicate is kept, and where the budget cuts, does not depend on decode timing.
  const waiting = new Map<number, { outcome: Outcome; from: Source }>();
  let settled = 0;
  // What the settled files took: the counts reported at the end leave out work on files the budget then left out.
  const used = { decoded: 0, fromCache: 0 };

  function settle(index: number, outcome: Outcome, from: Source): void {
    waiting.set(index, { outcome, from });
    while (!store.full && waiting.has(settled)) {
      const { outcome: next, from: source } = waiting.get(settled)!;
      const item = sorted[settled]!;
      waiting.delete(settled++);
      if (source === 'cache') used.fromCache++;
      else if (source === 'decode') used.decoded++;
      if ('skip' in next) {
        const text = SKIP_REASON_TEXT[next.skip];
        skipped.push({ path: item.path, reason: next.skip, message: next.detail ? `${text} (${next.detail})` : text });
        continue;
      }
      const original = firstWithHash.get(next.hash);
      if (original !== undefined) {
        counts.duplicates++;
        skipped.push({ path: item.path, reason: 'duplicate', message: `same bytes as ${original}; counted once` });
        continue;
      }
      firstWithHash.set(next.hash, item.path);
      keptPaths.push(item.path);
      store.add(next.pixels);
    }
    // Once the store is full, what has not settled is left out; outcomes still arriving are let go.
    if (store.full) waiting.clear();
  }

  async function process(item: ImportFile, cached: CacheEntry | undefined, fresh: CacheEntry[], key: string): Promise<{ outcome: Outcome; from: Source }> {
    if (cached) {
      counts.fromCache++;
      return { outcome: cached, from: 'cache' };
    }
    const outcome = await readAndDecode(item, fresh, key);
    if (!('skip' in outcome)) counts.decoded++;
    return { outcome, from: 'skip' in outcome ? 'file' : 'decode' };
  }

  async function readAndDecode(item: ImportFile, fresh: CacheEntry[], key: string): Promise<Outcome> {
    // Size first (no read at all for empty or huge files), then one read serves the sniffing, hash and decode.
    const bySize = precheck(item.file.size, SIZE_ONLY);
    if (bySize === 'empty' || bySize === 'too-large') return { skip: bySize, detail: '' };
    let bytes: Uint8Array<ArrayBuffer>;
    try {
      bytes = new Uint8Array(await item.file.arrayBuffer());
    } catch (e) {
      // Moved or deleted since it was chosen, or a cloud placeholder never downloaded: skip it, try it again next time.
      return { skip: 'unreadable', detail: (e as Error).message };
    }
    const problem = precheck(bytes.length, bytes.subarray(0, HEAD_BYTES));
    if (problem) return { skip: problem, detail: '' };
    try {
      const [digest, pixels] = await Promise.all([hash(bytes), decode(new Blob([bytes]), imageSize)]);
      fresh.push({ key, hash: digest, pixels });
      return { pixels, hash: digest };
    } catch (e) {
      const skip = skipReasonOf(e);
      // Only a verdict about the file itself is cached; a passing failure (memory pressure) is tried again next time.
      if (e instanceof SkipError) fresh.push({ key, ...skip });
      return skip;
    }
  }

  // Cache writes overlap the next chunk's decoding rather than stalling it.
  let writes = Promise.resolve();
  // A full store stops the import: no file after it is looked up, read or decoded.
  for (let start = 0; start < sorted.length && !store.full; start += CHUNK) {
    const chunk = sorted.slice(start, start + CHUNK);
    const keys = chunk.map((f) => cacheKey(f.path, f.file.size, f.file.lastModified, imageSize));
    const cached = cache ? await cache.getMany(keys) : [];
    const fresh: CacheEntry[] = [];
    let next = 0;
    const lane = async () => {
      while (next < chunk.length && !store.full) {
        signal?.throwIfAborted();
        const i = next++;
        const { outcome, from } = await process(chunk[i]!, cached[i], fresh, keys[i]!);
        counts.processed++;
        if ('skip' in outcome) counts.skipped++;
        settle(start + i, outcome, from);
        onProgress?.({ ...counts, leftOut: store.full ? sorted.length - settled : 0 });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, chunk.length) }, lane));
    if (cache) writes = writes.then(() => cache.putMany(fresh));
  }
  await writes;
  signal?.throwIfAborted();

  // Files read in parallel with the one that filled the store are left out too: the counts cover only those used.
  Object.assign(counts, used, { processed: settled, skipped: skipped.length });
  counts.leftOut = sorted.length - settled;
  const { pixels, channels } = store.pixels();
  const { labels, classNames } = labelsFromPaths(keptPaths);
  return {
    dataset: {
      name: options.name,
      pixels,
      count: store.count,
      imageSize,
      channels,
      labels: labels ? Int32Array.from(labels) : null,
      classNames,
      names: keptPaths,
    },
    skipped,
    counts,
    cacheProblem: cache?.writeProblem ?? null,
  };
}

/** SHA-256 of the bytes, hex: the same in the worker and in Node (Web Crypto). */
export async function sha256(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}
