import { methodSettings } from '../engine/methods';
import { useStore } from '../store/store';
import { EmbeddingPanel } from './EmbeddingMap';
import { ExplorePanel } from './ExplorePanel';
import { HealthPanel } from './HealthPanel';
import { LastStep } from './RunBar';
import { TrainingCurves } from './TrainingCurves';

/**
 * What a person watches a run by, in one view: health warnings, the loss and held-out accuracy (or the method's first
 * diagnostic without labels) beside the embedding map; the other curves below.
 */
export function LivePanel() {
  const settings = useStore((s) => s.settings);
  const evaluated = useStore((s) => (s.dataset?.labelled ?? false) && (s.dataset?.classNames.length ?? 0) >= 2);
  const config = settings?.config;
  return (
    <>
      {config && (
        <HealthPanel
          method={config.method.name}
          batchSize={config.batchSize}
          projectionDim={config.model.projectionDim}
          warmupSteps={config.optim.warmupSteps}
          learningRate={config.optim.learningRate}
          settings={methodSettings(config.method)}
        />
      )}
      <div className="watch-grid">
        <div className="watch-curves">
          <LastStep />
          {config ? (
            <TrainingCurves view="watch" method={config.method.name} batchSize={config.batchSize} projectionDim={config.model.projectionDim} methodSettings={methodSettings(config.method)} evaluated={evaluated} />
          ) : (
            <p className="hint">Load images to set up a run: its curves appear here.</p>
          )}
        </div>
        <EmbeddingPanel />
      </div>
      <ExplorePanel />
      {config && (
        <section className="panel more-curves" aria-labelledby="more-curves-title">
          <h2 id="more-curves-title">More curves</h2>
          <TrainingCurves view="more" method={config.method.name} batchSize={config.batchSize} projectionDim={config.model.projectionDim} methodSettings={methodSettings(config.method)} evaluated={evaluated} />
        </section>
      )}
    </>
  );
}
