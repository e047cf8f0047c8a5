import { useStore } from '../store/store';
import { fixed, percent, scientific } from './format';

/** Runs the GPU self-test: a tiny SimCLR run on synthetic images, and this GPU's gradients against the CPU's. */
export function SelfTestPanel() {
  const phase = useStore((s) => s.phase);
  const backend = useStore((s) => s.backend);
  const trainerState = useStore((s) => s.trainerState);
  const selfTest = useStore((s) => s.selfTest);
  const run = useStore((s) => s.runSelfTest);
  const running = selfTest.status === 'running';
  const busy = trainerState === 'training' || trainerState === 'compiling';
  const result = selfTest.result;
  const gpu = backend ? (backend.backend === 'webgpu' ? 'WebGPU' : 'WebGL') : 'GPU';

  return (
    <section className="panel" aria-labelledby="self-test-title">
      <h2 id="self-test-title">GPU self-test</h2>
      <p>
        Trains a tiny model on synthetic images for a few steps and checks that it learns, then checks that this {gpu} computes the same
        loss and gradients as the CPU. Takes seconds on a real GPU, a minute or two on a software adapter.
      </p>
      <button type="button" onClick={() => run()} disabled={phase !== 'ready' || running || busy}>
        {running ? 'Self-test running…' : 'Run self-test'}
      </button>
      {running && (
        <div className="progress">
          <progress
            aria-label="Self-test progress"
            max={selfTest.stage === 'agreement' ? 1 : selfTest.total}
            value={selfTest.stage === 'agreement' ? undefined : selfTest.step}
          />
          <span>{selfTest.stage === 'agreement' ? `Comparing ${gpu} with the CPU…` : `Training step ${selfTest.step} of ${selfTest.total}`}</span>
        </div>
      )}
      {selfTest.status === 'failed' && <p className="status-bad">Self-test could not run: {selfTest.error}</p>}
      {result && (
        <dl className="results" aria-label="Self-test results">
          <dt>Learning</dt>
          <dd className={result.training.ok ? 'status-ok' : 'status-bad'}>
            {result.training.ok ? 'Passed' : 'Failed'}: NT-Xent loss {fixed(result.training.firstLoss)} → {fixed(result.training.finalLoss)} (no
            learning: {fixed(result.training.noLearningLoss)}), contrastive accuracy {percent(result.training.finalContrastiveAcc)} (chance{' '}
            {percent(result.training.chance)}), tensors {result.training.tensorsAfterStep2} → {result.training.tensorsAfterLast}
          </dd>
          <dt>{`${gpu} vs CPU`}</dt>
          <dd className={result.agreement.ok ? 'status-ok' : 'status-bad'}>
            {result.agreement.ok ? 'Agree' : 'Disagree'}: loss {fixed(result.agreement.losses[0], 5)} vs {fixed(result.agreement.losses[1], 5)}, largest
            gradient difference {scientific(result.agreement.maxGradRelErr)} over {result.agreement.params} parameters
          </dd>
        </dl>
      )}
    </section>
  );
}
