// Energy (energy:read): one site at a time — power now and energy today
// with the meter tree, energy and cost over a period with the breakdown
// by tariff band and the demand charge, Scope 2 emissions both ways,
// targets with progress, and the occupancy KPIs (kWh per occupant-hour,
// energy used where nobody was) with the baseline. Those who hold
// energy:write add targets and tariffs here. Live: energy_update changes
// the site's power now and energy today.

import { api, errorText } from "../api.js";
import { $, cell, el, fillTable, say, button } from "../dom.js";
import { drawChart, fillNumbers } from "../chart.js";
import { onLive, onOpen } from "../live.js";
import { can, when, zoneOf } from "../session.js";

// Each period: the history's interval, how far back, and the cost's.
const PERIODS = {
  "7d": { interval: "day", days: 7, step: "day" },
  "30d": { interval: "day", days: 30, step: "day" },
  "12m": { interval: "month", days: 365, step: "month" },
};
const METRIC = { kwh: "kWh", cost: "cost", kgco2e: "kgCO2e" };

let active = false;
let stopLive = null;
let sites = [];

function num(v, digits = 1) {
  // `+ 0` turns −0 into 0: no "-0.0" on the page.
  return typeof v === "number" && Number.isFinite(v) ? (v + 0).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits }) : "–";
}

function money(v, currency) {
  if (typeof v !== "number") return "–";
  try { return v.toLocaleString(undefined, { style: "currency", currency: currency || "EUR" }); } catch (_) { return num(v, 2); }
}

async function get(path, params) {
  const res = await api(params ? `${path}?${new URLSearchParams(params)}` : path);
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

function site() {
  return $("#energy-site").value;
}

function range() {
  const p = PERIODS[$("#energy-period").value];
  const end = new Date();
  return { p, start: new Date(end.getTime() - p.days * 86400e3), end };
}

function meterRows(nodes, depth) {
  return nodes.flatMap((m) => [
    el("tr", { dataset: { meter: m.device_id } },
      el("td", {}, `${"— ".repeat(depth)}${m.name}`),
      cell(m.stale ? "stale" : num(m.power_kw), "num"), cell(num(m.kwh_today), "num"),
      cell(m.unmetered_power_kw === null ? "–" : num(m.unmetered_power_kw), "num"),
      cell(m.unmetered_kwh_today === null ? "–" : num(m.unmetered_kwh_today), "num")),
    ...meterRows(m.children, depth + 1),
  ]);
}

function showNow(s) {
  $("#energy-power").textContent = `${num(s.power_kw)} kW`;
  $("#energy-today").textContent = `${num(s.kwh_today)} kWh`;
}

async function loadNow() {
  const body = await get("/api/v1/energy/current", { site_id: site() });
  const s = body.data[0];
  showNow(s);
  $("#energy-stale").textContent = s.stale_meters ? `${s.stale_meters} main meter(s) silent for over 5 minutes: not in the power now.` : "";
  fillTable($("#energy-meters tbody"), meterRows(s.meters, 0), "No meters at this site yet.");
}

async function loadHistory() {
  const { p, start, end } = range();
  const body = await get("/api/v1/energy/history", { site_id: site(), interval: p.interval, start_time: start.toISOString(), end_time: end.toISOString() });
  const zone = zoneOf({ site: site() });
  $("#energy-history-summary").textContent = `${num(body.total_kwh)} kWh from ${when(body.start_time, { site: site() })} to ${when(body.end_time, { site: site() })} (${zone}).`;
  drawChart($("#energy-history-chart"), {
    xs: body.data.map((b) => new Date(b.start)), zone, yLabel: "kWh", step: p.step,
    series: [{ label: "kWh", values: body.data.map((b) => b.kwh), color: "#1d4ed8", fill: "rgba(29, 78, 216, .6)", bars: true }],
  });
  fillNumbers($("#energy-history-table"), ["Starts (site time)", "Hours", "kWh", "Mean kW"],
    body.data.map((b) => [b.local_start.replace("T", " "), num(b.hours, 0), num(b.kwh, 2), num(b.avg_kw, 2)]));
}

async function loadCost() {
  const { p, start, end } = range();
  const body = await get("/api/v1/energy/cost", { site_id: site(), interval: p.interval, start_time: start.toISOString(), end_time: end.toISOString() });
  const r = body.report;
  const cur = r.currency;
  const t = r.totals;
  $("#energy-cost").textContent = cur ? money(t.total, cur) : "no tariff";
  $("#energy-cost-summary").textContent = cur
    ? `${money(t.energy_cost, cur)} energy, ${money(t.standing_charge, cur)} standing charges, ${money(t.demand_charge, cur)} demand charges.`
      + (t.unpriced_kwh > 0 ? ` ${num(t.unpriced_kwh)} kWh fell on days without a tariff and are not priced.` : "")
    : "No tariff covers this period: add one below (energy:write) or with central admin energy tariff add.";
  const zone = zoneOf({ site: site() });
  drawChart($("#energy-cost-chart"), {
    xs: body.buckets.map((b) => new Date(b)), zone, yLabel: cur || "cost", step: p.step,
    series: [
      { label: "energy", values: r.buckets.map((b) => b.energy_cost), color: "#047857", fill: "rgba(4, 120, 87, .6)", bars: true },
      { label: "standing + demand", values: r.buckets.map((b) => b.standing_charge + b.demand_charge), color: "#b45309", fill: "rgba(180, 83, 9, .5)", dash: [6, 3], bars: true },
    ],
  });
  fillTable($("#energy-bands tbody"), t.bands.map((b) => el("tr", { dataset: { band: b.band } },
    cell(String(b.tariff_id)), cell(b.band), cell(num(b.kwh, 2), "num"), cell(num(b.price_per_kwh, 4), "num"), cell(money(b.cost, cur), "num"))),
  "No priced energy in this period.");
  fillTable($("#energy-demand tbody"), r.demand.map((d) => el("tr", {},
    cell(`${d.year}-${String(d.month).padStart(2, "0")}`), cell(String(d.tariff_id)), cell(num(d.peak_kw, 1), "num"),
    cell(when(d.peak_at, { site: site() })), cell(money(d.month_charge, cur), "num"),
    cell(`${d.days_in_range}/${d.days_in_month}`, "num"), cell(money(d.charge, cur), "num"), cell(d.complete ? "final" : "so far"))),
  "No demand charge in this period.");
}

async function loadCarbon() {
  const { p, start, end } = range();
  const body = await get("/api/v1/energy/carbon", { site_id: site(), interval: p.interval, start_time: start.toISOString(), end_time: end.toISOString() });
  const t = body.total;
  $("#energy-carbon").textContent = `${num(t.location_based_kg, 0)} / ${num(t.market_based_kg, 0)} kg`;
  const notes = [];
  if (t.unfactored_kwh > 0) notes.push(`${num(t.unfactored_kwh)} kWh in years without an emission factor are in neither figure`);
  if (t.market_fallback_kwh > 0) notes.push(`${num(t.market_fallback_kwh)} kWh without a contract or residual mix use the grid average in the market-based figure`);
  $("#energy-carbon-notes").textContent = notes.join("; ");
  fillTable($("#energy-carbon-table tbody"), body.data.map((b) => el("tr", {},
    cell(b.local_start.slice(0, p.interval === "month" ? 7 : 10)), cell(num(b.kwh), "num"), cell(num(b.location_based_kg), "num"),
    cell(num(b.market_based_kg), "num"), cell(num(b.contract_kwh), "num"))),
  "No energy in this period.");
}

async function loadKpis() {
  const { start, end } = range();
  const k = await get("/api/v1/energy/kpis", { site_id: site(), start_time: start.toISOString(), end_time: end.toISOString() });
  $("#energy-per-m2").textContent = k.kwh_per_m2 === null ? "no floor area" : `${num(k.kwh_per_m2, 2)} kWh/m²`;
  $("#energy-per-oh").textContent = k.kwh_per_occupant_hour === null ? "no occupancy" : `${num(k.kwh_per_occupant_hour, 2)} kWh`;
  $("#energy-empty").textContent = `${num(k.empty_building.kwh)} kWh`;
  $("#energy-kpi-summary").textContent = `${num(k.occupant_hours)} occupant-hours counted on ${k.days_with_occupancy} of ${k.days} day(s); ${k.empty_building.hours} hour(s) with every camera watching and nobody seen`
    + (k.empty_building.share === null ? "." : ` used ${num(100 * k.empty_building.share)} % of the energy.`);
  fillTable($("#energy-offenders tbody"), k.top_offenders.map((o) => el("tr", { dataset: { meter: o.device_id } },
    cell(o.name), cell(o.zones.join(", ")), cell(num(o.empty_kwh), "num"), cell(String(o.empty_hours), "num"),
    cell(o.empty_share === null ? "–" : `${num(100 * o.empty_share)} %`, "num"))),
  "No meter used energy while its zones were empty (meters are tied to zones with central admin energy meter-zones).");
}

async function loadBaseline() {
  const b = await get("/api/v1/energy/baseline", { site_id: site() });
  if (!b.model) {
    $("#energy-baseline").textContent = `No baseline: ${b.model_error}`;
    return;
  }
  const m = b.model, e = b.explanation;
  const sign = (v) => `${v >= 0 ? "+" : "−"}${num(Math.abs(v))}`;
  $("#energy-baseline").textContent = `Daily energy ≈ ${num(m.intercept_kwh)} kWh + ${num(m.kwh_per_occupant_hour, 2)} kWh per occupant-hour`
    + ` (fitted on ${m.training_days} days, R² ${num(m.r2, 2)}). The last ${e.days} day(s) used ${num(e.actual_kwh)} kWh against`
    + ` ${num(e.training_average_kwh)} kWh on an average day's pace: occupancy accounts for ${sign(e.occupancy_effect_kwh)} kWh,`
    + ` and ${sign(e.unexplained_kwh)} kWh is not explained by it.`;
}

async function loadTargets() {
  const body = await get("/api/v1/energy/targets", { site_id: site() });
  fillTable($("#energy-targets tbody"), body.data.map((t) => {
    const p = t.progress;
    if (!p) {
      return el("tr", { dataset: { target: String(t.id), track: "unknown" } },
        cell(t.name), cell(METRIC[t.metric] || t.metric), cell(`${t.period_start} – ${t.period_end}`),
        el("td", { colspan: "4" }, `Cannot be worked out: ${t.error}`),
        el("td", {}, can("energy:write") ? button("Remove", () => removeTarget(t), { danger: true, label: `Remove target ${t.name}` }) : ""));
    }
    const share = Math.min(1, t.value > 0 ? p.actual / t.value : 0);
    return el("tr", { dataset: { target: String(t.id), track: p.on_track ? "on" : "off" } },
      cell(t.name), cell(METRIC[t.metric] || t.metric), cell(`${t.period_start} – ${t.period_end}`),
      el("td", {}, el("progress", { max: "1", value: String(share), "aria-label": `${t.name}: ${num(100 * share, 0)} % of the target used` }),
        ` ${num(p.actual)} of ${num(t.value)}`),
      cell(`${p.variance >= 0 ? "+" : ""}${num(p.variance)}`, "num"),
      cell(p.forecast === null ? "–" : num(p.forecast), "num"),
      cell(p.on_track ? "on track" : "over"),
      el("td", {}, can("energy:write") ? button("Remove", () => removeTarget(t), { danger: true, label: `Remove target ${t.name}` }) : ""));
  }), "No targets for this site yet.");
}

async function removeTarget(t) {
  const res = await api(`/api/v1/energy/targets/${t.id}`, { method: "DELETE" });
  if (!res.ok) { say("#energy-target-error", await errorText(res)); return; }
  await loadTargets();
}

async function addTarget(event) {
  event.preventDefault();
  say("#energy-target-error", "");
  const f = event.target;
  const res = await api("/api/v1/energy/targets", {
    method: "POST",
    body: {
      site_id: site(), name: f.elements.name.value, metric: f.elements.metric.value,
      period_start: f.elements.start.value, period_end: f.elements.end.value, value: Number(f.elements.value.value),
    },
  });
  if (!res.ok) { say("#energy-target-error", await errorText(res)); return; }
  f.reset();
  await loadTargets();
}

async function loadTariffs() {
  const body = await get("/api/v1/energy/tariffs", { site_id: site() });
  fillTable($("#energy-tariffs tbody"), body.data.map((t) => el("tr", { dataset: { tariff: String(t.id) } },
    cell(String(t.id)), cell(t.name), cell(t.valid_from), cell(t.valid_to || "open"), cell(t.definition.currency),
    cell(t.definition.seasons.map((s) => `${s.name}: ${s.bands.length} band(s)`).join("; ")),
    cell(t.definition.demand ? `${t.definition.demand.price_per_kw}/kW` : "none"))), "No tariffs for this site yet.");
}

async function addTariff(event) {
  event.preventDefault();
  say("#energy-tariff-error", "");
  const f = event.target;
  let definition;
  try { definition = JSON.parse(f.elements.definition.value); } catch (e) { say("#energy-tariff-error", `The definition is not JSON: ${e.message}`); return; }
  const body = { site_id: site(), name: f.elements.name.value, valid_from: f.elements.from.value, definition };
  if (f.elements.to.value) body.valid_to = f.elements.to.value;
  const res = await api("/api/v1/energy/tariffs", { method: "POST", body });
  if (!res.ok) { say("#energy-tariff-error", await errorText(res)); return; }
  const made = await res.json();
  say("#energy-tariff-error", made.closed_tariff_id ? `Added; tariff ${made.closed_tariff_id} now ends on ${made.valid_from}.` : "");
  await Promise.allSettled([loadTariffs(), loadCost()]);
}

async function loadAll() {
  say("#energy-error", "");
  if (!site()) return;
  const results = await Promise.allSettled([loadNow(), loadHistory(), loadCost(), loadCarbon(), loadKpis(), loadBaseline(), loadTargets(), loadTariffs()]);
  const failed = results.filter((r) => r.status === "rejected").map((r) => r.reason.message);
  if (failed.length) say("#energy-error", failed.join("; "));
}

async function loadSites() {
  const body = await get("/api/v1/energy/current");
  sites = body.data;
  const box = $("#energy-site");
  const keep = box.value;
  box.replaceChildren(...sites.map((s) => el("option", { value: s.site_id }, s.name === s.site_id ? s.site_id : `${s.name} (${s.site_id})`)));
  if ([...box.options].some((o) => o.value === keep)) box.value = keep;
  $("#energy-no-sites").hidden = sites.length > 0;
}

function live(ev) {
  if (!active || ev.type !== "energy_update" || ev.site !== site()) return;
  showNow(ev.data);
}

$("#energy-filter").addEventListener("submit", (e) => { e.preventDefault(); loadAll(); });
$("#energy-target-form").addEventListener("submit", addTarget);
$("#energy-tariff-form").addEventListener("submit", addTariff);
onOpen(() => { if (active) loadAll(); });

export const page = {
  name: "energy",
  nav: "Energy",
  title: () => "Energy",
  allowed: () => can("energy:read"),
  enter: async () => {
    active = true;
    if (!stopLive) stopLive = onLive(live);
    const writer = can("energy:write");
    $("#energy-target-form").hidden = !writer;
    $("#energy-tariff-form").hidden = !writer;
    try { await loadSites(); } catch (e) { say("#energy-error", e.message); return; }
    await loadAll();
  },
  leave: () => {
    active = false;
    if (stopLive) { stopLive(); stopLive = null; }
  },
};
