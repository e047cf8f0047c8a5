// Which Chromium the browser tests run, and the flags that give it a WebGPU adapter without a GPU.
import { existsSync } from 'node:fs';

/** CHROMIUM_PATH, else Debian's /usr/bin/chromium, else undefined (Playwright's own browser, if installed). */
export function systemChromium(): string | undefined {
  const candidates = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => Boolean(p));
  return candidates.find((p) => existsSync(p));
}

/**
 * --enable-unsafe-webgpu exposes WebGPU on Linux; with no GPU Chromium then hands out SwiftShader's Vulkan
 * adapter. The SwiftShader/ANGLE flags make read-backs reliable there, and the network flags keep Chromium from
 * calling home on a closed network (see ../shared/docs/webgpu-notes.md).
 */
export const WEBGPU_FLAGS = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-vulkan=swiftshader',
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
];

export const QUIET_FLAGS = [
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-default-apps',
];

/** Chromium refuses its sandbox as root (CI runs as root). */
export const SANDBOX_FLAGS = process.getuid?.() === 0 ? ['--no-sandbox'] : [];

export const CHROMIUM_ARGS = [...WEBGPU_FLAGS, ...QUIET_FLAGS, ...SANDBOX_FLAGS];
