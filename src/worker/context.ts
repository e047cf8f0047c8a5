// What the trainer's parts share: its phase, backend, images, the current run and loaded model, and the ways to speak
// to the page and keep a run's checkpoint. The handler (handler.ts) owns it; the run loop (runLoop.ts), fault recovery
// (recovery.ts) and model loading (modelLoading.ts) work on it.
import { StorageUnavailable } from '../data/database';
import type { StepMetrics } from '../engine/step';
import { storageProblem } from '../export/checkpoints';
import type { LoadedModel } from '../export/modelZip';
import { saveTrainState } from '../engine/savedState';
import { TrainerError } from './errors';
import { disposeKept, type KeptRepresentation } from './explore';
import type { GpuErrorKind, HandlerEnvironment } from './environment';
import { runStateOf, type Phase } from './phase';
import type { BackendReport, DatasetPayload, FromWorker, MonitorSettings, Post, SnapshotReport, ToWorker } from './protocol';
import type { GoodState, Run } from './run';
import { RunArchive } from './runArchive';

export class TrainerContext {
  phase: Phase = 'starting';
  backend: BackendReport | null = null;
  dataset: DatasetPayload | null = null;
  /** The current run: training, paused, or finished and kept for its maps and downloads. */
  run: Run | null = null;
  /** A model loaded from a zip: maps and embeddings use it, and the next run starts from its weights. */
  loadedModel: LoadedModel | null = null;
  /** The monitor settings the loaded model was opened with, for the images loaded after it. */
  loadedMonitor: MonitorSettings = { snapshotEvery: 25, probeCount: 500, profileSteps: false };
  /** The last step's metrics, for the exported config and the checkpoint. */
  lastMetrics: StepMetrics | null = null;
  /** The first error the device reported since the last step was judged; cleared once the run has been put back. */
  gpuError: { kind: GpuErrorKind; message: string } | null = null;
  /** The GPU device is gone: nothing more runs on it, and the page replaces this trainer. */
  deviceGone = false;
  /** The work in flight (compilation, then steps), chained so two loops never run at once; pause and stop land between steps. */
  loop: Promise<void> = Promise.resolve();
  /** Requests that use the run's model beside the loop (neighbours, UMAP, downloads), chained; a new run waits for them. */
  sideWork: Promise<void> = Promise.resolve();
  /** The exploration under way: cancelled, with the reason, when its run or its images go (explore.ts). */
  exploring: AbortController | null = null;
  /** The last explored representation and its frozen encoder, for searches by image; it goes with its run and images. */
  kept: KeptRepresentation | null = null;
  readonly archive: RunArchive;

  constructor(
    private readonly post: Post,
    readonly env: HandlerEnvironment,
  ) {
    this.archive = new RunArchive(env);
  }

  send(message: FromWorker, transfer?: Transferable[]): void {
    this.post(message, transfer);
  }

  reportError(e: unknown, request: ToWorker['type'] | null = null): void {
    if (e instanceof TrainerError) {
      this.send({ type: 'error', code: e.code, message: e.message, recoverable: e.recoverable, request });
    } else {
      const error = e instanceof Error ? e : new Error(String(e));
      this.send({ type: 'error', code: 'internal', message: error.message, recoverable: true, request });
    }
  }

  /** Moves to `phase` and tells the page the run's state. */
  enter(phase: Phase): void {
    this.phase = phase;
    this.reportState();
  }

  /** Tells the page the run's state as it is now (a run opened or gone within the same phase). */
  reportState(): void {
    const phase = this.phase;
    this.send({ type: 'state', state: runStateOf(phase, this.run !== null), step: this.run?.state.step ?? 0, runId: this.run?.id ?? null });
  }

  /** A run is compiling, training, paused or being stopped. */
  get running(): boolean {
    return this.phase === 'compiling' || this.phase === 'training' || this.phase === 'paused' || this.phase === 'stopping';
  }

  /** The backend, which every request but init finds in place (the phase table refuses them while starting). */
  get readyBackend(): BackendReport {
    return this.backend!;
  }

  /** The run's state now, to go back to: what a checkpoint stores. */
  async goodState(run: Run): Promise<GoodState> {
    return { trainState: await saveTrainState(run.state), sampler: run.sampler.getState(), steps: run.history.steps.length };
  }

  /**
   * Writes the run's checkpoint, unless checkpoints are off or nothing changed since the last one (the state is still
   * kept in memory as the last good one). A failure (storage full, private mode) is reported and training goes on.
   */
  async saveCheckpoint(run: Run): Promise<void> {
    if (run.savedStep === run.state.step || run.state.step === 0) return;
    const step = run.state.step;
    const good = await this.goodState(run);
    run.lastGood = good;
    run.savedStep = step;
    if (run.checkpointEvery === 0) return;
    if (!(await this.archive.available())) {
      this.send({ type: 'checkpoint', status: 'failed', runId: run.id, step, message: 'this browser keeps no checkpoints (IndexedDB is unavailable); the run lives in memory only' });
      return;
    }
    this.send({ type: 'checkpoint', status: 'saving', runId: run.id, step, message: null });
    try {
      await this.archive.save(run, good, this.dataset!, this.lastMetrics);
      run.checkpointed = true;
      this.send({ type: 'checkpoint', status: 'saved', runId: run.id, step, message: null });
      await this.sendRuns();
    } catch (e) {
      this.send({ type: 'checkpoint', status: 'failed', runId: run.id, step, message: `${storageProblem(e)}; training goes on in memory` });
    }
  }

  async sendRuns(): Promise<void> {
    let runs: Awaited<ReturnType<RunArchive['list']>>;
    try {
      runs = await this.archive.list();
    } catch (e) {
      // Another tab's version keeps the store from this one: the page says so (a 'storage' message) and keeps the list
      // it has; it asks again once the store opens.
      if (e instanceof StorageUnavailable) return;
      throw e;
    }
    this.send({ type: 'runs', runs: runs ?? [], available: runs !== null });
  }

  /**
   * Sends a map of the run's probe set, with the held-out accuracies, under `encoder` (the run's, as it is now, by
   * default), and keeps it for the checkpoint in step order; returns the kept copy.
   */
  async sendSnapshot(run: Run, encoder = run.state.model.encoder, step = run.state.step, signal?: AbortSignal): Promise<SnapshotReport> {
    const snapshot = await run.monitor.snapshot(encoder, step, signal);
    // A copy for the checkpoint: the one sent is transferred to the page.
    const kept = { ...snapshot, coords: snapshot.coords.slice() };
    const snapshots = run.history.snapshots;
    let at = snapshots.length;
    while (at > 0 && snapshots[at - 1]!.step > step) at -= 1;
    snapshots.splice(at, 0, kept);
    this.send({ type: 'snapshot', snapshot }, [snapshot.coords.buffer]);
    return kept;
  }

  /**
   * Cancels the exploration under way (the page is told `reason`) and frees what the last one kept for searches: a
   * new run, other images or a model opened make both stale, and a person who drops another folder mid-exploration
   * wants the new one, not to wait for the old.
   */
  dropExploration(reason: string): void {
    this.exploring?.abort(new Error(reason));
    disposeKept(this.kept);
    this.kept = null;
  }

  /** Disposes the run once the loop and any side request using its model are done; an exploration of it is cancelled first. */
  async retireRun(reason = 'the run it explored was closed'): Promise<void> {
    this.dropExploration(reason);
    await this.loop;
    await this.sideWork;
    this.run?.untrained?.cancel();
    await this.run?.untrained?.done();
    this.disposeRun();
  }

  disposeRun(): void {
    this.run?.dispose();
    this.run = null;
  }
}
