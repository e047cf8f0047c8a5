// Says in words when the run has gone wrong (NaN loss, collapse, nothing learnt), with the likely cause and a fix.
import { useEffect, useState } from 'react';
import { assessHealth, type HealthContext, type HealthWarning, type HeldOutProgress } from '../store/health';
import { metricsHistory, subscribePerFrame, type MetricsHistory } from '../store/metricsHistory';
import './curves.css';

export type HealthPanelProps = HealthContext;

function kindsOf(warnings: HealthWarning[]): string {
  return warnings.map((w) => w.kind).join(',');
}

/** The latest held-out evaluation after step 0 beside the untrained encoder's; null before one (or without labels). */
function heldOutProgress(history: MetricsHistory): HeldOutProgress | null {
  const knn = history.knnColumns();
  const last = knn.length - 1;
  if (last < 0 || knn.step[last]! <= 0) return null;
  const probe = knn.probe[last]!;
  const { randomInit, probeRandomInit } = history.baselines;
  return { knn: knn.accuracy[last]!, knnUntrained: randomInit, probe: Number.isFinite(probe) ? probe : null, probeUntrained: probeRandomInit };
}

/**
 * Checks the metrics history at most once per animation frame and shows each problem in an alert; renders
 * nothing while the run looks healthy. A warning's text is taken when it first appears and kept while the same
 * problems persist, so a screen reader announces each problem once instead of on every step.
 */
export function HealthPanel({ method, batchSize, projectionDim, warmupSteps, learningRate, settings }: HealthPanelProps) {
  const [warnings, setWarnings] = useState<HealthWarning[]>([]);
  // The settings by value: a new object with the same numbers must not restart the check.
  const settingsKey = settings ? JSON.stringify(settings) : '';

  useEffect(() => {
    const context: HealthContext = { method, batchSize, projectionDim, warmupSteps, learningRate, ...(settingsKey && { settings: JSON.parse(settingsKey) as Record<string, number> }) };
    let first = true;
    const check = () => {
      const next = assessHealth(metricsHistory.columns(), context, heldOutProgress(metricsHistory));
      // New settings: take the fresh text once even if the kinds are the same.
      const refresh = first;
      first = false;
      setWarnings((previous) => (!refresh && kindsOf(previous) === kindsOf(next) ? previous : next));
    };
    check();
    return subscribePerFrame(metricsHistory, check);
  }, [method, batchSize, projectionDim, warmupSteps, learningRate, settingsKey]);

  if (warnings.length === 0) return null;
  return (
    <div className="health">
      {warnings.map((warning) => (
        <div key={warning.kind} role="alert" className={`health-warning health-${warning.kind}`}>
          <p className="health-title">{warning.title}</p>
          <p className="health-cause">{warning.cause}</p>
          <p className="health-fix">
            <strong>Suggested fix:</strong> {warning.fix}
          </p>
        </div>
      ))}
    </div>
  );
}
