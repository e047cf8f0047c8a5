import { useEffect } from 'react';
import { useStore } from './store/store';
import { DataPanel } from './ui/DataPanel';
import { EmbeddingPanel } from './ui/EmbeddingMap';
import { ExportPanel } from './ui/ExportPanel';
import { LivePanel } from './ui/LivePanel';
import { ProblemBanner } from './ui/ProblemBanner';
import { ResumeOffer, RunsPanel } from './ui/RunsPanel';
import { SelfTestPanel } from './ui/SelfTestPanel';
import { StatusBar } from './ui/StatusBar';
import { TrainPanel } from './ui/TrainPanel';
import { installAutomation } from './automation';
import { automationFromUrl, backendPreferenceFromUrl, profileStepsFromUrl, testQueryFromUrl } from './ui/urlOptions';

export function App() {
  const connect = useStore((s) => s.connect);
  useEffect(() => {
    const search = window.location.search;
    if (automationFromUrl(search)) installAutomation();
    if (profileStepsFromUrl(search)) useStore.getState().setMonitorSettings({ profileSteps: true });
    connect(backendPreferenceFromUrl(search), testQueryFromUrl(search));
  }, [connect]);
  return (
    <div className="app">
      <header className="app-header">
        <h1>tabclr</h1>
        <p>Self-supervised (SimCLR) training on your own images, in this tab, on your GPU. Nothing leaves this device.</p>
      </header>
      <ProblemBanner />
      <ResumeOffer />
      <main className="app-main">
        <DataPanel />
        <TrainPanel />
        <ExportPanel />
        <RunsPanel />
        <SelfTestPanel />
        <LivePanel />
        <EmbeddingPanel />
      </main>
      <StatusBar />
    </div>
  );
}
