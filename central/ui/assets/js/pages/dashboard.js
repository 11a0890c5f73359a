// Dashboard: IN/OUT today and people in view per camera, cameras
// streaming, the latest events and (for roles that may see personal
// data) who was recognised; kept live by the dashboard WebSocket.

import { api, errorText } from "../api.js";
import { $, cell, el, say } from "../dom.js";
import { describe, listed } from "../events.js";
import { onLive, onOpen } from "../live.js";
import { maySeePersons, noteCamera, timeOf } from "../session.js";

const MAX_EVENTS = 50;
const cameras = new Map();
let resync = null;

async function loadCurrent() {
  const res = await api("/api/v1/counting/current?per_page=1000");
  if (!res.ok) { say("#dashboard-error", await errorText(res)); return; }
  say("#dashboard-error", "");
  cameras.clear();
  for (const c of (await res.json()).data) { cameras.set(c.camera_id, c); noteCamera(c.camera_id, c.site_id); }
  render();
}

async function loadEvents() {
  const res = await api("/api/v1/events?per_page=20");
  if (!res.ok) { say("#dashboard-error", await errorText(res)); return; }
  $("#events").replaceChildren();
  for (const e of (await res.json()).data.reverse()) addEvent({ type: e.type, camera: e.camera_id, ts: e.ts, data: e.data });
}

function render() {
  const rows = [];
  let tin = 0, tout = 0, tview = 0, online = 0;
  for (const c of [...cameras.values()].sort((a, b) => a.camera_id.localeCompare(b.camera_id))) {
    const link = el("a", { href: `#camera/${encodeURIComponent(c.camera_id)}` }, c.name || c.camera_id);
    const badge = el("span", { class: `badge ${c.state}` }, c.state);
    rows.push(el("tr", { dataset: { camera: c.camera_id } },
      el("td", {}, link), cell(c.site_id), el("td", { class: "state" }, badge),
      cell(c.in_view == null ? "–" : String(c.in_view), "num in-view"),
      cell((c.zones || []).map((z) => `${z.zone}: ${z.count}`).join(", ") || "–", "zones"),
      cell(String(c.in_today), "num in-today"), cell(String(c.out_today), "num out-today")));
    tin += c.in_today; tout += c.out_today; tview += c.in_view || 0;
    // Degraded cameras stream (at reduced processing); the badge says so.
    if (c.state === "online" || c.state === "degraded") online += 1;
  }
  $("#cameras tbody").replaceChildren(...rows);
  $("#total-in").textContent = String(tin);
  $("#total-out").textContent = String(tout);
  $("#total-in-view").textContent = String(tview);
  $("#total-online").textContent = `${online}/${cameras.size}`;
  $("#no-cameras").hidden = cameras.size > 0;
}

function addEvent(ev) {
  if (!listed(ev)) return;
  const li = el("li", { dataset: { type: ev.type } },
    el("time", { datetime: ev.ts }, timeOf(ev.ts, { camera: ev.camera })), `${ev.camera}: ${describe(ev)}`);
  const list = $("#events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function addRecognised(ev) {
  if (!maySeePersons()) return;
  const d = ev.data || {};
  const who = d.status === "recognized"
    ? `${d.person_name || d.person_id} (${Math.round(d.confidence * 100)} %)`
    : "unknown person";
  const li = el("li", { dataset: { status: d.status } },
    el("time", { datetime: ev.ts }, timeOf(ev.ts, { camera: ev.camera })), ` ${ev.camera}, track ${d.track}: ${who}`);
  const list = $("#recognised");
  list.prepend(li);
  while (list.children.length > 10) list.lastChild.remove();
  $("#no-recognised").hidden = true;
}

function apply(ev) {
  if (ev.type === "face_recognized") { addRecognised(ev); return; }
  // Alerts (even a camera's) and building systems' events are the
  // banner's and their own pages' business, not this list's.
  if (ev.type === "alert" || !ev.camera) return;
  const c = cameras.get(ev.camera);
  // Status heartbeats arrive every few seconds: list only changes.
  const changed = ev.type !== "camera_status" || !c || c.state !== ev.data.state;
  if (c) {
    const d = ev.data || {};
    if (ev.type === "line_crossed") {
      if (d.direction === "in") c.in_today += 1; else c.out_today += 1;
    } else if (ev.type === "occupancy") {
      c.in_view = d.in_view;
      c.zones = d.zones || [];
    } else if (ev.type === "camera_status") {
      c.state = d.state;
    }
    render();
  } else if (ev.type !== "occupancy") {
    loadCurrent(); // a camera added since the page loaded
  }
  if (changed) addEvent(ev);
}

/** Starts the dashboard's live feed (once per login). */
export async function startDashboard() {
  $("#recognised-panel").hidden = !maySeePersons();
  $("#recognised").replaceChildren();
  $("#no-recognised").hidden = false;
  onLive(apply);
  onOpen(loadCurrent);
  await Promise.all([loadCurrent(), loadEvents()]);
  clearInterval(resync);
  // Re-read the totals now and then: "today" rolls over at midnight.
  resync = setInterval(loadCurrent, 60000);
}

export function stopDashboard() {
  clearInterval(resync);
}

export const page = {
  name: "dashboard",
  nav: "Dashboard",
  title: () => "Dashboard",
  allowed: () => true,
  enter: () => {},
};
