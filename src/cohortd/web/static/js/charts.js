// Charts of the cohort page, drawn with the vendored uPlot from the API's own numbers
// (embedded as JSON next to the tables that show the same values).
(function () {
  "use strict";
  function read(id) {
    const node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }
  function width(el) { return Math.max(280, el.clientWidth - 20); }
  function draw(target, labels, series, xLabel) {
    const el = document.getElementById(target);
    if (!el || !window.uPlot || !labels.length) return;
    const xs = labels.map(function (_, i) { return i; });
    const opts = {
      width: width(el), height: 240,
      scales: { x: { time: false } },
      axes: [
        { label: xLabel, values: function (_, ticks) { return ticks.map(function (t) { return labels[t] !== undefined ? labels[t] : ""; }); } },
        { label: "%" },
      ],
      series: [{ label: xLabel }].concat(series.map(function (s) {
        return { label: s.label, stroke: s.colour, width: 2, dash: s.dash, points: { show: true } };
      })),
    };
    const plot = new window.uPlot(opts, [xs].concat(series.map(function (s) { return s.values; })), el);
    window.addEventListener("resize", function () { plot.setSize({ width: width(el), height: 240 }); });
  }
  const snapshots = read("snapshots-data") || [];
  draw("nrr-chart", snapshots.map(function (s) { return s.period_start; }), [
    { label: "NRR %", colour: "#1f5fbf", values: snapshots.map(function (s) { return s.nrr; }) },
    { label: "GRR %", colour: "#0f7a4b", dash: [6, 4], values: snapshots.map(function (s) { return s.grr; }) },
  ], "period");
  const curve = read("curve-data");
  const points = curve ? curve.periods : [];
  draw("curve-chart", points.map(function (p) { return String(p.month); }), [
    { label: "MRR retention %", colour: "#1f5fbf", values: points.map(function (p) { return p.mrr_retention; }) },
    { label: "Gross MRR retention %", colour: "#b54708", dash: [6, 4], values: points.map(function (p) { return p.mrr_retention_gross; }) },
  ], "month");
})();
