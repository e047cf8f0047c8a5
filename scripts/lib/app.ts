// Driving the built app as a person does (the Images, Train and Export panels, found by their labels as the browser
// tests find them), and following the trainer's messages through the page's automation handle (src/automation.ts,
// opened with `?automation`): the same page, worker and code a user gets, with no second implementation.
import type { Browser, BrowserContext, Download, Page } from '@playwright/test';
import { join } from 'node:path';
import { METHOD_NAMES, type MethodName } from '../../src/engine/methods';
import type { RunSettings } from '../../src/store/defaults';
import type { BackendName, BackendReport, DatasetSummary, FromWorker, RunInfo, ToWorker, TrainerState } from '../../src/worker/protocol';
import { Refusal, decimal, oneOf, wholeNumber, type OptionParser } from './args';
import { ScriptFailure, type Bench } from './bench';
import { stageFolder, type Folder } from './folder';

/** The sizes the page offers under "Image size for training" (IMPORT_SIZES in src/store/data.ts; a test keeps them equal). */
export const TRAINING_SIZES = [16, 24, 32, 48, 64, 96, 128] as const;

/** `--image-size`: one of the page's training sizes. */
export const trainingSize: OptionParser<number> = (text) =>
  /^\d+$/.test(text) && (TRAINING_SIZES as readonly number[]).includes(Number(text))
    ? Number(text)
    : new Refusal(`must be one of the page's training sizes ${TRAINING_SIZES.join(', ')}, got ${JSON.stringify(text)}`);

/** The encoders the Train panel offers. */
export const ENCODERS = ['convnet4', 'resnet18'] as const;
export type EncoderChoice = (typeof ENCODERS)[number];

export const BACKENDS = ['webgpu', 'webgl'] as const satisfies readonly BackendName[];

export const METHOD_CHOICES = METHOD_NAMES as readonly MethodName[];

/**
 * The run options `npm run train` and `npm run bench:quality` share, with the same rules: each script spreads these
 * parsers into its spec and puts RUN_USAGE in its usage line.
 */
export const RUN_OPTIONS = {
  method: oneOf(METHOD_CHOICES),
  steps: wholeNumber(1, 1_000_000),
  'image-size': trainingSize,
  batch: wholeNumber(2, 8192),
  encoder: oneOf(ENCODERS),
  width: decimal(1 / 64, 4),
  lr: decimal(1e-6, 10),
  backend: oneOf(BACKENDS),
};
export const RUN_USAGE = `[--method ${METHOD_NAMES.join('|')}] [--steps N] [--image-size S] [--batch B] [--encoder convnet4|resnet18] [--width W] [--lr LR] [--backend webgpu|webgl]`;

/** A worker message as the page forwards it: typed arrays and buffers replaced by their size. */
export type Summarised<T> = T extends ArrayBufferView | ArrayBuffer
  ? { bytes: number }
  : T extends (infer U)[]
    ? Summarised<U>[]
    : T extends object
      ? { [K in keyof T]: Summarised<T[K]> }
      : T;

export type WorkerMessage = Summarised<FromWorker>;
export type MessageOf<K extends FromWorker['type']> = Extract<WorkerMessage, { type: K }>;

/** A message as received, with the time (Node's Date.now()) it reached the script. */
export interface Received {
  message: WorkerMessage;
  at: number;
}

/** What the scripts read from the page's store (src/store). */
interface StoreView {
  phase: 'disconnected' | 'starting' | 'ready' | 'failed';
  backend: BackendReport | null;
  dataset: DatasetSummary | null;
  datasetLoading: boolean;
  trainerState: TrainerState;
  settings: RunSettings | null;
  problem: { code: string; message: string; recoverable: boolean } | null;
  runInfo: RunInfo | null;
  send(message: ToWorker): void;
  updateSettings(change: (settings: RunSettings) => RunSettings): void;
}

interface AutomationWindow {
  tabclrAutomation?: {
    onWorkerMessages(listener: (messages: FromWorker[]) => void): () => void;
    store: { getState(): StoreView };
  };
  __tabclrForward?: (messages: WorkerMessage[]) => void;
}

/**
 * The trainer's messages, in order, as the page forwarded them. `mark()` before an action, then `waitFor` the answer
 * from that mark on: a message that arrives before the wait begins is not missed. A worker error fails every wait
 * that began before it.
 */
export class TrainerEvents {
  readonly received: Received[] = [];
  private readonly listeners = new Set<(r: Received) => void>();

  push(messages: WorkerMessage[]): void {
    const at = Date.now();
    for (const message of messages) {
      const r = { message, at };
      this.received.push(r);
      for (const listener of [...this.listeners]) listener(r);
    }
  }

  mark(): number {
    return this.received.length;
  }

  on(listener: (r: Received) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Messages of one type since `from`. */
  all<K extends FromWorker['type']>(type: K, from = 0): (Received & { message: MessageOf<K> })[] {
    return this.received.slice(from).filter((r): r is Received & { message: MessageOf<K> } => r.message.type === type);
  }

  /**
   * The first message from `from` on for which `pick` gives a value. Rejects on a worker error (the error's own
   * words), and after timeoutMs with `what` in the message.
   */
  waitFor<R>(what: string, pick: (message: WorkerMessage) => R | undefined, options: { from: number; timeoutMs: number }): Promise<R> {
    const limit = `timed out after ${Math.round(options.timeoutMs / 1000)} s waiting for ${what}`;
    return this.waitWhileAlive(pick, { from: options.from, idleMs: options.timeoutMs, alive: () => false, stalled: () => limit });
  }

  /**
   * Like waitFor, with no limit on the whole wait, only on silence: it fails when idleMs pass with no message that
   * `alive` accepts, counted from the call and then from each such message, with `stalled(last)` as the reason (the
   * last message `alive` accepted; undefined when none came). For work that reports its progress: a long import
   * goes on as long as it moves, and one that stops, or never starts, fails within idleMs.
   */
  waitWhileAlive<R>(
    pick: (message: WorkerMessage) => R | undefined,
    options: { from: number; idleMs: number; alive: (message: WorkerMessage) => boolean; stalled: (last: WorkerMessage | undefined) => string },
  ): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let off = () => {};
      let last: WorkerMessage | undefined;
      const settle = (done: () => void) => {
        clearTimeout(timer);
        off();
        done();
      };
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => settle(() => reject(new ScriptFailure(options.stalled(last)))), options.idleMs);
      };
      const check = (r: Received): boolean => {
        if (r.message.type === 'error') {
          const { message, request } = r.message;
          settle(() => reject(new ScriptFailure(`${message}${request ? ` (the page's ${request} request)` : ''}`)));
          return true;
        }
        const value = pick(r.message);
        if (value !== undefined) {
          settle(() => resolve(value));
          return true;
        }
        if (options.alive(r.message)) {
          last = r.message;
          arm();
        }
        return false;
      };
      arm();
      for (const r of this.received.slice(options.from)) if (check(r)) return;
      off = this.on((r) => void check(r));
    });
  }
}

export interface OpenOptions {
  backend?: BackendName;
  /** `?profile`: every step reports its split (two extra GPU round trips a step). */
  profile?: boolean;
  viewport?: { width: number; height: number };
}

export interface OpenedApp {
  context: BrowserContext;
  page: Page;
  events: TrainerEvents;
  backend: BackendReport;
}

/** A few seconds on a GPU; minutes for a software adapter compiling a first model. */
const LONG = 20 * 60_000;

/**
 * Opens the app in a context of its own (so it gets its own worker) with the automation handle, forwards every worker
 * message to the returned events, and waits until the trainer is ready and the built-in sample set is loaded. Fails if
 * the page has no backend, or not the one asked for.
 */
export async function openApp(harness: Bench, browser: Browser, options: OpenOptions = {}): Promise<OpenedApp> {
  const context = await harness.newContext(browser, options.viewport ? { viewport: options.viewport } : {});
  // Playwright fills <input webkitdirectory>, not showDirectoryPicker: "Choose folder" falls back to the input.
  await context.addInitScript(() => delete (window as { showDirectoryPicker?: unknown }).showDirectoryPicker);
  const page = await context.newPage();
  const events = new TrainerEvents();
  await page.exposeFunction('__tabclrForward', (messages: WorkerMessage[]) => events.push(messages));
  const query = ['automation', options.backend && `backend=${options.backend}`, options.profile && 'profile'].filter(Boolean).join('&');
  await page.goto(`${harness.baseUrl}/?${query}`);
  await page.waitForFunction(() => (window as AutomationWindow).tabclrAutomation !== undefined, undefined, { timeout: 60_000 });
  await page.evaluate(() => {
    const w = window as AutomationWindow;
    const plain = (value: unknown): unknown => {
      if (ArrayBuffer.isView(value) || value instanceof ArrayBuffer) return { bytes: value.byteLength };
      if (Array.isArray(value)) return value.map(plain);
      if (value !== null && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, plain(v)]));
      return value;
    };
    w.tabclrAutomation!.onWorkerMessages((messages) => w.__tabclrForward!(messages.map(plain) as WorkerMessage[]));
  });
  const handle = await page.waitForFunction(
    () => {
      const s = (window as AutomationWindow).tabclrAutomation!.store.getState();
      if (s.phase === 'failed') return { failed: s.problem?.message ?? 'the trainer could not start' };
      return s.phase === 'ready' && s.dataset !== null && !s.datasetLoading ? { failed: null } : null;
    },
    undefined,
    { timeout: 180_000, polling: 100 },
  );
  const { failed } = (await handle.jsonValue()) as { failed: string | null };
  if (failed) throw new ScriptFailure(failed);
  const backend = (await storeValue(page, 'backend')) as BackendReport;
  if (options.backend && backend.backend !== options.backend) {
    throw new ScriptFailure(`asked for ${options.backend}, but the browser runs the trainer on ${backend.backend}${backend.fallbackReason ? ` (${backend.fallbackReason})` : ''}`);
  }
  return { context, page, events, backend };
}

/** One field of the page's store, read now. */
export async function storeValue<K extends keyof StoreView>(page: Page, key: K): Promise<StoreView[K]> {
  return page.evaluate((k) => (window as AutomationWindow).tabclrAutomation!.store.getState()[k], key) as Promise<StoreView[K]>;
}

/** Sends a message to the worker as the page's store does (for requests the page has no control for, e.g. measure-matmul). */
export async function sendToWorker(page: Page, message: ToWorker): Promise<void> {
  await page.evaluate((m) => (window as AutomationWindow).tabclrAutomation!.store.getState().send(m), message);
}

/** A line for the log: backend, adapter, software or not. */
export function describeBackend(b: BackendReport): string {
  const adapter = [b.vendor, b.architecture, b.device].filter(Boolean).join(' · ') || 'adapter unnamed';
  return `${b.backend} (${adapter}${b.isFallbackAdapter ? ', software adapter' : ''})`;
}

export interface Imported {
  dataset: DatasetSummary;
  done: MessageOf<'import-done'>;
}

/**
 * How long an import may go without a word from the worker before the script gives up. The worker reports every file
 * it finishes (`import-progress`, at most ten a second: src/worker/handler.ts), so a minute of silence is an import
 * that has stopped, or one that never began: the page took no files from the folder.
 */
export const IMPORT_STALL_MS = 60_000;

export interface ImportOptions {
  /** The silence after which the import fails (IMPORT_STALL_MS unless a test makes it short). */
  stallMs?: number;
  /** Where the lines about staging go: the script's log (stderr). */
  log?: (line: string) => void;
}

const seconds = (ms: number) => `${ms % 1000 === 0 ? ms / 1000 : (ms / 1000).toFixed(1)} s`;

/** Why an import of `dir` failed after `stallMs` of silence: it stopped after `last`, or never began. */
export function importStalled(dir: string, stallMs: number): (last: WorkerMessage | undefined) => string {
  return (last) =>
    last?.type === 'import-progress'
      ? `the import of ${dir} made no progress for ${seconds(stallMs)} (${last.counts.processed} of ${last.counts.found} files done)`
      : `the page took no files from ${dir}: no import began within ${seconds(stallMs)} of choosing the folder`;
}

/**
 * Imports the folder (as scripts/lib/folder.ts read it) through "Choose folder" at `size` px, as a person does: the
 * folder itself, or when it holds symbolic links, which Chromium does not follow, the same tree staged for the page
 * and removed once the import is over. Fails with the page's words if it refuses, and with exit code 1 when the
 * import makes no progress for `stallMs` or never begins.
 */
export async function importFolder(app: OpenedApp, folder: Folder, size: number, options: ImportOptions = {}): Promise<Imported> {
  const { page, events } = app;
  const { stallMs = IMPORT_STALL_MS, log = (line: string) => console.error(line) } = options;
  const { dir } = folder;
  await page.getByLabel('Image size for training').selectOption(String(size));
  const staged = stageFolder(folder);
  let from: number;
  let done: MessageOf<'import-done'>;
  try {
    if (staged.dir !== dir) {
      log(`  ${dir} holds symbolic links, which Chromium does not follow: the page gets the same tree staged in ${staged.dir} (${staged.hardLinked} hard links, ${staged.copied} copies)`);
      if (staged.copied > 0) log('  (copies where a hard link could not be made: with TMPDIR on the images\' file system they are hard links)');
    }
    for (const f of staged.leftOut) log(`  skipped ${join(dir, f.path)}: ${f.reason}`);
    from = events.mark();
    const chooser = page.waitForEvent('filechooser');
    await page.getByRole('button', { name: 'Choose folder' }).click();
    await (await chooser).setFiles(staged.dir);
    done = await events.waitWhileAlive((m) => (m.type === 'import-done' ? m : undefined), {
      from,
      idleMs: stallMs,
      alive: (m) => m.type === 'import-progress',
      stalled: importStalled(dir, stallMs),
    });
  } finally {
    // The worker has read every file it took (or given up): the page needs the staged tree no longer.
    staged.remove();
  }
  const dataset = await events.waitFor('the imported images', (m) => (m.type === 'dataset' ? m.dataset : undefined), { from, timeoutMs: 60_000 });
  if (!dataset) {
    // The worker says why right after (no usable image, too few): its words, else ours.
    await events.waitFor('the reason', () => undefined, { from, timeoutMs: 5_000 }).catch((e: Error) => {
      throw new ScriptFailure(e.message.startsWith('timed out') ? `no usable images in ${dir}` : e.message);
    });
  }
  if (!dataset) throw new ScriptFailure(`no usable images in ${dir}`);
  return { dataset, done };
}

export interface RunChoices {
  method?: MethodName;
  encoder?: EncoderChoice;
  width?: number;
  batch?: number;
  steps?: number;
  learningRate?: number;
  /** "Map every (steps)" and "Images on the map" (the probe set). */
  mapEvery?: number;
  mapImages?: number;
  /**
   * The run's seed (initial weights, batches, augmentation). The page has no control for it (a new run always starts
   * from seed 1), so this one choice goes through the automation handle's store, as the form's fields do.
   */
  seed?: number;
}

/**
 * Fills the Train panel's fields for each choice given (the others keep the page's suggestion for these images and
 * this adapter). With a step count, the warm-up becomes a tenth of it, at most 10 steps, as the page suggests.
 * Fails with the page's own words when it refuses a value (exit code 2: the arguments are at fault).
 */
export async function configureRun(app: OpenedApp, choices: RunChoices): Promise<RunSettings> {
  const { page } = app;
  // First: choosing a method resets its own settings to their defaults.
  if (choices.method !== undefined) await page.getByLabel('Method', { exact: true }).selectOption(choices.method);
  if (choices.encoder !== undefined) await page.getByLabel('Encoder', { exact: true }).selectOption(choices.encoder);
  if (choices.width !== undefined) await page.getByLabel('Width multiplier', { exact: true }).fill(String(choices.width));
  if (choices.batch !== undefined) await page.getByLabel('Batch size', { exact: true }).fill(String(choices.batch));
  if (choices.steps !== undefined) {
    await page.getByLabel('Steps', { exact: true }).fill(String(choices.steps));
    await page.getByRole('spinbutton', { name: 'Warm-up steps' }).fill(String(Math.min(10, Math.floor(choices.steps / 10))));
  }
  if (choices.learningRate !== undefined) await page.getByRole('spinbutton', { name: 'Learning rate' }).fill(String(choices.learningRate));
  if (choices.mapEvery !== undefined || choices.mapImages !== undefined) {
    const details = page.locator('details', { has: page.getByText('Augmentation and monitoring') });
    if (!(await details.evaluate((d) => (d as HTMLDetailsElement).open))) await page.getByText('Augmentation and monitoring').click();
    if (choices.mapEvery !== undefined) await page.getByLabel('Map every (steps)').fill(String(choices.mapEvery));
    if (choices.mapImages !== undefined) await page.getByLabel('Images on the map').fill(String(choices.mapImages));
  }
  if (choices.seed !== undefined) {
    await page.evaluate((seed) => {
      (window as AutomationWindow).tabclrAutomation!.store.getState().updateSettings((s) => ({ ...s, config: { ...s.config, seed } }));
    }, choices.seed);
  }
  const problems = await page.locator('.field-problem').allTextContents();
  if (problems.length) throw new ScriptFailure(`the page refuses these settings: ${problems.join('; ')}`, 2);
  if (!(await page.getByRole('button', { name: 'Start' }).isEnabled())) throw new ScriptFailure('the page does not let the run start (Start is disabled)');
  return (await storeValue(page, 'settings'))!;
}

const isState = (state: TrainerState) => (m: WorkerMessage) => (m.type === 'state' && m.state === state ? m : undefined);

/** Clicks Start. Returns the events' mark from just before. */
export async function start(app: OpenedApp): Promise<number> {
  const from = app.events.mark();
  await app.page.getByRole('button', { name: 'Start' }).click();
  return from;
}

/**
 * Clicks Start, then Pause at once: the worker pauses before the first step (during compilation), after sending the
 * map and baselines of the untrained encoder, so that it can be exported as it was initialised.
 */
export async function startPausedAtStepZero(app: OpenedApp): Promise<number> {
  const from = await start(app);
  await app.page.getByRole('button', { name: 'Pause' }).click();
  const paused = await app.events.waitFor('the run to pause', isState('paused'), { from, timeoutMs: LONG });
  if (paused.step !== 0) throw new ScriptFailure(`the run paused at step ${paused.step}, not before its first step`);
  // The Export panel's downloads need the first map (the worker sends it before it reports the pause).
  await app.events.waitFor('the first map', (m) => (m.type === 'snapshot' ? m : undefined), { from, timeoutMs: 60_000 });
  return from;
}

export async function resume(app: OpenedApp): Promise<void> {
  await app.page.getByRole('button', { name: 'Resume' }).click();
}

/** Clicks Stop and waits until the worker has stopped. */
export async function stop(app: OpenedApp): Promise<void> {
  const from = app.events.mark();
  await app.page.getByRole('button', { name: 'Stop' }).click();
  await app.events.waitFor('the run to stop', isState('stopped'), { from, timeoutMs: LONG });
}

/** Waits until the run has done all `steps` and stopped; a failed step fails the wait with the worker's words. */
export async function finished(app: OpenedApp, from: number, steps: number): Promise<void> {
  await app.events.waitFor(`step ${steps} of the run`, (m) => (m.type === 'state' && m.state === 'stopped' && m.step >= steps ? m : undefined), {
    from,
    timeoutMs: 24 * 3600_000,
  });
}

/** Clicks one of the Export panel's buttons and returns the browser's download (the worker's errors fail it). */
export async function download(app: OpenedApp, what: 'weights' | 'embeddings'): Promise<Download> {
  const { page, events } = app;
  const from = events.mark();
  const downloaded = page.waitForEvent('download', { timeout: LONG });
  await page.getByRole('button', { name: what === 'weights' ? 'Download weights (.zip)' : 'Download embeddings (.zip)' }).click();
  const failed = events.waitFor(`the ${what} download`, (m) => (m.type === 'export' ? m : undefined), { from, timeoutMs: LONG });
  const [result] = await Promise.all([downloaded, failed]);
  return result;
}

/**
 * Loads a "Download weights" zip through the Saved runs panel's "Load model (.zip)", as a person does, and waits until
 * the page has embedded the loaded images with it (its first map); fails if the images do not fit the model.
 */
export async function loadModel(app: OpenedApp, zip: Uint8Array, fileName: string): Promise<MessageOf<'model-loaded'>['model']> {
  const { page, events } = app;
  const from = events.mark();
  const chooser = page.waitForEvent('filechooser');
  await page.getByRole('button', { name: 'Load model (.zip)' }).click();
  await (await chooser).setFiles({ name: fileName, mimeType: 'application/zip', buffer: Buffer.from(zip) });
  const loaded = await events.waitFor(`${fileName} to load`, (m) => (m.type === 'model-loaded' ? m : undefined), { from, timeoutMs: LONG });
  if (!loaded.model?.fitsImages) throw new ScriptFailure(`${fileName} does not fit the images loaded now (its input size or channels differ)`);
  await modelMapped(app, from);
  return loaded.model;
}

/** Waits for the first map after `from`: the page has a model for the images loaded now, and can export them. */
export async function modelMapped(app: OpenedApp, from: number): Promise<void> {
  await app.events.waitFor('the map of the images under the model', (m) => (m.type === 'snapshot' ? m : undefined), { from, timeoutMs: LONG });
}

/** The metrics reports of the run started at `from`, in step order. */
export function stepReports(events: TrainerEvents, from: number): (Received & { message: MessageOf<'metrics'> })[] {
  return events.all('metrics', from);
}
