// The pack's run.sh (pack-run.ts) under every shell a person may start it with: its syntax (sh -n), then a run of the
// whole script on a pack whose "Node" is a shell script that prints its arguments, so that every line of it is read
// and executed, not just parsed.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { RUN_SH } from './pack-run';

const pack = mkdtempSync(join(tmpdir(), 'tabclr-run-sh-'));
afterAll(() => rmSync(pack, { recursive: true, force: true }));

function xz(text: string, target: string): void {
  const result = spawnSync('xz', ['-c'], { input: text });
  if (result.status !== 0) throw new Error(`xz: ${result.stderr}`);
  writeFileSync(target, result.stdout);
}

writeFileSync(join(pack, 'run.sh'), RUN_SH);
chmodSync(join(pack, 'run.sh'), 0o755);
mkdirSync(join(pack, 'vulkan'));
mkdirSync(join(pack, 'python'));
xz('#!/bin/sh\necho "node $* dawn=$TABCLR_DAWN_NODE"\n', join(pack, 'node.xz'));
xz('not a real dawn.node', join(pack, 'dawn.node.xz'));

// How a person starts it: through a shell named on the command line, or by its #!/bin/sh line.
const STARTS: [string, string[]][] = [
  ['sh', ['run.sh']],
  ['bash', ['run.sh']],
  ['dash', ['run.sh']],
  ['./run.sh', []],
];

describe('the pack’s run.sh', () => {
  for (const shell of ['sh', 'bash', 'dash']) {
    it(`parses under ${shell} -n`, () => {
      const result = spawnSync(shell, ['-n', 'run.sh'], { cwd: pack, encoding: 'utf8' });
      expect(result.error).toBeUndefined();
      expect(result.stderr).toBe('');
      expect(result.status).toBe(0);
    });
  }

  for (const [command, args] of STARTS) {
    it(`runs to the benchmark as ${[command, ...args].join(' ')}`, () => {
      const env = { PATH: process.env.PATH!, HOME: pack };
      const result = spawnSync(command, [...args, '--configs', 'default'], { cwd: pack, encoding: 'utf8', env });
      expect(result.error).toBeUndefined();
      expect(result.status, result.stderr).toBe(0);
      expect(result.stdout).toMatch(new RegExp(`^node ${pack}/bench-engine\\.mjs --json --configs default dawn=/.+/dawn\\.node\\n$`));
      expect(result.stderr).toMatch(/^run\.sh: Vulkan driver: .+$/m);
      expect(result.stderr).not.toMatch(/unexpected|syntax error|bad substitution/i);
    });
  }
});
