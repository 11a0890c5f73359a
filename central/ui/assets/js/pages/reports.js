// Reports (reports:read): generate a site's daily, weekly, monthly or
// custom report and read it here (the key figures against the period
// before, each section's tables and notes); the archive of generated
// reports, a page at a time (#reports/<id> opens one); the schedules that
// make and mail reports. reports:export downloads a report as PDF, Excel
// or CSV (a few an hour per caller: a refusal says when the next one is
// possible) and adds and removes schedules; naming recognised people in
// a report needs persons:read.

import { api, errorText } from "../api.js";
import { $, $$, button, cell, el, fillTable, say } from "../dom.js";
import { can, duration, localDate, maySeePersons, session, timeOf, when, zoneOf } from "../session.js";

const enc = encodeURIComponent;
const LIST = "/api/v1/reports";
const PER_PAGE = 20;
/** Rows of a table shown on the page; the exports hold them all. */
const MAX_ROWS = 50;
const DATE_LABEL = { daily: "Day", weekly: "A day of the week", monthly: "A day of the month", custom: "From" };
const FORMATS = { pdf: "PDF", excel: "Excel", csv: "CSV" };

let active = false;
let shown = null; // the id of the report shown, null when none
let opened = false; // the report shown was opened by its route (#reports/<id>)
let showSeq = 0;
let archivePath = null; // the archive page shown: the first, or a links.* path
let archiveSeq = 0;
let scheduleNames = new Map(); // schedule id → name, for the archive

async function get(path) {
  const res = await api(path);
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

function siteName(id) {
  const s = session.sites.get(id);
  return s && s.name && s.name !== id ? `${s.name} (${id})` : id;
}

function num(v, digits) {
  // `+ 0` turns −0 into 0: no "-0" on the page.
  return (v + 0).toLocaleString(undefined, { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

function periodText(p) {
  if (!p) return "–";
  return p.from === p.to ? p.from : `${p.from} to ${p.to}`;
}

/** Shows an error at the top of the page and, for a form, next to it too. */
function fail(message, local) {
  say("#reports-error", message);
  if (local) say(local, message);
}

function clearMessages() {
  for (const sel of ["#reports-error", "#reports-done", "#report-form-error", "#schedule-error"]) say(sel, "");
}

// ---- One report -----------------------------------------------------------

function figure(v, k) {
  if (typeof v !== "number" || !Number.isFinite(v)) return "–";
  return `${num(v, k.decimals || 0)}${k.unit ? ` ${k.unit}` : ""}`;
}

function change(k) {
  if (typeof k.value !== "number" || typeof k.previous !== "number") return "–";
  const d = k.decimals || 0;
  const diff = Number((k.value - k.previous).toFixed(d));
  const sign = diff > 0 ? "+" : diff < 0 ? "−" : "";
  let text = `${sign}${num(Math.abs(diff), d)}${k.unit ? ` ${k.unit}` : ""}`;
  if (k.previous !== 0 && diff !== 0) text += ` (${sign}${num(Math.abs((diff / Math.abs(k.previous)) * 100), 1)} %)`;
  return text;
}

/** Every section's key figures, under a row naming the section. */
function kpiRows(d) {
  const rows = [];
  for (const s of d.sections) {
    if (!s.kpis || !s.kpis.length) continue;
    rows.push(el("tr", { class: "kpi-group", dataset: { section: s.key } }, el("td", { colspan: "4" }, s.title)));
    for (const k of s.kpis) {
      rows.push(el("tr", { dataset: { section: s.key, kpi: k.key } },
        el("th", { scope: "row", class: "kpi-label" }, k.label,
          k.detail ? el("span", { class: "muted kpi-detail" }, ` (${k.detail})`) : null),
        cell(figure(k.value, k), "num kpi-value"),
        cell(figure(k.previous, k), "num kpi-previous"),
        cell(change(k), "num kpi-change")));
    }
  }
  return rows;
}

/** A column's kind: "text", "integer", "number", "percent", "time" or "date". */
function kindOf(col) {
  const k = col && col.kind;
  if (typeof k === "string") return k;
  return k && typeof k === "object" ? Object.keys(k)[0] : "text";
}

/** A cell as text, by its type; times in the report's site's zone. */
function cellText(c, col, site) {
  if (!c || c.t === "empty" || c.v === null || c.v === undefined) return "–";
  switch (c.t) {
    case "text": return String(c.v);
    case "int": return num(c.v, 0);
    case "num": {
      const kind = kindOf(col);
      if (kind === "percent") return `${num(c.v, 1)} %`;
      if (kind === "number" && typeof col.kind.number === "number") return num(c.v, col.kind.number);
      return c.v.toLocaleString(undefined, { maximumFractionDigits: 3 });
    }
    case "time": return when(c.v, { site });
    case "date": return String(c.v);
    default: return String(c.v);
  }
}

function tableView(t, site) {
  const numeric = t.columns.map((c) => ["integer", "number", "percent"].includes(kindOf(c)));
  const tbody = el("tbody");
  const table = el("table", { class: "report-table", dataset: { table: t.key } },
    el("caption", {}, t.title),
    el("thead", {}, el("tr", {}, ...t.columns.map((c) => el("th", { scope: "col" }, c.name)))),
    tbody);
  fillTable(tbody, t.rows.slice(0, MAX_ROWS).map((row) => el("tr", {},
    ...t.columns.map((col, i) => cell(cellText(row[i], col, site), numeric[i] ? "num" : undefined)))),
  "Nothing in this period.");
  const out = [el("div", { class: "table-wrap" }, table)];
  const more = t.rows.length - MAX_ROWS;
  if (more > 0) {
    out.push(el("p", { class: "muted more-rows", dataset: { table: t.key } },
      `${more} more row${more === 1 ? "" : "s"} in the exports.`
      + (can("reports:export") ? "" : " (Downloading them needs reports:export.)")));
  }
  return out;
}

function sectionView(s, site) {
  const id = `report-section-${s.key}`;
  const parts = [el("h4", { id }, s.title)];
  for (const t of s.tables || []) parts.push(...tableView(t, site));
  if (s.charts && s.charts.length) {
    parts.push(el("p", { class: "muted" }, `Charts in the exports: ${s.charts.map((c) => c.title).join("; ")}.`));
  }
  if (s.notes && s.notes.length) parts.push(el("ul", { class: "report-notes" }, ...s.notes.map((n) => el("li", {}, n))));
  if (!(s.tables || []).length && !(s.kpis || []).length && !(s.notes || []).length) {
    parts.push(el("p", { class: "muted" }, "Nothing to report in this section."));
  }
  return el("section", { class: "report-section", dataset: { section: s.key }, "aria-labelledby": id }, ...parts);
}

// ---- Downloads --------------------------------------------------------------

/** The API's message; a spent export budget says when the next export is possible. */
async function exportError(res) {
  let e = null;
  try { e = (await res.json()).error; } catch (_) { /* not the error format */ }
  const message = e && e.message ? e.message : `HTTP ${res.status}`;
  if (res.status !== 429) return message;
  const secs = Number((e && e.retry_after) || res.headers.get("retry-after"));
  if (!Number.isFinite(secs) || secs <= 0) return `${message}: the exports of this hour are spent; try again later.`;
  const at = new Date(Date.now() + secs * 1000);
  return `${message}: the exports of this hour are spent; the next one is possible in ${duration(secs)}, at ${timeOf(at)}.`;
}

function fileName(disposition, fallback) {
  const m = /filename="?([^";]+)"?/i.exec(disposition || "");
  return m ? m[1] : fallback;
}

/**
 * Fetches an export with the session's cookies (so a refusal, such as a
 * spent hourly budget, is shown here rather than saved as a file) and
 * saves it under the name the server gives.
 */
async function download(url, format) {
  clearMessages();
  const label = FORMATS[format] || format;
  say("#reports-done", `Preparing the ${label} file…`);
  let res;
  try {
    res = await api(url);
  } catch (e) {
    say("#reports-done", "");
    fail(`${label}: ${e.message}`);
    return;
  }
  if (!res.ok) {
    say("#reports-done", "");
    fail(`${label} not downloaded: ${await exportError(res)}`);
    return;
  }
  const name = fileName(res.headers.get("content-disposition"), `report.${format === "excel" ? "xlsx" : format === "csv" ? "zip" : "pdf"}`);
  const href = URL.createObjectURL(await res.blob());
  const a = el("a", { href, download: name, hidden: true });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(href), 60000);
  say("#reports-done", `Downloaded ${name}.`);
}

function showExports(r) {
  const box = $("#report-exports");
  const may = can("reports:export");
  $("#report-export-note").hidden = may;
  const links = may ? Object.keys(FORMATS)
    .filter((f) => r.exports && typeof r.exports[f] === "string" && r.exports[f].startsWith(`${LIST}/`))
    .map((f) => el("a", {
      href: r.exports[f], download: "", class: "report-export", dataset: { format: f },
      "aria-label": `Download as ${FORMATS[f]}`,
      onclick: (e) => { e.preventDefault(); download(r.exports[f], f); },
    }, FORMATS[f])) : [];
  box.replaceChildren(...(links.length ? [el("span", {}, "Download:"), ...links] : []));
  box.hidden = !links.length;
}

function showReport(r, focus) {
  const d = r.data;
  const site = r.site_id;
  shown = String(r.id);
  const panel = $("#report-panel");
  panel.hidden = false;
  panel.dataset.reportId = shown;
  const h = $("#report-title");
  h.textContent = `${d.title}: ${d.site.name || d.site.id}, ${periodText(d.period)}`;
  $("#report-site-name").textContent = `${d.site.name && d.site.name !== d.site.id ? `${d.site.name} (${d.site.id})` : d.site.id}; times in ${d.site.timezone}`;
  $("#report-period").textContent = periodText(d.period);
  $("#report-previous").textContent = periodText(d.previous);
  const by = r.requested_by || (r.schedule_id ? "a schedule" : "–");
  $("#report-generated").textContent = `${when(r.generated_at, { site })} by ${by}${r.include_persons ? "; names recognised people" : ""}`;
  $("#report-link").href = `#reports/${enc(shown)}`;
  showExports(r);
  fillTable($("#report-kpis tbody"), kpiRows(d), "No figures in this report.");
  $("#report-body").replaceChildren(...d.sections.map((s) => sectionView(s, site)));
  if (focus) {
    h.tabIndex = -1;
    h.focus();
  }
}

function hideReport() {
  shown = null;
  opened = false;
  showSeq += 1; // a report still loading is not shown
  const panel = $("#report-panel");
  panel.hidden = true;
  delete panel.dataset.reportId;
  $("#report-kpis tbody").replaceChildren();
  $("#report-body").replaceChildren();
  $("#report-exports").replaceChildren();
}

async function openReport(id) {
  const mine = ++showSeq;
  const r = await get(`${LIST}/${enc(id)}`);
  if (!active || mine !== showSeq) return;
  opened = true;
  showReport(r, true);
}

// ---- Generating -------------------------------------------------------------

function updateKind() {
  const kind = $("#report-kind").value;
  $("#report-date-label").textContent = DATE_LABEL[kind] || "Day";
  const custom = kind === "custom";
  $("#report-to-label").hidden = !custom;
  $("#report-to").required = custom;
  if (custom && !$("#report-to").value) $("#report-to").value = $("#report-date").value;
}

/** Today in the chosen site's zone, unless a date was chosen. */
function defaultDate() {
  if (!$("#report-date").value) $("#report-date").value = localDate(new Date(), zoneOf({ site: $("#report-site").value }));
}

async function generate(event) {
  event.preventDefault();
  clearMessages();
  const kind = $("#report-kind").value;
  const site = $("#report-site").value;
  const date = $("#report-date").value;
  const sections = $$("#report-sections input[type='checkbox']:checked").map((c) => c.value);
  if (!site) { fail("Choose a site.", "#report-form-error"); return; }
  if (!date) { fail("Choose a day.", "#report-form-error"); return; }
  if (!sections.length) { fail("Choose at least one section.", "#report-form-error"); return; }
  const persons = maySeePersons() && $("#report-persons").checked;
  let request;
  if (kind === "custom") {
    const to = $("#report-to").value;
    if (!to) { fail("Choose the last day.", "#report-form-error"); return; }
    const body = { site_id: site, from: date, to, sections };
    if (persons) body.include_persons = true;
    request = () => api(`${LIST}/custom`, { method: "POST", body });
  } else {
    const q = new URLSearchParams({ site_id: site, date, sections: sections.join(",") });
    if (persons) q.set("include_persons", "true");
    request = () => api(`${LIST}/${enc(kind)}?${q}`);
  }
  const mine = ++showSeq;
  const submit = $("#report-generate-button");
  submit.disabled = true;
  say("#reports-done", "Generating the report…");
  let res;
  try {
    res = await request();
  } catch (e) {
    say("#reports-done", "");
    fail(e.message, "#report-form-error");
    return;
  } finally {
    submit.disabled = false;
  }
  if (!res.ok) {
    say("#reports-done", "");
    fail(await errorText(res), "#report-form-error");
    return;
  }
  const r = await res.json();
  if (!active || mine !== showSeq) return;
  opened = false;
  showReport(r, true);
  say("#reports-done", r.reused
    ? "The same report of the same data was already in the archive: this is it."
    : "Report generated and kept in the archive.");
  archivePath = null; // back to the first page, where it is
  try { await loadArchive(); } catch (e) { fail(e.message); }
}

// ---- The archive ------------------------------------------------------------

function firstArchivePage() {
  return `${LIST}?${new URLSearchParams({ page: "1", per_page: String(PER_PAGE) })}`;
}

function archiveRow(r) {
  const period = r.period_from === r.period_to ? r.period_from : `${r.period_from} to ${r.period_to}`;
  let by = r.requested_by || "–";
  if (!r.requested_by && r.schedule_id) {
    const name = scheduleNames.get(r.schedule_id);
    by = name ? `schedule “${name}”` : "schedule";
  }
  return el("tr", { dataset: { reportId: String(r.id), kind: r.kind } },
    cell(when(r.generated_at, { site: r.site_id })),
    cell(r.kind + (r.include_persons ? " (names people)" : "")),
    cell(siteName(r.site_id)),
    cell(period, "report-period"),
    cell(by, "report-by"),
    el("td", {}, el("a", {
      href: `#reports/${enc(String(r.id))}`, class: "report-open",
      "aria-label": `Open the ${r.kind} report of ${siteName(r.site_id)}, ${period}`,
    }, "Open")));
}

function setPager(sel, path) {
  const b = $(sel);
  // Only the archive: a link is followed, never any other path.
  const ok = typeof path === "string" && path.startsWith(`${LIST}?`);
  b.disabled = !ok;
  b.dataset.path = ok ? path : "";
}

async function loadArchive() {
  if (!archivePath) archivePath = firstArchivePage();
  const mine = ++archiveSeq;
  const body = await get(archivePath);
  if (mine !== archiveSeq) return; // a newer read is on its way
  fillTable($("#report-archive-table tbody"), body.data.map(archiveRow), "No reports yet: generate one above.");
  const m = body.meta;
  $("#report-archive-summary").textContent = `${m.total} report(s)`
    + (m.total_pages > 1 ? `; page ${m.page} of ${m.total_pages}.` : ".");
  const links = body.links || {};
  setPager("#report-archive-prev", links.prev);
  setPager("#report-archive-next", links.next);
  $("#report-archive-pager").hidden = $("#report-archive-prev").disabled && $("#report-archive-next").disabled;
}

async function turnPage(sel) {
  const path = $(sel).dataset.path;
  if (!path) return;
  archivePath = path;
  clearMessages();
  try { await loadArchive(); } catch (e) { fail(e.message); }
}

// ---- Schedules --------------------------------------------------------------

function removeScheduleButton(s) {
  const b = button("Remove", async () => {
    if (!window.confirm(`Remove the schedule “${s.name}”? The reports it made stay in the archive.`)) return;
    clearMessages();
    const res = await api(`${LIST}/schedules/${enc(s.id)}`, { method: "DELETE" });
    if (!res.ok) { fail(await errorText(res)); return; }
    say("#reports-done", `Schedule ${s.name} removed.`);
    try { await loadSchedules(); } catch (e) { fail(e.message); }
  }, { danger: true, label: `Remove the schedule ${s.name}` });
  b.classList.add("schedule-remove");
  return b;
}

async function loadSchedules() {
  const body = await get(`${LIST}/schedules`);
  scheduleNames = new Map(body.data.map((s) => [s.id, s.name]));
  const writer = can("reports:export");
  fillTable($("#report-schedules-table tbody"), body.data.map((s) => el("tr", { dataset: { scheduleId: s.id, kind: s.kind } },
    cell(s.name, "schedule-name"),
    cell(s.kind),
    cell(siteName(s.site_id)),
    cell(String(s.at_local || "").slice(0, 5), "schedule-at"),
    cell((s.formats || []).map((f) => FORMATS[f] || f).join(", "), "schedule-formats"),
    cell(s.recipients && s.recipients.length ? s.recipients.join(", ") : "nobody (archived only)", "schedule-recipients"),
    cell(s.next_from),
    cell(s.last_error || "–", "schedule-last-error"),
    el("td", {}, writer ? removeScheduleButton(s) : ""))),
  "No schedules.");
}

async function addSchedule(event) {
  event.preventDefault();
  clearMessages();
  const formats = $$("#schedule-formats input[type='checkbox']:checked").map((c) => c.value);
  if (!formats.length) { fail("Choose at least one format.", "#schedule-error"); return; }
  const site = $("#schedule-site").value;
  if (!site) { fail("Choose a site.", "#schedule-error"); return; }
  const recipients = $("#schedule-recipients").value.split(/[,;\s]+/).map((x) => x.trim()).filter(Boolean);
  const body = {
    name: $("#schedule-name").value.trim(),
    kind: $("#schedule-kind").value,
    site_id: site,
    at: ($("#schedule-at").value || "06:00").slice(0, 5),
    formats,
    recipients,
  };
  const submit = $("#schedule-submit");
  submit.disabled = true;
  let res;
  try {
    res = await api(`${LIST}/schedules`, { method: "POST", body });
  } finally {
    submit.disabled = false;
  }
  if (!res.ok) { fail(await errorText(res), "#schedule-error"); return; }
  const s = await res.json();
  $("#schedule-name").value = "";
  $("#schedule-recipients").value = "";
  say("#reports-done", `Schedule ${s.name} added: its first report covers the period from ${s.next_from}.`);
  try { await loadSchedules(); } catch (e) { fail(e.message); }
}

// ---- Page -------------------------------------------------------------------

function fillSites() {
  const sites = [...session.sites.values()].map((s) => el("option", { value: s.id }, siteName(s.id)));
  for (const sel of ["#report-site", "#schedule-site"]) {
    const box = $(sel);
    const keep = box.value;
    box.replaceChildren(...sites.map((o) => o.cloneNode(true)));
    if ([...box.options].some((o) => o.value === keep)) box.value = keep;
  }
  $("#reports-no-sites").hidden = session.sites.size > 0;
}

$("#report-form").addEventListener("submit", generate);
$("#report-kind").addEventListener("change", updateKind);
$("#report-date").addEventListener("change", () => {
  if ($("#report-kind").value === "custom" && $("#report-to").value && $("#report-to").value < $("#report-date").value) {
    $("#report-to").value = $("#report-date").value;
  }
});
$("#report-archive-prev").addEventListener("click", () => turnPage("#report-archive-prev"));
$("#report-archive-next").addEventListener("click", () => turnPage("#report-archive-next"));
$("#schedule-form").addEventListener("submit", addSchedule);

export const page = {
  name: "reports",
  nav: "Reports",
  title: (id) => (id ? "Report" : "Reports"),
  allowed: () => can("reports:read"),
  enter: async (id) => {
    active = true;
    fillSites();
    defaultDate();
    updateKind();
    $("#schedule-form").hidden = !can("reports:export");
    $("#report-persons-label").hidden = !maySeePersons();
    if (!maySeePersons()) $("#report-persons").checked = false;
    const detail = id !== null && id !== undefined && id !== "";
    // The archive names the schedules that made reports: read those first.
    const schedules = loadSchedules();
    const jobs = [schedules, schedules.catch(() => {}).then(() => loadArchive())];
    if (detail) {
      if (String(id) !== shown) {
        clearMessages();
        hideReport();
        jobs.push(openReport(id));
      }
    } else if (opened) {
      // Back from an opened report to the page: the report goes.
      hideReport();
    }
    const failed = (await Promise.allSettled(jobs)).filter((r) => r.status === "rejected").map((r) => r.reason.message);
    if (failed.length && active) fail(failed.join("; "));
  },
  leave: () => {
    active = false;
    hideReport();
    archivePath = null;
  },
};
