// Charts: uPlot (vendored from npm, see docs/vendor.md) drawn on a canvas,
// with the same numbers in a table beside it for keyboards and screen
// readers. Series differ by dash pattern and label as well as colour, so
// colour is never the only signal. Times are shown in the site's zone.

import uPlot from "../vendor/uplot/uPlot.esm.js";
import { el } from "./dom.js";

const charts = new WeakMap();

/**
 * Draws (or redraws) a chart in `box`.
 *   xs: bucket starts (Date), series: [{label, values, color, dash, bars}]
 *   zone: IANA zone for the time axis; step: "hour" | "day" | "minutes"
 */
export function drawChart(box, { xs, series, zone, yLabel, step }) {
  const old = charts.get(box);
  if (old) old.destroy();
  box.replaceChildren();
  const width = Math.max(320, box.clientWidth || 720);
  const barSeries = series.filter((s) => s.bars).length;
  let barIndex = 0;
  const opts = {
    width,
    height: 260,
    tzDate: (ts) => uPlot.tzDate(new Date(ts * 1e3), zone),
    scales: { x: { time: true }, y: { range: (u, min, max) => [0, Math.max(1, max * 1.1)] } },
    axes: [
      { stroke: "#374151", grid: { stroke: "#e5e7eb" } },
      { stroke: "#374151", grid: { stroke: "#e5e7eb" }, label: yLabel, size: 50 },
    ],
    legend: { live: true },
    series: [{ label: step === "day" ? "Day" : "Time" }, ...series.map((s) => {
      const out = { label: s.label, stroke: s.color, width: 2, dash: s.dash, points: { show: !s.bars && xs.length < 60 } };
      if (s.bars) {
        // Bars of one bucket side by side: the first ends at the tick, the next starts there.
        const align = barSeries === 1 ? 0 : barIndex++ === 0 ? -1 : 1;
        out.paths = uPlot.paths.bars({ size: [barSeries === 1 ? 0.6 : 0.4, 48], align });
        out.fill = s.fill || s.color;
      }
      return out;
    })],
  };
  const data = [xs.map((d) => d.getTime() / 1000), ...series.map((s) => s.values)];
  const u = new uPlot(opts, data, box);
  charts.set(box, u);
  // The canvas is a picture: say what it shows.
  const canvas = box.querySelector("canvas");
  if (canvas) {
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", `Chart of ${series.map((s) => s.label).join(" and ")}; the numbers are in the table below.`);
  }
  return u;
}

/** Fills `table` (thead + tbody) with the chart's numbers. */
export function fillNumbers(table, head, rows) {
  table.querySelector("thead").replaceChildren(el("tr", {}, ...head.map((h) => el("th", { scope: "col" }, h))));
  table.querySelector("tbody").replaceChildren(...rows.map((r) => el("tr", {}, ...r.map((v, i) => el("td", { class: i ? "num" : null }, v)))));
}
