// Pure logic about the files a user brings: what kind of image a file is, which label its folder gives, and the
// key under which its decoded pixels are cached.

export type ImageFormat = 'jpeg' | 'png' | 'gif' | 'webp' | 'bmp' | 'avif';

export type SkipReason = 'empty' | 'not-an-image' | 'unsupported-format' | 'corrupt' | 'too-large' | 'unreadable';

export const SKIP_REASON_TEXT: Record<SkipReason, string> = {
  empty: 'empty file (0 bytes)',
  'not-an-image': 'not an image',
  'unsupported-format': 'image format this browser cannot decode',
  corrupt: 'corrupt or truncated image',
  'too-large': 'too large to decode',
  unreadable: 'could not be read (moved, deleted, or not downloaded to this device)',
};

/** Files above this are refused before decoding: a decode would need more memory than a tab can spare. */
export const MAX_FILE_BYTES = 256 * 1024 * 1024;
/** Decoded images above this many pixels are refused (a 16k × 16k RGBA bitmap is already 1 GiB). */
export const MAX_PIXELS = 16384 * 16384;

function ascii(bytes: Uint8Array, start: number, length: number): string {
  return String.fromCharCode(...bytes.subarray(start, start + length));
}

/**
 * The format from the file's first bytes (its magic number), not its name: a renamed or extension-less file is
 * still recognised, and a text file called photo.jpg is not. 'heic' and 'tiff' are images browsers do not decode.
 */
export function sniffFormat(head: Uint8Array): ImageFormat | 'heic' | 'tiff' | null {
  if (head.length >= 3 && head[0] === 0xff && head[1] === 0xd8 && head[2] === 0xff) return 'jpeg';
  if (head.length >= 8 && ascii(head, 1, 3) === 'PNG' && head[0] === 0x89) return 'png';
  if (head.length >= 6 && (ascii(head, 0, 6) === 'GIF87a' || ascii(head, 0, 6) === 'GIF89a')) return 'gif';
  if (head.length >= 12 && ascii(head, 0, 4) === 'RIFF' && ascii(head, 8, 4) === 'WEBP') return 'webp';
  if (head.length >= 2 && ascii(head, 0, 2) === 'BM') return 'bmp';
  if (head.length >= 12 && ascii(head, 4, 4) === 'ftyp') {
    const brand = ascii(head, 8, 4);
    if (brand === 'avif' || brand === 'avis') return 'avif';
    if (['heic', 'heix', 'hevc', 'mif1', 'msf1'].includes(brand)) return 'heic';
  }
  if (head.length >= 4 && (ascii(head, 0, 4) === 'II*\u0000' || ascii(head, 0, 4) === 'MM\u0000*')) return 'tiff';
  return null;
}

/** Why a file cannot be used, judged from its size and first bytes; null when it should be decoded. */
export function precheck(size: number, head: Uint8Array): SkipReason | null {
  if (size === 0) return 'empty';
  if (size > MAX_FILE_BYTES) return 'too-large';
  const format = sniffFormat(head);
  if (format === null) return 'not-an-image';
  if (format === 'heic' || format === 'tiff') return 'unsupported-format';
  return null;
}

export interface Labelling {
  /** Per path, an index into classNames; null when the images carry no labels. */
  labels: number[] | null;
  classNames: string[];
}

/**
 * Labels from sub-folders, as torchvision's ImageFolder does: the first folder below the common root names the
 * class. Labels exist only when every image sits in such a folder and there are at least two classes.
 */
export function labelsFromPaths(paths: string[]): Labelling {
  const parts = paths.map((p) => p.split('/').filter(Boolean));
  // The common root: leading folders every path shares (a dropped folder's own name, for example).
  let root = 0;
  while (parts.length && parts.every((p) => p.length > root + 1 && p[root] === parts[0]![root])) root++;
  const folders = parts.map((p) => (p.length > root + 1 ? p[root]! : null));
  if (folders.some((f) => f === null)) return { labels: null, classNames: [] };
  const classNames = [...new Set(folders as string[])].sort((a, b) => a.localeCompare(b));
  if (classNames.length < 2) return { labels: null, classNames: [] };
  const index = new Map(classNames.map((c, i) => [c, i]));
  return { labels: folders.map((f) => index.get(f!)!), classNames };
}

/** The decode cache's key: the same file (path, size, modification time) at the same training size. */
export function cacheKey(path: string, size: number, lastModified: number, imageSize: number): string {
  return `${imageSize}|${size}|${lastModified}|${path}`;
}

/** The largest centred square of a w×h image: what is kept before resizing, so nothing is stretched. */
export function centreSquare(width: number, height: number): { sx: number; sy: number; side: number } {
  const side = Math.min(width, height);
  return { sx: Math.floor((width - side) / 2), sy: Math.floor((height - side) / 2), side };
}

/** True when every pixel of an RGB image has R = G = B. */
export function isGray(rgb: Uint8Array): boolean {
  for (let i = 0; i < rgb.length; i += 3) if (rgb[i] !== rgb[i + 1] || rgb[i] !== rgb[i + 2]) return false;
  return true;
}

/** Keeps one channel of an RGB store whose images are all gray. */
export function toSingleChannel(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length / 3);
  for (let i = 0; i < out.length; i++) out[i] = rgb[i * 3]!;
  return out;
}
