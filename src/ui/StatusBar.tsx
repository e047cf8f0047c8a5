import { useStore } from '../store/store';

const BACKEND_LABEL = { webgpu: 'WebGPU', webgl: 'WebGL' } as const;

/** Which backend and adapter the trainer runs on, and where: always visible at the bottom of the page. */
export function StatusBar() {
  const phase = useStore((s) => s.phase);
  const backend = useStore((s) => s.backend);
  const knownResult = useStore((s) => s.knownResult);
  let text: string;
  if (phase === 'starting' || phase === 'disconnected') text = 'Starting the GPU trainer…';
  else if (phase === 'failed' || !backend) text = 'No GPU backend: training is not available in this browser.';
  else {
    const adapter = [backend.vendor, backend.architecture, backend.device].filter(Boolean).join(' · ');
    const where = backend.scope === 'DedicatedWorkerGlobalScope' ? 'in a Web Worker' : `in ${backend.scope}`;
    text = `${BACKEND_LABEL[backend.backend]} · ${adapter}${backend.isFallbackAdapter ? ' (software adapter: slow)' : ''} · ${where}`;
  }
  return (
    <footer className="status-bar" role="status" aria-label="GPU status">
      <span>{text}</span>
      {backend?.fallbackReason && <span className="status-note">WebGPU not used: {backend.fallbackReason}</span>}
      {backend?.choice && (
        <span className="status-note">
          {BACKEND_LABEL[backend.backend]} {backend.choice}
        </span>
      )}
      {knownResult && (
        <span className={knownResult.ok ? 'status-ok' : 'status-bad'}>
          {knownResult.ok ? 'GPU check passed' : `GPU check FAILED: ${knownResult.expression} gave ${knownResult.actual.join(', ')}`}
        </span>
      )}
    </footer>
  );
}
