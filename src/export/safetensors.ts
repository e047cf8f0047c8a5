// Weights as .safetensors with PyTorch names and layouts, so a torch module can load_state_dict them.
// Format (huggingface/safetensors): u64 little-endian header length, a JSON header (padded with spaces to a multiple
// of 8 bytes), then the raw little-endian tensor bytes at the offsets the header gives.

export interface NamedArray {
  name: string;
  shape: number[];
  values: Float32Array;
}

/**
 * 'block1_conv/kernel' → 'block1_conv.weight'; batch norm gamma/beta/moving_mean/moving_variance → weight, bias,
 * running_mean, running_var (torch.nn.BatchNorm2d's state_dict names).
 */
export function pytorchName(path: string): string {
  const [layer, weight] = [path.slice(0, path.lastIndexOf('/')), path.slice(path.lastIndexOf('/') + 1)];
  const renamed: Record<string, string> = {
    kernel: 'weight',
    bias: 'bias',
    gamma: 'weight',
    beta: 'bias',
    moving_mean: 'running_mean',
    moving_variance: 'running_var',
  };
  return `${layer.replace(/\//g, '.')}.${renamed[weight] ?? weight}`;
}

/** Reorders a tfjs weight into PyTorch's layout: conv HWIO → OIHW, dense [in, out] → [out, in]. */
export function toPytorchLayout(array: NamedArray): NamedArray {
  const { shape, values } = array;
  const name = pytorchName(array.name);
  if (shape.length === 4 && array.name.endsWith('/kernel')) {
    const [h, w, i, o] = shape as [number, number, number, number];
    const out = new Float32Array(values.length);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < i; c++) for (let k = 0; k < o; k++) out[((k * i + c) * h + y) * w + x] = values[((y * w + x) * i + c) * o + k]!;
    return { name, shape: [o, i, h, w], values: out };
  }
  if (shape.length === 2 && array.name.endsWith('/kernel')) {
    const [i, o] = shape as [number, number];
    const out = new Float32Array(values.length);
    for (let r = 0; r < i; r++) for (let c = 0; c < o; c++) out[c * i + r] = values[r * o + c]!;
    return { name, shape: [o, i], values: out };
  }
  return { name, shape: [...shape], values };
}

/** The inverse of toPytorchLayout: a PyTorch-layout array back into tfjs's layout, given the tfjs weight's name and shape. */
export function fromPytorchLayout(values: Float32Array, tfjsName: string, tfjsShape: number[]): Float32Array {
  if (tfjsShape.length === 4 && tfjsName.endsWith('/kernel')) {
    const [h, w, i, o] = tfjsShape as [number, number, number, number];
    const out = new Float32Array(values.length);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++)
        for (let c = 0; c < i; c++) for (let k = 0; k < o; k++) out[((y * w + x) * i + c) * o + k] = values[((k * i + c) * h + y) * w + x]!;
    return out;
  }
  if (tfjsShape.length === 2 && tfjsName.endsWith('/kernel')) {
    const [i, o] = tfjsShape as [number, number];
    const out = new Float32Array(values.length);
    for (let r = 0; r < i; r++) for (let c = 0; c < o; c++) out[r * o + c] = values[c * i + r]!;
    return out;
  }
  return values.slice();
}

export function encodeSafetensors(arrays: NamedArray[], metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: metadata };
  let offset = 0;
  for (const a of arrays) {
    if (a.name in header) throw new Error(`duplicate tensor name ${a.name}`);
    header[a.name] = { dtype: 'F32', shape: a.shape, data_offsets: [offset, offset + a.values.byteLength] };
    offset += a.values.byteLength;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + new TextEncoder().encode(json).length) % 8)) % 8);
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.length;
  for (const a of arrays) {
    // Float32Array bytes are little-endian on every platform browsers run on.
    out.set(new Uint8Array(a.values.buffer, a.values.byteOffset, a.values.byteLength), at);
    at += a.values.byteLength;
  }
  return out;
}

export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  data_offsets: [number, number];
}

/** The header of a .safetensors file: tensor entries by name, and the metadata. */
export function readSafetensorsHeader(bytes: Uint8Array): { tensors: Record<string, SafetensorsEntry>; metadata: Record<string, string>; dataStart: number } {
  const length = Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const parsed = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + length))) as Record<string, SafetensorsEntry> & { __metadata__?: Record<string, string> };
  const { __metadata__: metadata = {}, ...tensors } = parsed;
  return { tensors: tensors as Record<string, SafetensorsEntry>, metadata, dataStart: 8 + length };
}
