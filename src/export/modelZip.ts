// Reading a downloaded model zip back (src/export/bundle.ts wrote it): the training config and the encoder's (and, if
// present, the projection head's) weights, each checked, so a zip that is not ours, is cut short or contradicts itself
// is refused with the reason before anything changes.
import { unzipSync } from 'fflate';
import { upgradeConfig, validateTrainConfig, type TrainConfig } from '../engine/config';
import type { StateTensor } from '../engine/optim';

export interface LoadedModel {
  /** The file the user chose. */
  fileName: string;
  config: TrainConfig;
  /** Steps the model was trained for. */
  step: number;
  /** The tabclr version that wrote it. */
  version: string;
  encoder: StateTensor[];
  /** The method's heads (the projection head, a predictor), when the zip has them. */
  head: StateTensor[] | null;
}

export class ModelZipError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ModelZipError';
  }
}

interface WeightSpec {
  name: string;
  shape: number[];
  dtype: string;
}

interface ModelJson {
  format?: string;
  modelTopology?: { config?: { layers?: { config?: { batch_input_shape?: (number | null)[] } }[] } };
  weightsManifest?: { paths: string[]; weights: WeightSpec[] }[];
}

const decoder = new TextDecoder();

function json<T>(files: Record<string, Uint8Array>, name: string): T {
  const bytes = files[name];
  if (!bytes) throw new ModelZipError(`it has no ${name}, so it is not a model downloaded from tabclr`);
  try {
    return JSON.parse(decoder.decode(bytes)) as T;
  } catch {
    throw new ModelZipError(`its ${name} is not valid JSON (the file may be cut short)`);
  }
}

/** A Layers model's weights from model.json and its shards, checked against the manifest's sizes. */
function layersWeights(files: Record<string, Uint8Array>, folder: string): { weights: StateTensor[]; inputShape: (number | null)[] | null } {
  const model = json<ModelJson>(files, `${folder}/model.json`);
  if (model.format !== 'layers-model' || !Array.isArray(model.weightsManifest)) {
    throw new ModelZipError(`${folder}/model.json is not a TensorFlow.js Layers model`);
  }
  const weights: StateTensor[] = [];
  for (const group of model.weightsManifest) {
    const shards = group.paths.map((path) => {
      const bytes = files[`${folder}/${path}`];
      if (!bytes) throw new ModelZipError(`${folder}/${path} is missing`);
      return bytes;
    });
    const total = shards.reduce((sum, s) => sum + s.length, 0);
    const data = new Uint8Array(total);
    let offset = 0;
    for (const s of shards) {
      data.set(s, offset);
      offset += s.length;
    }
    const expected = group.weights.reduce((sum, w) => sum + 4 * w.shape.reduce((a, d) => a * d, 1), 0);
    if (total !== expected) throw new ModelZipError(`${folder}'s weights have ${total} bytes but model.json describes ${expected} (the file may be cut short)`);
    offset = 0;
    for (const spec of group.weights) {
      if (spec.dtype !== 'float32') throw new ModelZipError(`weight ${spec.name} is ${spec.dtype}; tabclr writes float32 only`);
      const size = spec.shape.reduce((a, d) => a * d, 1);
      // A copy, aligned for Float32Array whatever the offset in the shard.
      const values = new Float32Array(data.slice(offset, offset + 4 * size).buffer);
      weights.push({ name: spec.name, shape: spec.shape, values });
      offset += 4 * size;
    }
  }
  const inputShape = model.modelTopology?.config?.layers?.[0]?.config?.batch_input_shape ?? null;
  return { weights, inputShape };
}

/** Reads and checks a model zip. Throws ModelZipError with the reason a person can act on. */
export function readModelZip(bytes: Uint8Array, fileName: string): LoadedModel {
  let files: Record<string, Uint8Array>;
  try {
    files = unzipSync(bytes);
  } catch (e) {
    throw new ModelZipError(`it is not a zip file, or it is damaged or cut short (${(e as Error).message})`);
  }
  const info = json<{ tabclr_version?: string; step?: number; training?: TrainConfig; input?: { size?: number[]; channels?: number } }>(files, 'config.json');
  if (typeof info.tabclr_version !== 'string' || !info.training?.model) {
    throw new ModelZipError('its config.json was not written by tabclr');
  }
  const config = upgradeConfig(info.training);
  const problems = validateTrainConfig(config);
  if (problems.length) throw new ModelZipError(`its training configuration is not valid: ${problems.map((p) => p.message).join('; ')}`);
  const step = Number.isInteger(info.step) && info.step! >= 0 ? info.step! : 0;

  const encoder = layersWeights(files, 'encoder');
  const { imageSize, channels } = config.model;
  const shape = encoder.inputShape;
  if (!shape || shape[1] !== imageSize || shape[2] !== imageSize || shape[3] !== channels) {
    throw new ModelZipError(
      `its encoder takes ${shape ? `${shape[1]} × ${shape[2]} × ${shape[3]}` : 'an unknown input'} images but its config.json says ${imageSize} × ${imageSize} × ${channels}`,
    );
  }
  // Every other Layers model in the zip is one of the method's heads (their layer names differ, so their weights can be pooled).
  const headFolders = Object.keys(files)
    .filter((name) => name.endsWith('/model.json') && name !== 'encoder/model.json')
    .map((name) => name.slice(0, -'/model.json'.length));
  const head = headFolders.length ? headFolders.flatMap((folder) => layersWeights(files, folder).weights) : null;
  return { fileName, config, step, version: info.tabclr_version, encoder: encoder.weights, head };
}
