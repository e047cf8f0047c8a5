import { describe, expect, it } from 'vitest';
import { clampDrawsToOnePixel, webglDrivers, withOnePixelDraws, type OutputRegionDrivers } from './onePixelDraws';

/** A stand-in for tfjs's GPGPUContext: its drivers on the prototype, as in gpgpu_context.js, and a GL that records. */
class FakeGpgpu {
  readonly calls: string[] = [];
  scissorOn: boolean;
  readonly gl: OutputRegionDrivers['gl'];
  constructor(scissorOn = true) {
    this.scissorOn = scissorOn;
    const calls = this.calls;
    const SCISSOR_TEST = 0x0c11;
    this.gl = {
      SCISSOR_TEST,
      scissor: (x: number, y: number, w: number, h: number) => void calls.push(`scissor ${x} ${y} ${w} ${h}`),
      isEnabled: (cap: number) => cap === SCISSOR_TEST && this.scissorOn,
      enable: (cap: number) => {
        if (cap === SCISSOR_TEST) this.scissorOn = true;
      },
      disable: (cap: number) => {
        if (cap === SCISSOR_TEST) this.scissorOn = false;
      },
    } as OutputRegionDrivers['gl'];
  }
  setOutputMatrixTextureDriver(_texture: WebGLTexture, width: number, height: number): void {
    this.calls.push(`viewport 0 0 ${width} ${height}`);
    this.gl.scissor(0, 0, width, height);
  }
  setOutputMatrixWriteRegionDriver(x: number, y: number, width: number, height: number): void {
    this.gl.scissor(x, y, width, height);
  }
}

describe('clampDrawsToOnePixel', () => {
  it('sets the scissor to one pixel after tfjs sets it, for an output texture and for a write region', () => {
    const gpgpu = new FakeGpgpu();
    const restore = clampDrawsToOnePixel(gpgpu);
    gpgpu.setOutputMatrixTextureDriver({} as WebGLTexture, 64, 32);
    gpgpu.setOutputMatrixWriteRegionDriver(4, 8, 16, 2);
    expect(gpgpu.calls).toEqual(['viewport 0 0 64 32', 'scissor 0 0 64 32', 'scissor 0 0 1 1', 'scissor 4 8 16 2', 'scissor 0 0 1 1']);
    restore();
  });

  it('restores the drivers exactly (the prototype\'s again, no own property left) and the scissor test as it was', () => {
    const gpgpu = new FakeGpgpu(false);
    const restore = clampDrawsToOnePixel(gpgpu);
    expect(gpgpu.scissorOn).toBe(true);
    restore();
    expect(Object.prototype.hasOwnProperty.call(gpgpu, 'setOutputMatrixTextureDriver')).toBe(false);
    expect(Object.prototype.hasOwnProperty.call(gpgpu, 'setOutputMatrixWriteRegionDriver')).toBe(false);
    expect(gpgpu.scissorOn).toBe(false);
    gpgpu.setOutputMatrixTextureDriver({} as WebGLTexture, 8, 8);
    expect(gpgpu.calls).toEqual(['viewport 0 0 8 8', 'scissor 0 0 8 8']);
  });

  it('puts back a driver that was an own property (someone else\'s wrapper)', () => {
    const gpgpu = new FakeGpgpu();
    const theirs = () => {};
    gpgpu.setOutputMatrixWriteRegionDriver = theirs;
    clampDrawsToOnePixel(gpgpu)();
    expect(gpgpu.setOutputMatrixWriteRegionDriver).toBe(theirs);
  });
});

describe('withOnePixelDraws', () => {
  it('on the CPU backend (no GPGPU context) just runs the function', async () => {
    expect(webglDrivers()).toBeNull();
    await expect(withOnePixelDraws(async () => 42)).resolves.toBe(42);
  });
});
