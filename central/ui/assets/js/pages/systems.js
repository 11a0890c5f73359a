// Building systems (systems:read): fire zones with alarms on top, power per
// meter with a chart, lifts, lighting, access events and the device list.
// Live: a system_status event reloads the tables it concerns (at most
// every 2 s), a power_update changes the meter's "now" cell and the
// site's total.

import { all, api, errorText } from "../api.js";
import { $, cell, el, fillTable, say } from "../dom.js";
import { drawChart, fillNumbers } from "../chart.js";
import { onLive, onOpen } from "../live.js";
import { can, when, zoneOf } from "../session.js";

const FIRE_STATE = {
  alarm: "ALARM", pre_alarm: "pre-alarm", fault: "fault", disabled: "disabled", isolated: "isolated", normal: "normal",
};
const OUTCOME = { granted: "granted", denied: "denied", forced: "forced open", held_open: "held open" };
const RANGES = {
  "2h": { interval: "minute", hours: 2, step: "minutes" },
  "24h": { interval: "hour", hours: 24, step: "hour" },
  "30d": { interval: "day", hours: 24 * 30, step: "day" },
};

let meters = [];
let stopLive = null;
let reloadTimer = null;
let active = false;

function stateBadge(state, reason) {
  const text = reason ? `${state} (${reason === "silent" ? "silent" : "said so"})` : state;
  return el("td", {}, el("span", { class: `badge ${state}` }, text));
}

function fmt(v, digits = 1) {
  return typeof v === "number" ? v.toFixed(digits) : "–";
}

async function get(path) {
  const res = await api(path);
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

async function loadFire() {
  const body = await get("/api/v1/systems/fire/status");
  const urgent = body.data.filter((z) => z.state && z.state !== "normal");
  $("#systems-fire-count").textContent = String(urgent.length);
  const alarms = body.data.filter((z) => z.state === "alarm" || z.state === "pre_alarm");
  const banner = $("#fire-banner");
  banner.hidden = alarms.length === 0;
  banner.textContent = alarms.length
    ? `Fire ${alarms.map((z) => `${FIRE_STATE[z.state]} in zone ${z.part} (${z.device_name})${z.readings.test_mode ? " – test mode" : ""}`).join("; ")}`
    : "";
  fillTable($("#fire-zones tbody"), body.data.map((z) => el("tr", { dataset: { state: z.state || "", zone: z.part } },
    cell(z.device_name), cell(z.part), cell(FIRE_STATE[z.state] || z.state || "–"),
    cell(when(z.state_since, { site: z.site_id })), cell(z.readings.test_mode ? "yes" : "no"),
    stateBadge(z.device_state))), "No fire panel reports yet.");
}

async function loadLifts() {
  const body = await get("/api/v1/systems/lifts/status");
  const inService = body.data.filter((l) => l.state === "normal" && l.device_state === "online").length;
  $("#systems-lifts-count").textContent = `${inService}/${body.data.length}`;
  fillTable($("#lifts tbody"), body.data.map((l) => el("tr", { dataset: { state: l.state || "", lift: l.device_id } },
    cell(l.device_name), cell(l.state || "–"), cell(when(l.state_since, { site: l.site_id })),
    cell(l.readings.floor ?? "–", "num"), cell(l.readings.direction || "–"), cell(l.readings.door || "–"),
    cell(l.readings.trips ?? "–", "num"), stateBadge(l.device_state))), "No lift reports yet.");
}

async function loadLighting() {
  const body = await get("/api/v1/systems/lighting/status");
  fillTable($("#lighting tbody"), body.data.map((c) => el("tr", { dataset: { circuit: c.part } },
    cell(c.device_name), cell(c.part), cell(c.state || "–"), cell(fmt(c.readings.level_percent, 0), "num"),
    cell(fmt(c.readings.power_kw, 2), "num"), cell(when(c.state_since, { site: c.site_id })),
    stateBadge(c.device_state))), "No lighting reports yet.");
}

async function loadAccess() {
  const end = new Date(), start = new Date(end.getTime() - 24 * 3600e3);
  const res = await api(`/api/v1/systems/access/events?${new URLSearchParams({ start_time: start.toISOString(), end_time: end.toISOString(), per_page: "100" })}`);
  if (!res.ok) throw new Error(await errorText(res));
  const body = await res.json();
  const hashes = can("persons:read");
  fillTable($("#access-events tbody"), body.data.map((e) => el("tr", { dataset: { outcome: e.outcome || "" } },
    cell(when(e.ts, { site: e.site_id })), cell(e.device_id), cell(e.door || "–"), cell(OUTCOME[e.outcome] || e.outcome || "–"),
    cell(e.direction || "–"), cell(hashes && e.credential_hash ? `${e.credential_hash.slice(0, 12)}…` : "hidden"))),
  "No access events in the last 24 hours.");
  $("#access-summary").textContent = `${body.meta.total} access event(s) in the last 24 hours${body.meta.total > body.data.length ? `, the newest ${body.data.length} shown` : ""}.`
    + (hashes ? "" : " Credential hashes are shown only to those who may read personal data.");
}

function showTotalPower() {
  // Main meters only: a sub-meter's power is inside its parent's.
  const mains = meters.filter((m) => !m.parent_id && m.readings && typeof m.readings.power_kw === "number");
  $("#systems-power").textContent = mains.length ? `${mains.reduce((s, m) => s + m.readings.power_kw, 0).toFixed(1)} kW` : "–";
}

function fillMeters() {
  fillTable($("#meters tbody"), meters.map((m) => el("tr", { dataset: { meter: m.device_id } },
    cell(m.name), cell(m.parent_id || "–"), cell(m.location || "–"),
    el("td", { class: "num", dataset: { power: m.device_id } }, fmt(m.readings && m.readings.power_kw)),
    cell(fmt(m.readings && m.readings.energy_import_kwh), "num"), stateBadge(m.state, m.offline_reason))), "No meters yet.");
  showTotalPower();
}

async function loadDevices() {
  const devices = await all("/api/v1/devices");
  meters = devices.filter((d) => d.kind === "power_meter");
  $("#systems-online").textContent = `${devices.filter((d) => d.state === "online").length}/${devices.length}`;
  $("#no-devices").hidden = devices.length > 0;
  fillTable($("#devices tbody"), devices.map((d) => el("tr", { dataset: { device: d.device_id, state: d.state } },
    cell(d.name === d.device_id ? d.device_id : `${d.name} (${d.device_id})`), cell(d.kind.replace("_", " ")), cell(d.site_id),
    cell([d.location, d.floor !== null && d.floor !== undefined ? `floor ${d.floor}` : null].filter(Boolean).join(", ") || "–"),
    stateBadge(d.state, d.offline_reason), cell(when(d.last_seen, { site: d.site_id })),
    cell(d.model ? `${d.model} ${d.firmware || ""}`.trim() : "–"))));
  fillMeters();
  const box = $("#power-meter");
  const keep = box.value;
  const sites = [...new Set(meters.map((m) => m.site_id))];
  box.replaceChildren(
    ...sites.map((s) => el("option", { value: `site:${s}` }, `site ${s}: main meters`)),
    ...meters.map((m) => el("option", { value: m.device_id }, m.parent_id ? `${m.name} (under ${m.parent_id})` : m.name)));
  if ([...box.options].some((o) => o.value === keep)) box.value = keep;
  $("#power-filter button").disabled = meters.length === 0;
}

async function showPower(event) {
  if (event) event.preventDefault();
  say("#power-error", "");
  const choice = $("#power-meter").value;
  if (!choice) return;
  const r = RANGES[$("#power-range").value];
  const end = new Date(), start = new Date(end.getTime() - r.hours * 3600e3);
  const params = { interval: r.interval, start_time: start.toISOString(), end_time: end.toISOString() };
  let site;
  if (choice.startsWith("site:")) { site = choice.slice(5); params.site_id = site; } else {
    params.device_id = choice;
    site = (meters.find((m) => m.device_id === choice) || {}).site_id;
  }
  let body;
  try { body = await get(`/api/v1/systems/power/readings?${new URLSearchParams(params)}`); } catch (e) { say("#power-error", e.message); return; }
  const zone = zoneOf({ site });
  const rows = body.data;
  const total = rows.reduce((s, b) => s + b.import_kwh, 0);
  const sub = rows.some((b) => typeof b.unmetered_import_kwh === "number");
  $("#power-summary").textContent = `${total.toFixed(1)} kWh imported in the range (times in ${zone})`
    + (sub ? `, of which ${rows.reduce((s, b) => s + (b.unmetered_import_kwh || 0), 0).toFixed(1)} kWh not on a sub-meter.` : ".");
  const series = [{ label: "imported kWh", values: rows.map((b) => b.import_kwh), color: "#1d4ed8", fill: "rgba(29, 78, 216, .6)", bars: true }];
  if (sub) series.push({ label: "not on a sub-meter, kWh", values: rows.map((b) => b.unmetered_import_kwh), color: "#b45309", fill: "rgba(180, 83, 9, .5)", dash: [6, 3], bars: true });
  drawChart($("#power-chart"), { xs: rows.map((b) => new Date(b.bucket)), zone, yLabel: "kWh", step: r.step, series });
  fillNumbers($("#power-table"), ["Bucket", "Imported kWh", "Exported kWh", "Mean kW", ...(sub ? ["Not on a sub-meter, kWh"] : [])],
    rows.map((b) => [when(b.bucket, { site }), b.import_kwh.toFixed(2), b.export_kwh.toFixed(2), fmt(b.power_avg_kw, 2),
      ...(sub ? [fmt(b.unmetered_import_kwh, 2)] : [])]));
}

async function loadAll() {
  say("#systems-error", "");
  const results = await Promise.allSettled([loadDevices(), loadFire(), loadLifts(), loadLighting(), loadAccess()]);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  if (failed.length) say("#systems-error", failed.join("; "));
}

function reloadSoon() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(async () => { reloadTimer = null; if (active) await loadAll(); }, 2000);
}

function live(ev) {
  if (!active) return;
  if (ev.type === "power_update") {
    const m = meters.find((x) => x.device_id === ev.device);
    if (m) {
      m.readings = { ...(m.readings || {}), power_kw: ev.data.power_kw };
      const td = $(`#meters td[data-power='${CSS.escape(ev.device)}']`);
      if (td) td.textContent = fmt(ev.data.power_kw);
      showTotalPower();
    }
  } else if (ev.type === "system_status") {
    reloadSoon();
  }
}

$("#power-filter").addEventListener("submit", showPower);
onOpen(() => { if (active) loadAll(); });

export const page = {
  name: "systems",
  nav: "Building systems",
  title: () => "Building systems",
  allowed: () => can("systems:read"),
  enter: async () => {
    active = true;
    if (!stopLive) stopLive = onLive(live);
    await loadAll();
    if (meters.length) await showPower();
  },
  leave: () => {
    active = false;
    if (stopLive) { stopLive(); stopLive = null; }
    clearTimeout(reloadTimer);
    reloadTimer = null;
  },
};
