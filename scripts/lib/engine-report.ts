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
    row('JS record time per step (ms)', (r) => num(r.record_ms, 1)),
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
