import { describe, expect, it } from 'vitest';
import { budgetMessage, DEFAULT_MEMORY_BUDGET, MAX_MEMORY_BUDGET, memoryBudgetBytes, MIN_MEMORY_BUDGET } from './budget';
import type { ImportCounts } from './importer';

const MiB = 1024 * 1024;

describe('memoryBudgetBytes', () => {
  it('is a quarter of the memory the device reports, between 64 MiB and 1 GiB', () => {
    expect(memoryBudgetBytes(2)).toBe(512 * MiB);
    expect(memoryBudgetBytes(1)).toBe(256 * MiB);
    expect(memoryBudgetBytes(4)).toBe(MAX_MEMORY_BUDGET);
    expect(memoryBudgetBytes(8)).toBe(MAX_MEMORY_BUDGET);
    expect(memoryBudgetBytes(0.25)).toBe(MIN_MEMORY_BUDGET);
    expect(MAX_MEMORY_BUDGET).toBe(1024 * MiB);
    expect(MIN_MEMORY_BUDGET).toBe(64 * MiB);
  });

  it('is 512 MiB where the browser does not say (or says nonsense)', () => {
    expect(memoryBudgetBytes(undefined)).toBe(DEFAULT_MEMORY_BUDGET);
    expect(memoryBudgetBytes(Number.NaN)).toBe(DEFAULT_MEMORY_BUDGET);
    expect(memoryBudgetBytes(0)).toBe(DEFAULT_MEMORY_BUDGET);
    expect(DEFAULT_MEMORY_BUDGET).toBe(512 * MiB);
  });
});

describe('budgetMessage', () => {
  const counts = (extra: Partial<ImportCounts>): ImportCounts => ({ found: 50_000, processed: 12_010, decoded: 12_000, fromCache: 0, skipped: 10, duplicates: 0, budgetBytes: 1024 * MiB, ...extra });

  it('says how many images came in, how many files were left out, and the budget', () => {
    expect(budgetMessage(counts({ leftOut: 37_990 }))).toBe(
      'Imported 12,000 images, from the first 12,010 of 50,000 files. The other 37,990 files were left out: their images would not fit in the memory budget of 1,024 MB. A smaller image size for training fits more.',
    );
    expect(budgetMessage(counts({ found: 12_011, leftOut: 1, budgetBytes: 64 * MiB }))).toContain('The other file was left out: its image would not fit in the memory budget of 64 MB.');
  });

  it('says nothing when every file was used', () => {
    expect(budgetMessage(counts({ leftOut: 0 }))).toBeNull();
    expect(budgetMessage(counts({}))).toBeNull();
  });
});
