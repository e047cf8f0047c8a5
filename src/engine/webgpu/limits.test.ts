import { describe, expect, it } from 'vitest';
import { assertWithinLimit, BufferLimitError, bufferLimitBytes, DEFAULT_BUFFER_LIMITS } from './limits';
import { kernelProgram, runKernel } from './kernelBuilder';
import { uninitialisedInfo, type WebGPUBackendInternals } from './programs';

describe('buffer limits', () => {
  it('a storage buffer must be bindable whole and exist: the smaller of the two limits', () => {
    expect(bufferLimitBytes(DEFAULT_BUFFER_LIMITS)).toBe(128 * 2 ** 20);
    expect(bufferLimitBytes({ maxStorageBufferBindingSize: 2 ** 31, maxBufferSize: 2 ** 30 })).toBe(2 ** 30);
  });

  it('returns the largest buffer that fits, and names the first that does not', () => {
    expect(assertWithinLimit([{ name: 'a', bytes: 10 }, { name: 'b', bytes: 30 }], 30)).toBe(30);
    const refuse = () => assertWithinLimit([{ name: 'a', bytes: 10 }, { name: 'the slots', bytes: 31 }], 30);
    expect(refuse).toThrow(BufferLimitError);
    expect(refuse).toThrow('the slots needs 31 bytes in one GPU buffer, but this device allows 30');
  });
});

describe('the fused programs under a device’s limits', () => {
  // A stand-in backend: its device's limits, and a record of what it was asked to run or make.
  const backend = (maxStorageBufferBindingSize: number) => {
    const asked: string[] = [];
    const fake = {
      device: { limits: { maxStorageBufferBindingSize, maxBufferSize: 2 * maxStorageBufferBindingSize } },
      runWebGPUProgram: () => {
        asked.push('run');
        return { dataId: {}, shape: [1], dtype: 'float32' };
      },
      makeTensorInfo: () => {
        asked.push('make');
        return { dataId: {}, shape: [1], dtype: 'float32' };
      },
      uploadToGPU: () => {},
    };
    return { fake: fake as unknown as WebGPUBackendInternals, asked };
  };

  it('refuse an output or a buffer past the limit before asking the backend for it', () => {
    const { fake, asked } = backend(1024);
    const program = (floats: number) => kernelProgram({ name: 'limits_test', inputs: [], outputSize: floats, uniforms: '', invocations: floats, serialLoop: 1, body: '' });
    expect(() => runKernel(fake, program(256), [])).not.toThrow();
    expect(() => runKernel(fake, program(257), [])).toThrow('the output of tabclr_limits_test needs 1028 bytes in one GPU buffer, but this device allows 1024');
    expect(() => uninitialisedInfo(fake, [16, 16])).not.toThrow();
    expect(() => uninitialisedInfo(fake, [16, 17])).toThrow(BufferLimitError);
    expect(asked).toEqual(['run', 'make']);
  });
});
