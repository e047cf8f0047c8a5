// A folder that runs the engine benchmark (npm run bench:engine, and its PyTorch side) on a bare Linux x86-64 machine
// with a GPU: no network, no npm, no Node installed. What goes in:
//
//   node.xz              this Node's own binary (the official linux-x64 build is self-contained), xz-compressed
//   dawn.node.xz         Dawn for Node, linux-x64 (the npm package `webgpu`), xz-compressed
//   bench-engine.mjs     scripts/bench-engine.ts and everything it imports (the engine, tfjs) bundled into one file
//   vulkan/*.deb         Debian's Vulkan loader (libvulkan1), for machines that lack one
//   python/              the PyTorch side (scripts/bench_engine_torch.py, src/export/python/tabclr_torch.py)
//   run.sh, README.txt   unpacks into a temporary folder, finds the Vulkan driver, prints the benchmark's JSON
//
//   npm run pack:gpu -- --out DIR [--vulkan-deb PATH]
//
// The loader package comes from `apt-get download libvulkan1` unless --vulkan-deb names one. The folder must stay
// under 48 MiB; the script fails if it does not. `npm run pack:gpu:check` proves a pack runs here from the folder
// alone, with no Node on the PATH, on SwiftShader.
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { parseCommandLineOrExit, pathText } from './lib/args';
import { RUN_SH } from './lib/pack-run';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const LIMIT_BYTES = 48 * 2 ** 20;
const USAGE = 'usage: npm run pack:gpu -- --out DIR [--vulkan-deb PATH]';

const options = parseCommandLineOrExit(process.argv.slice(2), {
  name: 'pack:gpu',
  usage: USAGE,
  defaults: { out: undefined as string | undefined, 'vulkan-deb': undefined as string | undefined },
  values: { out: pathText, 'vulkan-deb': pathText },
  required: ['out'],
});
const out = resolve(options.out!);
const log = (line: string) => console.error(line);

function run(command: string, args: string[], spawnOptions: { cwd?: string } = {}): void {
  const result = spawnSync(command, args, { stdio: ['ignore', 'inherit', 'inherit'], ...spawnOptions });
  if (result.error) throw new Error(`${command}: ${result.error.message}`);
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} exited with ${result.status}`);
}

function xz(source: string, target: string): void {
  const result = spawnSync('xz', ['-T0', '-6', '-c', source], { maxBuffer: 256 * 2 ** 20 });
  if (result.error) throw new Error(`xz is needed to pack (Debian: apt-get install xz-utils): ${result.error.message}`);
  if (result.status !== 0) throw new Error(`xz ${source} exited with ${result.status}: ${result.stderr}`);
  writeFileSync(target, result.stdout);
}

function vulkanDeb(folder: string): string {
  const given = options['vulkan-deb'];
  if (given) {
    if (!existsSync(given)) throw new Error(`--vulkan-deb ${given}: no such file`);
    return resolve(given);
  }
  const scratch = mkdtempSync(join(tmpdir(), 'tabclr-vulkan-'));
  run('apt-get', ['download', 'libvulkan1'], { cwd: scratch });
  const deb = readdirSync(scratch).find((f) => f.startsWith('libvulkan1_') && f.endsWith('.deb'));
  if (!deb) throw new Error('apt-get download libvulkan1 left no .deb (or pass --vulkan-deb PATH)');
  const target = join(folder, deb);
  copyFileSync(join(scratch, deb), target);
  rmSync(scratch, { recursive: true, force: true });
  return target;
}


const README = `tabclr engine benchmark for a GPU machine (made by \`npm run pack:gpu\`)

Run:   sh run.sh                       every configuration (default, colour, resnet18), tabclr on WebGPU and PyTorch
       sh run.sh --configs default     one configuration; sh run.sh --help for the rest

Needs: Linux x86-64 with glibc, sh, xz (or python3), and the GPU's Vulkan driver. The Vulkan loader is carried
(vulkan/*.deb) for machines without libvulkan.so.1. NVIDIA's driver manifest is looked for where GPU containers put
it (/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json) and in the usual places; VK_DRIVER_FILES (or
VK_ICD_FILENAMES) set beforehand wins. The PyTorch side runs when a python3 with torch is on the PATH (or set
TABCLR_PYTHON), on CUDA when torch sees it and on the CPU.

Output: stdout has one JSON line per configuration ("kind":"config": images_per_sec, step_ms, dispatches_per_step,
kernels_per_step, record_ms, adapter, ...), one per PyTorch device ("kind":"torch"), and a summary line; stderr has
the adapter it got, progress and the table. Check the adapter line: "swiftshader" or "llvmpipe" means the GPU's
Vulkan driver was not found and the figures are a software adapter's.
`;

async function main(): Promise<void> {
  if (existsSync(out) && readdirSync(out).length > 0) throw new Error(`--out ${out} exists and is not empty`);
  mkdirSync(join(out, 'vulkan'), { recursive: true });
  mkdirSync(join(out, 'python'), { recursive: true });

  log('bundling scripts/bench-engine.ts');
  await build({
    entryPoints: [join(ROOT, 'scripts/bench-engine.ts')],
    outfile: join(out, 'bench-engine.mjs'),
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    minify: true,
    legalComments: 'none',
    // Dawn comes from dawn.node (TABCLR_DAWN_NODE), never from the npm package.
    external: ['webgpu'],
    define: { __TABCLR_VERSION__: JSON.stringify(process.env.npm_package_version ?? 'pack') },
    // Bundled CommonJS (tfjs) calls require(); an ES module has none of its own.
    banner: { js: "import { createRequire as __tabclrCreateRequire } from 'node:module'; const require = __tabclrCreateRequire(import.meta.url);" },
    logLevel: 'warning',
  });

  log(`compressing Node ${process.version} (${process.execPath})`);
  xz(process.execPath, join(out, 'node.xz'));
  const dawn = join(ROOT, 'node_modules/webgpu/dist/linux-x64/dawn.node');
  if (!existsSync(dawn)) throw new Error(`${dawn} is missing: npm ci first`);
  log('compressing dawn.node');
  xz(dawn, join(out, 'dawn.node.xz'));
  log('the Vulkan loader package');
  const deb = vulkanDeb(join(out, 'vulkan'));
  if (dirname(deb) !== join(out, 'vulkan')) copyFileSync(deb, join(out, 'vulkan', basename(deb)));
  copyFileSync(join(ROOT, 'scripts/bench_engine_torch.py'), join(out, 'python/bench_engine_torch.py'));
  copyFileSync(join(ROOT, 'src/export/python/tabclr_torch.py'), join(out, 'python/tabclr_torch.py'));
  writeFileSync(join(out, 'run.sh'), RUN_SH);
  chmodSync(join(out, 'run.sh'), 0o755);
  writeFileSync(join(out, 'README.txt'), README);

  const files: [string, number][] = [];
  const walk = (dir: string) => {
    for (const f of readdirSync(dir)) {
      const p = join(dir, f);
      if (statSync(p).isDirectory()) walk(p);
      else files.push([p.slice(out.length + 1), statSync(p).size]);
    }
  };
  walk(out);
  const total = files.reduce((a, [, s]) => a + s, 0);
  for (const [name, size] of files.sort()) log(`  ${name.padEnd(40)} ${(size / 2 ** 20).toFixed(2).padStart(7)} MiB`);
  log(`  ${'total'.padEnd(40)} ${(total / 2 ** 20).toFixed(2).padStart(7)} MiB (limit 48 MiB)`);
  if (total > LIMIT_BYTES) throw new Error(`the pack is ${(total / 2 ** 20).toFixed(1)} MiB, over 48 MiB`);
  console.log(JSON.stringify({ kind: 'pack', out, bytes: total, files: Object.fromEntries(files) }));
}

main().catch((e: Error) => {
  console.error(`pack:gpu: ${e.message}`);
  process.exit(1);
});
