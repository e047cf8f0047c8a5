// The Python that the tests of the zip's tabclr_torch.py, its encoder.onnx and the cluster script run: PyTorch and
// torchvision, onnx (its checker) and OpenCV (its DNN module). Never optional: CI installs Debian's packages
// (.ci/run), so a machine without them fails these tests with what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** Debian's packages for the modules the tests import. */
const PACKAGES: Record<string, string> = { torch: 'python3-torch', torchvision: 'python3-torchvision', onnx: 'python3-onnx', cv2: 'python3-opencv' };

let found: string | null = null;

/**
 * TABCLR_PYTHON when set, else Debian's /usr/bin/python3 (where apt-get puts python3-torch; the `python3` first on
 * the PATH may be another one, e.g. pyenv's, without torch), else `python3`.
 */
export function torchPython(): string {
  if (found) return found;
  const candidates = process.env.TABCLR_PYTHON ? [process.env.TABCLR_PYTHON] : ['/usr/bin/python3', 'python3'];
  const tried: string[] = [];
  for (const python of candidates) {
    if (python.includes('/') && !existsSync(python)) {
      tried.push(`${python}: not there`);
      continue;
    }
    const probe = spawnSync(python, ['-c', `import ${Object.keys(PACKAGES).join(', ')}`], { encoding: 'utf8' });
    if (probe.status === 0) return (found = python);
    tried.push(`${python}: ${(probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)) || `exit ${probe.status}`}`);
  }
  throw new Error(
    `no Python with ${Object.keys(PACKAGES).join(', ')} for the tests of the zip's PyTorch module and ONNX file and of the cluster script (${tried.join('; ')}). ` +
      `Install Debian's: apt-get install ${Object.values(PACKAGES).join(' ')}, or set TABCLR_PYTHON to a python that has them.`,
  );
}

/**
 * torchrun for that Python: the one installed beside it (Debian's /usr/bin/torchrun), else `python -m
 * torch.distributed.run`, which is what torchrun runs.
 */
export function torchrun(): string[] {
  const python = torchPython();
  const beside = python.includes('/') ? join(dirname(python), 'torchrun') : null;
  return beside && existsSync(beside) ? [beside] : [python, '-m', 'torch.distributed.run'];
}

/** Runs a Python program to the end and returns its stdout; a failure throws with its stderr. */
export function runPython(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  return run([torchPython(), ...args], options);
}

/** Runs a command to the end and returns its stdout; a failure throws with its stderr. */
export function run([command, ...args]: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(command!, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${err.message}\n${err.stderr ?? ''}`);
  }
}
