// The engine benchmark's tables (Markdown, as BENCHMARKS.md keeps them). Pure.
import type { EngineResult } from './engine-bench';
import type { TorchResult } from './torch-bench';
import { round } from './stats';

/** A Markdown table: the first row is the header; the first column is left-aligned, the others right-aligned. */
export function markdownTable(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}`;
  return [line(rows[0]!), `${rule}|`, ...rows.slice(1).map(line)].join('\n');
}

const num = (x: number | null | undefined, digits = 0) => (x === null || x === undefined || Number.isNaN(x) ? 'n/a' : x.toFixed(digits));
const mib = (bytes: number | null) => (bytes === null ? 'n/a' : `${round(bytes / 2 ** 20, 2)} MiB`);
const phases = (b: EngineResult['kernels_by_phase'] | null) =>
  b === null ? 'n/a' : `${b.augment} / ${b.forwardBackward} / ${b.gradNorm} / ${b.update}`;

/** One column per configuration; PyTorch rows at the end when it ran. */
export function engineTable(results: EngineResult[], torch: TorchResult[] = []): string {
  const both = new Set(results.map((r) => r.fused)).size > 1;
  const header = [
    'Figure',
    ...results.map((r) => `${r.config}: ${r.encoder} ×${r.width}, batch ${r.batch}, ${r.image_size} px, ${r.channels} ch${both ? (r.fused ? ', fused' : ', tfjs ops') : ''}`),
  ];
  const row = (label: string, f: (r: EngineResult) => string) => [label, ...results.map(f)];
  const rows = [
    header,
    row('Images/s (median steady step)', (r) => num(r.images_per_sec, 2)),
    row('Step, median (ms)', (r) => num(r.step_ms)),
    row('  augment (ms, profiled)', (r) => num(r.phase_ms.augment)),
    row('  forward + backward (ms)', (r) => num(r.phase_ms.forward_backward)),
    row('  gradient norm + read (ms)', (r) => num(r.phase_ms.grad_norm)),
    row('  update (ms)', (r) => num(r.phase_ms.update)),
    row('Kernels per step', (r) => String(r.kernels_per_step)),
    row('  by phase (aug / f+b / norm / update)', (r) => phases(r.kernels_by_phase)),
    row('GPU dispatches per step', (r) => num(r.dispatches_per_step)),
    row('  by phase (aug / f+b / norm / update)', (r) => phases(r.dispatches_by_phase)),
    row('Buffer copies per step', (r) => num(r.copies_per_step)),
    row('Queue submissions per step (batch)', (r) => (r.submits_per_step === null ? '—' : `${r.submits_per_step} (${r.submit_batch})`)),
    row('JS record time per step (ms)', (r) => num(r.record_ms, 1)),
    row('  GC pauses left out of it, per step (ms)', (r) => num(r.record_gc_ms, 1)),
    row('  its CPU time on the JS thread (ms)', (r) => num(r.record_cpu_ms, 1)),
    row('  its wait for a core, ready to run (ms)', (r) => num(r.record_runq_ms, 1)),
    row('Dispatches flagged as too serial', (r) => (r.parallelism ? String(r.parallelism_flags.reduce((a, f) => a + f.count, 0)) : 'n/a')),
    row('Pipelines compiled', (r) => num(r.pipelines_compiled)),
    row('Compile before step 1 (ms)', (r) => num(r.compile_ms)),
    row('GPU bytes taken per step', (r) => mib(r.gpu_bytes_per_step)),
    row('GPU bytes newly allocated per steady step', (r) => mib(r.gpu_bytes_new_per_step)),
    row('Trainable parameters', (r) => r.parameters.toLocaleString('en-US')),
    row('Achieved GFLOP/s', (r) => num(r.achieved_gflops, 3)),
    row('Loss after the steady steps', (r) => num(r.final_loss, 4)),
    row('Tensors flat across steps', (r) => (r.tensors_flat ? 'yes' : 'NO')),
  ];
  for (const device of [...new Set(torch.map((t) => t.device))]) {
    rows.push(
      row(`PyTorch ${device}: images/s`, (r) => {
        const t = torch.find((x) => x.device === device && x.config === r.config);
        return t ? (t.images_per_sec !== undefined ? num(t.images_per_sec, 2) : 'n/a') : 'n/a';
      }),
    );
  }
  return markdownTable(rows);
}

/** The kernels of one profiled step by GPU time, and the programs by time. */
export function kernelTable(r: EngineResult): string {
  const k = r.kernel_times;
  if (!k) return '';
  const total = k.total_ms || 1;
  const rows = [['Kernel', 'Count', 'GPU ms', 'Share'], ...k.by_time.map((e) => [e.name, String(e.count), e.ms.toFixed(1), `${((100 * e.ms) / total).toFixed(1)} %`])];
  const programs = [['Program', 'Runs', 'GPU ms', 'Share'], ...k.programs_by_time.map((e) => [e.name, String(e.count), e.ms.toFixed(1), `${((100 * e.ms) / total).toFixed(1)} %`])];
  const counts = [['Kernel', 'Count per step'], ...r.top_kernels_by_count.map((e) => [e.name, String(e.count)])];
  return [markdownTable(rows), '', markdownTable(programs), '', markdownTable(counts), `\nTotal GPU time of the profiled step: ${k.total_ms.toFixed(0)} ms`].join('\n');
}

// ------------------------------------------------------------------------------------------- parallelism report

/**
 * A dispatch is flagged when it runs fewer than this many invocations, each looping more than FLAG_LOOP times: a GPU
 * keeps tens of thousands of invocations in flight, so such a dispatch leaves it mostly idle for the length of one
 * invocation's loop, however fast the rest of the step is (tfjs-webgpu's filter gradient did: 864 invocations of
 * 131,072 iterations each for a colour convnet4's first layer at 128 views).
 */
export const FLAG_INVOCATIONS = 8192;
export const FLAG_LOOP = 4096;

/** One kind of dispatch of a step: its program, how parallel it is, how many times the step ran it and in which phases. */
export interface DispatchParallelism {
  program: string;
  invocations: number;
  /** The longest serial loop one invocation runs; null where the report does not know the program. */
  serial_loop: number | null;
  count: number;
  phases: string[];
}

export function tooSerial(d: { invocations: number; serial_loop: number | null }): boolean {
  return d.serial_loop !== null && d.invocations < FLAG_INVOCATIONS && d.serial_loop > FLAG_LOOP;
}

/** What a dispatch looked like to the backend: the program object's fields, its uniforms and its inputs' shapes. */
export interface DispatchFields {
  /** The program's class name (tfjs-webgpu's ConvDerFilterProgram; TabclrXProgram for the engine's own). */
  className: string;
  dispatch: number[];
  workgroupSize: number[];
  /** The program's uniform declaration ('dimInner : i32, pads : vec2<i32>,'), as tfjs reads it. */
  uniformDeclaration?: string;
  /** The uniform values passed with it, in the declaration's order (vec2 and vec4 as 2 and 4 numbers). */
  uniformData?: number[][];
  inputShapes?: number[][];
  isVec4?: boolean;
  splitedDimInner?: number;
}

/** The program's uniforms by name: vectors as arrays, scalars as one-element arrays. */
export function namedUniforms(declaration: string | undefined, data: number[][] | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  if (!declaration || !data) return out;
  const names = declaration
    .split(',')
    .map((entry) => entry.split(':')[0]!.trim())
    .filter(Boolean);
  names.forEach((name, i) => {
    if (data[i]) out[name] = data[i]!;
  });
  return out;
}

/** Programs of tfjs-webgpu whose invocations each compute one or a few elements without a loop. */
const ELEMENTWISE = new Set([
  'BinaryOpProgram',
  'UnaryOpProgram',
  'BiasActivationProgram',
  'CastProgram',
  'ClipProgram',
  'ClipVec4Program',
  'ConcatProgram',
  'FillProgram',
  'GatherProgram',
  'Im2ColProgram',
  'OneHotProgram',
  'PadProgram',
  'SelectProgram',
  'SliceProgram',
  'StridedSliceProgram',
  'TileProgram',
  'TransposeProgram',
  'TransposeSharedProgram',
]);

/**
 * The longest serial loop one invocation of a tfjs-webgpu program runs, from its class and the shapes it was given
 * (its code, tfjs-backend-webgpu 4.22); null for a program this does not know.
 */
export function tfjsSerialLoop(d: DispatchFields): number | null {
  const u = namedUniforms(d.uniformDeclaration, d.uniformData);
  const one = (name: string) => u[name]?.[0];
  switch (d.className) {
    case 'Conv2DDerFilterProgram': {
      // One invocation per weight, over batch × output rows × output columns.
      const [batch, rows, columns] = [one('batchSize'), one('outHeight'), one('outWidth')];
      return batch && rows && columns ? batch * rows * columns : null;
    }
    case 'Conv2DDerInputProgram': {
      // One invocation per input value (1 × 4 × 2 on its vec4 path), over the filter's taps × output channels.
      const [filter, out] = [u['filterDims'], u['outBackprop']];
      if (!filter || !out) return null;
      return filter[0]! * filter[1]! * Math.ceil(out[3]! / (d.isVec4 ? 4 : 1));
    }
    case 'Conv2DMMProgram':
    case 'MatMulPackedProgram':
    case 'MatMulSmallOutputSizeProgram':
      // Each invocation accumulates its outputs over the whole inner dimension (in tiles).
      return one('dimInner') ?? null;
    case 'MatMulSplitKProgram':
      return d.splitedDimInner ?? 128;
    case 'MatMulReduceProgram':
      return one('dimInner') !== undefined ? Math.ceil(one('dimInner')! / d.workgroupSize[0]!) : null;
    case 'ReduceProgram':
      // A workgroup per output; its invocations stride over the reduced axis, then a tree in workgroup memory.
      return one('reduceSize') !== undefined ? Math.ceil(one('reduceSize')! / d.workgroupSize[0]!) : null;
    default:
      return ELEMENTWISE.has(d.className) ? 1 : null;
  }
}

/** Invocations a dispatch launches: its workgroups times their size. */
export function launchedInvocations(d: Pick<DispatchFields, 'dispatch' | 'workgroupSize'>): number {
  return d.dispatch.reduce((a, b) => a * b, 1) * d.workgroupSize.reduce((a, b) => a * b, 1);
}

/** Dispatches of one kind (program, invocations, loop) counted together, in the order the step first ran them. */
export function groupDispatches(dispatches: { program: string; invocations: number; serial_loop: number | null; phase: string }[]): DispatchParallelism[] {
  const groups = new Map<string, DispatchParallelism>();
  for (const d of dispatches) {
    const key = `${d.program}|${d.invocations}|${d.serial_loop}`;
    const g = groups.get(key);
    if (g) {
      g.count += 1;
      if (!g.phases.includes(d.phase)) g.phases.push(d.phase);
    } else {
      groups.set(key, { program: d.program, invocations: d.invocations, serial_loop: d.serial_loop, count: 1, phases: [d.phase] });
    }
  }
  return [...groups.values()];
}

const count = (n: number) => n.toLocaleString('en-US');

/** The step's dispatches, longest loop first, and the line that says which are flagged. */
export function parallelismReport(rows: DispatchParallelism[]): string {
  const sorted = [...rows].sort((a, b) => (b.serial_loop ?? -1) - (a.serial_loop ?? -1) || a.invocations - b.invocations);
  const table = markdownTable([
    ['Program', 'Dispatches', 'Invocations', 'Longest loop', 'Phase'],
    ...sorted.map((r) => [`${r.program}${tooSerial(r) ? ' ⚠' : ''}`, String(r.count), count(r.invocations), r.serial_loop === null ? '?' : count(r.serial_loop), r.phases.join(', ')]),
  ]);
  return [table, '', parallelismFlagLine(rows)].join('\n');
}

export function parallelismFlagLine(rows: DispatchParallelism[]): string {
  const flagged = rows.filter(tooSerial);
  const unknown = rows.filter((r) => r.serial_loop === null).reduce((a, r) => a + r.count, 0);
  const rule = `fewer than ${count(FLAG_INVOCATIONS)} invocations each looping more than ${count(FLAG_LOOP)} times`;
  const tail = unknown > 0 ? ` (${unknown} dispatches of programs whose loop the report does not know, marked ?)` : '';
  if (flagged.length === 0) return `Flagged dispatches (${rule}): none${tail}.`;
  return `Flagged dispatches (${rule}): ${flagged.map((r) => `${r.program} ×${r.count} (${count(r.invocations)} invocations, loop ${count(r.serial_loop!)})`).join('; ')}${tail}.`;
}
