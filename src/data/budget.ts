// How much memory an import may fill with decoded images, and what the page says when a folder does not fit.
// Pure: used by the importer in the worker and by the Images panel on the page.
import type { ImportCounts } from './importer';

const MiB = 1024 * 1024;
/** The budget where the browser does not say how much memory the device has (Firefox, Safari). */
export const DEFAULT_MEMORY_BUDGET = 512 * MiB;
/** Never more than this, however large the device: one tab's worker, and copies of the store made later, must fit. */
export const MAX_MEMORY_BUDGET = 1024 * MiB;
/** Never less than this: a device that reports very little memory still gets 1,365 images at 128 px, 21,845 at 32 px. */
export const MIN_MEMORY_BUDGET = 64 * MiB;

/**
 * How many bytes of decoded pixels (the RGB image store) one import may hold: a quarter of the device's memory as
 * navigator.deviceMemory reports it (in GiB, rounded down to a power of two, in Chromium-based browsers; in pages
 * and workers), else 512 MiB; at least 64 MiB and at most 1 GiB. 1 GiB holds about 21,800 images at 128 × 128 px and
 * 349,000 at 32 × 32 px. A quarter leaves room for the rest of the tab: the import holds the store once (plus a third
 * more for a moment when the images are gray), training keeps only batches besides it.
 */
export function memoryBudgetBytes(deviceMemoryGiB: number | undefined = (globalThis.navigator as { deviceMemory?: number } | undefined)?.deviceMemory): number {
  if (typeof deviceMemoryGiB !== 'number' || !(deviceMemoryGiB > 0)) return DEFAULT_MEMORY_BUDGET;
  return Math.min(MAX_MEMORY_BUDGET, Math.max(MIN_MEMORY_BUDGET, Math.floor((deviceMemoryGiB * 1024 * MiB) / 4)));
}

const count = (n: number) => n.toLocaleString('en-US');

/** What the Images panel says when files were left out for the budget; null when none were. */
export function budgetMessage(counts: ImportCounts): string | null {
  const { leftOut = 0, budgetBytes } = counts;
  if (leftOut <= 0 || budgetBytes === undefined) return null;
  const images = counts.processed - counts.skipped;
  const rest = leftOut === 1 ? 'The other file was left out: its image' : `The other ${count(leftOut)} files were left out: their images`;
  return (
    `Imported ${count(images)} ${images === 1 ? 'image' : 'images'}, from the first ${count(counts.processed)} of ${count(counts.found)} files. ` +
    `${rest} would not fit in the memory budget of ${count(Math.round(budgetBytes / MiB))} MB. A smaller image size for training fits more.`
  );
}
