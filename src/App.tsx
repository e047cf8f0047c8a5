import { useEffect } from 'react';
import { useStore } from './store/store';
import { DataPanel } from './ui/DataPanel';
import { ExportPanel } from './ui/ExportPanel';
import { LivePanel } from './ui/LivePanel';
import { ProblemBanner } from './ui/ProblemBanner';
import { RunBar } from './ui/RunBar';
import { ResumeOffer, RunsPanel } from './ui/RunsPanel';
import { SelfTestPanel } from './ui/SelfTestPanel';
import { SlowAdapterNotice } from './ui/SlowAdapterNotice';
import { StorageNotice } from './ui/StorageNotice';
import { StatusBar } from './ui/StatusBar';
import { TrainPanel } from './ui/TrainPanel';
import { WaitingInput } from './ui/WaitingInput';
import { installAutomation } from './automation';
import { automationFromUrl, backendPreferenceFromUrl, profileStepsFromUrl, testQueryFromUrl } from './ui/urlOptions';

/** The setup column's sections, each one click away from its link. */
const SECTIONS = [
  ['data-title', 'Images'],
  ['train-title', 'Settings'],
  ['export-title', 'Downloads'],
  ['runs-title', 'Runs'],
  ['self-test-title', 'Self-test'],
] as const;

/**
 * The page is a frame that never scrolls as a whole: the run bar on top and the status bar at the bottom stay put
 * because they are outside the areas that scroll, so nothing is drawn over anything. Between them, what a run is
 * watched by (curves and map) on the left, and the setup (images, settings, downloads, saved runs, self-test) on the
 * right, each scrolling on its own; on a narrow window the two become one column.
 */
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
        <RunBar />
      </header>
      <ProblemBanner />
      <WaitingInput />
      <StorageNotice />
      <div className="workspace">
        <main className="watch" aria-label="Watching the run">
          <ResumeOffer />
          <SlowAdapterNotice />
          <LivePanel />
        </main>
        <aside className="setup" aria-label="Setup">
          <nav className="setup-nav" aria-label="Setup sections">
            {SECTIONS.map(([id, label]) => (
              <a key={id} href={`#${id}`}>
                {label}
              </a>
            ))}
          </nav>
          <div className="setup-sections">
            <p className="intro">Self-supervised (SimCLR) training on your own images, in this tab, on your GPU. Nothing leaves this device.</p>
            <DataPanel />
            <TrainPanel />
            <ExportPanel />
            <RunsPanel />
            <SelfTestPanel />
          </div>
        </aside>
      </div>
      <StatusBar />
    </div>
  );
}
