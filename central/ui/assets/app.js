// Atrium dashboard: log in (session in httpOnly cookies), show occupancy and
// IN/OUT today per camera, and keep them live over the WebSocket. No
// framework and no build step: the file is embedded in the central binary.
// Every value from the server is written with textContent (never as HTML).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { cameras: new Map(), ws: null, retry: 1000, resync: null };
const MAX_EVENTS = 50;

async function api(path, options = {}, retried = false) {
  const res = await fetch(path, {
    credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    ...options,
  });
  if (res.status === 401 && !retried && !path.startsWith("/api/v1/auth/")) {
    // The access cookie expired: trade the refresh cookie for new ones.
    const r = await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
    if (r.ok) return api(path, options, true);
  }
  return res;
}

async function errorText(res) {
  try {
    const body = await res.json();
    return body.error && body.error.message ? body.error.message : `HTTP ${res.status}`;
  } catch (_) {
    return `HTTP ${res.status}`;
  }
}

function show(view) {
  $("#login-view").hidden = view !== "login";
  $("#dashboard-view").hidden = view !== "dashboard";
  $("#session").hidden = view !== "dashboard";
}

async function start() {
  const me = await api("/api/v1/auth/me");
  if (me.ok) {
    await enterDashboard(await me.json());
  } else {
    const r = await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
    if (r.ok) {
      await enterDashboard((await r.json()).user);
    } else {
      show("login");
    }
  }
}

async function login(event) {
  event.preventDefault();
  $("#login-error").textContent = "";
  const res = await api("/api/v1/auth/login", {
    method: "POST",
    body: JSON.stringify({ username: $("#username").value, password: $("#password").value, session: "cookie" }),
  });
  if (!res.ok) {
    $("#login-error").textContent = await errorText(res);
    return;
  }
  $("#password").value = "";
  await enterDashboard((await res.json()).user);
}

async function logout() {
  await api("/api/v1/auth/logout", { method: "POST" });
  if (state.ws) { state.ws.onclose = null; state.ws.close(); state.ws = null; }
  clearInterval(state.resync);
  show("login");
}

async function enterDashboard(user) {
  $("#whoami").textContent = `${user.username} (${user.role})`;
  show("dashboard");
  await loadCurrent();
  await loadEvents();
  connect();
  clearInterval(state.resync);
  // Re-read the totals now and then: "today" rolls over at midnight.
  state.resync = setInterval(loadCurrent, 60000);
}

async function loadCurrent() {
  const res = await api("/api/v1/counting/current?per_page=1000");
  if (!res.ok) return;
  const body = await res.json();
  state.cameras.clear();
  for (const c of body.data) state.cameras.set(c.camera_id, c);
  render();
}

async function loadEvents() {
  const res = await api("/api/v1/events?per_page=20");
  if (!res.ok) return;
  const body = await res.json();
  $("#events").replaceChildren();
  for (const e of body.data.reverse()) addEvent({ type: e.type, camera: e.camera_id, ts: e.ts, data: e.data });
}

function cell(text, cls) {
  const td = document.createElement("td");
  td.textContent = text;
  if (cls) td.className = cls;
  return td;
}

function render() {
  const tbody = $("#cameras tbody");
  tbody.replaceChildren();
  let tin = 0, tout = 0, tview = 0, online = 0;
  const cams = [...state.cameras.values()].sort((a, b) => a.camera_id.localeCompare(b.camera_id));
  for (const c of cams) {
    const tr = document.createElement("tr");
    tr.dataset.camera = c.camera_id;
    tr.append(cell(c.name || c.camera_id), cell(c.site_id));
    const st = cell("");
    const badge = document.createElement("span");
    badge.className = `badge ${c.state}`;
    badge.textContent = c.state;
    st.append(badge);
    st.className = "state";
    tr.append(st);
    tr.append(cell(c.in_view == null ? "–" : String(c.in_view), "num in-view"));
    tr.append(cell((c.zones || []).map((z) => `${z.zone}: ${z.count}`).join(", ") || "–", "zones"));
    tr.append(cell(String(c.in_today), "num in-today"), cell(String(c.out_today), "num out-today"));
    tbody.append(tr);
    tin += c.in_today; tout += c.out_today; tview += c.in_view || 0;
    if (c.state === "online") online += 1;
  }
  $("#total-in").textContent = String(tin);
  $("#total-out").textContent = String(tout);
  $("#total-in-view").textContent = String(tview);
  $("#total-online").textContent = `${online}/${cams.length}`;
  $("#no-cameras").hidden = cams.length > 0;
}

function describe(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "line_crossed": return `${d.direction === "in" ? "IN" : "OUT"} across ${d.line} (track ${d.track})`;
    case "occupancy": return `${d.in_view} in view`;
    case "camera_status": return `camera ${d.state}${d.reason ? `: ${d.reason}` : ""}`;
    case "zone_violation": return `zone ${d.zone}: ${d.kind === "max_occupancy" ? `over capacity (${d.occupancy}/${d.max})` : "restricted entry"}`;
    case "zone_entered": return `entered zone ${d.zone} (track ${d.track})`;
    case "zone_exited": return `left zone ${d.zone} after ${Math.round(d.dwell_s)} s (track ${d.track})`;
    case "spool_overflow": return `edge spool full: ${d.dropped} events dropped`;
    case "person_detected": return `person detected (track ${d.track})`;
    default: return ev.type;
  }
}

function addEvent(ev) {
  if (ev.type === "occupancy" || ev.type === "person_detected") return; // too chatty for the list
  const li = document.createElement("li");
  li.dataset.type = ev.type;
  const t = document.createElement("time");
  t.textContent = new Date(ev.ts).toLocaleTimeString();
  li.append(t, document.createTextNode(`${ev.camera}: ${describe(ev)}`));
  const list = $("#events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function apply(ev) {
  const c = state.cameras.get(ev.camera);
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

function setLive(text, cls) {
  const b = $("#live-state");
  b.textContent = text;
  b.className = `badge ${cls}`;
}

function connect() {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/dashboard`);
  state.ws = ws;
  ws.onopen = () => { state.retry = 1000; setLive("live", "live"); loadCurrent(); };
  ws.onmessage = (m) => { try { apply(JSON.parse(m.data)); } catch (_) { /* not ours */ } };
  ws.onclose = async (e) => {
    setLive("reconnecting", "down");
    if (e.code === 1008 || e.code === 1006) {
      // Token expired (or refused at the upgrade): refresh, or log in again.
      const r = await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" });
      if (!r.ok && (await fetch("/api/v1/auth/me", { credentials: "same-origin" })).status === 401) {
        show("login");
        return;
      }
    }
    setTimeout(connect, state.retry);
    state.retry = Math.min(state.retry * 2, 30000);
  };
}

document.addEventListener("DOMContentLoaded", () => {
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  start();
});
