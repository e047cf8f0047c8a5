// Says plainly when the trainer runs on a software adapter (SwiftShader and the like), what that costs, and what a
// real GPU would change.
import { slowAdapterAdvice, type SuggestedRun } from '../store/adapter';
import { useStore } from '../store/store';
import { formatDuration } from './format';

function runText(run: SuggestedRun): string {
  return `${run.encoder} ×${run.width}, batch ${run.batchSize}, ${run.steps.toLocaleString('en')} steps`;
}

export function SlowAdapterNotice() {
  const backend = useStore((s) => s.backend);
  const dataset = useStore((s) => s.dataset);
  const stepMs = useStore((s) => s.latest?.stepMs ?? null);
  const advice = slowAdapterAdvice(backend, dataset);
  if (!advice) return null;
  const { adapter, here, onGpu } = advice;
  return (
    <aside className="slow-adapter" role="note" aria-label="Slow GPU">
      <p>
        <strong>Slow GPU:</strong> a software adapter ({adapter}) computes on the CPU, 10–100× slower than a graphics card
        {stepMs !== null && Number.isFinite(stepMs) ? ` (a step: ${formatDuration(stepMs / 1000)})` : ''}. Runs are cut to fit: {runText(here)}. A real GPU
        gets {runText(onGpu)}: the bigger batches and longer runs SimCLR needs to learn well. Hardware acceleration in the browser's settings may give it one.
      </p>
    </aside>
  );
}
