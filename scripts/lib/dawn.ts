// WebGPU in Node through Dawn (the npm package `webgpu`, the same Dawn that Chromium uses): the tfjs WebGPU backend
// on whatever Vulkan adapter the machine has, or on SwiftShader's software one (the Vulkan driver Debian's chromium
// ships) when it has none. What the engine benchmark, the pack for GPU machines and the kernel tests share.
// ../../shared/docs/webgpu-notes.md: set navigator.gpu before the backend is imported (it registers itself only
// when WebGPU exists at import time), and take it away again before exit, or Node does not exit.
import * as tf from '@tensorflow/tfjs';
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { lowerAdapterThreads, processThreads, type LoweredThreads } from './adapterPriority';
import { gentlePolling } from './dawnPolling';

/** SwiftShader's Vulkan driver as Debian's chromium package installs it. */
export const SWIFTSHADER_ICD = '/usr/lib/chromium/vk_swiftshader_icd.json';

/** Where Vulkan loaders look for drivers; a machine with a GPU driver has a manifest in one of these. */
const ICD_FOLDERS = ['/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/usr/local/etc/vulkan/icd.d'];

export interface DawnAdapter {
  vendor: string;
  architecture: string;
  device: string;
  description: string;
  /** The Vulkan driver manifest chosen, when this module chose one; null when the loader chose. */
  icd: string | null;
  /** SwiftShader, llvmpipe and the like: figures from it are only meaningful as ratios. */
  software: boolean;
  features: string[];
  maxStorageBuffersPerShaderStage: number;
  timestampQuery: boolean;
}

export interface Dawn {
  adapter: DawnAdapter;
  /** Whether Dawn's waits poll gently (dawnPolling.ts), as they do unless TABCLR_DAWN_POLLING=full. */
  gentlePolling: boolean;
  /** The software adapter's worker threads given a lower priority (adapterPriority.ts), when startDawn was asked to. */
  loweredThreads: LoweredThreads | null;
  /** Hands the device back and removes navigator.gpu, so that Node can exit. */
  stop(): Promise<void>;
}

function hasSystemDriver(): boolean {
  return ICD_FOLDERS.some((folder) => {
    try {
      return readdirSync(folder).some((f) => f.endsWith('.json'));
    } catch {
      return false;
    }
  });
}

const require = createRequire(import.meta.url);

/**
 * The Vulkan driver to use: what the environment already names (VK_ICD_FILENAMES or VK_DRIVER_FILES), else none
 * (the loader's own search) when the system has a driver manifest, else SwiftShader from chromium when it is there.
 */
export function chooseIcd(env: NodeJS.ProcessEnv = process.env, systemDriver = hasSystemDriver(), swiftshader = existsSync(SWIFTSHADER_ICD)): string | null {
  const named = env.VK_ICD_FILENAMES || env.VK_DRIVER_FILES;
  if (named) return named;
  if (systemDriver) return null;
  return swiftshader ? SWIFTSHADER_ICD : null;
}

const SOFTWARE = /swiftshader|llvmpipe|lavapipe|software/i;

interface DawnModule {
  create(options: string[]): GPU;
  globals: Record<string, unknown>;
}

export interface StartOptions {
  /**
   * On a software adapter, run its worker threads only when a core is otherwise idle (adapterPriority.ts: the engine
   * benchmark's recording then gets its core as it would beside a GPU); left as they are when false or absent, and
   * always on a hardware adapter.
   */
  lowerSoftwareAdapter?: boolean;
}

/**
 * Starts the tfjs WebGPU backend on Dawn. `dawnOptions` go to Dawn's create() (e.g. 'enable-dawn-features=…').
 * Throws with the reason when there is no adapter.
 */
export async function startDawn(dawnOptions: string[] = [], options: StartOptions = {}): Promise<Dawn> {
  let icd = chooseIcd();
  const named = Boolean(process.env.VK_ICD_FILENAMES || process.env.VK_DRIVER_FILES);
  if (icd && !named) process.env.VK_ICD_FILENAMES = icd;
  // A bundled copy (npm run pack:gpu) finds dawn.node through TABCLR_DAWN_NODE; the repository through the package.
  const dawnPath = process.env.TABCLR_DAWN_NODE;
  const dawn = (dawnPath ? require(dawnPath) : await import('webgpu')) as DawnModule;
  // The binding's own wait spins a core at full speed (dawnPolling.ts); TABCLR_DAWN_POLLING=full keeps it, to compare.
  const polling = process.env.TABCLR_DAWN_POLLING === 'full' ? null : gentlePolling();
  // Whatever fails from here leaves setImmediate as it was.
  try {
    // The threads before the device starts, to tell the adapter's from the rest, when they are to be lowered.
    const threadsBefore = options.lowerSoftwareAdapter ? processThreads() : null;
    Object.assign(globalThis, dawn.globals);
    let gpu = dawn.create(dawnOptions);
    let probe = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    // The system's drivers may all be ones Dawn refuses (Debian 12's lavapipe lacks dynamic indexing of uniform arrays,
    // and mesa-vulkan-drivers comes with many packages' recommends): then SwiftShader, when chromium is there. The
    // Vulkan loader reads VK_ICD_FILENAMES at each instance's creation, so a second create() sees it.
    if (!probe && icd === null && !named && existsSync(SWIFTSHADER_ICD)) {
      icd = SWIFTSHADER_ICD;
      process.env.VK_ICD_FILENAMES = icd;
      gpu = dawn.create(dawnOptions);
      probe = await gpu.requestAdapter({ powerPreference: 'high-performance' });
    }
    if (!probe) throw new Error(`Dawn found no WebGPU adapter (Vulkan driver: ${icd ?? 'the loader’s default search'})`);
    const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
    if (nav) Object.defineProperty(nav, 'gpu', { value: gpu, configurable: true, writable: true });
    else Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true, writable: true });
    await import('@tensorflow/tfjs-backend-webgpu');
    if (!(await tf.setBackend('webgpu'))) throw new Error('the tfjs WebGPU backend failed to start on Dawn');
    await tf.ready();
    const device = (tf.backend() as unknown as { device: GPUDevice }).device;
    const info = probe.info;
    const adapter: DawnAdapter = {
      vendor: info.vendor,
      architecture: info.architecture,
      device: info.device,
      description: info.description,
      icd,
      software: SOFTWARE.test(`${info.vendor} ${info.architecture} ${info.description}`),
      features: [...device.features].sort(),
      maxStorageBuffersPerShaderStage: device.limits.maxStorageBuffersPerShaderStage,
      timestampQuery: device.features.has('timestamp-query'),
    };
    const loweredThreads = adapter.software && threadsBefore ? lowerAdapterThreads(threadsBefore) : null;
    return {
      adapter,
      gentlePolling: polling !== null,
      loweredThreads,
      async stop() {
        tf.engine().reset();
        device.destroy();
        const holder = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
        if (holder) delete holder.gpu;
        polling?.uninstall();
      },
    };
  } catch (error) {
    polling?.uninstall();
    throw error;
  }
}

/** "vendor · architecture · description", as the app's backend report shows an adapter. */
export function describeAdapter(a: DawnAdapter): string {
  return [a.vendor, a.architecture, a.description || a.device].filter(Boolean).join(' · ') || 'unknown adapter';
}
