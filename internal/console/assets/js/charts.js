// Charts on the vendored uPlot (vendor/uplot, loaded as a classic script
// before the modules). Each chart's container keeps the uPlot instance in
// its __chart property and the category labels in __labels, so the data a
// chart draws can be read back (the browser tests do).

const COLORS = ['#2563eb', '#16a34a', '#dc2626', '#9333ea', '#ea580c'];

function width(container) {
  return Math.max(320, Math.min(900, container.clientWidth || 640));
}

function lib() {
  const u = globalThis.uPlot;
  if (!u) throw new Error('the chart library did not load');
  return u;
}

function mount(container, opts, data, labels) {
  if (container.__chart) container.__chart.destroy();
  container.replaceChildren();
  const U = lib();
  const chart = new U(opts, data, container);
  container.__chart = chart;
  container.__labels = labels || null;
  return chart;
}

// timeChart draws series over time. xs: unix seconds; series: [{label,
// values, scale ("y" or "rate"), bars}].
export function timeChart(container, title, xs, series) {
  const U = lib();
  const opts = {
    title,
    width: width(container),
    height: 240,
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max)] }, rate: { range: [0, 1] } },
    axes: [
      {},
      { scale: 'y', label: series.find((s) => s.scale !== 'rate')?.label || '' },
      { scale: 'rate', side: 1, grid: { show: false }, values: (u, splits) => splits.map((v) => Math.round(v * 100) + '%') },
    ],
    series: [{}].concat(series.map((s, i) => ({
      label: s.label,
      scale: s.scale || 'y',
      stroke: COLORS[i % COLORS.length],
      fill: s.bars ? COLORS[i % COLORS.length] + '55' : undefined,
      width: s.bars ? 1 : 2,
      paths: s.bars ? U.paths.bars({ size: [0.7, 40] }) : undefined,
      points: { show: !s.bars },
      value: s.scale === 'rate' ? (u, v) => (v == null ? '' : (v * 100).toFixed(1) + '%') : undefined,
    }))),
  };
  return mount(container, opts, [xs].concat(series.map((s) => s.values)));
}

// barChart draws one bar group per category. series: [{label, values,
// format}] (values aligned with labels).
export function barChart(container, title, labels, series, { yLabel = '', yMax } = {}) {
  const U = lib();
  const n = labels.length;
  const xs = labels.map((_, i) => i);
  const size = 0.8 / Math.max(1, series.length);
  const opts = {
    title,
    width: width(container),
    height: 240,
    scales: {
      x: { time: false, range: () => [-0.5, Math.max(0.5, n - 0.5)] },
      y: { range: (u, min, max) => [0, yMax !== undefined ? yMax : Math.max(1, max)] },
    },
    axes: [
      { splits: () => xs, values: (u, splits) => splits.map((i) => (labels[i] !== undefined ? String(labels[i]) : '')), gap: 6 },
      { label: yLabel, values: series[0]?.format ? (u, splits) => splits.map(series[0].format) : undefined },
    ],
    series: [{ label: 'category', value: (u, i) => (labels[i] !== undefined ? String(labels[i]) : '') }].concat(series.map((s, i) => ({
      label: s.label,
      stroke: COLORS[i % COLORS.length],
      fill: COLORS[i % COLORS.length] + '88',
      width: 1,
      points: { show: false },
      paths: U.paths.bars({ size: [size, 60], align: series.length === 1 ? 0 : (i === 0 ? -1 : 1) }),
      value: s.format ? (u, v) => (v == null ? '' : s.format(v)) : undefined,
    }))),
  };
  return mount(container, opts, [xs].concat(series.map((s) => s.values)), labels);
}
