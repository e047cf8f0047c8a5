// Importing a user's files: skip what cannot be used (with a reason), reuse cached decodes, decode the rest a few
// at a time, drop duplicates, and assemble the uint8 image store with labels from sub-folders.
import type { DatasetPayload } from '../worker/protocol';
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
}

type Outcome = { pixels: Uint8Array; hash: string } | { skip: SkipReason; detail: string };

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
  const { imageSize, decode, hash, cache, signal, onProgress, concurrency = 4 } = options;
  const sorted = [...files].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const outcomes: Outcome[] = new Array(sorted.length);
  const counts: ImportCounts = { found: sorted.length, processed: 0, decoded: 0, fromCache: 0, skipped: 0, duplicates: 0 };

  async function process(item: ImportFile, cached: CacheEntry | undefined, fresh: CacheEntry[], key: string): Promise<Outcome> {
    if (cached) {
      counts.fromCache++;
      return cached;
    }
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
      counts.decoded++;
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
  for (let start = 0; start < sorted.length; start += CHUNK) {
    const chunk = sorted.slice(start, start + CHUNK);
    const keys = chunk.map((f) => cacheKey(f.path, f.file.size, f.file.lastModified, imageSize));
    const cached = cache ? await cache.getMany(keys) : [];
    const fresh: CacheEntry[] = [];
    let next = 0;
    const lane = async () => {
      while (next < chunk.length) {
        signal?.throwIfAborted();
        const i = next++;
        const outcome = await process(chunk[i]!, cached[i], fresh, keys[i]!);
        outcomes[start + i] = outcome;
        counts.processed++;
        if ('skip' in outcome) counts.skipped++;
        onProgress?.({ ...counts });
      }
    };
    await Promise.all(Array.from({ length: Math.min(concurrency, chunk.length) }, lane));
    if (cache) writes = writes.then(() => cache.putMany(fresh));
  }
  await writes;
  signal?.throwIfAborted();

  // In path order, so that which copy of a duplicate is kept does not depend on decode timing.
  const skipped: SkippedFile[] = [];
  const kept: { path: string; pixels: Uint8Array }[] = [];
  const firstWithHash = new Map<string, string>();
  sorted.forEach((item, i) => {
    const outcome = outcomes[i]!;
    if ('skip' in outcome) {
      const text = SKIP_REASON_TEXT[outcome.skip];
      skipped.push({ path: item.path, reason: outcome.skip, message: outcome.detail ? `${text} (${outcome.detail})` : text });
      return;
    }
    const original = firstWithHash.get(outcome.hash);
    if (original !== undefined) {
      counts.duplicates++;
      skipped.push({ path: item.path, reason: 'duplicate', message: `same bytes as ${original}; counted once` });
      return;
    }
    firstWithHash.set(outcome.hash, item.path);
    kept.push({ path: item.path, pixels: outcome.pixels });
  });
  counts.skipped = skipped.length;

  const imageBytes = imageSize * imageSize * 3;
  const rgb = new Uint8Array(kept.length * imageBytes);
  kept.forEach((k, i) => rgb.set(k.pixels, i * imageBytes));
  const gray = kept.length > 0 && kept.every((k) => isGray(k.pixels));
  const { labels, classNames } = labelsFromPaths(kept.map((k) => k.path));
  return {
    dataset: {
      name: options.name,
      pixels: gray ? toSingleChannel(rgb) : rgb,
      count: kept.length,
      imageSize,
      channels: gray ? 1 : 3,
      labels: labels ? Int32Array.from(labels) : null,
      classNames,
      names: kept.map((k) => k.path),
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
