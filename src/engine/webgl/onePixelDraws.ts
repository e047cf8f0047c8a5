// Draws that shade one pixel each, for a pass whose only purpose is that every WebGL program is drawn once: ANGLE on
// Vulkan (and SwiftShader under it) builds and JIT-compiles a program's pipeline at its first draw, which tfjs's
// compile-only mode never issues. Results of such a pass are garbage by design and must be thrown away.
import * as tf from '@tensorflow/tfjs';

/**
 * The two places where tfjs's GPGPUContext (tfjs-backend-webgl, gpgpu_context.js) sets the region a draw writes:
 * every program tfjs runs (kernels, uploads' encode programs, reads' decode programs) goes through runProgram, which
 * calls setOutputMatrixTextureDriver (viewport and scissor to the output texture) before its one drawElements; the
 * write-region driver only moves the scissor. tfjs keeps SCISSOR_TEST enabled on its context.
 */
export interface OutputRegionDrivers {
  gl: Pick<WebGLRenderingContext, 'scissor' | 'isEnabled' | 'enable' | 'disable' | 'SCISSOR_TEST'>;
  setOutputMatrixTextureDriver(texture: WebGLTexture, width: number, height: number): void;
  setOutputMatrixWriteRegionDriver(x: number, y: number, width: number, height: number): void;
}

const DRIVERS = ['setOutputMatrixTextureDriver', 'setOutputMatrixWriteRegionDriver'] as const;

/**
 * Makes every draw of `gpgpu` shade only pixel (0, 0): after tfjs sets the scissor, it is set again to (0, 0, 1, 1).
 * Returns the function that undoes it exactly (the drivers as they were, own properties or the prototype's, and the
 * scissor test as it was).
 */
export function clampDrawsToOnePixel(gpgpu: OutputRegionDrivers): () => void {
  const { gl } = gpgpu;
  const scissorWasOn = gl.isEnabled(gl.SCISSOR_TEST);
  if (!scissorWasOn) gl.enable(gl.SCISSOR_TEST);
  const own = DRIVERS.map((key) => (Object.prototype.hasOwnProperty.call(gpgpu, key) ? gpgpu[key] : undefined));
  const textureDriver = gpgpu.setOutputMatrixTextureDriver;
  const regionDriver = gpgpu.setOutputMatrixWriteRegionDriver;
  gpgpu.setOutputMatrixTextureDriver = function (texture, width, height) {
    textureDriver.call(this, texture, width, height);
    gl.scissor(0, 0, 1, 1);
  };
  gpgpu.setOutputMatrixWriteRegionDriver = function (x, y, width, height) {
    regionDriver.call(this, x, y, width, height);
    gl.scissor(0, 0, 1, 1);
  };
  return () => {
    DRIVERS.forEach((key, i) => {
      const saved = own[i];
      if (saved === undefined) delete (gpgpu as Partial<OutputRegionDrivers>)[key];
      else (gpgpu as unknown as Record<string, unknown>)[key] = saved;
    });
    if (!scissorWasOn) gl.disable(gl.SCISSOR_TEST);
  };
}

/** The current backend's GPGPU context when it is tfjs's WebGL one; null on any other backend. */
export function webglDrivers(): OutputRegionDrivers | null {
  const gpgpu = (tf.backend() as { gpgpu?: Partial<OutputRegionDrivers> }).gpgpu;
  if (!gpgpu || !gpgpu.gl || typeof gpgpu.setOutputMatrixTextureDriver !== 'function' || typeof gpgpu.setOutputMatrixWriteRegionDriver !== 'function') return null;
  return gpgpu as OutputRegionDrivers;
}

/** Runs fn with every WebGL draw clamped to one pixel; on other backends, just runs it. */
export async function withOnePixelDraws<T>(fn: () => Promise<T>): Promise<T> {
  const drivers = webglDrivers();
  const restore = drivers ? clampDrawsToOnePixel(drivers) : () => {};
  try {
    return await fn();
  } finally {
    restore();
  }
}

/**
 * Runs fn (which disposes tensors) with tfjs's WebGL texture pool off: the textures it frees are deleted instead of
 * kept for reuse (WEBGL_DELETE_TEXTURE_THRESHOLD 0 for the moment), so that a throwaway model's weights do not stay in
 * the pool for good. On other backends, just runs it.
 */
export function withoutTexturePooling(fn: () => void): void {
  if (!webglDrivers()) return fn();
  const flag = 'WEBGL_DELETE_TEXTURE_THRESHOLD';
  const threshold = tf.env().getNumber(flag);
  tf.env().set(flag, 0);
  try {
    fn();
  } finally {
    tf.env().set(flag, threshold);
  }
}
