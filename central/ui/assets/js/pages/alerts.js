// Alerts (alerts:read): the alerts by state, severity, site and rule, open
// ones first, a page at a time; one alert (#alerts/<id>) with its history
// and the notifications sent about it; the silences; and, for those who
// hold config:write, the notification channels. alerts:ack acknowledges
// and resolves (with an optional comment, asked in a dialog), alerts:write
// adds and removes silences, config:write adds, tests and removes
// channels. Live: an `alert` event reloads what is shown (the list or the
// one alert) within half a second.

import { api, errorText } from "../api.js";
import { $, button, cell, el, fillTable, say } from "../dom.js";
import { onLive, onOpen } from "../live.js";
import { refreshBanner } from "../banner.js";
import { can, session, when } from "../session.js";

const enc = encodeURIComponent;
const PER_PAGE = 50;
const LIST = "/api/v1/alerts";

/** The shipped rules, as the API spells them and as the page says them. */
export const RULES = {
  camera_offline: "camera offline",
  edge_offline: "edge box offline",
  spool_high: "edge spool filling up",
  edge_degraded: "edge box degraded",
  recognition_failures: "recognition failures",
  zone_violation: "zone violation",
  fire_alarm: "fire alarm",
  device_offline: "device offline",
  lift_fault: "lift fault",
  door_forced: "door forced",
  door_held_open: "door held open",
  energy_over_target: "energy over target",
};
const WHAT = {
  fired: "fired", severity_raised: "severity raised", acknowledged: "acknowledged",
  resolved: "resolved", silence_ended: "silence ended",
};
const STATES = { open: "open", firing: "firing", acknowledged: "acknowledged", resolved: "resolved", all: "" };

let active = false;
let stopLive = null;
let reloadTimer = null;
let listPath = null; // the list page shown: built from the filters, or a links.* path
let listSeq = 0;
let shown = null; // the id of the alert shown, null while the list is
let detailSeq = 0;
let pending = null; // what the comment dialog is for: {id, action}
let optionsFilled = false;

async function get(path) {
  const res = await api(path);
  if (!res.ok) throw new Error(await errorText(res));
  return res.json();
}

function ruleName(rule) {
  return RULES[rule] || rule || "any";
}

function subjectText(s) {
  return s ? `${s.kind} ${s.id}` : "–";
}

function severityBadge(sev) {
  return el("span", { class: `badge sev-${sev}` }, sev);
}

function stateBadge(state) {
  return el("span", { class: `badge st-${state}` }, state);
}

function href(id) {
  return `#alerts/${enc(String(id))}`;
}

/** Shows an error at the top of the page and, for a form, next to it too. */
function fail(message, local) {
  say("#alerts-error", message);
  if (local) say(local, message);
}

function clearMessages() {
  say("#alerts-error", "");
  say("#alerts-done", "");
  say("#silence-error", "");
  say("#channel-error", "");
  say("#channels-result", "");
}

// ---- Acknowledge and resolve ------------------------------------------

function actionButtons(a) {
  if (!can("alerts:ack")) return [];
  const out = [];
  if (a.state === "firing") {
    const b = button("Acknowledge", () => ask(a, "ack"), { label: `Acknowledge: ${a.summary}` });
    b.classList.add("alert-ack");
    out.push(b);
  }
  if (a.state === "firing" || a.state === "acknowledged") {
    const b = button("Resolve", () => ask(a, "resolve"), { label: `Resolve: ${a.summary}` });
    b.classList.add("alert-resolve");
    out.push(b);
  }
  return out;
}

function ask(a, action) {
  pending = { id: String(a.id), action };
  const verb = action === "ack" ? "Acknowledge" : "Resolve";
  $("#alert-comment-title").textContent = `${verb} alert`;
  $("#alert-comment-what").textContent = `${a.summary} (${ruleName(a.rule)}, ${subjectText(a.subject)})`;
  $("#alert-comment-submit").textContent = verb;
  $("#alert-comment").value = "";
  say("#alert-comment-error", "");
  const d = $("#alert-comment-dialog");
  if (!d.open) d.showModal();
  $("#alert-comment").focus();
}

async function submitComment(event) {
  event.preventDefault();
  if (!pending) return;
  const { id, action } = pending;
  const comment = $("#alert-comment").value.trim();
  const submit = $("#alert-comment-submit");
  submit.disabled = true;
  let res;
  try {
    res = await api(`${LIST}/${enc(id)}/${action === "ack" ? "ack" : "resolve"}`, { method: "POST", body: comment ? { comment } : {} });
  } finally {
    submit.disabled = false;
  }
  if (!res.ok) {
    // Most often 409: someone else acknowledged or resolved it first.
    say("#alert-comment-error", await errorText(res));
    refreshShown();
    return;
  }
  const a = await res.json();
  pending = null;
  $("#alert-comment-dialog").close();
  say("#alerts-error", "");
  say("#alerts-done", `${action === "ack" ? "Acknowledged" : "Resolved"}: ${a.summary || `alert ${id}`}.`);
  await Promise.allSettled([refreshShown(), refreshBanner()]);
}

// ---- The list -----------------------------------------------------------

function pathFromFilters() {
  const q = new URLSearchParams({ state: $("#alerts-state").value || "open" });
  for (const [key, sel] of [["severity", "#alerts-severity"], ["site_id", "#alerts-site"], ["rule", "#alerts-rule"]]) {
    if ($(sel).value) q.set(key, $(sel).value);
  }
  q.set("page", "1");
  q.set("per_page", String(PER_PAGE));
  return `${LIST}?${q}`;
}

function alertRow(a) {
  return el("tr", { dataset: { alertId: String(a.id), rule: a.rule, state: a.state, severity: a.severity } },
    el("td", { class: "alert-severity" }, severityBadge(a.severity)),
    el("td", { class: "alert-state" }, stateBadge(a.state)),
    cell(ruleName(a.rule), "alert-rule"),
    el("td", {}, el("a", { href: href(a.id), class: "alert-link" }, subjectText(a.subject))),
    cell(a.site || "–"),
    cell(a.silenced_by ? `${a.summary} (notifications silenced)` : a.summary, "alert-summary"),
    cell(when(a.fired_at, { site: a.site })),
    el("td", { class: "actions" }, ...actionButtons(a)));
}

async function loadList() {
  if (!listPath) listPath = pathFromFilters();
  const mine = ++listSeq;
  const body = await get(listPath);
  if (mine !== listSeq) return; // a newer read is on its way
  const state = new URLSearchParams(listPath.split("?")[1] || "").get("state") || "open";
  fillTable($("#alerts-table tbody"), body.data.map(alertRow),
    state === "open" ? "No open alerts: nothing fires." : "No alerts match.");
  const m = body.meta;
  const label = STATES[state] === undefined ? state : STATES[state];
  $("#alerts-summary").textContent = `${m.total} ${label ? `${label} ` : ""}alert(s)`
    + (m.total_pages > 1 ? `; page ${m.page} of ${m.total_pages}.` : ".");
  const links = body.links || {};
  setPager("#alerts-prev", links.prev);
  setPager("#alerts-next", links.next);
  $("#alerts-pager").hidden = $("#alerts-prev").disabled && $("#alerts-next").disabled;
}

function setPager(sel, path) {
  const b = $(sel);
  // Only the alerts list: a link is followed, never any other path.
  const ok = typeof path === "string" && path.startsWith(`${LIST}?`);
  b.disabled = !ok;
  b.dataset.path = ok ? path : "";
}

async function turnPage(sel) {
  const path = $(sel).dataset.path;
  if (!path) return;
  listPath = path;
  clearMessages();
  try { await loadList(); } catch (e) { fail(e.message); }
}

// ---- One alert ------------------------------------------------------------

function step(s, site) {
  if (!s) return "–";
  const by = s.by || "central (the condition cleared)";
  return `${by}, ${when(s.at, { site })}${s.comment ? `: “${s.comment}”` : ""}`;
}

const INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/;

function detailsText(d, site) {
  if (!d || typeof d !== "object") return "";
  const value = (v) => {
    if (typeof v === "string" && INSTANT.test(v)) return when(v, { site });
    return typeof v === "object" && v !== null ? JSON.stringify(v) : String(v);
  };
  const parts = Object.entries(d).map(([k, v]) => `${k.replace(/_/g, " ")}: ${value(v)}`);
  return parts.length ? `Details: ${parts.join("; ")}` : "";
}

async function loadDetail(id) {
  const mine = ++detailSeq;
  let a;
  try {
    a = await get(`${LIST}/${enc(id)}`);
  } catch (e) {
    if (mine !== detailSeq || shown !== id) return;
    $("#alert-title").textContent = `Alert ${id}`;
    throw e;
  }
  if (mine !== detailSeq || shown !== id) return;
  const site = a.site;
  $("#alert-title").textContent = a.summary;
  $("#alert-severity").replaceChildren(severityBadge(a.severity));
  $("#alert-state").replaceChildren(stateBadge(a.state));
  $("#alert-rule").textContent = ruleName(a.rule);
  $("#alert-subject").textContent = subjectText(a.subject);
  $("#alert-site").textContent = site || "–";
  $("#alert-first-seen").textContent = when(a.first_seen, { site });
  $("#alert-fired-at").textContent = when(a.fired_at, { site });
  $("#alert-last-seen").textContent = when(a.last_seen, { site });
  $("#alert-escalated").textContent = a.escalated_at ? when(a.escalated_at, { site }) : "–";
  $("#alert-acknowledged").textContent = step(a.acknowledged, site);
  $("#alert-resolved").textContent = step(a.resolved, site);
  $("#alert-silenced").textContent = a.silenced_by || "–";
  $("#alert-details").textContent = detailsText(a.details, site);
  $("#alert-actions").replaceChildren(...actionButtons(a));
  fillTable($("#alert-history tbody"), (a.history || []).map((h) => el("tr", { dataset: { what: h.what } },
    cell(WHAT[h.what] || h.what), el("td", {}, stateBadge(h.state)), el("td", {}, severityBadge(h.severity)),
    cell(when(h.at, { site })), cell(h.by || "–"), cell(h.comment || "–"), cell(h.silenced_by || "–"))),
  "No history.");
  fillTable($("#alert-deliveries tbody"), (a.deliveries || []).map((d) => el("tr", { dataset: { channel: d.channel, status: d.status } },
    cell(d.channel), cell(WHAT[d.what] || d.what || "–"), el("td", {}, el("span", { class: `badge st-${d.status}` }, d.status)),
    cell(String(d.attempts ?? 0), "num"), cell(d.last_error || "–"),
    cell(when(d.created_at, { site })), cell(d.sent_at ? when(d.sent_at, { site }) : "–"))),
  "No notification about this alert: no channel routes it, or it was silenced.");
}

// ---- Silences -------------------------------------------------------------

async function loadSilences() {
  const body = await get(`${LIST}/silences`);
  const writer = can("alerts:write");
  const now = Date.now();
  fillTable($("#silences-table tbody"), body.data.map((s) => {
    const m = s.matcher || {};
    const ended = new Date(s.ends).getTime() <= now;
    return el("tr", { dataset: { silenceId: s.id } },
      cell(m.rule ? ruleName(m.rule) : "any"), cell(m.site || "any"), cell(m.subject ? subjectText(m.subject) : "any"),
      cell(when(s.starts, { site: m.site })), cell(`${when(s.ends, { site: m.site })}${ended ? " (ended)" : ""}`),
      cell(s.by || "–"), cell(s.comment || "–"),
      el("td", {}, writer ? removeSilenceButton(s) : ""));
  }), "No silences.");
}

function removeSilenceButton(s) {
  const b = button("Remove", async () => {
    clearMessages();
    const res = await api(`${LIST}/silences/${enc(s.id)}`, { method: "DELETE" });
    if (!res.ok) { fail(await errorText(res)); return; }
    await Promise.allSettled([loadSilences(), refreshShown()]);
  }, { danger: true, label: `Remove the silence${s.comment ? ` “${s.comment}”` : ""} ending ${when(s.ends)}` });
  b.classList.add("silence-remove");
  return b;
}

async function addSilence(event) {
  event.preventDefault();
  clearMessages();
  const kind = $("#silence-kind").value;
  const id = $("#silence-subject").value.trim();
  if (kind && !id) { fail("Give the subject's id, or choose no subject kind.", "#silence-error"); return; }
  if (!kind && id) { fail("Choose the subject's kind, or leave its id empty.", "#silence-error"); return; }
  const minutes = Number($("#silence-minutes").value);
  if (!Number.isFinite(minutes) || minutes <= 0) { fail("The silence needs a number of minutes above 0.", "#silence-error"); return; }
  const body = {
    matcher: { rule: $("#silence-rule").value || null, site: $("#silence-site").value || null, subject: kind ? { kind, id } : null },
    duration_s: Math.round(minutes * 60),
  };
  const comment = $("#silence-comment").value.trim();
  if (comment) body.comment = comment;
  const res = await api(`${LIST}/silences`, { method: "POST", body });
  if (!res.ok) { fail(await errorText(res), "#silence-error"); return; }
  $("#silence-subject").value = "";
  $("#silence-comment").value = "";
  say("#alerts-done", "Silence added.");
  await Promise.allSettled([loadSilences(), refreshShown()]);
}

// ---- Notification channels ---------------------------------------------

function routeText(r) {
  if (!r) return "everything";
  const list = (xs, all, f = (x) => x) => (xs && xs.length ? xs.map(f).join(", ") : all);
  return `${list(r.severities, "every severity")}; ${list(r.sites, "every site")}; ${list(r.rules, "every rule", ruleName)}`;
}

function destination(ch) {
  if (ch.webhook) {
    const w = ch.webhook;
    return `${w.url}${w.has_secret ? ", signed" : ""}`;
  }
  if (ch.email && ch.email.to) {
    const to = Object.entries(ch.email.to).filter(([, xs]) => xs && xs.length);
    return to.length ? to.map(([sev, xs]) => `${sev}: ${xs.join(", ")}`).join("; ") : "nobody";
  }
  return "–";
}

function health(ch) {
  if (ch.failing) {
    return [el("span", { class: "badge st-failed" }, "failing"), ` ${ch.last_error || "the last delivery failed"}`];
  }
  const last = ch.last_success_at ? `last delivered ${when(ch.last_success_at)}` : "nothing delivered yet";
  return [el("span", { class: "badge st-sent" }, "working"), ` ${last}${ch.last_error ? `; earlier error: ${ch.last_error}` : ""}`];
}

async function loadChannels() {
  const body = await get(`${LIST}/channels`);
  fillTable($("#channels-table tbody"), body.data.map((ch) => {
    const test = button("Send test", () => testChannel(ch), { label: `Send test through ${ch.name}` });
    test.classList.add("channel-test");
    const remove = button("Remove", () => removeChannel(ch), { danger: true, label: `Remove channel ${ch.name}` });
    remove.classList.add("channel-remove");
    return el("tr", { dataset: { channel: ch.name, failing: ch.failing ? "true" : "false" } },
      cell(ch.name), cell(ch.kind), cell(ch.enabled ? "yes" : "no (paused)"), cell(routeText(ch.route)),
      cell(destination(ch), "destination"), el("td", { class: "channel-health" }, ...health(ch)),
      el("td", { class: "actions" }, test, remove));
  }), "No notification channels: alerts are shown here only.");
}

async function testChannel(ch) {
  clearMessages();
  say("#channels-result", `Sending a test through ${ch.name}…`);
  const res = await api(`${LIST}/channels/${enc(ch.name)}/test`, { method: "POST" });
  if (!res.ok) {
    say("#channels-result", "");
    fail(`Test through ${ch.name} failed: ${await errorText(res)}`);
  } else {
    const r = await res.json().catch(() => ({}));
    if (r.delivered === false) { say("#channels-result", ""); fail(`Test through ${ch.name} was not delivered.`); } else say("#channels-result", `Test delivered through ${ch.name}.`);
  }
  try { await loadChannels(); } catch (e) { fail(e.message); }
}

async function removeChannel(ch) {
  clearMessages();
  const res = await api(`${LIST}/channels/${enc(ch.name)}`, { method: "DELETE" });
  if (!res.ok) { fail(await errorText(res)); return; }
  try { await loadChannels(); } catch (e) { fail(e.message); }
}

async function addChannel(event) {
  event.preventDefault();
  clearMessages();
  let body;
  try { body = JSON.parse($("#channel-json").value); } catch (e) { fail(`The channel is not JSON: ${e.message}`, "#channel-error"); return; }
  if (!body || typeof body !== "object" || Array.isArray(body)) { fail("The channel is one JSON object.", "#channel-error"); return; }
  const res = await api(`${LIST}/channels`, { method: "POST", body });
  if (!res.ok) { fail(await errorText(res), "#channel-error"); return; }
  $("#channel-json").value = "";
  say("#channels-result", body.name ? `Channel ${body.name} added.` : "Channel added.");
  try { await loadChannels(); } catch (e) { fail(e.message); }
}

// ---- Page -----------------------------------------------------------------

function fillOptions() {
  const sites = [...session.sites.values()].map((s) => el("option", { value: s.id }, s.name && s.name !== s.id ? `${s.name} (${s.id})` : s.id));
  for (const sel of ["#alerts-site", "#silence-site"]) {
    const box = $(sel);
    const keep = box.value;
    box.replaceChildren(el("option", { value: "" }, "any"), ...sites.map((o) => o.cloneNode(true)));
    if ([...box.options].some((o) => o.value === keep)) box.value = keep;
  }
  if (optionsFilled) return;
  optionsFilled = true;
  for (const sel of ["#alerts-rule", "#silence-rule"]) {
    $(sel).append(...Object.entries(RULES).map(([id, name]) => el("option", { value: id }, name)));
  }
}

/** Reloads what is shown (the list with its tables, or the one alert). */
async function refreshShown() {
  if (!active) return;
  try {
    if (shown !== null) await loadDetail(shown); else await loadList();
  } catch (e) {
    fail(e.message);
  }
}

async function loadListView() {
  const jobs = [loadList(), loadSilences()];
  if (can("config:write")) jobs.push(loadChannels());
  const failed = (await Promise.allSettled(jobs)).filter((r) => r.status === "rejected").map((r) => r.reason.message);
  if (failed.length) fail(failed.join("; "));
}

function reloadSoon() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; refreshShown(); }, 500);
}

function live(ev) {
  if (active && ev.type === "alert") reloadSoon();
}

$("#alerts-filter").addEventListener("submit", async (e) => {
  e.preventDefault();
  clearMessages();
  listPath = pathFromFilters();
  try { await loadList(); } catch (err) { fail(err.message); }
});
$("#alerts-prev").addEventListener("click", () => turnPage("#alerts-prev"));
$("#alerts-next").addEventListener("click", () => turnPage("#alerts-next"));
$("#silence-form").addEventListener("submit", addSilence);
$("#channel-form").addEventListener("submit", addChannel);
$("#alert-comment-form").addEventListener("submit", submitComment);
$("#alert-comment-cancel").addEventListener("click", () => $("#alert-comment-dialog").close());
$("#alert-comment-dialog").addEventListener("close", () => { pending = null; });
onOpen(() => { if (active) refreshShown(); });

export const page = {
  name: "alerts",
  nav: "Alerts",
  title: (id) => (id ? `Alert ${id}` : "Alerts"),
  allowed: () => can("alerts:read"),
  enter: async (id) => {
    active = true;
    if (!stopLive) stopLive = onLive(live);
    fillOptions();
    $("#silence-form").hidden = !can("alerts:write");
    $("#channels").hidden = !can("config:write");
    $("#channel-form").hidden = !can("config:write");
    const before = shown;
    const detail = id !== null && id !== undefined && id !== "";
    shown = detail ? id : null;
    if (shown !== before) clearMessages();
    $("#alerts-list").hidden = detail;
    $("#alert-detail").hidden = !detail;
    if (detail) {
      if (id !== before) {
        // Another alert: clear the last one's, and move the focus to its
        // heading (the router focuses the page's heading only when the
        // page changes).
        const h = $("#alert-title");
        h.textContent = `Alert ${id}`;
        h.tabIndex = -1;
        h.focus({ preventScroll: true });
        $("#alert-actions").replaceChildren();
        for (const t of ["#alert-history tbody", "#alert-deliveries tbody"]) $(t).replaceChildren();
      }
      try { await loadDetail(id); } catch (e) { fail(e.message); }
    } else {
      await loadListView();
    }
  },
  leave: () => {
    active = false;
    shown = null;
    if (stopLive) { stopLive(); stopLive = null; }
    clearTimeout(reloadTimer);
    reloadTimer = null;
    const d = $("#alert-comment-dialog");
    if (d.open) d.close();
  },
};
