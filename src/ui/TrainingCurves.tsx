// Live training curves drawn with uPlot (canvas, built for streaming; ../shared/docs/style.md). The charts are
// created once, read the metrics history through a subscription, and redraw at most once per animation frame;
// React renders only the frame around them, so a step never re-renders a component.
import { useEffect, useId, useRef, useState, type ReactNode } from 'react';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { EXPLODING_FACTOR } from '../engine/divergence';
import { methodOf, type MethodName } from '../engine/methods';
import type { DiagnosticSpec, Method } from '../engine/methods/method';
import { healthyEmbeddingStd } from '../store/health';
import { metricsHistory, subscribePerFrame, type MetricsColumns, type MetricsHistory } from '../store/metricsHistory';
import { labelTop, spreadLabels } from './labelLayout';
import './curves.css';

export interface TrainingCurvesProps {
  method: MethodName;
  batchSize: number;
  projectionDim: number;
  /** The method's settings (MoCo's levels depend on its queue size); its defaults when left out. */
  methodSettings?: Record<string, number>;
  /**
   * 'watch': the charts a person watches a run by (the loss, and held-out accuracy when the images have labels, else
   * the method's first diagnostic), drawn beside the map; 'more': the others.
   */
  view: 'watch' | 'more';
  /** The images have labels of two classes or more: kNN and the linear probe are measured. */
  evaluated: boolean;
}

/** Plot height in CSS pixels (the legend sits below it). */
const PLOT_HEIGHT = 170;
/** The watched charts are a little shorter, so that two of them and the map fit a laptop screen. */
const WATCH_PLOT_HEIGHT = 150;
const MIN_WIDTH = 200;

// ---------- colours from app.css, following light/dark ----------

interface Palette {
  fg: string;
  muted: string;
  grid: string;
  accent: string;
  accentFaint: string;
  ok: string;
  bad: string;
  /** The linear probe's series and baselines, apart from kNN's (accent). */
  probe: string;
}

/** Resolves a CSS colour (a var() included) to rgb(...) through a probe element, so any format works. */
function resolveColour(css: string, fallback: string): string {
  if (typeof document === 'undefined' || !document.body) return fallback;
  const probe = document.createElement('span');
  probe.style.display = 'none';
  probe.style.color = fallback;
  probe.style.color = css;
  document.body.appendChild(probe);
  const colour = getComputedStyle(probe).color;
  probe.remove();
  return colour || fallback;
}

function withAlpha(rgb: string, alpha: number): string {
  const m = rgb.match(/rgba?\(\s*([\d.]+)[,\s]+([\d.]+)[,\s]+([\d.]+)/);
  return m ? `rgba(${m[1]}, ${m[2]}, ${m[3]}, ${alpha})` : rgb;
}

const palette: Palette = { fg: '#1b1f24', muted: '#57606a', grid: '#d0d7de', accent: '#1f6feb', accentFaint: 'rgba(31, 111, 235, 0.35)', ok: '#1a7f37', bad: '#cf222e', probe: '#bc4c00' };

function readPalette(): void {
  palette.fg = resolveColour('var(--fg)', '#1b1f24');
  palette.muted = resolveColour('var(--muted)', '#57606a');
  palette.grid = withAlpha(resolveColour('var(--border)', '#d0d7de'), 0.8);
  palette.accent = resolveColour('var(--accent)', '#1f6feb');
  palette.accentFaint = withAlpha(palette.accent, 0.3);
  palette.ok = resolveColour('var(--ok)', '#1a7f37');
  palette.bad = resolveColour('var(--bad)', '#cf222e');
  palette.probe = resolveColour('var(--probe)', '#bc4c00');
}

/** Re-reads the palette when the colour scheme flips and calls back (charts redraw: their strokes read it live). */
function onColourSchemeChange(callback: () => void): () => void {
  if (typeof matchMedia !== 'function') return () => {};
  const query = matchMedia('(prefers-color-scheme: dark)');
  const listener = () => {
    readPalette();
    callback();
  };
  query.addEventListener('change', listener);
  return () => query.removeEventListener('change', listener);
}

// ---------- formatting ----------

function fmt(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  return String(Number(value.toPrecision(digits)));
}

function pct(value: number, digits = 1): string {
  return Number.isFinite(value) ? `${(value * 100).toFixed(digits)}%` : String(value);
}

/** Axis ticks for small positive quantities: plain decimals down to 0.01, "3.0e-4" below. */
function smallTicks(_u: uPlot, splits: number[]): string[] {
  return splits.map((v) => (v === 0 ? '0' : Math.abs(v) >= 0.01 ? String(Number(v.toPrecision(3))) : v.toExponential(1)));
}

/** Whole steps only on the x axis: 1, 2, 5 × 10^k. */
const STEP_INCREMENTS = Array.from({ length: 8 }, (_, k) => [1, 2, 5].map((m) => m * 10 ** k)).flat();

function lrFmt(value: number): string {
  if (!Number.isFinite(value)) return String(value);
  return value === 0 ? '0' : value.toExponential(2);
}

// ---------- scales and reference lines ----------

interface ReferenceLine {
  value: number;
  label: string;
  /** The line's colour, when it belongs to one series of several; muted otherwise. */
  colour?: () => string;
}

/** A reference line's label (CSS px): 11 px text on a 14 px line, 2 px from its line, 1 px at least from another label. */
const LABEL_HEIGHT = 14;
const LABEL_GAP = 2;
const LABEL_SPACING = 1;

/** Min and max of the finite values of the shown series on a scale (uPlot's own min/max is poisoned by NaN/Inf). */
function finiteExtent(u: uPlot, scaleKey: string): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  u.series.forEach((s, i) => {
    if (i === 0 || s.scale !== scaleKey || s.show === false) return;
    const values = u.data[i];
    if (!values) return;
    for (let j = 0; j < values.length; j++) {
      const v = values[j];
      if (v != null && Number.isFinite(v)) {
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
    }
  });
  return [lo, hi];
}

interface RangeLimits {
  floor?: number;
  ceil?: number;
}

/**
 * A y range that holds the data and the reference lines, with a little padding, clamped to [floor, ceil]; it
 * survives NaN and ±Infinity in the data (a diverged step), which uPlot's default range does not.
 */
function referenceRange(references: () => ReferenceLine[], limits: RangeLimits = {}): uPlot.Range.Function {
  return (u, dataMin, dataMax, scaleKey) => {
    let lo = dataMin;
    let hi = dataMax;
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) [lo, hi] = finiteExtent(u, scaleKey);
    for (const r of references()) {
      if (Number.isFinite(r.value)) {
        lo = Math.min(lo, r.value);
        hi = Math.max(hi, r.value);
      }
    }
    const floor = limits.floor ?? -Infinity;
    const ceil = limits.ceil ?? Infinity;
    if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [Number.isFinite(floor) ? floor : 0, Number.isFinite(ceil) ? ceil : 1];
    const span = hi - lo;
    const pad = span > 0 ? span * 0.06 : Math.abs(hi) * 0.1 || 1;
    return [Math.max(floor, lo - pad), Math.min(ceil, hi + pad)];
  };
}

/**
 * Draws dashed horizontal reference lines over the plot, and places their labels: text in the page over the plot
 * (uPlot's over layer), each above its line (below it at the top edge) on a translucent box of the page's background, so that a dashed line
 * never runs through a label, spread apart where lines are close (spreadLabels) so that no two labels touch.
 */
function drawReferences(u: uPlot, references: ReferenceLine[], scaleKey = 'y'): void {
  const ctx = u.ctx;
  const { left, top, width, height } = u.bbox;
  const ratio = u.width > 0 ? ctx.canvas.width / u.width : 1;
  ctx.save();
  ctx.beginPath();
  ctx.rect(left, top, width, height);
  ctx.clip();
  ctx.lineWidth = ratio;
  ctx.setLineDash([6 * ratio, 4 * ratio]);
  const shown: { r: ReferenceLine; colour: string; y: number }[] = [];
  for (const r of references) {
    if (!Number.isFinite(r.value)) continue;
    const y = Math.round(u.valToPos(r.value, scaleKey, true)) + 0.5;
    if (y < top - 1 || y > top + height + 1) continue;
    const colour = r.colour?.() ?? palette.muted;
    shown.push({ r, colour, y: (y - top) / ratio });
    ctx.strokeStyle = colour;
    ctx.beginPath();
    ctx.moveTo(left, y);
    ctx.lineTo(left + width, y);
    ctx.stroke();
  }
  ctx.restore();
  const tops = spreadLabels(
    shown.map(({ y }) => labelTop(y, LABEL_HEIGHT, LABEL_GAP)),
    LABEL_HEIGHT,
    LABEL_SPACING,
    height / ratio,
  );
  placeLabels(u, shown.map(({ r, colour }, i) => ({ text: r.label, colour, top: tops[i]! })));
}

/** The labels' layer in uPlot's over element (the plot area, in CSS px): one span per label, rewritten only on change. */
function placeLabels(u: uPlot, labels: { text: string; colour: string; top: number }[]): void {
  let layer = u.over.querySelector<HTMLElement>(':scope > .curve-references');
  if (!layer) {
    layer = document.createElement('div');
    layer.className = 'curve-references';
    // The canvas's accessible name already says what the dashed lines are.
    layer.setAttribute('aria-hidden', 'true');
    u.over.appendChild(layer);
  }
  while (layer.children.length > labels.length) layer.lastElementChild!.remove();
  while (layer.children.length < labels.length) layer.appendChild(document.createElement('span')).className = 'curve-reference';
  labels.forEach(({ text, colour, top }, i) => {
    const span = layer.children[i] as HTMLElement;
    if (span.textContent !== text) span.textContent = text;
    if (span.style.color !== colour) span.style.color = colour;
    const topPx = `${Math.round(top)}px`;
    if (span.style.top !== topPx) span.style.top = topPx;
  });
}

// ---------- one chart ----------

interface ChartReading {
  data: uPlot.AlignedData;
  /** The canvas's accessible name: what the chart shows and its latest value. */
  label: string;
}

interface ChartSpec {
  /** Series after x (x is the step), scales and axes settings particular to this chart. */
  series: uPlot.Series[];
  /** The step axis's range, where uPlot's own (the data's extent) is not wanted. */
  xRange?: uPlot.Range.Function;
  yRange: uPlot.Range.Function;
  yValues?: (u: uPlot, splits: number[]) => string[];
  references: () => ReferenceLine[];
  read(history: MetricsHistory): ChartReading;
  /** Steps are shared by every chart but kNN: hovering one shows the same step in all. */
  syncCursor: boolean;
}

function chartOptions(spec: ChartSpec, width: number, height: number): uPlot.Options {
  const axisStroke = () => palette.muted;
  const gridStroke = () => palette.grid;
  return {
    width,
    height,
    pxAlign: 0,
    scales: { x: { time: false, ...(spec.xRange && { range: spec.xRange }) }, y: { range: spec.yRange } },
    series: [{ label: 'step', value: (_u, v) => (v == null ? '—' : String(v)) }, ...spec.series],
    axes: [
      { stroke: axisStroke, grid: { stroke: gridStroke, width: 1 }, ticks: { stroke: gridStroke, width: 1 }, incrs: STEP_INCREMENTS },
      { stroke: axisStroke, grid: { stroke: gridStroke, width: 1 }, ticks: { stroke: gridStroke, width: 1 }, size: 56, ...(spec.yValues ? { values: spec.yValues } : {}) },
    ],
    cursor: {
      // Zooming would be undone by the next step's data; the legend shows values under the pointer instead.
      drag: { x: false, y: false, setScale: false },
      ...(spec.syncCursor ? { sync: { key: 'tabclr-steps' } } : {}),
    },
    legend: { live: true },
    hooks: { draw: [(u) => drawReferences(u, spec.references())] },
  };
}

const EMPTY: uPlot.AlignedData = [new Float64Array(0), new Float64Array(0)];

interface ChartProps {
  title: string;
  /** Visible text under the title explaining the dashed lines; also part of the figure's description. */
  note?: string;
  spec: ChartSpec;
  /** Recreate the chart when this changes (batch size, projection dimension). */
  rebuildKey: string;
  /** Plot height in CSS pixels. */
  height?: number;
  /** Shown between the title and the plot: the latest figures in words. */
  children?: ReactNode;
}

function Chart({ title, note, spec, rebuildKey, height = PLOT_HEIGHT, children }: ChartProps) {
  const plotRef = useRef<HTMLDivElement>(null);
  const specRef = useRef(spec);
  const titleId = useId();
  const noteId = useId();
  useEffect(() => {
    specRef.current = spec;
  });

  useEffect(() => {
    const element = plotRef.current;
    if (!element) return;
    readPalette();
    const initial = specRef.current;
    const width = Math.max(MIN_WIDTH, Math.floor(element.clientWidth));
    const emptyData = [EMPTY[0], ...initial.series.map(() => EMPTY[1])] as uPlot.AlignedData;
    const plot = new uPlot(chartOptions(initial, width, height), emptyData, element);
    const canvas = plot.ctx.canvas;
    canvas.setAttribute('role', 'img');

    let lastLabel = '';
    // A chart scrolled out of view only keeps its label current; it redraws when it comes back.
    let visible = true;
    let stale = false;
    const refresh = () => {
      const { data, label } = specRef.current.read(metricsHistory);
      if (label !== lastLabel) {
        canvas.setAttribute('aria-label', label);
        lastLabel = label;
      }
      stale = !visible;
      if (visible) plot.setData(data);
    };
    refresh();
    const unsubscribe = subscribePerFrame(metricsHistory, refresh);
    const viewport =
      typeof IntersectionObserver === 'function'
        ? new IntersectionObserver((entries) => {
            visible = entries[entries.length - 1]?.isIntersecting ?? true;
            if (visible && stale) refresh();
          })
        : null;
    viewport?.observe(element);

    const resize = new ResizeObserver((entries) => {
      const w = Math.floor(entries[0]?.contentRect.width ?? 0);
      // Hidden (0 wide) charts keep their size; tiny widths are clamped so axes still fit.
      if (w > 0 && Math.max(MIN_WIDTH, w) !== plot.width) plot.setSize({ width: Math.max(MIN_WIDTH, w), height });
    });
    resize.observe(element);
    const stopTheme = onColourSchemeChange(() => plot.redraw(false, true));

    return () => {
      unsubscribe();
      viewport?.disconnect();
      resize.disconnect();
      stopTheme();
      plot.destroy();
    };
  }, [rebuildKey, height]);

  return (
    <figure className="curve" aria-labelledby={titleId} aria-describedby={note ? noteId : undefined}>
      <figcaption id={titleId} className="curve-title">
        {title}
      </figcaption>
      {note && (
        <p id={noteId} className="curve-note">
          {note}
        </p>
      )}
      {children}
      <div ref={plotRef} className="curve-plot" />
    </figure>
  );
}

// ---------- the charts ----------

function lastIndex(history: MetricsHistory): number {
  return history.length - 1;
}

type StepColumn = Exclude<keyof MetricsColumns, 'length' | 'finite' | 'step' | 'diagnostics'>;

/** [steps, ...columns] as views of the history: nothing is copied per frame. */
function stepsData(history: MetricsHistory, ...columns: StepColumn[]): uPlot.AlignedData {
  const c = history.columns();
  return [c.step, ...columns.map((name) => c[name])] as uPlot.AlignedData;
}

/** "; dashed: no learning (ln 127 = 4.84)." for screen readers: the reference lines, ending the sentence. */
function referencesText(references: ReferenceLine[]): string {
  return `${references.length ? `; dashed: ${references.map((r) => r.label).join(', ')}` : ''}.`;
}

function lossSpec(method: Method, batchSize: number, projectionDim: number, settings?: Record<string, number>): ChartSpec {
  const references = method.levels({ batchSize, projectionDim, ...(settings && { settings }) }).loss;
  const bounds = method.lossBounds;
  return {
    series: [
      { label: method.lossLabel, stroke: () => palette.accentFaint, width: 1, value: (_u, v) => (v == null ? '—' : fmt(v, 4)) },
      { label: 'smoothed', stroke: () => palette.accent, width: 2, value: (_u, v) => (v == null ? '—' : fmt(v, 4)) },
    ],
    yRange: referenceRange(() => references, { floor: bounds.min, ...(bounds.max !== undefined && { ceil: bounds.max }) }),
    references: () => references,
    syncCursor: true,
    read(history) {
      const i = lastIndex(history);
      const c = history.columns();
      const label =
        (i < 0
          ? `Loss chart (${method.lossLabel}); no steps yet`
          : `Loss chart (${method.lossLabel}); latest loss ${fmt(c.methodLoss[i]!)} at step ${c.step[i]}, smoothed ${fmt(c.methodLossSmoothed[i]!)}`) + referencesText(references);
      return { data: stepsData(history, 'methodLoss', 'methodLossSmoothed'), label };
    },
  };
}

/** One of the method's diagnostics (SimCLR's contrastive accuracy), with its reference lines. */
function diagnosticSpec(diagnostic: DiagnosticSpec, batchSize: number, projectionDim: number, settings?: Record<string, number>): ChartSpec {
  const references = diagnostic.references({ batchSize, projectionDim, ...(settings && { settings }) });
  const fraction = diagnostic.format === 'fraction';
  const format = (v: number) => (fraction ? pct(v) : fmt(v, 4));
  return {
    series: [{ label: diagnostic.label, stroke: () => palette.accent, width: 1.5, value: (_u, v) => (v == null ? '—' : format(v)) }],
    yRange: fraction ? () => [0, 1] : referenceRange(() => references),
    ...(fraction && { yValues: (_u: uPlot, splits: number[]) => splits.map((v) => `${Math.round(v * 100)}%`) }),
    references: () => references,
    syncCursor: true,
    read(history) {
      const i = lastIndex(history);
      const c = history.columns();
      const column = c.diagnostics[diagnostic.key] ?? new Float64Array(c.length).fill(NaN);
      const label =
        (i < 0 ? `${diagnostic.label} chart; no steps yet` : `${diagnostic.label} chart; latest ${format(column[i]!)} at step ${c.step[i]}`) + referencesText(references);
      return { data: [c.step, column] as uPlot.AlignedData, label };
    },
  };
}

function stdSpec(projectionDim: number): ChartSpec {
  const healthy = healthyEmbeddingStd(projectionDim);
  const references = [{ value: healthy, label: `healthy (1/√${projectionDim} = ${fmt(healthy)})` }];
  return {
    series: [{ label: 'embedding std', stroke: () => palette.accent, width: 1.5, value: (_u, v) => (v == null ? '—' : fmt(v, 4)) }],
    yRange: referenceRange(() => references, { floor: 0 }),
    references: () => references,
    syncCursor: true,
    read(history) {
      const i = lastIndex(history);
      const c = history.columns();
      const label =
        i < 0
          ? `Embedding spread chart; no steps yet. Healthy is about ${fmt(healthy)}, collapse is near 0.`
          : `Embedding spread chart; latest std ${fmt(c.embeddingStd[i]!)} at step ${c.step[i]}; healthy is about ${fmt(healthy)}, collapse is near 0.`;
      return { data: stepsData(history, 'embeddingStd'), label };
    },
  };
}

/** A chart of one step column, with no reference line: "<chart> chart; latest <value> at step <n>." for screen readers. */
function columnSpec(options: {
  chart: string;
  label: string;
  column: StepColumn;
  format: (value: number) => string;
  /** After the latest value in the screen-reader text (" images/s"). */
  unit?: string;
  stroke?: () => string;
  yValues?: ChartSpec['yValues'];
}): ChartSpec {
  const { chart, label, column, format, unit = '', stroke = () => palette.accent, yValues } = options;
  return {
    series: [{ label, stroke, width: 1.5, value: (_u, v) => (v == null || !Number.isFinite(v) ? '—' : format(v)) }],
    yRange: referenceRange(() => [], { floor: 0 }),
    ...(yValues && { yValues }),
    references: () => [],
    syncCursor: true,
    read(history) {
      const i = lastIndex(history);
      const c = history.columns();
      const label = i < 0 ? `${chart} chart; no steps yet.` : `${chart} chart; latest ${format(c[column][i]!)}${unit} at step ${c.step[i]}.`;
      return { data: stepsData(history, column), label };
    },
  };
}

function lrSpec(): ChartSpec {
  return columnSpec({ chart: 'Learning rate', label: 'learning rate', column: 'lr', format: lrFmt, stroke: () => palette.ok, yValues: smallTicks });
}

function gradNormSpec(): ChartSpec {
  return columnSpec({ chart: 'Gradient norm', label: 'gradient norm', column: 'gradNorm', format: (v) => fmt(v, 4) });
}

function throughputSpec(): ChartSpec {
  return columnSpec({ chart: 'Throughput', label: 'images/s', column: 'imagesPerSec', format: (v) => fmt(v), unit: ' images/s' });
}

function baselineLines(history: MetricsHistory): ReferenceLine[] {
  const lines: ReferenceLine[] = [];
  const { randomInit, rawPixels, probeRandomInit, probeRawPixels } = history.baselines;
  const knn = () => palette.accent;
  const probe = () => palette.probe;
  if (randomInit != null) lines.push({ value: randomInit, label: `kNN, untrained encoder ${pct(randomInit)}`, colour: knn });
  if (rawPixels != null) lines.push({ value: rawPixels, label: `kNN, raw pixels ${pct(rawPixels)}`, colour: knn });
  if (probeRandomInit != null) lines.push({ value: probeRandomInit, label: `probe, untrained encoder ${pct(probeRandomInit)}`, colour: probe });
  if (probeRawPixels != null) lines.push({ value: probeRawPixels, label: `probe, raw pixels ${pct(probeRawPixels)}`, colour: probe });
  return lines;
}

/** NaN (not measured) as null, which uPlot draws as a gap. */
function gaps(values: Float64Array): (number | null)[] {
  return Array.from(values, (v) => (Number.isFinite(v) ? v : null));
}

/** Held-out accuracy of the frozen representation: kNN and the linear probe, each against its two baselines. */
function evaluationSpec(): ChartSpec {
  const references = () => baselineLines(metricsHistory);
  const series = (label: string, colour: () => string, width: number): uPlot.Series => ({
    label,
    stroke: colour,
    width,
    points: { show: true, size: 6, fill: colour },
    value: (_u, v) => (v == null ? '—' : pct(v)),
  });
  return {
    series: [series('kNN', () => palette.accent, 2), series('linear probe', () => palette.probe, 2)],
    // From step 0 to the run's latest step, as the loss chart above. The data's own last step, not uPlot's max: for a
    // single point uPlot pads its range (a point at step 0 alone would span 0–100).
    xRange: (u) => {
      const steps = u.data[0];
      const last = steps.length ? Number(steps[steps.length - 1]) : 0;
      return [0, Math.max(1, last, metricsHistory.lastStep ?? 0)];
    },
    yRange: referenceRange(references, { floor: 0, ceil: 1 }),
    yValues: (_u, splits) => splits.map((v) => `${Math.round(v * 100)}%`),
    references,
    syncCursor: false,
    read(history) {
      const knn = history.knnColumns();
      const i = knn.length - 1;
      const baselines = baselineLines(history)
        .map((r) => r.label)
        .join(', ');
      const probe = i >= 0 && Number.isFinite(knn.probe[i]!) ? `, linear probe ${pct(knn.probe[i]!)}` : '';
      const label =
        (i < 0 ? 'Held-out accuracy chart; no evaluations yet.' : `Held-out accuracy chart; latest kNN ${pct(knn.accuracy[i]!)}${probe} at step ${knn.step[i]}.`) +
        (baselines ? ` Baselines: ${baselines}.` : '');
      return { data: [knn.step, knn.accuracy, gaps(knn.probe)] as uPlot.AlignedData, label };
    },
  };
}

/** The latest held-out accuracies in words, each next to its baselines; updated when an evaluation or baseline arrives. */
function EvaluationFigures() {
  const [figures, setFigures] = useState(() => evaluationFigures(metricsHistory));
  useEffect(() => {
    const update = () => setFigures((previous) => {
      const next = evaluationFigures(metricsHistory);
      return JSON.stringify(next) === JSON.stringify(previous) ? previous : next;
    });
    update();
    return subscribePerFrame(metricsHistory, update);
  }, []);
  const { step, knn, probe, baselines: b } = figures;
  // The step-0 figures are the untrained encoder's own: until the raw-pixel baseline comes, say only what is missing.
  const against = (untrained: number | null, raw: number | null) =>
    untrained !== null && raw !== null
      ? `(untrained encoder ${pct(untrained)}, raw pixels ${pct(raw)})`
      : step === 0
        ? '(the untrained encoder; raw pixels: being measured…)'
        : '(baselines: the untrained encoder and raw pixels, being measured…)';
  if (step === null) {
    return <p className="evaluation-figures hint">Measured on held-out labelled images every time the map updates; the first figures come with the first map.</p>;
  }
  return (
    <div className="evaluation-figures">
      <p aria-label="kNN accuracy">
        <span className="key key-knn" aria-hidden="true" />
        kNN accuracy at step {step}: <strong>{pct(knn!)}</strong> {against(b.randomInit, b.rawPixels)}
      </p>
      {probe !== null && (
        <p aria-label="Linear probe accuracy">
          <span className="key key-probe" aria-hidden="true" />
          Linear probe at step {step}: <strong>{pct(probe)}</strong> {against(b.probeRandomInit, b.probeRawPixels)}
        </p>
      )}
    </div>
  );
}

function evaluationFigures(history: MetricsHistory) {
  const knn = history.knnColumns();
  const i = knn.length - 1;
  const probe = i >= 0 && Number.isFinite(knn.probe[i]!) ? knn.probe[i]! : null;
  return { step: i >= 0 ? knn.step[i]! : null, knn: i >= 0 ? knn.accuracy[i]! : null, probe, baselines: { ...history.baselines } };
}

/**
 * The run's live curves. The watched view: the method's loss, and held-out accuracy (kNN and the linear probe against
 * their baselines) when the images have labels, else the method's first diagnostic (SimCLR's contrastive accuracy).
 * The rest: the other diagnostics, embedding spread, learning rate, gradient norm, throughput. Reads `metricsHistory`;
 * push reports there.
 */
export function TrainingCurves({ method: methodName, batchSize, projectionDim, methodSettings, view, evaluated }: TrainingCurvesProps) {
  const method = methodOf({ name: methodName });
  const settingsKey = methodSettings ? JSON.stringify(methodSettings) : '';
  const [hasKnn, setHasKnn] = useState(() => metricsHistory.knnColumns().length > 0);
  useEffect(() => {
    const update = () => setHasKnn(metricsHistory.knnColumns().length > 0);
    update();
    return subscribePerFrame(metricsHistory, update);
  }, []);
  // A run saved with kNN points shows them even if the images loaded now lack labels.
  const withEvaluation = evaluated || hasKnn;
  // Without labels, the first diagnostic is watched beside the loss; the others are below.
  const [firstDiagnostic, ...otherDiagnostics] = method.diagnostics;
  const watchedDiagnostic = withEvaluation ? null : (firstDiagnostic ?? null);
  const moreDiagnostics = watchedDiagnostic ? otherDiagnostics : method.diagnostics;
  const diagnosticChart = (diagnostic: DiagnosticSpec, height?: number) => (
    <Chart
      key={diagnostic.key}
      title={diagnostic.label}
      note={diagnostic.description}
      spec={diagnosticSpec(diagnostic, batchSize, projectionDim, methodSettings)}
      rebuildKey={`${methodName}-${diagnostic.key}-${batchSize}-${projectionDim}-${settingsKey}`}
      {...(height !== undefined && { height })}
    />
  );

  if (view === 'watch') {
    return (
      <section className="curves curves-watch" aria-label="Training curves">
        <Chart
          title={`Loss (${method.lossLabel})`}
          note={`Thin: each step; thick: smoothed. ${method.lossDescription}`}
          spec={lossSpec(method, batchSize, projectionDim, methodSettings)}
          rebuildKey={`loss-${methodName}-${batchSize}-${projectionDim}-${settingsKey}`}
          height={WATCH_PLOT_HEIGHT}
        />
        {withEvaluation ? (
          <Chart
            title="Held-out accuracy: kNN and linear probe"
            note="The frozen representation of held-out labelled images, by kNN (k = 20) and by a logistic regression fitted on the others. Dashed: the same for the untrained encoder and for raw pixels."
            spec={evaluationSpec()}
            rebuildKey="evaluation"
            height={WATCH_PLOT_HEIGHT}
          >
            <EvaluationFigures />
          </Chart>
        ) : (
          watchedDiagnostic && diagnosticChart(watchedDiagnostic, WATCH_PLOT_HEIGHT)
        )}
      </section>
    );
  }
  return (
    <section className="curves" aria-label="More training curves">
      <div className="curves-grid">
        {moreDiagnostics.map((diagnostic) => diagnosticChart(diagnostic))}
        <Chart title="Embedding spread (std)" note="Near 0 means collapse: every image maps to the same point. Dashed: healthy level." spec={stdSpec(projectionDim)} rebuildKey={`std-${projectionDim}`} />
        <Chart title="Learning rate" spec={lrSpec()} rebuildKey="lr" />
        <Chart
          title="Gradient norm"
          note={`All gradients' L2 norm. A step ${EXPLODING_FACTOR}× above the recent median counts as exploding: it is not applied and the run goes back to its last checkpoint.`}
          spec={gradNormSpec()}
          rebuildKey="grad-norm"
        />
        <Chart title="Throughput (images/s)" spec={throughputSpec()} rebuildKey="throughput" />
      </div>
    </section>
  );
}
