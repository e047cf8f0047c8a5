// The training configuration: one plain, serialisable object shared by the page, the worker and the CLI.
// Defaults follow ../shared/docs/simclr-recipe.md (Chen et al. 2020, google-research/simclr).
import { defaultMethodConfig, isMethodName, methodOf, METHOD_NAMES, type MethodConfig } from './methods';

export type EncoderName = 'convnet4' | 'resnet18';

/** Channel count scaled by the width multiplier, never below 1. */
export function scaledWidth(base: number, width: number): number {
  return Math.max(1, Math.round(base * width));
}
export type OptimizerName = 'adam' | 'sgd' | 'lars';
/**
 * How the conv and dense weights start. 'torch': PyTorch's defaults, kernels and dense biases uniform in ±1/√fan-in
 * (kaiming_uniform with a = √5), as the PyTorch reference and most SimCLR code start. 'keras': He-normal convs,
 * Glorot-uniform dense layers and zero biases, the tfjs defaults tabclr used before its parity work.
 */
export type InitScheme = 'torch' | 'keras';
/**
 * Width of the projection head's hidden layers. 'representation': the width of h (SimCLR's heads on a ResNet, where h
 * is wide). 'atLeastProjection': the width of h but never narrower than the head's output, so that a narrow h (convnet4
 * at a small width multiplier: 64) does not squeeze the head below the 128-d projection it feeds.
 */
export type HeadHiddenWidth = 'representation' | 'atLeastProjection';
export type Channels = 1 | 3;

/** SimCLR augmentation, applied independently to the two views of every image. */
export interface AugmentConfig {
  /** Random resized crop: fraction of the image area kept, drawn uniformly in [min, max]. */
  cropAreaMin: number;
  cropAreaMax: number;
  /** Aspect ratio of the crop, drawn log-uniformly in [min, max]. */
  aspectMin: number;
  aspectMax: number;
  flipProb: number;
  /** Probability that the whole colour jitter is applied. */
  jitterProb: number;
  /** Jitter strengths: brightness/contrast/saturation factors are drawn in [1 - x, 1 + x]; hue shift in [-x, x] turns. */
  brightness: number;
  contrast: number;
  saturation: number;
  hue: number;
  grayscaleProb: number;
  blurProb: number;
  blurSigmaMin: number;
  blurSigmaMax: number;
}

export interface ModelConfig {
  encoder: EncoderName;
  /** Width multiplier on the encoder's channel counts (1 = the reference widths). */
  width: number;
  imageSize: number;
  channels: Channels;
  /** Projection head depth: 2 (SimCLR v1) or 3 (SimCLR v2). */
  headLayers: 2 | 3;
  /** See HeadHiddenWidth. Configs saved before this field existed mean 'representation' (upgradeConfig). */
  headHidden: HeadHiddenWidth;
  /**
   * A ReLU on the representation h (convnet4's dense layer; resnet18's h is a pooled ReLU output either way). Off by
   * default: the reference's h is the linear layer's output, and a ReLU there zeroes the units that are negative for
   * every image, which the loss cannot bring back. Saved configs without the field mean true.
   */
  representationRelu: boolean;
  /** See InitScheme. Saved configs without the field mean 'keras'. */
  init: InitScheme;
  projectionDim: number;
  /** Weight λ of the optional entropy regulariser (an extension, not in the SimCLR papers); 0 turns it off. */
  entropyWeight: number;
  /** Number of outputs K of the softmax head the entropy term uses. */
  entropyClusters: number;
}

export interface OptimConfig {
  optimizer: OptimizerName;
  learningRate: number;
  /** Momentum for SGD and LARS. */
  momentum: number;
  weightDecay: number;
  warmupSteps: number;
  /** Length of the cosine schedule; the learning rate reaches 0 here. */
  totalSteps: number;
}

export interface TrainConfig {
  /** The self-supervised method and its own settings (src/engine/methods). */
  method: MethodConfig;
  model: ModelConfig;
  augment: AugmentConfig;
  optim: OptimConfig;
  batchSize: number;
  seed: number;
}

/**
 * The paper's augmentation, scaled for small images as the recipe says: crop area (0.2, 1) and no blur below
 * 64 px; jitter strength 0.5 for small colour images (CIFAR recipe), 1.0 otherwise. On grayscale data the jitter
 * keeps brightness and contrast only, at strength 1 (the recipe's Fashion-MNIST ablation: kNN 0.645 → 0.763).
 */
export function defaultAugmentConfig(imageSize: number, channels: Channels): AugmentConfig {
  const small = imageSize < 64;
  const strength = channels === 3 && small ? 0.5 : 1.0;
  return {
    cropAreaMin: small ? 0.2 : 0.08,
    cropAreaMax: 1.0,
    aspectMin: 3 / 4,
    aspectMax: 4 / 3,
    flipProb: 0.5,
    jitterProb: 0.8,
    brightness: 0.8 * strength,
    contrast: 0.8 * strength,
    saturation: channels === 3 ? 0.8 * strength : 0,
    hue: channels === 3 ? 0.2 * strength : 0,
    grayscaleProb: channels === 3 ? 0.2 : 0,
    blurProb: small ? 0 : 0.5,
    blurSigmaMin: 0.1,
    blurSigmaMax: 2.0,
  };
}

/** All augmentation switched off: every view is the (resized) input. */
export function identityAugmentConfig(): AugmentConfig {
  return {
    cropAreaMin: 1, cropAreaMax: 1, aspectMin: 1, aspectMax: 1, flipProb: 0,
    jitterProb: 0, brightness: 0, contrast: 0, saturation: 0, hue: 0,
    grayscaleProb: 0, blurProb: 0, blurSigmaMin: 0.1, blurSigmaMax: 2.0,
  };
}

export function defaultTrainConfig(imageSize = 32, channels: Channels = 3): TrainConfig {
  return {
    method: defaultMethodConfig('simclr'),
    model: {
      encoder: 'convnet4',
      width: 1,
      imageSize,
      channels,
      headLayers: 2,
      headHidden: 'atLeastProjection',
      representationRelu: false,
      init: 'torch',
      projectionDim: 128,
      entropyWeight: 0,
      entropyClusters: 16,
    },
    augment: defaultAugmentConfig(imageSize, channels),
    // Adam 1e-3 is the recipe's reference run (Fashion-MNIST, batch 128); 3e-4 and 3e-3 scored lower there.
    optim: { optimizer: 'adam', learningRate: 1e-3, momentum: 0.9, weightDecay: 1e-4, warmupSteps: 10, totalSteps: 1000 },
    batchSize: 128,
    seed: 1,
  };
}

export interface ConfigProblem {
  /** Dotted path of the setting, e.g. 'optim.learningRate'. */
  field: string;
  message: string;
}

/** Everything wrong with a configuration, each with the field it concerns and a reason a person can act on. */
export function validateTrainConfig(config: TrainConfig): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const check = (field: string, ok: boolean, message: string) => {
    if (!ok) problems.push({ field, message: `${field}: ${message}` });
  };
  const inRange = (field: string, value: number, min: number, max: number, what = 'a number') =>
    check(field, Number.isFinite(value) && value >= min && value <= max, `must be ${what} between ${min} and ${max}, got ${value}`);
  const isInt = (v: number) => Number.isInteger(v);
  const { model, augment, optim } = config;

  check('model.encoder', model.encoder === 'convnet4' || model.encoder === 'resnet18', `unknown encoder "${model.encoder}" (convnet4 or resnet18)`);
  inRange('model.width', model.width, 1 / 64, 4);
  check('model.imageSize', isInt(model.imageSize) && model.imageSize >= 8 && model.imageSize <= 256, `must be a whole number of pixels from 8 to 256, got ${model.imageSize}`);
  check('model.channels', model.channels === 1 || model.channels === 3, `must be 1 or 3, got ${model.channels}`);
  check('model.headLayers', model.headLayers === 2 || model.headLayers === 3, `must be 2 or 3, got ${model.headLayers}`);
  check('model.headHidden', model.headHidden === 'representation' || model.headHidden === 'atLeastProjection', `must be "representation" or "atLeastProjection", got ${JSON.stringify(model.headHidden)}`);
  check('model.representationRelu', typeof model.representationRelu === 'boolean', `must be true or false, got ${JSON.stringify(model.representationRelu)}`);
  check('model.init', model.init === 'torch' || model.init === 'keras', `must be "torch" or "keras", got ${JSON.stringify(model.init)}`);
  check('model.projectionDim', isInt(model.projectionDim) && model.projectionDim >= 2 && model.projectionDim <= 4096, `must be a whole number from 2 to 4096, got ${model.projectionDim}`);
  inRange('model.entropyWeight', model.entropyWeight, 0, 10);
  check('model.entropyClusters', isInt(model.entropyClusters) && model.entropyClusters >= 2 && model.entropyClusters <= 1024, `must be a whole number from 2 to 1024, got ${model.entropyClusters}`);

  const method = config.method as { name?: unknown } | undefined;
  if (!isMethodName(method?.name)) {
    check('method.name', false, `unknown method "${String(method?.name)}" (${METHOD_NAMES.join(' or ')})`);
  } else {
    const specs = methodOf({ name: method.name }).settings;
    for (const [key, spec] of Object.entries(specs)) {
      const value = (method as Record<string, unknown>)[key] as number;
      const field = `method.${key}`;
      if (spec.integer) check(field, isInt(value) && value >= spec.min && value <= spec.max, `must be a whole number from ${spec.min} to ${spec.max}, got ${value}`);
      else inRange(field, value, spec.min, spec.max);
    }
    for (const key of Object.keys(method)) check(`method.${key}`, key === 'name' || key in specs, `is not a setting of ${methodOf({ name: method.name }).label}`);
  }

  // Each anchor needs at least one negative: 2N − 2 ≥ 2.
  check('batchSize', isInt(config.batchSize) && config.batchSize >= 2 && config.batchSize <= 8192, `must be a whole number from 2 to 8192, got ${config.batchSize}`);
  check('seed', isInt(config.seed) && config.seed >= 0 && config.seed < 2 ** 32, `must be a whole number from 0 to 2^32 − 1, got ${config.seed}`);

  check('optim.optimizer', ['adam', 'sgd', 'lars'].includes(optim.optimizer), `unknown optimiser "${optim.optimizer}" (adam, sgd or lars)`);
  // Generous on purpose: a rate that blows up is the user's to try, and the health check flags it.
  check('optim.learningRate', Number.isFinite(optim.learningRate) && optim.learningRate > 0 && optim.learningRate <= 1e6, `must be above 0 and at most 1,000,000, got ${optim.learningRate}`);
  inRange('optim.momentum', optim.momentum, 0, 0.999);
  inRange('optim.weightDecay', optim.weightDecay, 0, 1);
  check('optim.warmupSteps', isInt(optim.warmupSteps) && optim.warmupSteps >= 0, `must be a whole number ≥ 0, got ${optim.warmupSteps}`);
  check('optim.totalSteps', isInt(optim.totalSteps) && optim.totalSteps >= 1, `must be a whole number ≥ 1, got ${optim.totalSteps}`);
  check('optim.warmupSteps', !(optim.warmupSteps >= optim.totalSteps && optim.totalSteps >= 1), `warm-up (${optim.warmupSteps}) must be shorter than the schedule (${optim.totalSteps} steps)`);

  for (const p of ['flipProb', 'jitterProb', 'grayscaleProb', 'blurProb'] as const) inRange(`augment.${p}`, augment[p], 0, 1, 'a probability');
  inRange('augment.cropAreaMin', augment.cropAreaMin, 0.01, 1);
  inRange('augment.cropAreaMax', augment.cropAreaMax, 0.01, 1);
  check('augment.cropAreaMax', augment.cropAreaMin <= augment.cropAreaMax, `must be at least cropAreaMin (${augment.cropAreaMin})`);
  inRange('augment.aspectMin', augment.aspectMin, 0.1, 10);
  inRange('augment.aspectMax', augment.aspectMax, 0.1, 10);
  check('augment.aspectMax', augment.aspectMin <= augment.aspectMax, `must be at least aspectMin (${augment.aspectMin})`);
  for (const p of ['brightness', 'contrast', 'saturation'] as const) inRange(`augment.${p}`, augment[p], 0, 1);
  inRange('augment.hue', augment.hue, 0, 0.5);
  inRange('augment.blurSigmaMin', augment.blurSigmaMin, 0.01, 10);
  inRange('augment.blurSigmaMax', augment.blurSigmaMax, 0.01, 10);
  check('augment.blurSigmaMax', augment.blurSigmaMin <= augment.blurSigmaMax, `must be at least blurSigmaMin (${augment.blurSigmaMin})`);
  return problems;
}

/**
 * A configuration as stored by any version of tabclr (a checkpoint, a downloaded zip), in today's shape. Before the
 * method seam a config had a top-level `temperature` and no method: it was SimCLR. Before the parity work (issue #13)
 * it had no model.headHidden, model.representationRelu or model.init: its model had a head as wide as h, a ReLU on h
 * and Keras initialisers, and it loads as that model (new runs get defaultTrainConfig's values instead). Leaves the
 * other values alone; validate the result.
 */
export function upgradeConfig(stored: TrainConfig | (Omit<TrainConfig, 'method'> & { temperature?: number; method?: undefined })): TrainConfig {
  const model: Partial<ModelConfig> = stored.model ?? {};
  if (stored.method && model.headHidden !== undefined && model.representationRelu !== undefined && model.init !== undefined) return stored as TrainConfig;
  const upgradedModel: ModelConfig = {
    ...(model as ModelConfig),
    headHidden: model.headHidden ?? 'representation',
    representationRelu: model.representationRelu ?? true,
    init: model.init ?? 'keras',
  };
  if (stored.method) return { ...(stored as TrainConfig), model: upgradedModel };
  const { temperature, method: _method, ...rest } = stored as Omit<TrainConfig, 'method'> & { temperature?: number; method?: undefined };
  return { ...rest, model: upgradedModel, method: { ...defaultMethodConfig('simclr'), ...(temperature !== undefined && { temperature }) } };
}
