// Zone violations (events:read): over-capacity and restricted-entry
// events of one zone over a chosen span, per day and one by one.

import { all } from "../api.js";
import { $, cell, el, fillTable, say } from "../dom.js";
import { drawChart, fillNumbers } from "../chart.js";
import { addDays, localDate, noteCamera, when, zoneMidnight, zoneOf } from "../session.js";

const KIND = { max_occupancy: "over capacity", restricted_entry: "restricted entry" };

async function loadZones() {
  const [zones, cams] = await Promise.all([all("/api/v1/config/zones"), all("/api/v1/counting/current")]);
  for (const c of cams) noteCamera(c.camera_id, c.site_id);
  const box = $("#violations-zone");
  const keep = box.value;
  box.replaceChildren(...zones.map((z) => el("option", { value: `${z.camera_id}/${z.id}` },
    `${z.camera_id}: ${z.name || z.id}${z.restricted ? " (restricted)" : ""}${z.max_occupancy ? ` (max ${z.max_occupancy})` : ""}`)));
  if ([...box.options].some((o) => o.value === keep)) box.value = keep;
  $("#no-zones").hidden = zones.length > 0;
  $("#violations-filter button").disabled = zones.length === 0;
  return zones.length;
}

async function showViolations(event) {
  if (event) event.preventDefault();
  say("#violations-error", "");
  const choice = $("#violations-zone").value;
  if (!choice) return;
  const slash = choice.indexOf("/");
  const [camera, zoneId] = [choice.slice(0, slash), choice.slice(slash + 1)];
  const zone = zoneOf({ camera });
  const days = Number($("#violations-days").value);
  const today = localDate(new Date(), zone);
  const first = addDays(today, 1 - days);
  const start = zoneMidnight(first, zone), end = zoneMidnight(addDays(today, 1), zone);
  const params = { camera_id: camera, start_time: start.toISOString(), end_time: end.toISOString() };
  if ($("#violations-kind").value) params.kind = $("#violations-kind").value;
  let rows;
  try { rows = await all(`/api/v1/zones/${encodeURIComponent(zoneId)}/violations`, params, 5000); } catch (e) { say("#violations-error", e.message); return; }
  const dates = [];
  for (let d = first; d <= today; d = addDays(d, 1)) dates.push(d);
  const perDay = new Map(dates.map((d) => [d, { over: 0, entry: 0 }]));
  for (const v of rows) {
    const n = perDay.get(localDate(new Date(v.ts), zone));
    if (n) { if (v.kind === "max_occupancy") n.over += 1; else n.entry += 1; }
  }
  $("#violations-summary").textContent = `${rows.length} violation(s) of ${zoneId} at ${camera} in the last ${days} day(s) (times in ${zone}).`;
  drawChart($("#violations-chart"), {
    xs: dates.map((d) => zoneMidnight(d, zone)), zone, yLabel: "violations", step: "day",
    series: [
      { label: "over capacity", values: dates.map((d) => perDay.get(d).over), color: "#b91c1c", fill: "rgba(185, 28, 28, .7)", bars: true },
      { label: "restricted entry", values: dates.map((d) => perDay.get(d).entry), color: "#6d28d9", fill: "rgba(109, 40, 217, .45)", dash: [6, 3], bars: true },
    ],
  });
  fillNumbers($("#violations-days-table"), ["Day", "Over capacity", "Restricted entry"],
    dates.map((d) => [d, String(perDay.get(d).over), String(perDay.get(d).entry)]));
  fillTable($("#violations tbody"), rows.map((v) => el("tr", { dataset: { kind: v.kind } },
    cell(when(v.ts, { camera: v.camera_id })), cell(v.camera_id), cell(v.zone_id), cell(KIND[v.kind] || v.kind),
    cell(v.kind === "max_occupancy" ? `${v.occupancy} in the zone` : `track ${v.track}`))), "No violations in this span.");
}

$("#violations-filter").addEventListener("submit", showViolations);

export const page = {
  name: "violations",
  nav: "Zone violations",
  title: () => "Zone violations",
  allowed: () => true,
  enter: async () => {
    let n;
    try { n = await loadZones(); } catch (e) { say("#violations-error", e.message); return; }
    if (n) await showViolations();
  },
};
