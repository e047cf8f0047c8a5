// What a slow adapter costs the user: the run the page suggests here against the one it would suggest on a real GPU,
// both from suggestedSettings (src/store/defaults.ts), so the notice never disagrees with the settings it explains.
import type { BackendReport, DatasetSummary } from '../worker/protocol';
import { suggestedSettings } from './defaults';

export interface SuggestedRun {
  encoder: string;
  width: number;
  batchSize: number;
  steps: number;
}

export interface SlowAdapterAdvice {
  /** The adapter in words ("google swiftshader"). */
  adapter: string;
  /** The run suggested on this adapter. */
  here: SuggestedRun;
  /** The run suggested for the same images on a hardware adapter. */
  onGpu: SuggestedRun;
}

function describe(settings: ReturnType<typeof suggestedSettings>): SuggestedRun {
  const { model, batchSize } = settings.config;
  return { encoder: model.encoder, width: model.width, batchSize, steps: settings.steps };
}

/** Null on a hardware adapter; on a software one, the suggested run here and on a GPU for these images. */
export function slowAdapterAdvice(backend: BackendReport | null, dataset: DatasetSummary | null): SlowAdapterAdvice | null {
  if (!backend?.isFallbackAdapter) return null;
  const adapter = [backend.vendor, backend.architecture].filter(Boolean).join(' ') || 'a software adapter';
  // Without images yet, the sample's shape stands in: the figures depend on the image count and size only a little.
  const images: DatasetSummary = dataset ?? { name: '', count: 300, imageSize: 28, channels: 1, classNames: [], labelled: false };
  return {
    adapter,
    here: describe(suggestedSettings(images, backend)),
    onGpu: describe(suggestedSettings(images, { ...backend, isFallbackAdapter: false })),
  };
}
