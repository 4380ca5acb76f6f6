// The Overview chart: MRR as a line, the movements as stacked bars (new, reactivation,
// expansion up; contraction, churn down) and FX impact apart, as a dashed line. Drawn with
// the vendored uPlot from the API's own entries (embedded as JSON beside the table).
(function () {
  "use strict";
  const node = document.getElementById("metrics-data");
  const el = document.getElementById("mrr-chart");
  if (!node || !el || !window.uPlot) return;
  const entries = JSON.parse(node.textContent);
  if (!entries.length) return;
  const xs = entries.map(function (_, i) { return i; });
  function field(name) { return entries.map(function (e) { return e[name]; }); }
  function sum(names, sign) {
    return entries.map(function (e) {
      return sign * names.reduce(function (total, n) { return total + e[n]; }, 0);
    });
  }
  // stacked by drawing cumulative totals, the tallest first
  const bars = [
    { label: "Expansion", names: ["new_mrr", "reactivation_mrr", "expansion_mrr"], sign: 1, fill: "#7fb3e6" },
    { label: "Reactivation", names: ["new_mrr", "reactivation_mrr"], sign: 1, fill: "#3f8fd9" },
    { label: "New", names: ["new_mrr"], sign: 1, fill: "#1f5fbf" },
    { label: "Churn", names: ["contraction_mrr", "churn_mrr"], sign: -1, fill: "#c0392b" },
    { label: "Contraction", names: ["contraction_mrr"], sign: -1, fill: "#e59866" },
  ];
  const barPaths = window.uPlot.paths.bars({ size: [0.6, 48] });
  const labels = field("date");
  window.cohortdOverview = { labels: labels, bars: {} };
  bars.forEach(function (b) { window.cohortdOverview.bars[b.label] = sum(b.names, b.sign); });
  function width() { return Math.max(300, el.clientWidth - 10); }
  const opts = {
    width: width(), height: 320,
    scales: { x: { time: false }, mrr: {}, moves: {} },
    axes: [
      { values: function (_, ticks) { return ticks.map(function (t) { return labels[t] || ""; }); } },
      { scale: "mrr", label: "MRR" },
      { scale: "moves", side: 1, label: "movements", grid: { show: false } },
    ],
    series: [{ label: "period" }].concat(bars.map(function (b) {
      return { label: b.label, scale: "moves", fill: b.fill, stroke: b.fill, paths: barPaths, points: { show: false } };
    })).concat([
      { label: "FX impact", scale: "moves", stroke: "#7d3c98", width: 1.5, dash: [5, 4] },
      { label: "MRR", scale: "mrr", stroke: "#111", width: 2.5 },
    ]),
  };
  const data = [xs].concat(bars.map(function (b) { return window.cohortdOverview.bars[b.label]; }))
    .concat([field("fx_impact"), field("mrr")]);
  const plot = new window.uPlot(opts, data, el);
  window.addEventListener("resize", function () { plot.setSize({ width: width(), height: 320 }); });
})();
