// Picks the tfjs backend inside the worker: WebGPU when an adapter exists, else WebGL; reports what it got.
import * as tf from '@tensorflow/tfjs';
import { NoBackendError } from './errors';
import type { BackendPreference, BackendReport, KnownResultCheck } from './protocol';

const SOFTWARE_RENDERERS = /swiftshader|llvmpipe|lavapipe|software|basic render/i;

/**
 * On a software adapter WebGPU stays, decided from the adapter rather than measured at every start (which would
 * compile a step's programs on both backends first: 4 s and 10 s on SwiftShader for the default run). With the
 * engine's own WebGPU kernels, SwiftShader runs a WebGPU step 1.4–1.7× as fast as a WebGL one and compiles it in
 * half the time (BENCHMARKS.md, "Which backend on a software adapter"); tfjs's WebGL backend was the faster one there
 * before them. `?backend=webgl` still forces WebGL.
 */
export const SOFTWARE_ADAPTER_CHOICE = 'chosen over WebGL: on a software adapter its steps measured 1.4–1.7× as fast';

async function tryWebGPU(): Promise<BackendReport | string> {
  if (!('gpu' in navigator) || !navigator.gpu) return 'this browser has no WebGPU (navigator.gpu is missing)';
  const adapter = await navigator.gpu.requestAdapter({ powerPreference: 'high-performance' });
  if (!adapter) return 'WebGPU is present but no adapter was granted';
  // The backend registers itself only if navigator.gpu exists when the module is evaluated, so import it now.
  await import('@tensorflow/tfjs-backend-webgpu');
  if (!(await tf.setBackend('webgpu'))) return 'the tfjs WebGPU backend failed to start';
  const limits = (tf.backend() as unknown as { device?: GPUDevice }).device?.limits ?? adapter.limits;
  const info = adapter.info;
  // isFallbackAdapter moved from the adapter to its info in newer WebGPU; read both.
  const legacy = (adapter as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const infoFlag = (info as unknown as { isFallbackAdapter?: boolean }).isFallbackAdapter;
  const isFallbackAdapter = Boolean(infoFlag ?? legacy) || SOFTWARE_RENDERERS.test(`${info.description} ${info.architecture}`);
  return {
    backend: 'webgpu',
    vendor: info.vendor || 'unknown vendor',
    architecture: info.architecture || 'unknown architecture',
    device: info.device || info.description || '',
    isFallbackAdapter,
    scope: self.constructor.name,
    fallbackReason: null,
    choice: isFallbackAdapter ? SOFTWARE_ADAPTER_CHOICE : null,
    maxBufferBytes: Math.min(limits.maxStorageBufferBindingSize, limits.maxBufferSize),
  };
}

async function tryWebGL(fallbackReason: string | null): Promise<BackendReport | string> {
  let ok = false;
  try {
    ok = await tf.setBackend('webgl');
  } catch (e) {
    return `WebGL failed to start: ${(e as Error).message}`;
  }
  if (!ok) return 'WebGL is not available';
  let vendor = 'unknown vendor';
  let renderer = '';
  let maxBufferBytes: number | null = null;
  const gl = new OffscreenCanvas(1, 1).getContext('webgl2');
  if (gl) {
    // tfjs packs a tensor into one RGBA float texture: at most size² texels of 4 floats.
    const size = Number(gl.getParameter(gl.MAX_TEXTURE_SIZE));
    maxBufferBytes = size * size * 16;
    const ext = gl.getExtension('WEBGL_debug_renderer_info');
    vendor = String(gl.getParameter(ext ? ext.UNMASKED_VENDOR_WEBGL : gl.VENDOR));
    renderer = String(gl.getParameter(ext ? ext.UNMASKED_RENDERER_WEBGL : gl.RENDERER));
  }
  return {
    backend: 'webgl',
    vendor,
    architecture: '',
    device: renderer,
    isFallbackAdapter: SOFTWARE_RENDERERS.test(renderer),
    scope: self.constructor.name,
    fallbackReason,
    choice: null,
    maxBufferBytes,
  };
}

/** Starts the preferred backend, falling back from WebGPU to WebGL; throws NoBackendError when neither works. */
export async function selectBackend(preference: BackendPreference): Promise<BackendReport> {
  let webgpuProblem: string | null = null;
  if (preference !== 'webgl') {
    const result = await tryWebGPU().catch((e: Error) => `WebGPU failed to start: ${e.message}`);
    if (typeof result !== 'string') return result;
    webgpuProblem = result;
  } else {
    webgpuProblem = 'WebGL was chosen in the settings';
  }
  const result = await tryWebGL(webgpuProblem);
  if (typeof result !== 'string') return result;
  throw new NoBackendError(
    `tabclr needs WebGPU or WebGL to train, and neither is available here (${webgpuProblem}; ${result}). ` +
      'Try a current Chrome, Edge or Firefox, and check that hardware acceleration is on.',
  );
}

/** A 2×2 matrix product with a known answer, read back asynchronously: proves the backend computes. */
export async function runKnownResult(): Promise<KnownResultCheck> {
  const product = tf.tidy(() => tf.matMul(tf.tensor2d([[1, 2], [3, 4]]), tf.tensor2d([[5, 6], [7, 8]])));
  const actual = Array.from(await product.data());
  tf.dispose(product);
  const expected = [19, 22, 43, 50];
  return {
    expression: '[[1, 2], [3, 4]] × [[5, 6], [7, 8]]',
    expected,
    actual,
    ok: expected.every((v, i) => Math.abs(v - actual[i]!) < 1e-4),
  };
}
