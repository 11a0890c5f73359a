// Counting: IN/OUT per hour or per site-local day over a chosen range,
// and people in view over one day, per camera (events:read, every role).

import { all } from "../api.js";
import { $, el, say } from "../dom.js";
import { drawChart, fillNumbers } from "../chart.js";
import { addDays, localDate, noteCamera, zoneMidnight, zoneOf } from "../session.js";

const HOUR = 3600e3;
const DAY = 86400e3;
let cameras = [];

async function loadCameras() {
  cameras = await all("/api/v1/counting/current");
  for (const c of cameras) noteCamera(c.camera_id, c.site_id);
  for (const sel of ["#counting-camera", "#occupancy-camera"]) {
    const box = $(sel);
    const keep = box.value;
    const opts = cameras.map((c) => el("option", { value: c.camera_id }, c.name && c.name !== c.camera_id ? `${c.name} (${c.camera_id})` : c.camera_id));
    box.replaceChildren(...(sel === "#counting-camera" ? [el("option", { value: "" }, "all cameras")] : []), ...opts);
    if ([...box.options].some((o) => o.value === keep)) box.value = keep;
  }
}

/** [start, end, interval] of the chosen range, in the zone. */
function chosenRange(zone) {
  const now = new Date();
  const range = $("#counting-range").value;
  const today = localDate(now, zone);
  switch (range) {
    case "24h": return [new Date(Math.floor(now / HOUR) * HOUR - 23 * HOUR), new Date(Math.floor(now / HOUR) * HOUR + HOUR), "hourly"];
    case "7d": return [zoneMidnight(addDays(today, -6), zone), zoneMidnight(addDays(today, 1), zone), "hourly"];
    case "30d": return [zoneMidnight(addDays(today, -29), zone), zoneMidnight(addDays(today, 1), zone), "daily"];
    case "90d": return [zoneMidnight(addDays(today, -89), zone), zoneMidnight(addDays(today, 1), zone), "daily"];
    default: {
      const from = $("#counting-from").value;
      const to = $("#counting-to").value;
      if (!from || !to) throw new Error("Choose both dates.");
      if (to < from) throw new Error("The end date is before the start date.");
      return [zoneMidnight(from, zone), zoneMidnight(addDays(to, 1), zone), $("#counting-interval").value];
    }
  }
}

/** Bucket starts over [start, end): hours, or the zone's midnights. */
function buckets(start, end, interval, zone) {
  const out = [];
  if (interval === "hourly") {
    for (let t = Math.ceil(start / HOUR) * HOUR; t < end; t += HOUR) out.push(new Date(t));
  } else {
    for (let d = localDate(start, zone); zoneMidnight(d, zone) < end; d = addDays(d, 1)) out.push(zoneMidnight(d, zone));
  }
  return out;
}

function label(d, interval, zone) {
  const o = interval === "hourly" ? { dateStyle: "short", timeStyle: "short" } : { dateStyle: "medium" };
  return new Intl.DateTimeFormat(undefined, { timeZone: zone, ...o }).format(d);
}

async function showHistory(event) {
  if (event) event.preventDefault();
  say("#counting-error", "");
  const camera = $("#counting-camera").value;
  const zone = zoneOf({ camera });
  let start, end, interval;
  try { [start, end, interval] = chosenRange(zone); } catch (e) { say("#counting-error", e.message); return; }
  const params = { start_time: start.toISOString(), end_time: end.toISOString(), interval };
  if (camera) params.camera_id = camera;
  let rows;
  try { rows = await all("/api/v1/counting/history", params); } catch (e) { say("#counting-error", e.message); return; }
  const xs = buckets(start, end, interval, zone);
  const index = new Map(xs.map((d, i) => [d.getTime(), i]));
  const ins = xs.map(() => 0), outs = xs.map(() => 0);
  for (const r of rows) {
    const i = index.get(new Date(r.bucket).getTime());
    if (i === undefined) continue;
    ins[i] += r.in; outs[i] += r.out;
  }
  const tin = ins.reduce((a, b) => a + b, 0), tout = outs.reduce((a, b) => a + b, 0);
  $("#counting-total").textContent = `${tin} in, ${tout} out ${camera ? `at ${camera}` : "at all cameras"}, ${label(start, "daily", zone)} to ${label(new Date(end - 1), "daily", zone)} (times in ${zone}).`;
  drawChart($("#counting-chart"), {
    xs, zone, yLabel: "people", step: interval === "hourly" ? "hour" : "day",
    series: [
      { label: "IN", values: ins, color: "#1d4ed8", fill: "rgba(29, 78, 216, .75)", bars: true },
      { label: "OUT", values: outs, color: "#b45309", fill: "rgba(180, 83, 9, .45)", dash: [6, 3], bars: true },
    ],
  });
  fillNumbers($("#counting-table"), [interval === "hourly" ? "Hour" : "Day", "IN", "OUT"],
    xs.map((d, i) => [label(d, interval, zone), String(ins[i]), String(outs[i])]));
}

async function showOccupancy(event) {
  if (event) event.preventDefault();
  say("#occupancy-error", "");
  const camera = $("#occupancy-camera").value;
  if (!camera) { say("#occupancy-error", "No camera yet."); return; }
  const zone = zoneOf({ camera });
  const day = $("#occupancy-day").value || localDate(new Date(), zone);
  const start = zoneMidnight(day, zone), end = zoneMidnight(addDays(day, 1), zone);
  const minutes = 15;
  let rows;
  try {
    rows = await all("/api/v1/counting/occupancy", { camera_id: camera, start_time: start.toISOString(), end_time: end.toISOString(), bucket_minutes: String(minutes) });
  } catch (e) { say("#occupancy-error", e.message); return; }
  const xs = [];
  for (let t = start.getTime(); t < end; t += minutes * 60e3) xs.push(new Date(t));
  const index = new Map(xs.map((d, i) => [d.getTime(), i]));
  // No samples (the camera was offline): a gap, not a zero.
  const max = xs.map(() => null), avg = xs.map(() => null);
  for (const r of rows) {
    const i = index.get(new Date(r.bucket).getTime());
    if (i === undefined) continue;
    max[i] = r.max_in_view; avg[i] = Math.round(r.avg_in_view * 10) / 10;
  }
  const peak = Math.max(0, ...max.filter((v) => v !== null));
  const covered = max.filter((v) => v !== null).length;
  $("#occupancy-summary").textContent = covered
    ? `At most ${peak} in view at ${camera} on ${day}; ${covered} of ${xs.length} quarter hours have samples (times in ${zone}).`
    : `No occupancy samples from ${camera} on ${day}.`;
  drawChart($("#occupancy-chart"), {
    xs, zone, yLabel: "in view", step: "minutes",
    series: [
      { label: "most in view", values: max, color: "#1d4ed8" },
      { label: "mean in view", values: avg, color: "#047857", dash: [6, 3] },
    ],
  });
  const t = (d) => new Intl.DateTimeFormat(undefined, { timeZone: zone, timeStyle: "short" }).format(d);
  fillNumbers($("#occupancy-table"), ["From", "Most in view", "Mean in view"],
    xs.map((d, i) => [t(d), max[i] === null ? "–" : String(max[i]), avg[i] === null ? "–" : String(avg[i])]).filter((r) => r[1] !== "–"));
}

$("#counting-filter").addEventListener("submit", showHistory);
$("#occupancy-filter").addEventListener("submit", showOccupancy);
$("#counting-range").addEventListener("change", () => { $("#counting-custom").hidden = $("#counting-range").value !== "custom"; });

export const page = {
  name: "counting",
  nav: "Counting",
  title: () => "Counting",
  allowed: () => true,
  enter: async () => {
    try { await loadCameras(); } catch (e) { say("#counting-error", e.message); return; }
    const zone = zoneOf({ camera: $("#occupancy-camera").value });
    if (!$("#occupancy-day").value) $("#occupancy-day").value = localDate(new Date(), zone);
    await Promise.all([showHistory(), showOccupancy()]);
  },
};
