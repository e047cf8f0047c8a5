import { describe, expect, it } from 'vitest';
import { similarities } from './format';

describe('similarities', () => {
  it('keeps three decimals when they tell the values apart', () => {
    expect(similarities([0.912, 0.8504, 0.8])).toEqual(['0.912', '0.850', '0.800']);
  });

  it('adds decimals until the values no longer all read the same, up to six', () => {
    expect(similarities([0.99991, 0.99984, 0.99971])).toEqual(['0.9999', '0.9998', '0.9997']);
    expect(similarities([0.9999999, 0.9999998])).toEqual(['1.000000', '1.000000']);
    expect(similarities([0.5])).toEqual(['0.500']);
    expect(similarities([])).toEqual([]);
  });
});
