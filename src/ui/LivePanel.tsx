import { useStore } from '../store/store';
import { HealthPanel } from './HealthPanel';
import { TrainingCurves } from './TrainingCurves';

/** Health warnings and live curves of the current run, sized by the run's own batch and projection. */
export function LivePanel() {
  const settings = useStore((s) => s.settings);
  if (!settings) return null;
  const { config, steps } = settings;
  return (
    <section className="panel wide" aria-labelledby="live-title">
      <h2 id="live-title">Training curves</h2>
      <HealthPanel
        method={config.method.name}
        batchSize={config.batchSize}
        projectionDim={config.model.projectionDim}
        warmupSteps={config.optim.warmupSteps}
        learningRate={config.optim.learningRate}
      />
      <TrainingCurves method={config.method.name} batchSize={config.batchSize} projectionDim={config.model.projectionDim} totalSteps={steps} />
    </section>
  );
}
