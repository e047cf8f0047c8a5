// Checks a user (or a test) can run on any device: does this backend train, and does it compute what the CPU
// computes? Small enough for a software adapter.
import * as tf from '@tensorflow/tfjs';
import { augmentPair } from './augment';
import { defaultTrainConfig, type TrainConfig } from './config';
import { noLearningLoss } from './methods/simclr';
import { Random } from './random';
import { createTrainState, disposeTrainState, probeGradients, trainStep, type StepMetrics } from './step';
import { syntheticImages } from './synthetic';

/** A tiny run: convnet4 at 1/8 width on 8 synthetic 8 px images, one batch of the whole set per step. */
export function selfTestConfig(): TrainConfig {
  const config = defaultTrainConfig(8, 3);
  config.model = { ...config.model, width: 1 / 8, projectionDim: 16 };
  config.batchSize = 8;
  config.method = { name: 'simclr', temperature: 0.2 };
  config.augment = { ...config.augment, cropAreaMin: 0.5, jitterProb: 0.5, brightness: 0.2, contrast: 0.2, saturation: 0.2, hue: 0.02 };
  config.optim = { ...config.optim, learningRate: 1e-2, warmupSteps: 0, totalSteps: 1000 };
  config.seed = 7;
  return config;
}

function imageTensor(config: TrainConfig, seed: number): tf.Tensor4D {
  const { imageSize: s, channels: c } = config.model;
  return tf.tensor4d(syntheticImages(config.batchSize, s, c, seed), [config.batchSize, s, s, c], 'int32');
}

export interface TrainingCheck {
  steps: number;
  firstLoss: number;
  /** Mean NT-Xent over the last quarter of the steps. */
  finalLoss: number;
  noLearningLoss: number;
  /** Mean contrastive accuracy over the last quarter. */
  finalContrastiveAcc: number;
  /** Contrastive accuracy of random guessing among the 2N − 1 candidates. */
  chance: number;
  /** Tensors alive after step 2 and after the last step: equal when nothing leaks. */
  tensorsAfterStep2: number;
  tensorsAfterLast: number;
  ok: boolean;
}

/** Trains the tiny model on the current backend and checks that it learns and leaks nothing. */
export async function checkTraining(steps: number, onStep?: (m: StepMetrics) => void, config = selfTestConfig()): Promise<TrainingCheck> {
  const state = createTrainState(config);
  const images = imageTensor(config, 11);
  const history: StepMetrics[] = [];
  let tensorsAfterStep2 = -1;
  let tensorsAfterLast = -1;
  try {
    for (let i = 0; i < steps; i++) {
      const m = await trainStep(state, images);
      history.push(m);
      onStep?.(m);
      if (m.step === 2) tensorsAfterStep2 = tf.memory().numTensors;
    }
    tensorsAfterLast = tf.memory().numTensors;
  } finally {
    images.dispose();
    disposeTrainState(state);
  }
  const tail = history.slice(-Math.max(1, Math.floor(steps / 4)));
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const finalLoss = mean(tail.map((m) => m.methodLoss));
  const finalContrastiveAcc = mean(tail.map((m) => m.diagnostics.contrastiveAcc!));
  const collapse = noLearningLoss(config.batchSize);
  const chance = 1 / (2 * config.batchSize - 1);
  return {
    steps,
    firstLoss: history[0]?.methodLoss ?? NaN,
    finalLoss,
    noLearningLoss: collapse,
    finalContrastiveAcc,
    chance,
    tensorsAfterStep2,
    tensorsAfterLast,
    // "Clearly below": a tenth of the way from collapse to zero; "above chance": at least twice chance.
    ok: finalLoss < 0.9 * collapse && finalContrastiveAcc > 2 * chance && tensorsAfterStep2 === tensorsAfterLast,
  };
}

export interface AgreementCheck {
  backends: [string, string];
  losses: [number, number];
  lossRelErr: number;
  /** Worst ‖g_a − g_b‖ / ‖g_b‖ over all parameters. */
  maxGradRelErr: number;
  worstParam: string;
  params: number;
  ok: boolean;
}

/** Float32 through a deep network: differences well under this are rounding, above it a wrong kernel. */
export const AGREEMENT_TOLERANCE = 1e-3;
/** The smallest norm a parameter's gradient error is measured against, as a share of the global gradient norm. */
const AGREEMENT_FLOOR = 1e-3;

async function gradientsOn(backend: string, config: TrainConfig) {
  if (!(await tf.setBackend(backend))) throw new Error(`backend ${backend} is not available`);
  const state = createTrainState(config);
  const images = imageTensor(config, 11);
  const unit = tf.div(images, 255) as tf.Tensor4D;
  const [view1, view2] = augmentPair(unit, config.augment, new Random(config.seed));
  try {
    return await probeGradients(state, view1, view2);
  } finally {
    tf.dispose([images, unit, view1, view2]);
    disposeTrainState(state);
  }
}

/**
 * The worst relative difference between two backends' gradients, parameter by parameter. A gradient that is zero in
 * exact arithmetic (the dense bias on h, a shift the head's batch norm removes) differs between backends by rounding
 * alone: each parameter's error is judged against at least a thousandth of the gradients' global norm, not against its
 * own near-zero norm.
 */
export function gradientDisagreement(a: Map<string, Float32Array>, b: Map<string, Float32Array>, nameOfA = 'the first backend'): { maxGradRelErr: number; worstParam: string } {
  let maxGradRelErr = 0;
  let worstParam = '';
  let squares = 0;
  for (const gb of b.values()) for (let i = 0; i < gb.length; i++) squares += gb[i]! ** 2;
  const floor = AGREEMENT_FLOOR * Math.sqrt(squares);
  for (const [name, gb] of b) {
    const ga = a.get(name);
    if (!ga) throw new Error(`parameter ${name} has no gradient on ${nameOfA}`);
    let diff = 0;
    let norm = 0;
    for (let i = 0; i < gb.length; i++) {
      diff += (ga[i]! - gb[i]!) ** 2;
      norm += gb[i]! ** 2;
    }
    const rel = Math.sqrt(diff) / Math.max(Math.sqrt(norm), floor, 1e-12);
    if (!(rel <= maxGradRelErr)) {
      maxGradRelErr = rel;
      worstParam = name;
    }
  }
  return { maxGradRelErr, worstParam };
}

/**
 * One step's loss and gradients from the same seed (same weights, same augmentation) on two backends. Leaves
 * the backend that was active on entry active on exit.
 */
export async function checkBackendAgreement(other = 'cpu', config = selfTestConfig()): Promise<AgreementCheck> {
  const active = tf.getBackend();
  let a: Awaited<ReturnType<typeof gradientsOn>>;
  let b: Awaited<ReturnType<typeof gradientsOn>>;
  try {
    a = await gradientsOn(active, config);
    b = await gradientsOn(other, config);
  } finally {
    await tf.setBackend(active);
  }
  const { maxGradRelErr, worstParam } = gradientDisagreement(a.grads, b.grads, active);
  const lossRelErr = Math.abs(a.loss - b.loss) / Math.abs(b.loss);
  return {
    backends: [active, other],
    losses: [a.loss, b.loss],
    lossRelErr,
    maxGradRelErr,
    worstParam,
    params: b.grads.size,
    ok: lossRelErr < AGREEMENT_TOLERANCE && maxGradRelErr < AGREEMENT_TOLERANCE && a.grads.size === b.grads.size,
  };
}
