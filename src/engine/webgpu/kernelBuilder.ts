// One way to write a kernel: every fused WGSL program of the engine is built here. What they would each repeat is
// said once: the list of integer uniforms (declared in WGSL and filled in at run time in the same order from one
// record), the index arithmetic (a flat index split into coordinates and back), the bounds checks, how many
// workgroups a dispatch takes, and the two numbers the engine benchmark's parallelism report needs of every dispatch:
// how many invocations it runs and the longest serial loop one of them runs. A kernel file holds its arithmetic and
// its test; it runs through the tfjs WebGPU backend (backend.runWebGPUProgram, the way tfjs's own programs run), so
// that its output is an ordinary tensor; leanDispatch.ts does tfjs's per-dispatch work once per distinct dispatch.
//
// Programs are flat (one invocation per work item, no workgroup memory, no barriers) and may read inputs four floats
// at a time. SwiftShader, the software adapter the tests and CI run on, runs a workgroup barrier by switching
// between invocations, which made tfjs's shared-memory programs 20× slower there than flat ones; a GPU runs flat
// programs well too (conv2dGemm.ts has the figures for a tiled variant). Sizes go in uniforms, not in the code, so
// that layers of different sizes share one pipeline.
import * as tf from '@tensorflow/tfjs';
import type { ProgramParallelism } from './limits';
import { installLeanDispatch } from './leanDispatch';
import { assertBufferFits, wrap, type ProgramUniform, type WebGPUBackendInternals } from './programs';

/** Invocations per workgroup. */
export const WORKGROUP_SIZE = 64;

/** Workgroups a flat dispatch of `invocations` takes (before tfjs reshapes one past the per-dimension limit). */
export function workgroupsFor(invocations: number): number {
  return Math.max(1, Math.ceil(invocations / WORKGROUP_SIZE));
}

/**
 * How parallel one dispatch is (limits.ts's ProgramParallelism, which the engine benchmark reports): the invocations
 * that do work (the dispatch rounds up to whole workgroups) and the iterations of the longest serial loop one of them
 * runs (nested loops multiplied out; 1 for none).
 */
export type { ProgramParallelism };

/** The shader key a kernel named `name` has (before tfjs appends its input ranks and types at run time). */
export const shaderKeyOf = (name: string) => `tabclr_${name}`;

/** Integer uniforms by name: the WGSL declaration and the run-time values come from the same list, in its order. */
export class UniformList<Name extends string> {

  /** 'a : i32, b : i32,' for a program's `uniforms`. */
  readonly declaration: string;

  constructor(readonly names: readonly Name[]) {
    this.declaration = names.map((n) => `${n} : i32,`).join(' ');
  }

  values(values: Record<Name, number>): ProgramUniform[] {
    return this.names.map((n) => {
      const v = values[n];
      if (!Number.isInteger(v)) throw new Error(`uniform ${n} must be an integer, got ${v}`);
      return { type: 'int32', data: [v] };
    });
  }
}

/**
 * WGSL `let` statements splitting the flat row-major index `index` of an array of `sizes` (outermost first, WGSL
 * expressions) into the coordinates `names`: unflatten('p', ['n', 'y', 'x'], ['B', 'H', 'W']) gives x = p % W,
 * y = (p / W) % H, n = p / (W * H). The outermost size is not needed (an index past the array gives n past it).
 */
export function unflatten(index: string, names: readonly string[], sizes: readonly string[], prefix = ''): string {
  if (names.length !== sizes.length) throw new Error('unflatten: one size per coordinate');
  const lines: string[] = [];
  let rest = index;
  for (let i = names.length - 1; i >= 0; i--) {
    const name = `${prefix}${names[i]}`;
    if (i === 0) {
      lines.push(`let ${name} = ${rest};`);
    } else {
      lines.push(`let ${name} = ${rest} % (${sizes[i]});`);
      const next = `${prefix}${names[i]}_rest`;
      lines.push(`let ${next} = ${rest} / (${sizes[i]});`);
      rest = next;
    }
  }
  return lines.join('\n  ');
}

/** The flat row-major index of `coords` in an array of `sizes` (outermost first): ((n * H + y) * W + x). */
export function flatten(coords: readonly string[], sizes: readonly string[]): string {
  if (coords.length !== sizes.length) throw new Error('flatten: one size per coordinate');
  let expression = coords[0]!;
  for (let i = 1; i < coords.length; i++) expression = `(${expression}) * (${sizes[i]}) + ${coords[i]}`;
  return expression;
}

/** Whether every coordinate lies in [0, size). */
export function inside(coords: readonly string[], sizes: readonly string[]): string {
  return coords.map((c, i) => `${c} >= 0 && ${c} < (${sizes[i]})`).join(' && ');
}

/** The early return of invocations past the work: a dispatch is whole workgroups, and tfjs may square it. */
export function guard(index: string, count: string): string {
  return `if (${index} >= ${count}) { return; }`;
}

/** The JavaScript twin of the WGSL above, for tests and for working out sizes: row-major coordinates of `index`. */
export function coordinatesOf(index: number, sizes: readonly number[]): number[] {
  const out = new Array<number>(sizes.length);
  let rest = index;
  for (let i = sizes.length - 1; i > 0; i--) {
    out[i] = rest % sizes[i]!;
    rest = Math.floor(rest / sizes[i]!);
  }
  out[0] = rest;
  return out;
}

export function indexOf(coords: readonly number[], sizes: readonly number[]): number {
  return coords.reduce((flat, c, i) => (i === 0 ? c : flat * sizes[i]! + c), 0);
}

/** An input of a kernel: its WGSL name and whether the program reads it as vec4<f32> (its length a multiple of 4). */
export interface KernelInput {
  name: string;
  vec4?: boolean;
}

export interface KernelSpec {
  /** The program's name (tfjs's pipeline key and, as TabclrNameProgram, its label); variants need names of their own. */
  name: string;
  inputs: readonly KernelInput[];
  /** Floats of the output, which tfjs declares as `result: array<f32>`. */
  outputSize: number;
  /** The WGSL declaration of the uniforms (UniformList.declaration). */
  uniforms: string;
  /**
   * The body of `fn main(index : i32)`; starts with a guard against indexes past the work. A function is called only when
   * the program is compiled: the same program is handed out again at every dispatch (kernelProgram), so its code need not
   * be built each time.
   */
  body: string | (() => string);
  /** WGSL functions the body calls (as `body`, a function is called only to compile). */
  helpers?: string | (() => string);
  /** Invocations that do work: the dispatch is this many, rounded up to whole workgroups. */
  invocations: number;
  /** The longest serial loop one invocation runs. */
  serialLoop: number;
}

/** A flat program as tfjs-webgpu's runWebGPUProgram takes one (the fields it reads), with its parallelism beside. */
export class KernelProgram {
  readonly outputShape: number[];
  /** tfjs appends the inputs' ranks and types to it when the program runs. */
  shaderKey: string;
  /** The shader key as built here, which the lean dispatch path (leanDispatch.ts) keys its cache by. */
  readonly baseKey: string;
  readonly dispatchLayout = { x: [0] };
  /** tfjs replaces it with a spread one past the per-dimension limit; runKernel puts this back before every run. */
  dispatch: [number, number, number];
  readonly flatDispatch: [number, number, number];
  readonly workgroupSize: [number, number, number] = [WORKGROUP_SIZE, 1, 1];
  readonly variableNames: string[];
  /** Components per input (4: read as vec4<f32>); the output stays scalar. */
  readonly variableComponents: number[];
  readonly outputComponent = 1;
  readonly uniforms: string | undefined;
  readonly size = false;
  /** What the engine benchmark's parallelism report reads off every dispatch of a kernel built here. */
  readonly parallelism: ProgramParallelism;

  constructor(private readonly spec: KernelSpec) {
    this.shaderKey = shaderKeyOf(spec.name);
    this.baseKey = this.shaderKey;
    this.outputShape = [spec.outputSize];
    this.variableNames = spec.inputs.map((i) => i.name);
    this.variableComponents = spec.inputs.map((i) => (i.vec4 ? 4 : 1));
    this.flatDispatch = [workgroupsFor(spec.invocations), 1, 1];
    this.dispatch = this.flatDispatch;
    this.uniforms = spec.uniforms || undefined;
    this.parallelism = { program: this.shaderKey, invocations: spec.invocations, serialLoop: spec.serialLoop };
  }

  getUserCode(): string {
    const code = (part: string | (() => string) | undefined) => (typeof part === 'function' ? part() : (part ?? ''));
    return `${code(this.spec.helpers)}\nfn main(index : i32) {\n  ${code(this.spec.body)}\n}`;
  }
}

const named = new Map<string, typeof KernelProgram>();

/**
 * Programs made, by name and sizes. A program's code depends on its name alone (tfjs keys its pipelines by the name,
 * so variants have names of their own), so a program of the same name and sizes is the same program: made once, not at
 * every dispatch (about 70 dispatches a default step, each a class instance with a dozen fields). Bounded: emptied
 * when full, as a model of another size makes new ones.
 */
const made = new Map<string, KernelProgram>();
const MADE_CAPACITY = 4096;

/** The program as an instance of a class named after it ('conv_forward' → TabclrConvForwardProgram): tfjs labels pipelines and profiles programs by their class name. */
export function kernelProgram(spec: KernelSpec): KernelProgram {
  const key = `${spec.name}|${spec.outputSize}|${spec.invocations}|${spec.serialLoop}`;
  const existing = made.get(key);
  if (existing) return existing;
  if (made.size >= MADE_CAPACITY) made.clear();
  let Named = named.get(spec.name);
  if (!Named) {
    const className = `Tabclr${spec.name.replace(/(^|_)(\w)/g, (_, __, c: string) => c.toUpperCase())}Program`;
    Named = { [className]: class extends KernelProgram {} }[className]!;
    named.set(spec.name, Named);
  }
  const program = new Named(spec);
  made.set(key, program);
  return program;
}

/**
 * Runs a kernel on flat views of its inputs; the result (a float32 [outputSize]) belongs to the caller. An output past
 * the device's buffer limit is refused first (limits.ts says why).
 */
export function runKernel(backend: WebGPUBackendInternals, program: KernelProgram, inputs: tf.TensorInfo[], uniforms: ProgramUniform[] = []): tf.TensorInfo {
  assertBufferFits(backend, program.outputShape[0]!, () => `the output of ${program.shaderKey}`);
  const flat = inputs.map((t) => ({ dataId: t.dataId, shape: [t.shape.reduce((a, b) => a * b, 1)], dtype: t.dtype }));
  installLeanDispatch(backend);
  // What tfjs changed at the program's last run (kernelProgram hands out the same program again).
  program.shaderKey = program.baseKey;
  program.dispatch = program.flatDispatch;
  return backend.runWebGPUProgram(program, flat, 'float32', uniforms);
}

/** runKernel on tensors, for code outside a kernel function: the result is a float32 [outputSize] tensor of the current scope. */
export function runKernelOnTensors(backend: WebGPUBackendInternals, program: KernelProgram, inputs: tf.Tensor[], uniforms: ProgramUniform[] = []): tf.Tensor1D {
  return wrap(runKernel(backend, program, inputs, uniforms)) as tf.Tensor1D;
}

/** Frees a backend result that no tensor owns (an intermediate of a kernel function). */
export function disposeInfo(backend: WebGPUBackendInternals, info: tf.TensorInfo): void {
  (backend as unknown as { disposeData(id: object): void }).disposeData(info.dataId);
}

export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo | null | undefined>;
  attrs: Record<string, unknown>;
  backend: WebGPUBackendInternals;
}

/**
 * Puts `mine` in front of tfjs-webgpu's kernel `name`: it runs first, and what it returns null for (a case it does not
 * cover, or the flag off) goes to the kernel it wraps, which stays the fallback.
 */
export function wrapKernel(name: string, mine: (args: KernelArgs) => tf.TensorInfo | null): void {
  const original = tf.getKernel(name, 'webgpu');
  if (!original) return;
  tf.unregisterKernel(name, 'webgpu');
  tf.registerKernel({
    ...original,
    kernelFunc: ((args: KernelArgs) => mine(args) ?? original.kernelFunc(args as unknown as Parameters<tf.KernelFunc>[0])) as unknown as tf.KernelFunc,
  });
}
