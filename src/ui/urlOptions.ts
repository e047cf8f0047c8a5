import type { BackendPreference } from '../worker/protocol';

/** `?backend=webgl` forces the WebGL backend (for comparing backends, or for drivers with a broken WebGPU). */
export function backendPreferenceFromUrl(search: string): BackendPreference {
  const value = new URLSearchParams(search).get('backend');
  return value === 'webgpu' || value === 'webgl' ? value : 'auto';
}
