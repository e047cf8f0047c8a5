// The method seam: what a self-supervised method (SimCLR, SimSiam, …) is to the rest of tabclr. A method owns its
// heads, its objective (a loss and named diagnostics), an optional after-update hook (a target network's moving
// average), its settings and the reference levels its charts and health rules judge by.
//
// A method is one file in this folder, registered in index.ts. The page reads its settings, levels and advice too, so
// a method file imports tfjs for types only: the tfjs it trains with comes in through `EngineKit` when the worker
// builds it. (methods.test.ts checks this, so that the page bundle never pulls in tfjs.)
import type * as tfjs from '@tensorflow/tfjs';
import type { ModelConfig } from '../config';

/** A number the user sets for a method, with its range: the page's field and both sides' validation read it. */
export interface SettingSpec {
  label: string;
  /** One sentence on what it does and what a usual value is. */
  help: string;
  default: number;
  min: number;
  max: number;
  integer?: boolean;
}

/** A dashed line on a chart. */
export interface ReferenceLine {
  value: number;
  label: string;
}

/** What the method's levels depend on. */
export interface LevelContext {
  batchSize: number;
  projectionDim: number;
  /** The method's settings (MoCo's levels depend on its queue's length); its defaults when not given. */
  settings?: Record<string, number>;
}

export interface MethodLevels {
  /** Dashed lines on the loss chart, e.g. SimCLR's no-learning level ln(2N − 1). */
  loss: ReferenceLine[];
  /**
   * The loss when every embedding coincides. A recent loss within `tolerance` of it together with an embedding std far
   * below the healthy 1/√d means the run has collapsed. `label` says how it is worked out ('ln 127 = 4.84').
   */
  collapsed: { loss: number; tolerance: number; label: string };
  /**
   * The loss of an encoder that tells nothing apart: a smoothed loss that never gets clearly below it means nothing is
   * being learnt. null when the method has no such level (a non-contrastive loss falls whether or not it learns).
   * `meaning` says what a loss there means, for the health panel ('the encoder cannot yet tell …').
   */
  noLearning: { loss: number; label: string; meaning: string } | null;
  /**
   * What the levels depend on, as words that follow "the level": 'at batch 64' (SimCLR's ln(2N − 1) counts the
   * batch's views), 'with a queue of 4,096 keys' (MoCo's ln(K + 1) counts the queue's, whatever the batch); '' when
   * they depend on nothing (BYOL's 0).
   */
  condition: string;
}

/** A number the objective reports besides the loss, charted under its label. */
export interface DiagnosticSpec {
  /** Its key in StepMetrics.diagnostics. */
  key: string;
  label: string;
  /** What it means, in a sentence (under the chart). */
  description: string;
  /** 'fraction': a share in [0, 1], shown as a percentage. */
  format: 'fraction' | 'number';
  references(context: LevelContext): ReferenceLine[];
}

/** What a method says when the health rules see its run collapse or get stuck: its own causes and fixes. */
export interface MethodAdvice {
  collapsed: string;
  stuck: string | null;
}

/** tfjs and the engine's builders, handed to a method when the worker (or a test) builds it. */
export interface EngineKit {
  tf: typeof tfjs;
  /** An MLP head as a Layers model: dense (no bias) → batch norm → ReLU for each hidden width, then the output layer. */
  mlp(options: MlpOptions): tfjs.LayersModel;
  /** The run's encoder architecture, freshly initialised (a target network's copy). */
  encoder(model: ModelConfig, seed: number): tfjs.LayersModel;
  l2Normalize<T extends tfjs.Tensor>(x: T): T;
  /**
   * NT-Xent and its contrastive accuracy over the 2N rows of z (view 1's first) as one fused kernel with its gradient
   * (webgpu/ntXent.ts); null where it cannot run, and the method uses tfjs ops (simclr.ts ntXentParts).
   */
  fusedNtXent(z: tfjs.Tensor2D, temperature: number): { loss: tfjs.Scalar; contrastiveAcc: tfjs.Scalar } | null;
}

export interface MlpOptions {
  /** The Layers model's name, which is also the part's name in checkpoints and downloads. */
  name: string;
  /** Prefix of its layer names ('head' gives 'head1_dense', 'head1_bn', …); unique across a network's parts. */
  layerPrefix: string;
  inputDim: number;
  hidden: number[];
  outputDim: number;
  /** Batch norm on the output layer (SimCLR's and SimSiam's projections), or a plain dense layer with a bias. */
  outputBatchNorm: boolean;
  /** Batch norm after each hidden dense layer (the default), or a dense layer with a bias and no batch norm (MoCo v2's head). */
  hiddenBatchNorm?: boolean;
  seed: number;
  /** How its kernels (and biases) start: the run's model.init; PyTorch's defaults when not given. */
  init?: ModelConfig['init'];
}

export interface BuildContext {
  model: ModelConfig;
  /** The run's encoder (the online network's, for a method with a target to follow it). */
  encoder: tfjs.LayersModel;
  /** Size of the encoder's output h. */
  representationDim: number;
  seed: number;
}

/**
 * The two views' batch, as the objective sees it: `views` is [2N, S, S, C] with view 1's images first, so rows i and
 * N + i are the two views of image i. One batch, because both methods run both views through the encoder together
 * (batch norm sees both), and because the augmentation makes them together (one fused program on WebGPU).
 */
export interface ObjectiveInput {
  encoder: tfjs.LayersModel;
  views: tfjs.Tensor4D;
  /** The step being taken, counting from 1 (the run's step + 1): seeds a method's own per-step draws (MoCo's key shuffle). */
  step: number;
}

export interface ObjectiveOutput {
  /** What the optimiser minimises (before any extension such as the entropy term). */
  loss: tfjs.Scalar;
  /** Both views' projections z, [2N, d] with view 1's rows first: the step measures their spread (collapse) and the entropy term uses them. */
  projections: tfjs.Tensor2D;
  /** One scalar per entry of the method's `diagnostics`. */
  diagnostics: Record<string, tfjs.Scalar>;
}

/**
 * State a method keeps besides its networks (MoCo's queue of keys): read and written like a weight, so checkpoints save
 * and restore it with the run, but never trained and never in a download.
 */
export interface MethodBuffer {
  readonly shape: number[];
  readonly trainable: false;
  read(): tfjs.Tensor;
  write(value: tfjs.Tensor): void;
}

/** A method built for one run: its parts and its objective. */
export interface MethodNetwork {
  /** Parts trained with the encoder, by name, in a fixed order (their weights are checkpointed and can be downloaded). */
  heads: Record<string, tfjs.LayersModel>;
  /** Parts that follow the trained ones instead of being trained (a target network), by name; checkpointed, never downloaded. */
  followers: Record<string, tfjs.LayersModel>;
  /** Differentiable: called inside the gradient tape. */
  objective(input: ObjectiveInput): ObjectiveOutput;
  /** After each applied update (e.g. a target network's moving average); `step` counts from 1. */
  afterUpdate?(step: number, totalSteps: number): void;
  /** State besides the networks, by name ('queue/keys'): checkpointed, never downloaded. */
  buffers?: Record<string, MethodBuffer>;
  /** Frees what the method holds besides its Layers models (buffers, tensors kept between objective and update). */
  dispose?(): void;
}

/** What a method's data-dependent limits depend on. */
export interface DataContext {
  /** Images in the folder. */
  datasetSize: number;
  batchSize: number;
}

/** The most a setting may be for this data, and why (validation refuses more; the page's defaults stay within it). */
export interface DataLimit {
  max: number;
  why: string;
}

/**
 * The batch a setting needs (MoCo's shuffled batch-norm groups, two images each): validation refuses a smaller one
 * beside the setting's field, with `why` (what goes wrong, what to change), rather than let the method quietly do less.
 */
export interface BatchNeed {
  /** The setting that needs it. */
  key: string;
  smallestBatch: number;
  /** Why, for a batch of `batchSize`: what would go wrong, and what to change. */
  why(batchSize: number): string;
}

/** A setting that trains but gives up something the method relies on: said beside its field, never refused. */
export interface SettingCaution {
  key: string;
  message: string;
}

/** A method's settings as numbers, from its settings' specs. */
export type SettingsOf<Specs> = { [K in keyof Specs]: number };

export interface Method<Name extends string = string, Specs extends Record<string, SettingSpec> = Record<string, SettingSpec>> {
  name: Name;
  label: string;
  /** One sentence for the page: what the method does and when to choose it. */
  summary: string;
  /** The paper, for the README and the page's help. */
  reference: string;
  settings: Specs;
  /** What the loss is called on the charts ('NT-Xent'). */
  lossLabel: string;
  /** One sentence under the loss chart: how to read it. */
  lossDescription: string;
  /** The values the loss can take (NT-Xent ≥ 0; a negative cosine ≥ −1): the loss chart's axis stays within them. */
  lossBounds: { min: number; max?: number };
  diagnostics: DiagnosticSpec[];
  levels(context: LevelContext): MethodLevels;
  advice: MethodAdvice;
  /** Limits on settings that depend on the folder (MoCo's queue may not outgrow it). */
  dataLimits?(context: DataContext): Partial<Record<keyof Specs & string, DataLimit>>;
  /** What the settings need of the batch, when more than any method's 2 (MoCo: 2 images in each shuffled batch-norm group). */
  batchNeed?(settings: SettingsOf<Specs>): BatchNeed | null;
  /** Settings that train but defeat part of the method (MoCo with its shuffled batch norm off). */
  cautions?(settings: SettingsOf<Specs>): SettingCaution[];
  build(kit: EngineKit, settings: SettingsOf<Specs>, context: BuildContext): MethodNetwork;
}

/** Keeps a method's literal name and settings in its type, so the config union is derived from the registry. */
export function defineMethod<Name extends string, Specs extends Record<string, SettingSpec>>(method: Method<Name, Specs>): Method<Name, Specs> {
  return method;
}
