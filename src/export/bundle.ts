// What the user takes away (in the worker, where the model is): the encoder as a TensorFlow.js Layers model, as
// PyTorch-named .safetensors with tabclr_torch.py to load them, and as ONNX; the run's config; and the representation of
// every image for the Embedding Projector. The page zips the files and saves them.
import * as tf from '@tensorflow/tfjs';
import { embedImages } from '../engine/embed';
import type { TrainConfig } from '../engine/config';
import { methodOf } from '../engine/methods';
import { allWeights, type Network } from '../engine/model';
import type { StepMetrics } from '../engine/step';
import type { DatasetPayload } from '../worker/protocol';
import { encoderOnnx } from './onnx';
import { encodeSafetensors, toPytorchLayout, type NamedArray } from './safetensors';

export interface ExportFile {
  name: string;
  bytes: Uint8Array;
}

const text = (s: string) => new TextEncoder().encode(s);

const snakeCase = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** A Layers model as model.json plus one weight shard, as tf.loadLayersModel and tensorflowjs_converter expect. */
async function layersModelFiles(model: tf.LayersModel, folder: string): Promise<ExportFile[]> {
  let artifacts: tf.io.ModelArtifacts | null = null;
  await model.save(
    tf.io.withSaveHandler(async (a) => {
      artifacts = a;
      return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
    }),
  );
  const saved = artifacts as unknown as tf.io.ModelArtifacts;
  const shard = 'group1-shard1of1.bin';
  const json = {
    format: 'layers-model',
    generatedBy: `TensorFlow.js tfjs-layers v${tf.version.tfjs} (tabclr)`,
    convertedBy: null,
    modelTopology: saved.modelTopology,
    weightsManifest: [{ paths: [shard], weights: saved.weightSpecs }],
  };
  const weights = new Uint8Array(tf.io.concatenateArrayBuffers(saved.weightData ?? new ArrayBuffer(0)));
  return [
    { name: `${folder}/model.json`, bytes: text(JSON.stringify(json)) },
    { name: `${folder}/${shard}`, bytes: weights },
  ];
}

/** The parts a download holds: the encoder, and the method's heads when asked for (a follower never). */
function exportedParts(model: Network, includeHead: boolean): [string, tf.LayersModel][] {
  return [['encoder', model.encoder], ...(includeHead ? Object.entries(model.method.heads) : [])];
}

/** Every weight of the given parts in PyTorch layout, named '<module>.<layer>.<weight>'. */
async function pytorchArrays(model: Network, includeHead: boolean): Promise<NamedArray[]> {
  const moduleOf = new Map<string, string>();
  for (const [part, m] of exportedParts(model, includeHead)) for (const w of m.weights) moduleOf.set(w.originalName, part);
  const out: NamedArray[] = [];
  for (const { name, weight } of allWeights(model)) {
    const module = moduleOf.get(name);
    if (!module) continue;
    const values = (await weight.read().data()) as Float32Array;
    const converted = toPytorchLayout({ name, shape: weight.shape as number[], values: Float32Array.from(values) });
    out.push({ ...converted, name: `${module}.${converted.name}` });
  }
  return out;
}

export interface ModelExportInfo {
  config: TrainConfig;
  step: number;
  metrics: StepMetrics | null;
  includeHead: boolean;
  version: string;
  /** The text of tabclr_torch.py (TORCH_MODULE_SOURCE in the worker), which the zip carries at its root. */
  torchModule: string;
}

export async function modelBundle(model: Network, info: ModelExportInfo): Promise<ExportFile[]> {
  const { config, step, metrics, includeHead, version, torchModule } = info;
  const { imageSize, channels } = config.model;
  const representationDim = model.encoder.outputs[0]!.shape.at(-1);
  const files: ExportFile[] = [];
  for (const [part, m] of exportedParts(model, includeHead)) files.push(...(await layersModelFiles(m, part)));
  const arrays = await pytorchArrays(model, includeHead);
  files.push({ name: 'weights.safetensors', bytes: encodeSafetensors(arrays, { format: 'pt', producer: `tabclr ${version}`, encoder: config.model.encoder }) });
  const configJson = {
    tabclr_version: version,
    created: new Date().toISOString(),
    step,
    final_metrics: metrics && {
      loss: metrics.loss,
      method_loss: metrics.methodLoss,
      ...Object.fromEntries(Object.entries(metrics.diagnostics).map(([key, value]) => [snakeCase(key), value])),
      embedding_std: metrics.embeddingStd,
      lr: metrics.lr,
    },
    input: {
      size: [imageSize, imageSize],
      channels,
      layout: { tensorflow_js: 'NHWC', pytorch: 'NCHW' },
      normalisation: 'pixel values / 255, in [0, 1]; no mean or std subtraction',
      preprocessing: "the centred square of each image (offsets rounded down), resized to the input size as PIL's Image.resize(size, Image.BILINEAR) does (exactly where the shorter side is at most 8 times the input size; a larger photo is first shrunk by the browser to 8 times it); transparent pixels on white",
    },
    representation_dim: representationDim,
    training: config,
  };
  files.push({ name: 'config.json', bytes: text(`${JSON.stringify(configJson, null, 2)}\n`) });
  files.push({ name: 'encoder.onnx', bytes: await encoderOnnx(model, { version, includeHead }) });
  files.push({ name: 'tabclr_torch.py', bytes: text(torchModule) });
  files.push({ name: 'README.md', bytes: text(readme(configJson.input.size[0]!, channels, config.model.encoder, includeHead, methodOf(config.method).label)) });
  return files;
}

function readme(size: number, channels: number, encoder: string, includeHead: boolean, method: string): string {
  return `# A ${method} encoder trained with tabclr

\`encoder/\` is the trained encoder (${encoder}) as a TensorFlow.js Layers model; \`weights.safetensors\` holds the
same weights with PyTorch names and layouts${includeHead ? ', and the heads\' (the projection head, and a predictor where the method has one)' : ''}, \`tabclr_torch.py\` builds the
model in PyTorch from them, and \`encoder.onnx\` is the encoder${includeHead ? ' and its projection head' : ''} in ONNX. \`config.json\` has the full training
configuration, the step reached and the final metrics.

Input: ${size} × ${size} × ${channels}, pixel values / 255 (in [0, 1]), the centred square of each image resized as PIL's
bilinear resize does. The tab trained on these pixels: exactly, for images whose shorter side is at most 8 times the input
size; a larger photo was first shrunk by the browser, which leaves it within about a grey level of PIL's. The browser also turns a
photo by its EXIF orientation, applies its colour profile and draws transparent pixels on white, which PIL does not.
\`\`\`python
from PIL import Image
im = Image.open(path).convert("${channels === 1 ? 'L' : 'RGB'}")
side = min(im.size)
left, top = (im.size[0] - side) // 2, (im.size[1] - side) // 2
im = im.crop((left, top, left + side, top + side)).resize((${size}, ${size}), Image.BILINEAR)
\`\`\`
(torchvision's \`Resize(${size})\` then \`CenterCrop(${size})\` on a PIL image is the same on square images.)
Output: the representation h (the pooled features), the vector to use downstream.

## TensorFlow.js
\`\`\`js
const encoder = await tf.loadLayersModel('encoder/model.json');
const h = encoder.predict(images.div(255)); // images: [N, ${size}, ${size}, ${channels}]
\`\`\`

## ONNX
\`encoder.onnx\` (opset 13) takes \`image\`, float32 [batch, ${channels}, ${size}, ${size}] (NCHW, any batch size), pixel values / 255, and
gives \`h\`${includeHead ? ' and \`z\` (the projection head\'s output)' : ''}. In onnxruntime (JavaScript; the Python package has the same calls):
\`\`\`js
const session = await ort.InferenceSession.create(bytesOfEncoderOnnx);
const { h } = await session.run({ image: new ort.Tensor('float32', pixels, [n, ${channels}, ${size}, ${size}]) });
\`\`\`
In OpenCV's DNN module:
\`\`\`python
import cv2
net = cv2.dnn.readNetFromONNX("encoder.onnx")
net.setInput(images)  # images: numpy float32 [N, ${channels}, ${size}, ${size}], pixel values / 255
h = net.forward("h")
\`\`\`

## Training on with PyTorch
tabclr's repository has \`scripts/cluster/train_ddp.py\`, which continues this zip with PyTorch's
DistributedDataParallel (\`torchrun\`) on a folder of images and writes a zip that tabclr's "Load model" takes back;
tabclr's README says how.

## TensorFlow and Keras (not tested by tabclr)
tabclr's tests cannot reach PyPI, where TensorFlow's converters are, so no route into TensorFlow or Keras has been
tried. The tested way out is \`encoder.onnx\` above. Tools that turn ONNX into TensorFlow are onnx2tf
(\`onnx2tf -i encoder.onnx\`, a SavedModel with NHWC input) and onnx-tf (\`onnx-tf convert -i encoder.onnx -o encoder_tf\`).
tensorflowjs_converter may read \`encoder/model.json\` (\`--input_format=tfjs_layers_model --output_format=keras\`),
untried as well. Whatever you use, compare its h with the one above on a few images.

## PyTorch
\`tabclr_torch.py\` (it needs torch only) builds the encoder from \`config.json\` and loads \`weights.safetensors\`. In
this folder (or with the path of the folder or of the .zip):
\`\`\`python
import tabclr_torch
encoder = tabclr_torch.load_encoder(".")
h = encoder(images)  # images: float32 [N, ${channels}, ${size}, ${size}] (NCHW), pixel values / 255
\`\`\`
It computes h as the tab did, to float precision: TensorFlow's 'same' padding (a stride-2 convolution on an even size
pads only the bottom and the right, which \`nn.Conv2d(padding=1)\` does not), batch norm with eps = 1e-5, the ReLUs
where the tab has them. A config or weights it does not understand are refused with the reason.${!includeHead ? '' : method === 'SimCLR' ? `
With the projection head: \`encoder, head = tabclr_torch.load_model(".")\`, then \`z = head(encoder(images))\`.` : `
It builds the encoder only for ${method}: the heads' weights are in \`weights.safetensors\`, and z is \`encoder.onnx\`'s second output.`}
\`weights.safetensors\` names the weights as the modules do ('encoder.block1_conv.weight',
'encoder.block1_bn.running_mean', …; conv kernels out × in × kh × kw, dense weights out × in), for tools of your own.
`;
}

export interface EmbeddingsProgress {
  (done: number, total: number): void;
}

/** Images per embedding call: progress is reported between chunks. */
const CHUNK = 512;
/** The Embedding Projector's largest sprite side. */
const MAX_SPRITE_SIDE = 8192;

/**
 * vectors.tsv (the L2-normalised representation of every image, in data-set order), metadata.tsv (name, and label
 * when there are labels), a thumbnail sprite and projector_config.json, as TensorFlow's Embedding Projector loads them.
 */
export async function embeddingsBundle(
  encoder: tf.LayersModel,
  dataset: DatasetPayload,
  batchSize: number,
  makeSprite: (dataset: DatasetPayload, thumb: number, columns: number) => Promise<Uint8Array>,
  onProgress?: EmbeddingsProgress,
): Promise<ExportFile[]> {
  const { count, imageSize, channels, pixels, labels, classNames, names } = dataset;
  const rows: string[] = [];
  for (let start = 0; start < count; start += CHUNK) {
    const indices = Array.from({ length: Math.min(CHUNK, count - start) }, (_, i) => start + i);
    const vectors = await embedImages(encoder, pixels, indices, imageSize, channels, batchSize);
    const dim = vectors.length / indices.length;
    for (let i = 0; i < indices.length; i++) rows.push(Array.from(vectors.subarray(i * dim, (i + 1) * dim), (v) => v.toPrecision(7)).join('\t'));
    onProgress?.(start + indices.length, count);
  }
  const clean = (s: string) => s.replace(/[\t\r\n]/g, ' ');
  const metadata = labels
    ? ['name\tlabel', ...names.map((n, i) => `${clean(n)}\t${clean(classNames[labels[i]!] ?? '')}`)]
    : names.map(clean);
  const columns = Math.ceil(Math.sqrt(count));
  const thumb = Math.max(1, Math.min(imageSize, Math.floor(MAX_SPRITE_SIDE / columns)));
  const config = {
    embeddings: [
      {
        tensorName: dataset.name,
        tensorShape: [count, rows[0]?.split('\t').length ?? 0],
        tensorPath: 'vectors.tsv',
        metadataPath: 'metadata.tsv',
        sprite: { imagePath: 'sprite.png', singleImageDim: [thumb, thumb] },
      },
    ],
  };
  return [
    { name: 'vectors.tsv', bytes: text(`${rows.join('\n')}\n`) },
    { name: 'metadata.tsv', bytes: text(`${metadata.join('\n')}\n`) },
    { name: 'sprite.png', bytes: await makeSprite(dataset, thumb, columns) },
    { name: 'projector_config.json', bytes: text(`${JSON.stringify(config, null, 2)}\n`) },
  ];
}
