// The engine's training step measured in Node, on WebGPU through Dawn (the Dawn that Chromium uses) or on the tfjs
// CPU backend: no browser, no page, no worker; the same src/engine code the worker runs.
//
//   npm run bench:engine -- [--backend webgpu|cpu] [--configs default,colour,resnet18] [--steps N] [--warmup K|auto]
//                           [--profiled-steps P] [--optimizer adam|sgd|lars] [--fused on|off|both] [--kernel-times]
//                           [--submit-batch N] [--adapter-priority lower|same] [--torch auto|off] [--json]
//
// Per configuration (scripts/lib/engine-bench.ts): images/s and the median steady step; the split by phase (augment,
// forward + backward, gradient norm with the read of the step's numbers, update; from profiled steps, each phase
// closed by a one-element read); kernels and GPU dispatches per step by phase; buffer copies; the JavaScript time to
// record a step; pipelines compiled; GPU bytes a step takes; the adapter; and every kind of dispatch of one step with
// its invocations and the longest serial loop one invocation runs, flagging those with fewer than 8,192 invocations
// that each loop more than 4,096 times (JSON: parallelism_flags). --kernel-times adds the GPU time of every
// kernel of one step (timestamp queries). --fused both measures each configuration with tfjs ops only and with the
// engine's fused WebGPU kernels (src/engine/webgpu), one after the other in the same process. Beside it, the same model in PyTorch when a Python with torch is found
// (scripts/lib/torch-bench.ts): on CUDA when there is one, and on the CPU. --submit-batch sets the dispatches between
// queue submissions (tfjs-webgpu's WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE, 15 as the app runs), to see what early
// submission costs the recording where the GPU shares its CPU (BENCHMARKS.md, "Recording a step"). On a software
// adapter, its worker threads run at a lower priority than the JavaScript thread (lib/adapterPriority.ts), so that the
// recording has its core as it has beside a GPU; --adapter-priority same leaves them at the thread's, to compare.
//
// The steady steps follow each configuration's warm-up (--warmup auto, the default: engine-bench.ts EngineConfig.warmup,
// enough steps for the JavaScript to settle) or --warmup K.
//
// WebGPU needs a Vulkan driver: the machine's own, or SwiftShader's from Debian's chromium when there is none
// (scripts/lib/dawn.ts; VK_ICD_FILENAMES or VK_DRIVER_FILES choose one). It asserts no time.
import * as tf from '@tensorflow/tfjs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { oneOf, parseCommandLineOrExit, someOf, wholeNumber, wordOrWholeNumber } from './lib/args';
import { startDawn, describeAdapter, type Dawn } from './lib/dawn';
import { DEFAULT_WARMUP_STEPS, ENGINE_CONFIGS, benchConfig, type EngineConfig, type EngineResult } from './lib/engine-bench';
import { engineTable, kernelTable, parallelismReport } from './lib/engine-report';
import { runTorchBench, type TorchResult } from './lib/torch-bench';

const CONFIG_NAMES = Object.keys(ENGINE_CONFIGS) as (keyof typeof ENGINE_CONFIGS & string)[];
const USAGE =
  'usage: npm run bench:engine -- [--backend webgpu|cpu] [--configs ' +
  CONFIG_NAMES.join(',') +
  '] [--steps N] [--warmup K|auto] [--profiled-steps P] [--optimizer adam|sgd|lars] [--fused on|off|both] [--kernel-times] [--submit-batch N] [--adapter-priority lower|same] [--torch auto|off] [--json]';

// --kernel-times is a switch: turn it into a valued option before parsing.
const argv = process.argv.slice(2).map((a) => (a === '--kernel-times' ? '--kernel-times=yes' : a));
const options = parseCommandLineOrExit(argv, {
  name: 'bench:engine',
  usage: USAGE,
  defaults: {
    backend: 'webgpu' as 'webgpu' | 'cpu',
    configs: CONFIG_NAMES as string[],
    steps: 10,
    warmup: 'auto' as number | 'auto',
    'profiled-steps': 3,
    optimizer: 'adam' as 'adam' | 'sgd' | 'lars',
    'kernel-times': 'no' as 'yes' | 'no',
    torch: 'auto' as 'auto' | 'off',
    fused: 'on' as 'on' | 'off' | 'both',
    'submit-batch': 15,
    'adapter-priority': 'lower' as 'lower' | 'same',
  },
  values: {
    backend: oneOf(['webgpu', 'cpu'] as const),
    configs: someOf(CONFIG_NAMES),
    steps: wholeNumber(1, 10_000),
    warmup: wordOrWholeNumber('auto', 0, 1000),
    'profiled-steps': wholeNumber(0, 1000),
    optimizer: oneOf(['adam', 'sgd', 'lars'] as const),
    'kernel-times': oneOf(['yes', 'no'] as const),
    torch: oneOf(['auto', 'off'] as const),
    fused: oneOf(['on', 'off', 'both'] as const),
    'submit-batch': wholeNumber(1, 100_000),
    'adapter-priority': oneOf(['lower', 'same'] as const),
  },
});
const log = (line: string) => console.error(line);

/** Warm-up steps: --warmup K, or (auto, the default) each configuration's own (engine-bench.ts EngineConfig.warmup). */
const warmupFor = (config: EngineConfig) => (options.warmup === 'auto' ? (config.warmup ?? DEFAULT_WARMUP_STEPS) : options.warmup);

/** What became of a software adapter's worker threads, for the header. */
function adapterThreads(dawn: Dawn): string {
  if (!dawn.adapter.software) return 'none (a hardware adapter)';
  const lowered = dawn.loweredThreads;
  if (!lowered) return 'at the JavaScript thread’s priority (--adapter-priority same)';
  if (lowered.threads.length === 0) return 'no new worker threads of SwiftShader’s found to lower (not Linux, another software adapter, or a device started before)';
  return `${lowered.threads.length} behind the JavaScript thread (${lowered.idle ? 'SCHED_IDLE, ' : ''}nice ${lowered.nice}; lib/adapterPriority.ts)`;
}

async function main(): Promise<void> {
  const started = Date.now();
  const load = loadavg()[0]!;
  let dawn: Dawn | null = null;
  let adapter = 'tfjs CPU backend (JavaScript)';
  if (options.backend === 'webgpu') {
    dawn = await startDawn([], { lowerSoftwareAdapter: options['adapter-priority'] === 'lower' });
    tf.env().set('WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE', options['submit-batch']);
    adapter = describeAdapter(dawn.adapter);
    log(
      `adapter: ${adapter}${dawn.adapter.software ? ' (software)' : ''}; Vulkan driver: ${dawn.adapter.icd ?? 'the loader’s search'}; ` +
        `timestamp queries: ${dawn.adapter.timestampQuery ? 'yes' : 'no'}; Dawn's wait: ${dawn.gentlePolling ? 'spaced out (lib/dawnPolling.ts)' : 'the binding’s full-speed poll (TABCLR_DAWN_POLLING=full)'}; ` +
        `adapter's worker threads: ${adapterThreads(dawn)}`,
    );
  } else {
    await tf.setBackend('cpu');
    await tf.ready();
  }
  const results: EngineResult[] = [];
  try {
    const fusedRuns = options.backend !== 'webgpu' ? [false] : options.fused === 'both' ? [false, true] : [options.fused === 'on'];
    for (const [name, fused] of options.configs.flatMap((n) => fusedRuns.map((f) => [n, f] as const))) {
      tf.env().set('TABCLR_FUSED_KERNELS', fused);
      const result = await benchConfig(name, ENGINE_CONFIGS[name]!, {
        steps: options.steps,
        warmup: warmupFor(ENGINE_CONFIGS[name]!),
        profiledSteps: options['profiled-steps'],
        optimizer: options.optimizer,
        adapter,
        kernelTimes: options['kernel-times'] === 'yes',
        log,
      });
      results.push(result);
      if (options.json) console.log(JSON.stringify(result));
    }
  } finally {
    await dawn?.stop();
  }
  let torch: TorchResult[] = [];
  if (options.torch === 'auto') {
    torch = await runTorchBench(
      options.configs.map((name) => ({ name, ...ENGINE_CONFIGS[name]! })),
      { steps: options.steps, warmup: options.warmup === 'auto' ? DEFAULT_WARMUP_STEPS : options.warmup, optimizer: options.optimizer, log },
    );
    if (options.json) for (const t of torch) console.log(JSON.stringify(t));
  }
  const cpu = cpus()[0]?.model.trim() ?? 'unknown CPU';
  log('');
  log(`Command:  npm run bench:engine -- ${process.argv.slice(2).join(' ')}`.trimEnd());
  log(`Machine:  nproc ${availableParallelism()}; ${cpu}; ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM; load average ${load.toFixed(2)} when the run began`);
  log(`Backend:  ${options.backend}; adapter ${adapter}; Node ${process.version}`);
  log(`Date:     ${new Date().toISOString().slice(0, 10)}`);
  log('');
  log(engineTable(results, torch));
  const fusedRunsDiffer = new Set(results.map((r) => r.fused)).size > 1;
  for (const r of results) if (r.kernel_times) log(`\n${r.config}: GPU time by kernel (${r.kernel_times.source})\n\n${kernelTable(r)}`);
  for (const r of results) {
    if (r.parallelism) log(`\n${r.config}${fusedRunsDiffer ? (r.fused ? ' (fused)' : ' (tfjs ops)') : ''}: parallelism of one step's dispatches\n\n${parallelismReport(r.parallelism)}`);
  }
  log(`\nWhole run: ${((Date.now() - started) / 1000).toFixed(0)} s.`);
  if (options.json) {
    console.log(
      JSON.stringify({
        kind: 'summary',
        backend: options.backend,
        adapter,
        // How Node waited for Dawn (lib/dawnPolling.ts): step times before 2026-12-08 are the full poll's.
        dawn_polling: dawn ? (dawn.gentlePolling ? 'gentle' : 'full') : null,
        // How the software adapter's worker threads ran (lib/adapterPriority.ts): 'idle' (SCHED_IDLE and nice 19),
        // 'nice' (nice 19 only), or null: at the JavaScript thread's priority, as before 2026-12-08, or no software
        // adapter. record_ms before then counts the time they took the recording thread's core.
        adapter_threads: dawn?.loweredThreads && dawn.loweredThreads.threads.length > 0 ? (dawn.loweredThreads.idle ? 'idle' : 'nice') : null,
        configs: results.map((r) => ({
          config: r.config,
          fused: r.fused,
          images_per_sec: r.images_per_sec,
          step_ms: r.step_ms,
          dispatches_per_step: r.dispatches_per_step,
          parallelism_flags: r.parallelism_flags.length,
        })),
        torch: torch.map((t) => ({ config: t.config, device: t.device, images_per_sec: t.images_per_sec ?? null })),
      }),
    );
  }
}

main().then(
  () => process.exit(0),
  (e: Error) => {
    console.error(`bench:engine: ${e.message}`);
    process.exit(1);
  },
);
