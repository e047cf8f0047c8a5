import { describe, expect, it } from 'vitest';
import { encodeSafetensors, pytorchName, readSafetensorsHeader, toPytorchLayout } from './safetensors';

describe('PyTorch names and layouts', () => {
  it('renames tfjs-layers weights to torch state_dict names', () => {
    expect(pytorchName('block1_conv/kernel')).toBe('block1_conv.weight');
    expect(pytorchName('block1_bn/gamma')).toBe('block1_bn.weight');
    expect(pytorchName('block1_bn/beta')).toBe('block1_bn.bias');
    expect(pytorchName('block1_bn/moving_mean')).toBe('block1_bn.running_mean');
    expect(pytorchName('block1_bn/moving_variance')).toBe('block1_bn.running_var');
    expect(pytorchName('representation/bias')).toBe('representation.bias');
  });

  it('transposes conv kernels HWIO → OIHW and dense kernels [in, out] → [out, in]', () => {
    // HWIO [1, 2, 2, 3]: value = 1000h + 100w + 10i + o.
    const hwio = new Float32Array(12);
    for (let w = 0; w < 2; w++) for (let i = 0; i < 2; i++) for (let o = 0; o < 3; o++) hwio[(w * 2 + i) * 3 + o] = 100 * w + 10 * i + o;
    const conv = toPytorchLayout({ name: 'c/kernel', shape: [1, 2, 2, 3], values: hwio });
    expect(conv.shape).toEqual([3, 2, 1, 2]);
    // OIHW index ((o·I + i)·H + h)·W + w.
    expect(conv.values[((2 * 2 + 1) * 1 + 0) * 2 + 1]).toBe(100 * 1 + 10 * 1 + 2);
    const dense = toPytorchLayout({ name: 'd/kernel', shape: [2, 3], values: Float32Array.from([1, 2, 3, 4, 5, 6]) });
    expect(dense.shape).toEqual([3, 2]);
    expect(Array.from(dense.values)).toEqual([1, 4, 2, 5, 3, 6]);
    expect(toPytorchLayout({ name: 'b/gamma', shape: [3], values: Float32Array.from([1, 2, 3]) }).shape).toEqual([3]);
  });
});

describe('safetensors encoding', () => {
  it('writes a header that names every tensor with its shape and byte range, 8-byte aligned, and the data after it', () => {
    const bytes = encodeSafetensors(
      [
        { name: 'a.weight', shape: [2, 2], values: Float32Array.from([1, 2, 3, 4]) },
        { name: 'a.bias', shape: [2], values: Float32Array.from([5, 6]) },
      ],
      { format: 'pt' },
    );
    const { tensors, metadata, dataStart } = readSafetensorsHeader(bytes);
    expect(dataStart % 8).toBe(0);
    expect(metadata).toEqual({ format: 'pt' });
    expect(tensors['a.weight']).toEqual({ dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] });
    expect(tensors['a.bias']).toEqual({ dtype: 'F32', shape: [2], data_offsets: [16, 24] });
    expect(bytes.length).toBe(dataStart + 24);
    const bias = new Float32Array(bytes.slice(dataStart + 16, dataStart + 24).buffer);
    expect(Array.from(bias)).toEqual([5, 6]);
  });

  it('refuses duplicate names', () => {
    const t = { name: 'x', shape: [1], values: new Float32Array(1) };
    expect(() => encodeSafetensors([t, t])).toThrow(/duplicate/);
  });
});
