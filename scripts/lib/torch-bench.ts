// The PyTorch side of the engine benchmark: the same model, batch and image size trained by
// scripts/bench_engine_torch.py, on CUDA when PyTorch sees a GPU and on the CPU, so that a GPU machine prints
// tabclr on WebGPU beside PyTorch on the same chip. Found, not installed: TABCLR_PYTHON, else python3 on the PATH,
// else /usr/bin/python3, the first that imports torch.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { EngineConfig } from './engine-bench';

export interface TorchResult {
  kind: 'torch';
  config: string;
  device: string;
  /** Why this device did not run (no torch, no CUDA, an error); the figures are absent then. */
  unavailable?: string;
  images_per_sec?: number;
  step_ms?: number;
  step_ms_all?: number[];
  parameters?: number;
  final_loss?: number;
  torch_version?: string;
  device_name?: string;
  threads?: number;
  python?: string;
}

export interface TorchBenchOptions {
  steps: number;
  warmup: number;
  optimizer: string;
  log: (line: string) => void;
}

/** The folder holding bench_engine_torch.py: beside the bundle in a pack (TABCLR_TORCH_DIR), else scripts/. */
function scriptDir(): string {
  if (process.env.TABCLR_TORCH_DIR) return process.env.TABCLR_TORCH_DIR;
  return resolve(dirname(fileURLToPath(import.meta.url)), '..');
}

interface PythonFound {
  python: string;
  torch: string;
  cuda: boolean;
}

/** The first Python that imports torch, with its version and whether it sees CUDA; a reason when there is none. */
export function findTorch(candidates = [process.env.TABCLR_PYTHON, 'python3', '/usr/bin/python3'].filter((p): p is string => !!p)): PythonFound | string {
  const tried: string[] = [];
  for (const python of [...new Set(candidates)]) {
    const probe = spawnSync(python, ['-c', 'import json, torch; print(json.dumps({"torch": torch.__version__, "cuda": torch.cuda.is_available()}))'], {
      encoding: 'utf8',
      timeout: 120_000,
    });
    if (probe.status === 0) {
      const found = JSON.parse(probe.stdout.trim().split('\n').pop()!) as { torch: string; cuda: boolean };
      return { python, ...found };
    }
    tried.push(python);
  }
  return `no Python with torch (tried ${tried.join(', ')}; set TABCLR_PYTHON to choose one)`;
}

function runPython(python: string, args: string[], log: (line: string) => void): Promise<TorchResult[]> {
  return new Promise((resolvePromise) => {
    const child = spawn(python, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
      for (const line of d.toString().split('\n')) if (line.trim()) log(`  torch: ${line}`);
    });
    child.on('close', (code) => {
      const lines = out
        .split('\n')
        .filter((l) => l.trim().startsWith('{'))
        .map((l) => JSON.parse(l) as TorchResult);
      if (code !== 0 && lines.length === 0) {
        const last = err.trim().split('\n').pop() ?? `exit code ${code}`;
        resolvePromise([{ kind: 'torch', config: '', device: '', unavailable: last }]);
      } else resolvePromise(lines);
    });
  });
}

/** Every configuration on CUDA (when PyTorch sees it) and on the CPU; a row that says why where one cannot run. */
export async function runTorchBench(configs: (EngineConfig & { name: string })[], o: TorchBenchOptions): Promise<TorchResult[]> {
  const found = findTorch();
  const script = resolve(scriptDir(), 'bench_engine_torch.py');
  const devices = typeof found === 'string' || !found.cuda ? ['cpu'] : ['cuda', 'cpu'];
  const missing = (reason: string) => configs.flatMap((c) => devices.map((device) => ({ kind: 'torch' as const, config: c.name, device, unavailable: reason })));
  if (typeof found === 'string') {
    o.log(`PyTorch side: ${found}`);
    return missing(found);
  }
  if (!existsSync(script)) return missing(`${script} is missing`);
  o.log(`PyTorch side: ${found.python}, torch ${found.torch}, ${found.cuda ? 'CUDA available' : 'no CUDA'}`);
  const results: TorchResult[] = [];
  for (const c of configs) {
    for (const device of devices) {
      const args = [
        script,
        '--config-name', c.name,
        '--encoder', c.encoder,
        '--width', String(c.width),
        '--batch', String(c.batch),
        '--image-size', String(c.imageSize),
        '--channels', String(c.channels),
        '--optimizer', o.optimizer,
        '--steps', String(o.steps),
        '--warmup', String(o.warmup),
        '--device', device,
      ];
      const got = await runPython(found.python, args, o.log);
      for (const r of got) results.push({ ...r, config: r.config || c.name, device: r.device || device, python: found.python });
    }
  }
  return results;
}
