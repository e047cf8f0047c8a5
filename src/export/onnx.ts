// encoder.onnx: the encoder (and, when the zip has it, the projection head) as an ONNX graph, written from the same
// weights as the rest of the zip. Input 'image': float32 [batch, C, S, S] (NCHW), pixel values / 255; outputs 'h' and,
// with the head, 'z'. The graph is read off the Layers model itself, layer by layer, so that a layer the writer does
// not know stops the export with its name rather than writing a different model.
//
// The protobuf is onnx-proto: protobufjs's static code for ONNX's own onnx.proto (no schema typed by hand here, and no
// code compiled at run time, which the app's Content-Security-Policy would refuse). It is loaded on the first export.
import type * as tf from '@tensorflow/tfjs';
import type { onnx as OnnxNamespace } from 'onnx-proto';
import type { Network } from '../engine/model';
import { toPytorchLayout } from './safetensors';

/** ONNX's operator set: 13 has every operator used here and is read by onnxruntime, OpenCV 4.x and onnx's checker. */
export const ONNX_OPSET = 13;
/** The IR version that goes with opset 13 (ONNX 1.8). */
const IR_VERSION = 7;
const FLOAT = 1;

export interface OnnxExportInfo {
  version: string;
  includeHead: boolean;
}

interface Shape {
  /** [C, H, W] for images, [D] for vectors; the batch is left out. */
  dims: number[];
}

type Onnx = typeof OnnxNamespace;

async function loadOnnxProto(): Promise<Onnx> {
  // A CommonJS module: Node and Vite give its exports as the default export.
  return (await import('onnx-proto')).default.onnx;
}

interface LayerConfig {
  strides?: number[] | number;
  kernelSize?: number[] | number;
  padding?: string;
  dataFormat?: string;
  dilationRate?: number[] | number;
  activation?: string;
  useBias?: boolean;
  epsilon?: number;
  axis?: number;
  center?: boolean;
  scale?: boolean;
  maxValue?: number | null;
  threshold?: number;
  negativeSlope?: number;
}

const pair = (v: number[] | number | undefined, fallback: number): [number, number] =>
  v === undefined ? [fallback, fallback] : typeof v === 'number' ? [v, v] : [v[0]!, v[1] ?? v[0]!];

/** TensorFlow's 'same' padding for one axis: out = ceil(in / stride), the odd pixel at the end. */
function samePadding(size: number, kernel: number, stride: number): { before: number; after: number; out: number } {
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return { before: Math.floor(total / 2), after: total - Math.floor(total / 2), out };
}

class GraphWriter {
  readonly nodes: OnnxNamespace.INodeProto[] = [];
  readonly initializers: OnnxNamespace.ITensorProto[] = [];
  readonly shapes = new Map<string, Shape>();
  private count = 0;

  constructor(private readonly proto: Onnx) {}

  node(opType: string, inputs: string[], output: string, attributes: OnnxNamespace.IAttributeProto[] = []): string {
    this.nodes.push({ opType, input: inputs, output: [output], name: `${opType.toLowerCase()}_${this.count++}`, attribute: attributes });
    return output;
  }

  ints(name: string, values: number[]): OnnxNamespace.IAttributeProto {
    return { name, type: this.proto.AttributeProto.AttributeType.INTS, ints: values };
  }

  int(name: string, value: number): OnnxNamespace.IAttributeProto {
    return { name, type: this.proto.AttributeProto.AttributeType.INT, i: value };
  }

  float(name: string, value: number): OnnxNamespace.IAttributeProto {
    return { name, type: this.proto.AttributeProto.AttributeType.FLOAT, f: value };
  }

  initializer(name: string, dims: number[], values: Float32Array): string {
    // Little-endian float32, as ONNX's raw_data wants; typed arrays are little-endian on every platform browsers run on.
    const raw = new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));
    this.initializers.push({ name, dims, dataType: FLOAT, rawData: raw });
    return name;
  }
}

async function weightValues(layer: tf.layers.Layer): Promise<Map<string, { shape: number[]; values: Float32Array }>> {
  const out = new Map<string, { shape: number[]; values: Float32Array }>();
  for (const w of layer.weights) {
    const values = Float32Array.from((await w.read().data()) as Float32Array);
    out.set(w.originalName.slice(w.originalName.lastIndexOf('/') + 1), { shape: w.shape as number[], values });
  }
  return out;
}

/**
 * Appends a Layers model's layers to the graph: `input` is the graph tensor its input layer stands for, `prefix` names
 * its weights as weights.safetensors does ('encoder.block1_conv.weight'). Returns the name of its output tensor.
 */
async function appendLayers(graph: GraphWriter, model: tf.LayersModel, input: string, prefix: string): Promise<string> {
  const outputOf = new Map<string, string>();
  for (const layer of model.layers) {
    const className = layer.getClassName();
    const config = layer.getConfig() as LayerConfig;
    const inbound = layer.inboundNodes[0]?.inboundLayers.map((l) => outputOf.get(l.name)!) ?? [];
    const name = `${prefix}.${layer.name}`;
    const x = inbound[0]!;
    const shape = graph.shapes.get(x);
    const weights = await weightValues(layer);
    const param = (key: string) => {
      const w = weights.get(key);
      if (!w) throw new Error(`layer ${layer.name} has no ${key}`);
      // PyTorch's layouts are ONNX's: conv kernels out × in × kh × kw, Gemm's B out × in with transB.
      const t = toPytorchLayout({ name: `${layer.name}/${key}`, shape: w.shape, values: w.values });
      return graph.initializer(`${prefix}.${t.name}`, t.shape, t.values);
    };
    let out: string;
    switch (className) {
      case 'InputLayer':
        out = input;
        break;
      case 'Conv2D': {
        if (config.dataFormat && config.dataFormat !== 'channelsLast') throw new Error(`${layer.name}: data format ${config.dataFormat}`);
        if (pair(config.dilationRate, 1).some((d) => d !== 1)) throw new Error(`${layer.name}: dilated convolutions are not written to ONNX`);
        const [kh, kw] = pair(config.kernelSize, 1);
        const [sh, sw] = pair(config.strides, 1);
        const [c, h, w] = shape!.dims as [number, number, number];
        const kernel = weights.get('kernel')!;
        const filters = kernel.shape[3]!;
        let pads = [0, 0, 0, 0];
        let outH: number;
        let outW: number;
        if (config.padding === 'same') {
          const ph = samePadding(h, kh, sh);
          const pw = samePadding(w, kw, sw);
          pads = [ph.before, pw.before, ph.after, pw.after];
          [outH, outW] = [ph.out, pw.out];
        } else if (config.padding === 'valid') {
          [outH, outW] = [Math.floor((h - kh) / sh) + 1, Math.floor((w - kw) / sw) + 1];
        } else {
          throw new Error(`${layer.name}: padding ${config.padding}`);
        }
        if (kernel.shape[2] !== c) throw new Error(`${layer.name}: kernel takes ${kernel.shape[2]} channels, its input has ${c}`);
        const inputs = [x, param('kernel')];
        if (config.useBias) inputs.push(param('bias'));
        out = graph.node('Conv', inputs, name, [graph.ints('kernel_shape', [kh, kw]), graph.ints('strides', [sh, sw]), graph.ints('pads', pads)]);
        graph.shapes.set(out, { dims: [filters, outH, outW] });
        out = activation(graph, out, config.activation, layer.name);
        break;
      }
      case 'BatchNormalization': {
        if (config.axis !== -1 && config.axis !== shape!.dims.length) throw new Error(`${layer.name}: batch norm over axis ${config.axis}`);
        const channels = shape!.dims[0]!;
        const ones = () => graph.initializer(`${name}.weight`, [channels], new Float32Array(channels).fill(1));
        const zeros = () => graph.initializer(`${name}.bias`, [channels], new Float32Array(channels));
        const inputs = [x, config.scale === false ? ones() : param('gamma'), config.center === false ? zeros() : param('beta'), param('moving_mean'), param('moving_variance')];
        out = graph.node('BatchNormalization', inputs, name, [graph.float('epsilon', config.epsilon!)]);
        graph.shapes.set(out, shape!);
        break;
      }
      case 'ReLU':
        if ((config.maxValue ?? null) !== null || (config.threshold ?? 0) !== 0 || (config.negativeSlope ?? 0) !== 0) {
          throw new Error(`${layer.name}: only a plain ReLU is written to ONNX`);
        }
        out = graph.node('Relu', [x], name);
        graph.shapes.set(out, shape!);
        break;
      case 'Activation':
        out = activation(graph, x, config.activation, layer.name);
        break;
      case 'Add':
        out = x;
        inbound.slice(1).forEach((term, i) => {
          out = graph.node('Add', [out, term], i === inbound.length - 2 ? name : `${name}.${i}`);
          graph.shapes.set(out, shape!);
        });
        break;
      case 'GlobalAveragePooling2D': {
        const pooled = graph.node('GlobalAveragePool', [x], `${name}.pooled`);
        out = graph.node('Flatten', [pooled], name, [graph.int('axis', 1)]);
        graph.shapes.set(out, { dims: [shape!.dims[0]!] });
        break;
      }
      case 'Dense': {
        const units = weights.get('kernel')!.shape[1]!;
        const inputs = [x, param('kernel')];
        if (config.useBias) inputs.push(param('bias'));
        out = graph.node('Gemm', inputs, name, [graph.int('transB', 1)]);
        graph.shapes.set(out, { dims: [units] });
        out = activation(graph, out, config.activation, layer.name);
        break;
      }
      default:
        throw new Error(`layer ${layer.name} (${className}) cannot be written to ONNX`);
    }
    outputOf.set(layer.name, out);
  }
  return outputOf.get(model.outputLayers[0]!.name)!;
}

function activation(graph: GraphWriter, x: string, name: string | undefined, layer: string): string {
  if (name === undefined || name === 'linear') return x;
  if (name !== 'relu') throw new Error(`${layer}: activation ${name} cannot be written to ONNX`);
  const out = graph.node('Relu', [x], `${x}.relu`);
  graph.shapes.set(out, graph.shapes.get(x)!);
  return out;
}

/** A float32 tensor whose first dimension, the batch, is left free. */
function valueInfo(name: string, dims: number[]): OnnxNamespace.IValueInfoProto {
  return { name, type: { tensorType: { elemType: FLOAT, shape: { dim: [{ dimParam: 'batch' }, ...dims.map((d) => ({ dimValue: d }))] } } } };
}

/** encoder.onnx's bytes: image → h, and → z with the head (the method's projection head; a predictor is left out). */
export async function encoderOnnx(model: Network, info: OnnxExportInfo): Promise<Uint8Array> {
  const proto = await loadOnnxProto();
  const graph = new GraphWriter(proto);
  const [, size, , channels] = model.encoder.inputs[0]!.shape as [null, number, number, number];
  graph.shapes.set('image', { dims: [channels, size, size] });
  const hInternal = await appendLayers(graph, model.encoder, 'image', 'encoder');
  const h = graph.node('Identity', [hInternal], 'h');
  const outputs = [valueInfo('h', graph.shapes.get(hInternal)!.dims)];
  const projectionHead = model.method.heads.projection_head;
  if (info.includeHead && projectionHead) {
    graph.shapes.set(h, graph.shapes.get(hInternal)!);
    const zInternal = await appendLayers(graph, projectionHead, h, 'projection_head');
    graph.node('Identity', [zInternal], 'z');
    outputs.push(valueInfo('z', graph.shapes.get(zInternal)!.dims));
  }
  const message = proto.ModelProto.create({
    irVersion: IR_VERSION,
    opsetImport: [{ domain: '', version: ONNX_OPSET }],
    producerName: 'tabclr',
    producerVersion: info.version,
    docString:
      'A SimCLR encoder trained in a browser tab with tabclr. Input image: float32 [batch, C, S, S] (NCHW), pixel values / 255 ' +
      `in [0, 1], the centred square of each image resized as PIL's Image.resize(size, Image.BILINEAR) does. Output h: the representation${info.includeHead ? '; z: the projection head\'s output, where the contrastive loss was computed' : ''}.`,
    graph: {
      name: model.encoder.name,
      node: graph.nodes,
      initializer: graph.initializers,
      input: [valueInfo('image', [channels, size, size])],
      output: outputs,
    },
  });
  return proto.ModelProto.encode(message).finish();
}
