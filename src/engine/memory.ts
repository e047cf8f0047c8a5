// How big a step's largest GPU buffer is, from the model's settings alone: what decides whether a batch fits a
// device's per-buffer limit, and the largest batch or image size that does. Two kinds of buffer: those that grow with
// the batch (activations, the loss's similarity matrix), and those that do not (each weight and its gradient, and the
// fused optimiser's buffers, which it cuts into packs that fit: webgpu/packing.ts).
// No tfjs here: the page checks settings with it too.
import { scaledWidth, type ModelConfig, type TrainConfig } from './config';
import { BufferLimitError } from './webgpu/limits';
import { optimizerPlan, SLOT_COUNT } from './webgpu/packing';

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

type EncoderSettings = Pick<ModelConfig, 'encoder' | 'width' | 'channels'>;

/** The encoder's trained weights' shapes (kernels height × width × in × out, batch norm's gamma and beta, biases). */
export function encoderWeightShapes(model: EncoderSettings): number[][] {
  const shapes: number[][] = [];
  const convBn = (kernel: number, inChannels: number, filters: number) => shapes.push([kernel, kernel, inChannels, filters], [filters], [filters]);
  if (model.encoder === 'convnet4') {
    let channels: number = model.channels;
    for (const base of [32, 64, 128, 256]) {
      convBn(3, channels, scaledWidth(base, model.width));
      channels = scaledWidth(base, model.width);
    }
    shapes.push([channels, scaledWidth(256, model.width)], [scaledWidth(256, model.width)]);
    return shapes;
  }
  let channels = scaledWidth(64, model.width);
  convBn(3, model.channels, channels);
  [64, 128, 256, 512].forEach((base, stage) => {
    const filters = scaledWidth(base, model.width);
    for (let block = 0; block < 2; block++) {
      if ((stage > 0 && block === 0) || channels !== filters) convBn(1, channels, filters);
      convBn(3, channels, filters);
      convBn(3, filters, filters);
      channels = filters;
    }
  });
  return shapes;
}

/** Width of h, the representation. */
export function representationWidth(model: Pick<ModelConfig, 'encoder' | 'width'>): number {
  return scaledWidth(model.encoder === 'convnet4' ? 256 : 512, model.width);
}

/** An MLP head's weights as head.ts builds it: dense kernels, then batch norm (hidden layers, and an output one) or a bias. */
function mlpWeightShapes(inputDim: number, hidden: number[], outputDim: number, outputBatchNorm: boolean, hiddenBatchNorm = true): number[][] {
  const widths = [...hidden, outputDim];
  return widths.flatMap((units, i) => {
    const kernel = [i === 0 ? inputDim : widths[i - 1]!, units];
    return (i < hidden.length ? hiddenBatchNorm : outputBatchNorm) ? [kernel, [units], [units]] : [kernel, [units]];
  });
}

/**
 * Every trained weight's shape (encoder, the method's heads, the entropy head), from the settings alone: what the
 * optimiser packs, and the weights tfjs binds whole. The heads follow each method's build (methods/*.ts).
 */
export function trainedWeightShapes(config: Pick<TrainConfig, 'model' | 'method'>): number[][] {
  const { model, method } = config;
  const h = representationWidth(model);
  const d = model.projectionDim;
  let heads: number[][];
  switch (method.name) {
    case 'simclr': {
      const hidden = model.headHidden === 'atLeastProjection' ? Math.max(h, d) : h;
      heads = mlpWeightShapes(h, Array<number>(model.headLayers - 1).fill(hidden), d, true);
      break;
    }
    case 'byol':
      heads = [...mlpWeightShapes(h, Array<number>(model.headLayers - 1).fill(4 * d), d, false), ...mlpWeightShapes(d, [4 * d], d, false)];
      break;
    case 'moco': {
      // MoCo v2's head: dense with a bias → ReLU → dense with a bias. (Its queue, K × d, is not trained.)
      const hidden = model.headHidden === 'atLeastProjection' ? Math.max(h, d) : h;
      heads = mlpWeightShapes(h, Array<number>(model.headLayers - 1).fill(hidden), d, false, false);
      break;
    }
    default: {
      const unknown: never = method;
      throw new Error(`no weight shapes for method ${JSON.stringify(unknown)}`);
    }
  }
  const entropy = model.entropyWeight > 0 ? [[d, model.entropyClusters], [model.entropyClusters]] : [];
  return [...encoderWeightShapes(model), ...heads, ...entropy];
}

const sizeOf = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

/** A buffer that does not grow with the batch, and what it holds. */
export interface FixedBuffer {
  bytes: number;
  what: string;
}

/**
 * The largest buffer of a run that no batch or image size changes: its largest weight (bound whole by every program
 * that reads it, as is its gradient), or, with the optimiser known, the largest of the fused optimiser's buffers under
 * this limit (its packs fit by construction; the sums over every pack do not split). Without the method only the
 * encoder's weights are known.
 */
export function largestFixedBuffer(
  model: Pick<ModelConfig, 'encoder' | 'width' | 'channels'> & Partial<ModelConfig>,
  maxBufferBytes: number,
  rest: Partial<Pick<TrainConfig, 'method' | 'optim'>> = {},
): FixedBuffer {
  const complete = rest.method && model.projectionDim !== undefined;
  const shapes = complete ? trainedWeightShapes({ model: model as ModelConfig, method: rest.method! }) : encoderWeightShapes(model);
  const largest = shapes.reduce((a, b) => (sizeOf(b) > sizeOf(a) ? b : a));
  let fixed: FixedBuffer = { bytes: 4 * sizeOf(largest), what: `the largest weight (${largest.join(' × ')})` };
  if (complete && rest.optim) {
    try {
      const plan = optimizerPlan(shapes.map(sizeOf), shapes.map(() => false), SLOT_COUNT[rest.optim.optimizer], maxBufferBytes);
      if (plan.largestBufferBytes > fixed.bytes) fixed = { bytes: plan.largestBufferBytes, what: 'the optimiser’s packed parameters and slots' };
    } catch (e) {
      if (!(e instanceof BufferLimitError)) throw e;
      fixed = { bytes: e.buffer.bytes, what: e.buffer.name };
    }
  }
  return fixed;
}

/**
 * The largest buffer of a step that grows with the batch and the method's own settings: MoCo's placement of the 2N new
 * keys in its queue, 2N × K (its logits against the queue, N × (K + 1), are smaller); 0 for the others (SimCLR's
 * 2N × 2N similarities are counted with the activations, largestBufferBytes).
 */
export function methodBatchBytes(method: TrainConfig['method'] | undefined, batchSize: number): number {
  return method?.name === 'moco' ? 4 * 2 * batchSize * method.queueSize : 0;
}

export interface LimitCheck {
  fits: boolean;
  /** The largest buffer that grows with the batch: activations, the similarity matrix, or the method's (MoCo's queue). */
  neededBytes: number;
  /** True when that buffer is the method's (methodBatchBytes): a smaller queue fits too. */
  neededByMethod: boolean;
  /** The largest buffer that does not. */
  fixed: FixedBuffer;
  /** The largest batch that fits at this image size (0 if not even 2 does, or the fixed buffers do not fit). */
  largestBatch: number;
  /** The largest image size that fits at this batch (0 if the fixed buffers do not fit). */
  largestImageSize: number;
}

/**
 * Whether a batch fits the device's per-buffer limit, and the largest batch and image size that do. `rest` (the
 * method and optimiser) adds the heads' weights and the optimiser's buffers to the encoder's.
 */
export function checkBufferLimit(
  model: Pick<ModelConfig, 'encoder' | 'width' | 'imageSize' | 'channels'> & Partial<ModelConfig>,
  batchSize: number,
  maxBufferBytes: number,
  rest: Partial<Pick<TrainConfig, 'method' | 'optim'>> = {},
): LimitCheck {
  const fixed = largestFixedBuffer(model, maxBufferBytes, rest);
  const batchBytes = (m: typeof model, batch: number) => Math.max(largestBufferBytes(m, batch), methodBatchBytes(rest.method, batch));
  const neededBytes = batchBytes(model, batchSize);
  const neededByMethod = methodBatchBytes(rest.method, batchSize) > largestBufferBytes(model, batchSize);
  if (fixed.bytes > maxBufferBytes) return { fits: false, neededBytes, neededByMethod, fixed, largestBatch: 0, largestImageSize: 0 };
  let largestBatch = Math.floor(maxBufferBytes / batchBytes(model, 1));
  while (largestBatch >= 2 && batchBytes(model, largestBatch) > maxBufferBytes) largestBatch -= 1;
  let largestImageSize = model.imageSize;
  while (largestImageSize > 1 && batchBytes({ ...model, imageSize: largestImageSize }, batchSize) > maxBufferBytes) largestImageSize -= 1;
  // The method's buffer does not shrink with the images: no image size fits when it alone is too large.
  if (methodBatchBytes(rest.method, batchSize) > maxBufferBytes) largestImageSize = 0;
  return { fits: neededBytes <= maxBufferBytes, neededBytes, neededByMethod, fixed, largestBatch: largestBatch >= 2 ? largestBatch : 0, largestImageSize };
}

const megabytes = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MB`;

/**
 * Why a run's batch does not fit the device's per-buffer limit, with the largest batch (and image size) that does;
 * null when it fits or the limit is unknown. The worker refuses such a run; the page shows it next to the field.
 */
export function bufferLimitProblem(
  config: Pick<TrainConfig, 'model' | 'batchSize'> & Partial<Pick<TrainConfig, 'method' | 'optim'>>,
  maxBufferBytes: number | null,
): string | null {
  if (!maxBufferBytes) return null;
  const { model, batchSize } = config;
  const check = checkBufferLimit(model, batchSize, maxBufferBytes, config);
  if (check.fits) return null;
  if (check.fixed.bytes > maxBufferBytes) {
    return (
      `${check.fixed.what} needs ${megabytes(check.fixed.bytes)} in one GPU buffer at any batch, but this GPU allows ${megabytes(maxBufferBytes)}: ` +
      `no batch fits; a smaller width or projection does`
    );
  }
  const largest = check.largestBatch >= 2 ? `the largest batch that fits is ${check.largestBatch}` : 'not even a batch of 2 fits';
  if (check.neededByMethod && config.method?.name === 'moco') {
    return (
      `batch ${batchSize} with a queue of ${config.method.queueSize.toLocaleString('en')} keys needs ${megabytes(check.neededBytes)} in one GPU buffer ` +
      `(the 2N new keys placed in the queue), but this GPU allows ${megabytes(maxBufferBytes)}: ${largest}, or a smaller queue`
    );
  }
  return (
    `batch ${batchSize} at ${model.imageSize} px needs ${megabytes(check.neededBytes)} in one GPU buffer (the first layer's output for both views), ` +
    `but this GPU allows ${megabytes(maxBufferBytes)}: ${largest}, or images of at most ${check.largestImageSize} px at batch ${batchSize}`
  );
}
