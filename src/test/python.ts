// The Python with PyTorch that the tests of tabclr_torch.py and the cluster script run. Never optional: CI installs
// Debian's python3-torch (.ci/run), so a machine without it fails these tests with what to install.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';

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
    const probe = spawnSync(python, ['-c', 'import torch'], { encoding: 'utf8' });
    if (probe.status === 0) return (found = python);
    tried.push(`${python}: ${(probe.error?.message ?? probe.stderr.trim().split('\n').at(-1)) || `exit ${probe.status}`}`);
  }
  throw new Error(
    `no Python with torch for the PyTorch tests (${tried.join('; ')}). ` +
      'Install Debian\'s: apt-get install python3-torch, or set TABCLR_PYTHON to a python that has it.',
  );
}

/** Runs a Python program to the end and returns its stdout; a failure throws with its stderr. */
export function runPython(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): string {
  try {
    return execFileSync(torchPython(), args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      encoding: 'utf8',
      timeout: options.timeoutMs ?? 300_000,
      maxBuffer: 64 * 1024 * 1024,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    const err = e as Error & { stderr?: string; stdout?: string };
    throw new Error(`python ${args.join(' ')} failed: ${err.message}\n${err.stderr ?? ''}`);
  }
}
