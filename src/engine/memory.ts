// How big a step's largest GPU buffer is, from the model's settings alone: what decides whether a batch fits a
// device's per-buffer limit, and the largest batch or image size that does.
// No tfjs here: the page checks settings with it too.
import { scaledWidth, type ModelConfig, type TrainConfig } from './config';

/** The widest full-resolution activation of each encoder: its first block (convnet4) or stem and first stage (resnet18). */
const FIRST_WIDTH: Record<ModelConfig['encoder'], number> = { convnet4: 32, resnet18: 64 };

/** Floats in one image's largest activation (the first full-resolution feature map, or the input if wider). */
export function largestActivationPerImage(model: Pick<ModelConfig, 'encoder' | 'width' | 'imageSize' | 'channels'>): number {
  const channels = Math.max(scaledWidth(FIRST_WIDTH[model.encoder], model.width), model.channels);
  return model.imageSize * model.imageSize * channels;
}

/**
 * Bytes of a step's largest buffer, in float32: the largest activation for both views of every image, or the loss's
 * 2N × 2N similarity matrix, whichever is larger (the matrix wins for large batches of small images).
 */
export function largestBufferBytes(model: Pick<ModelConfig, 'encoder' | 'width' | 'imageSize' | 'channels'>, batchSize: number): number {
  const views = 2 * batchSize;
  return 4 * Math.max(views * largestActivationPerImage(model), views * views);
}

export interface LimitCheck {
  fits: boolean;
  neededBytes: number;
  /** The largest batch that fits at this image size (0 if not even 2 does). */
  largestBatch: number;
  /** The largest image size that fits at this batch. */
  largestImageSize: number;
}

export function checkBufferLimit(model: Pick<ModelConfig, 'encoder' | 'width' | 'imageSize' | 'channels'>, batchSize: number, maxBufferBytes: number): LimitCheck {
  const neededBytes = largestBufferBytes(model, batchSize);
  let largestBatch = Math.floor(maxBufferBytes / largestBufferBytes(model, 1));
  while (largestBatch >= 2 && largestBufferBytes(model, largestBatch) > maxBufferBytes) largestBatch -= 1;
  let largestImageSize = model.imageSize;
  while (largestImageSize > 1 && largestBufferBytes({ ...model, imageSize: largestImageSize }, batchSize) > maxBufferBytes) largestImageSize -= 1;
  return { fits: neededBytes <= maxBufferBytes, neededBytes, largestBatch: largestBatch >= 2 ? largestBatch : 0, largestImageSize };
}

const megabytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

/**
 * Why a run's batch does not fit the device's per-buffer limit, with the largest batch (and image size) that does;
 * null when it fits or the limit is unknown. The worker refuses such a run; the page shows it next to the field.
 */
export function bufferLimitProblem(config: Pick<TrainConfig, 'model' | 'batchSize'>, maxBufferBytes: number | null): string | null {
  if (!maxBufferBytes) return null;
  const { model, batchSize } = config;
  const check = checkBufferLimit(model, batchSize, maxBufferBytes);
  if (check.fits) return null;
  const largest = check.largestBatch >= 2 ? `the largest batch that fits is ${check.largestBatch}` : 'not even a batch of 2 fits';
  return (
    `batch ${batchSize} at ${model.imageSize} px needs ${megabytes(check.neededBytes)} in one GPU buffer (the first layer's output for both views), ` +
    `but this GPU allows ${megabytes(maxBufferBytes)}: ${largest}, or images of at most ${check.largestImageSize} px at batch ${batchSize}`
  );
}
