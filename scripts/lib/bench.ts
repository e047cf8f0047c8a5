// What the scripts that drive the built app share: flags and usage, `vite preview` serving the build (dist/, or the
// folder TABCLR_DIST names) on a port of their own, headless Chromium with the browser tests' flags (e2e/browser.ts),
// cleanup on success, on error and on Ctrl-C, and the report (the machine, the Chromium, the date, a Markdown table).
import { chromium, type Browser, type BrowserContext, type BrowserContextOptions } from '@playwright/test';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, totalmem } from 'node:os';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CHROMIUM_ARGS, systemChromium } from '../../e2e/browser';
import { parseCommandLineOrExit, type CommandSpec } from './args';

/** The repository root: where `vite preview` runs and the build folder lies. */
export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * tsx compiles the scripts with esbuild's keepNames, which wraps named functions in calls to a `__name` helper; the
 * functions handed to page.evaluate run in the page, where that helper does not exist. Every page gets a stand-in.
 */
export const NAME_SHIM = 'globalThis.__name = globalThis.__name || ((fn) => fn);';

/** A failure the script reports as one line (no stack), with the exit code it calls for. */
export class ScriptFailure extends Error {
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

export function fail(message: string, code = 2): never {
  console.error(message);
  process.exit(code);
}

/** The build folder the scripts serve: TABCLR_DIST (relative to the repository root), else dist/. */
export const DIST = process.env.TABCLR_DIST?.trim() || 'dist';

/**
 * --help / -h (usage to stdout, exit 0), --json, and the spec's valued options (scripts/lib/args.ts); anything
 * wrong fails with one line on stderr and exit code 2.
 */
export function parseArgs<T extends object>(argv: string[], spec: CommandSpec<T>): T & { json: boolean } {
  return parseCommandLineOrExit(argv, spec);
}

/** Fails unless the build folder has been built: the scripts serve it and build nothing. */
export function requireDist(name: string): void {
  if (!existsSync(resolve(ROOT, DIST, 'index.html'))) {
    fail(`${name}: ${DIST}/index.html not found: run \`npm run build\` first${DIST === 'dist' ? '' : ` (or \`npx vite build --outDir ${DIST}\`)`}.`);
  }
}

export { round } from './stats';

/** A Markdown table: the first row is the header; the first column is left-aligned, the others right-aligned. */
export function table(rows: string[][]): string {
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  const line = (r: string[]) => `| ${r.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join(' | ')} |`;
  const rule = `|${widths.map((w, c) => (c === 0 ? '-'.repeat(w + 2) : `${'-'.repeat(w + 1)}:`)).join('|')}`;
  return [line(rows[0]!), `${rule}|`, ...rows.slice(1).map(line)].join('\n');
}

/** The machine, for the report. */
export function machine(): { nproc: number; cpuModel: string; os: string; ramGiB: string } {
  return {
    nproc: availableParallelism(),
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    os: `${process.platform}/${process.arch}`,
    ramGiB: (totalmem() / 2 ** 30).toFixed(0),
  };
}

/** Taken as main() begins. */
export interface RunStart {
  /** The command line as typed: `npm run NAME -- ARGS`. */
  command: string;
  /** The 1-minute load average when the run began. */
  loadBefore: number;
  /** Date.now() when the run began. */
  started: number;
}

export interface Report {
  /** What follows "Machine:  nproc N; " and comes before the load average. */
  machine: string;
  /** What follows "Chromium: ". */
  chromium: string;
  date: string;
  /** Lines after the Date line. */
  details: string[];
  /** The table, header first. */
  rows: string[][];
  /** Lines after the table, before "Whole run". */
  notes: string[];
}

/** The report: Command, Machine, Chromium, Date, the details, the table, the notes and the whole run's time. */
export function report(run: RunStart, r: Report): string {
  return [
    '',
    `Command:  ${run.command}`,
    `Machine:  nproc ${availableParallelism()}; ${r.machine}; load average ${run.loadBefore.toFixed(2)} when the run began`,
    `Chromium: ${r.chromium}`,
    `Date:     ${r.date}`,
    ...r.details,
    '',
    table(r.rows),
    '',
    ...r.notes,
    `Whole run: ${((Date.now() - run.started) / 1000).toFixed(0)} s.`,
  ].join('\n');
}

/** With --json the report goes to stderr and the records to stdout, a JSON line each; else the report to stdout. */
export function print(text: string, json: boolean, records: () => object[]): void {
  if (json) {
    console.error(text);
    for (const record of records()) console.log(JSON.stringify(record));
  } else {
    console.log(text);
  }
}

export interface Bench {
  /** `http://localhost:PORT`. */
  baseUrl: string;
  /** Progress, to stderr (so that --json leaves stdout to the JSON lines), as `[NAME] line`. */
  log(line: string): void;
  /** Something more to undo at cleanup, after the browser is closed and the server stopped. */
  atCleanup(undo: () => void): void;
  /** Serves the build folder and launches Chromium; both go away at cleanup. */
  start(): Promise<{ browser: Browser; chromiumVersion: string }>;
  /** A browser context whose pages all have NAME_SHIM. */
  newContext(browser: Browser, options?: BrowserContextOptions): Promise<BrowserContext>;
  /**
   * Runs main, then cleans up; on error reports it as `NAME: …` (a ScriptFailure, with its exit code) or
   * `NAME failed: stack` (anything else, exit code 1), cleans up and exits.
   */
  run(main: (run: RunStart) => Promise<void>): void;
}

/**
 * Sets up one benchmark run named `name` (the npm script) serving on `port`, and from here on stops the server,
 * closes the browser and runs atCleanup's undos on success, on error and on SIGINT / SIGTERM.
 */
export function createBench(name: string, port: number): Bench {
  const baseUrl = `http://localhost:${port}`;
  const log = (line: string) => console.error(`[${name}] ${line}`);

  let server: ChildProcess | null = null;
  let browser: Browser | null = null;
  const undos: (() => void)[] = [];
  /** Set on Ctrl-C: what fails after that fails because the browser is being closed, and is not reported. */
  let stopping = false;

  function stopServer(): void {
    const child = server;
    server = null;
    if (!child?.pid || child.exitCode !== null || child.signalCode !== null) return;
    // npx runs vite as a grandchild: the server has its own process group, and the whole group is stopped.
    try {
      process.kill(-child.pid, 'SIGTERM');
    } catch {
      child.kill('SIGTERM');
    }
  }

  async function cleanup(): Promise<void> {
    const open = browser;
    browser = null;
    await open?.close().catch(() => undefined);
    stopServer();
    for (const undo of undos.splice(0)) undo();
  }

  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log(`${signal}: stopping`);
      void cleanup().finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
    });
  }
  // A last resort if the process exits some other way: never leave the server running.
  process.on('exit', stopServer);

  async function startServer(): Promise<void> {
    const child = spawn('npx', ['vite', 'preview', '--port', String(port), '--strictPort', '--outDir', DIST], {
      cwd: ROOT,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    server = child;
    let output = '';
    child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null || child.signalCode !== null) {
        throw new Error(`vite preview exited before answering (port ${port} busy?):\n${output.trim()}`);
      }
      try {
        const response = await fetch(baseUrl, { signal: AbortSignal.timeout(2_000) });
        if (response.ok) return;
      } catch {
        // not up yet
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`vite preview did not answer on ${baseUrl} within 60 s:\n${output.trim()}`);
  }

  return {
    baseUrl,
    log,
    atCleanup: (undo) => void undos.push(undo),
    async start() {
      log(`serving ${DIST}/ on ${baseUrl}`);
      await startServer();
      const executablePath = systemChromium();
      const launched = await chromium.launch({ executablePath, args: CHROMIUM_ARGS, headless: true, handleSIGINT: false, handleSIGTERM: false });
      browser = launched;
      const chromiumVersion = launched.version();
      log(`Chromium ${chromiumVersion}${executablePath ? ` (${executablePath})` : ''}`);
      return { browser: launched, chromiumVersion };
    },
    async newContext(open, options) {
      const context = await open.newContext(options);
      await context.addInitScript({ content: NAME_SHIM });
      return context;
    },
    run(main) {
      const argv = process.argv.slice(2);
      const start: RunStart = {
        command: `npm run ${name}${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`,
        loadBefore: loadavg()[0]!,
        started: Date.now(),
      };
      main(start)
        .then(() => cleanup())
        .catch(async (e: unknown) => {
          if (stopping) return; // the signal handler cleans up and exits
          if (e instanceof ScriptFailure) console.error(`${name}: ${e.message}`);
          else console.error(`${name} failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
          await cleanup();
          process.exit(e instanceof ScriptFailure ? e.exitCode : 1);
        });
    },
  };
}
