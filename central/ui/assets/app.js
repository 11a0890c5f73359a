// Atrium dashboard: log in (session in httpOnly cookies), show occupancy and
// IN/OUT today per camera, and keep them live over the WebSocket. No
// framework and no build step: the file is embedded in the central binary.
// Every value from the server is written with textContent (never as HTML).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { cameras: new Map(), ws: null, retry: 1000, resync: null, user: null, person: null };
const PERSON_ROLES = ["super_admin", "admin", "security_officer"];
const VIEWS = ["login", "dashboard", "camera", "people", "person", "recognitions", "users", "audit", "account"];
const ROLES = ["super_admin", "admin", "facility_manager", "security_officer", "operator", "viewer"];
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
  for (const v of VIEWS) $(`#${v}-view`).hidden = v !== view;
  $("#session").hidden = view === "login";
  $("#nav").hidden = view === "login";
  for (const a of document.querySelectorAll("nav a")) a.classList.toggle("active", a.id === `nav-${view}`);
}

function can(permission) {
  return Boolean(state.user && state.user.permissions && state.user.permissions.includes(permission));
}

function maySeePersons() {
  return state.user && PERSON_ROLES.includes(state.user.role);
}

// Hash routes: #dashboard, #people, #person/<id>, #recognitions.
async function route() {
  if (!state.user) return;
  const [view, arg] = location.hash.replace(/^#/, "").split("/");
  if (view !== "camera") closeCamera();
  if (view === "camera" && arg) { show("camera"); await openCamera(decodeURIComponent(arg)); }
  else if (view === "people" && maySeePersons()) { show("people"); await loadPersons(); }
  else if (view === "person" && arg && maySeePersons()) { show("person"); await loadPerson(arg); }
  else if (view === "recognitions" && maySeePersons()) { show("recognitions"); await loadRecognitions(); }
  else if (view === "users" && can("users:read")) { show("users"); await loadUsers(); }
  else if (view === "audit" && can("audit:read")) { show("audit"); await loadAudit(); }
  else if (view === "account") { show("account"); if (can("apikeys:write")) await loadKeys(); }
  else show("dashboard");
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
  closeCamera();
  clearInterval(state.resync);
  state.user = null;
  show("login");
}

async function enterDashboard(user) {
  state.user = user;
  $("#whoami").textContent = `${user.username} (${user.role})`;
  for (const el of document.querySelectorAll(".persons-only")) el.hidden = !maySeePersons();
  for (const el of document.querySelectorAll("[data-needs]")) el.hidden = !can(el.dataset.needs);
  await route();
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
    const name = document.createElement("td");
    const link = document.createElement("a");
    link.href = `#camera/${encodeURIComponent(c.camera_id)}`;
    link.textContent = c.name || c.camera_id;
    name.append(link);
    tr.append(name, cell(c.site_id));
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
    // Degraded cameras stream (at reduced processing); the badge says so.
    if (c.state === "online" || c.state === "degraded") online += 1;
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
  if (ev.type === "face_recognized") { addRecognised(ev); return; }
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

function addRecognised(ev) {
  const d = ev.data || {};
  const li = document.createElement("li");
  li.dataset.status = d.status;
  const t = document.createElement("time");
  t.textContent = new Date(ev.ts).toLocaleTimeString();
  const who = d.status === "recognized"
    ? `${d.person_name || d.person_id} (${Math.round(d.confidence * 100)} %)`
    : "unknown person";
  li.append(t, document.createTextNode(` ${ev.camera}, track ${d.track}: ${who}`));
  const list = $("#recognised");
  list.prepend(li);
  while (list.children.length > 10) list.lastChild.remove();
  $("#no-recognised").hidden = true;
}

function when(ts) {
  return ts ? new Date(ts).toLocaleString() : "–";
}

async function loadPersons() {
  const q = $("#person-q").value.trim();
  const res = await api(`/api/v1/persons?per_page=200${q ? `&q=${encodeURIComponent(q)}` : ""}`);
  if (!res.ok) return;
  const tbody = $("#persons tbody");
  tbody.replaceChildren();
  for (const p of (await res.json()).data) {
    const tr = document.createElement("tr");
    tr.dataset.person = p.id;
    const seen = p.last_seen ? `${when(p.last_seen.ts)} at ${p.last_seen.camera_id}` : "never";
    tr.append(cell(p.name), cell(p.category), cell(String(p.photos), "num"), cell(seen));
    tr.addEventListener("click", () => { location.hash = `#person/${p.id}`; });
    tbody.append(tr);
  }
}

async function addPerson(event) {
  event.preventDefault();
  $("#add-error").textContent = "";
  const res = await api("/api/v1/persons", {
    method: "POST",
    body: JSON.stringify({ name: $("#new-name").value, category: $("#new-category").value, consent: $("#new-consent").checked }),
  });
  if (!res.ok) { $("#add-error").textContent = await errorText(res); return; }
  const p = await res.json();
  $("#new-name").value = "";
  location.hash = `#person/${p.id}`;
}

async function loadPerson(id) {
  state.person = id;
  $("#enrol-result").textContent = "";
  const res = await api(`/api/v1/persons/${encodeURIComponent(id)}`);
  if (!res.ok) { $("#person-name").textContent = await errorText(res); return; }
  const p = await res.json();
  $("#person-name").textContent = p.name;
  const seen = p.last_seen ? `last seen ${when(p.last_seen.ts)} at ${p.last_seen.camera_id}` : "not seen yet";
  $("#person-meta").textContent = `${p.category}, ${p.photos} photo(s), ${seen}${p.notes ? ` — ${p.notes}` : ""}`;
  await loadPhotos(id);
}

async function loadPhotos(id) {
  const res = await api(`/api/v1/persons/${encodeURIComponent(id)}/photos`);
  const box = $("#photos");
  box.replaceChildren();
  if (!res.ok) return;
  for (const ph of await res.json()) {
    const fig = document.createElement("figure");
    if (ph.stored) {
      const img = document.createElement("img");
      img.src = `/api/v1/persons/${encodeURIComponent(id)}/photos/${encodeURIComponent(ph.id)}`;
      img.alt = "enrolment photo";
      fig.append(img);
    }
    const cap = document.createElement("figcaption");
    cap.textContent = `quality ${ph.quality.toFixed(2)}`;
    const del = document.createElement("button");
    del.type = "button";
    del.className = "small danger";
    del.textContent = "Remove";
    del.addEventListener("click", async () => {
      await api(`/api/v1/persons/${encodeURIComponent(id)}/photos/${encodeURIComponent(ph.id)}`, { method: "DELETE" });
      await loadPerson(id);
    });
    fig.append(cap, del);
    box.append(fig);
  }
}

async function enrol(event) {
  event.preventDefault();
  const file = $("#enrol-file").files[0];
  const out = $("#enrol-result");
  if (!file || !state.person) return;
  out.className = "";
  out.textContent = "Checking the photo…";
  const form = new FormData();
  form.append("photo", file);
  // No JSON content type here: the browser sets the multipart boundary.
  let res = await fetch(`/api/v1/persons/${encodeURIComponent(state.person)}/photos`, { method: "POST", body: form, credentials: "same-origin" });
  if (res.status === 401 && (await fetch("/api/v1/auth/refresh", { method: "POST", credentials: "same-origin" })).ok) {
    res = await fetch(`/api/v1/persons/${encodeURIComponent(state.person)}/photos`, { method: "POST", body: form, credentials: "same-origin" });
  }
  if (res.ok) {
    const e = await res.json();
    const q = e.quality;
    out.className = "ok";
    out.textContent = `Enrolled: quality ${q.overall.toFixed(2)} (size ${q.size.toFixed(2)}, sharpness ${q.sharpness.toFixed(2)}, pose ${q.pose.toFixed(2)})`;
    $("#enrol-file").value = "";
    await loadPerson(state.person);
    out.className = "ok";
    out.textContent = `Enrolled: quality ${q.overall.toFixed(2)} (size ${q.size.toFixed(2)}, sharpness ${q.sharpness.toFixed(2)}, pose ${q.pose.toFixed(2)})`;
  } else {
    out.className = "error";
    out.textContent = `Refused: ${await errorText(res)}`;
  }
}

async function erasePerson() {
  if (!state.person || !confirm("Erase this person, their photos and templates, and unlink their recognitions? This cannot be undone.")) return;
  const res = await api(`/api/v1/persons/${encodeURIComponent(state.person)}`, { method: "DELETE" });
  if (res.ok) location.hash = "#people";
}

async function loadRecognitions(event) {
  if (event) event.preventDefault();
  $("#rec-error").textContent = "";
  const params = new URLSearchParams({ per_page: "100" });
  if ($("#rec-camera").value.trim()) params.set("camera_id", $("#rec-camera").value.trim());
  if ($("#rec-status").value) params.set("status", $("#rec-status").value);
  if ($("#rec-min").value) params.set("min_confidence", $("#rec-min").value);
  const res = await api(`/api/v1/events/recognition?${params}`);
  if (!res.ok) { $("#rec-error").textContent = await errorText(res); return; }
  const tbody = $("#recognitions tbody");
  tbody.replaceChildren();
  for (const r of (await res.json()).data) {
    const tr = document.createElement("tr");
    tr.dataset.status = r.status;
    tr.append(cell(when(r.ts)), cell(r.camera_id), cell(String(r.track), "num"), cell(r.status),
      cell(r.person_name || "–"), cell(r.confidence.toFixed(2), "num"));
    const act = cell("");
    if (r.status === "recognized") {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "small";
      b.textContent = "Not this person";
      b.addEventListener("click", async () => {
        const x = await api(`/api/v1/events/recognition/${encodeURIComponent(r.id)}/reject`, { method: "POST" });
        if (x.ok) await loadRecognitions(); else $("#rec-error").textContent = await errorText(x);
      });
      act.append(b);
    }
    tr.append(act);
    tbody.append(tr);
  }
}

// --- Users (users:read; changes need users:write) ---------------------------

async function loadUsers() {
  $("#users-error").textContent = "";
  const res = await api("/api/v1/users?per_page=1000");
  if (!res.ok) { $("#users-error").textContent = await errorText(res); return; }
  const body = await res.json();
  const tbody = $("#users tbody");
  tbody.replaceChildren();
  const writable = can("users:write");
  for (const u of body.data) {
    const tr = document.createElement("tr");
    tr.dataset.username = u.username;
    tr.append(cell(u.username), cell(u.display_name));
    const roleCell = document.createElement("td");
    if (writable) {
      const sel = roleSelect(u.role);
      sel.setAttribute("aria-label", `Role of ${u.username}`);
      sel.addEventListener("change", () => changeUser(u.id, { role: sel.value }));
      roleCell.append(sel);
    } else {
      roleCell.textContent = u.role;
    }
    tr.append(roleCell, cell(u.disabled ? "disabled" : "active"));
    const actions = document.createElement("td");
    if (writable) {
      const toggle = document.createElement("button");
      toggle.type = "button";
      toggle.className = "small";
      toggle.textContent = u.disabled ? "Enable" : "Disable";
      toggle.addEventListener("click", () => changeUser(u.id, { disabled: !u.disabled }));
      const reset = document.createElement("button");
      reset.type = "button";
      reset.className = "small";
      reset.textContent = "Reset password";
      reset.addEventListener("click", () => {
        const pw = prompt(`New password for ${u.username} (12+ characters)`);
        if (pw) changeUser(u.id, { password: pw });
      });
      const del = document.createElement("button");
      del.type = "button";
      del.className = "small danger";
      del.textContent = "Delete";
      del.addEventListener("click", async () => {
        if (!confirm(`Delete ${u.username}, their sessions and API keys?`)) return;
        const r = await api(`/api/v1/users/${u.id}`, { method: "DELETE" });
        const error = r.ok ? "" : await errorText(r);
        await loadUsers();
        $("#users-error").textContent = error;
      });
      actions.append(toggle, " ", reset, " ", del);
    }
    tr.append(actions);
    tbody.append(tr);
  }
}

function roleSelect(current) {
  const sel = document.createElement("select");
  for (const r of ROLES) {
    const o = document.createElement("option");
    o.value = r;
    o.textContent = r;
    o.selected = r === current;
    sel.append(o);
  }
  return sel;
}

async function changeUser(id, change) {
  const res = await api(`/api/v1/users/${id}`, { method: "PUT", body: JSON.stringify(change) });
  const error = res.ok ? "" : await errorText(res);
  // Reload first (it clears the message), so a refused change shows the
  // current state and why.
  await loadUsers();
  $("#users-error").textContent = error;
}

async function addUser(event) {
  event.preventDefault();
  $("#users-error").textContent = "";
  const res = await api("/api/v1/users", {
    method: "POST",
    body: JSON.stringify({
      username: $("#new-username").value.trim(),
      display_name: $("#new-display").value.trim(),
      password: $("#new-password").value,
      role: $("#new-role").value,
    }),
  });
  if (!res.ok) { $("#users-error").textContent = await errorText(res); return; }
  $("#new-username").value = "";
  $("#new-display").value = "";
  $("#new-password").value = "";
  await loadUsers();
}

// --- Audit log (audit:read) ---------------------------------------------------

async function loadAudit(event) {
  if (event) event.preventDefault();
  $("#audit-error").textContent = "";
  const q = new URLSearchParams({ per_page: "200" });
  if ($("#audit-user").value.trim()) q.set("username", $("#audit-user").value.trim());
  if ($("#audit-action").value.trim()) q.set("action", $("#audit-action").value.trim());
  const res = await api(`/api/v1/audit?${q}`);
  if (!res.ok) { $("#audit-error").textContent = await errorText(res); return; }
  const body = await res.json();
  const tbody = $("#audit tbody");
  tbody.replaceChildren();
  for (const e of body.data) {
    const tr = document.createElement("tr");
    const status = e.detail && e.detail.status ? String(e.detail.status) : "";
    tr.append(cell(when(e.ts)), cell(e.username), cell(e.action), cell(e.subject), cell(status), cell(e.address || ""));
    tbody.append(tr);
  }
}

// --- Account: own password, own API keys ---------------------------------------

async function changePassword(event) {
  event.preventDefault();
  const res = await api("/api/v1/auth/password", {
    method: "POST",
    body: JSON.stringify({ current_password: $("#current-password").value, new_password: $("#new-own-password").value }),
  });
  if (!res.ok) { $("#password-result").textContent = await errorText(res); return; }
  // Every session ended, this one too: log in with the new password.
  $("#current-password").value = "";
  $("#new-own-password").value = "";
  await logout();
  $("#login-error").textContent = "Password changed: log in with the new one.";
}

async function loadKeys() {
  const res = await api("/api/v1/api-keys?per_page=1000");
  if (!res.ok) { $("#key-error").textContent = await errorText(res); return; }
  const body = await res.json();
  const tbody = $("#apikeys tbody");
  tbody.replaceChildren();
  for (const k of body.data) {
    const tr = document.createElement("tr");
    const revoked = k.revoked_at ? "revoked" : "";
    tr.append(cell(k.name), cell(k.prefix), cell(k.permissions.join(", ")), cell(k.site_id || "all"),
      cell(k.expires_at ? when(k.expires_at) : "never"), cell(k.last_used_at ? when(k.last_used_at) : "never"));
    const actions = document.createElement("td");
    if (revoked) {
      actions.textContent = revoked;
    } else {
      const b = document.createElement("button");
      b.type = "button";
      b.className = "small danger";
      b.textContent = "Revoke";
      b.addEventListener("click", async () => {
        const r = await api(`/api/v1/api-keys/${k.id}`, { method: "DELETE" });
        if (!r.ok) $("#key-error").textContent = await errorText(r);
        await loadKeys();
      });
      actions.append(b);
    }
    tr.append(actions);
    tbody.append(tr);
  }
}

async function addKey(event) {
  event.preventDefault();
  $("#key-error").textContent = "";
  const input = { name: $("#key-name").value.trim() };
  const perms = $("#key-permissions").value.split(",").map((p) => p.trim()).filter(Boolean);
  if (perms.length) input.permissions = perms;
  if ($("#key-site").value.trim()) input.site_id = $("#key-site").value.trim();
  if ($("#key-expires").value) input.expires_at = new Date(`${$("#key-expires").value}T00:00:00`).toISOString();
  const res = await api("/api/v1/api-keys", { method: "POST", body: JSON.stringify(input) });
  if (!res.ok) { $("#key-error").textContent = await errorText(res); return; }
  const created = await res.json();
  $("#key-text").textContent = created.key;
  $("#key-created").hidden = false;
  $("#key-name").value = "";
  await loadKeys();
}

document.addEventListener("DOMContentLoaded", () => {
  for (const r of ROLES) {
    const o = document.createElement("option");
    o.value = r;
    o.textContent = r;
    $("#new-role").append(o);
  }
  $("#new-role").value = "viewer";
  $("#user-add").addEventListener("submit", addUser);
  $("#audit-filter").addEventListener("submit", loadAudit);
  $("#password-form").addEventListener("submit", changePassword);
  $("#key-add").addEventListener("submit", addKey);
  $("#login-form").addEventListener("submit", login);
  $("#logout").addEventListener("click", logout);
  $("#person-search").addEventListener("submit", (e) => { e.preventDefault(); loadPersons(); });
  $("#person-add").addEventListener("submit", addPerson);
  $("#enrol-form").addEventListener("submit", enrol);
  $("#erase-person").addEventListener("click", erasePerson);
  $("#rec-filter").addEventListener("submit", loadRecognitions);
  window.addEventListener("hashchange", route);
  start();
});

// ---- Camera page: live view (or the last snapshot), lines and zones
// drawn over it, the camera's live events, and the line editor.

const enc = encodeURIComponent;
const HANDLE_PX = 14; // how near (canvas pixels) a press must be to grab an end point

function closeCamera() {
  const cam = state.camera;
  if (!cam) return;
  state.camera = null;
  if (cam.ws) { cam.ws.onclose = null; cam.ws.close(); }
  clearTimeout(cam.retry);
}

async function openCamera(id) {
  if (state.camera && state.camera.id === id) return;
  closeCamera();
  const cam = { id, lines: [], zones: [], image: null, size: null, boxes: [], ws: null, drag: null, drawing: null,
    configVersion: null, applied: null, picture: "none", retry: null };
  state.camera = cam;
  $("#camera-title").textContent = id;
  $("#camera-events").replaceChildren();
  $("#camera-error").textContent = "";
  $("#camera-picture").textContent = "Waiting for a picture…";
  for (const sel of ["#camera-state", "#camera-fps", "#camera-load", "#camera-uptime", "#camera-config"]) $(sel).textContent = "–";
  const canvas = $("#camera-canvas");
  canvas.classList.toggle("editable", can("config:write"));
  const [cfgRes, nowRes] = await Promise.all([
    api(`/api/v1/config/cameras/${enc(id)}`),
    api(`/api/v1/counting/current?camera_id=${enc(id)}`),
  ]);
  if (state.camera !== cam) return;
  if (!cfgRes.ok) { $("#camera-error").textContent = await errorText(cfgRes); return; }
  const cfg = await cfgRes.json();
  cam.lines = cfg.lines;
  cam.zones = cfg.zones;
  cam.configVersion = cfg.config_version;
  $("#camera-title").textContent = cfg.name || id;
  if (nowRes.ok) {
    const now = (await nowRes.json()).data[0];
    if (now) { cameraState(cam, now.state, now.state_since); cam.lastState = now.state; }
  }
  renderParts(cam);
  showConfig(cam);
  draw(cam);
  await loadSnapshot(cam);
  connectCamera(cam);
}

function cameraState(cam, st, since) {
  const dd = $("#camera-state");
  const badge = document.createElement("span");
  badge.className = `badge ${st}`;
  badge.textContent = st;
  dd.replaceChildren(badge);
  if (since) cam.since = new Date(since);
  $("#camera-uptime").textContent = cam.since ? duration((Date.now() - cam.since) / 1000) : "–";
}

function duration(s) {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} days`;
}

function showConfig(cam) {
  const v = cam.configVersion;
  const text = v == null ? "–"
    : v === 0 ? "the edge's own file (none set here)"
    : cam.applied == null ? `version ${v}; waiting for the edge to report`
    : cam.applied >= v ? `version ${v}, applied by the edge`
    : `version ${v} saved; the edge still counts with version ${cam.applied}`;
  $("#camera-config").textContent = text;
}

async function loadSnapshot(cam) {
  const res = await api(`/api/v1/cameras/${enc(cam.id)}/snapshot`);
  if (state.camera !== cam || cam.picture === "live") return;
  if (res.status === 404) {
    $("#camera-picture").textContent = "No picture yet: the edge sends one when it starts streaming.";
    return;
  }
  if (!res.ok) { $("#camera-error").textContent = await errorText(res); return; }
  const size = (res.headers.get("X-Atrium-Frame-Size") || "").split("x").map(Number);
  const taken = res.headers.get("X-Atrium-Captured-At");
  const bitmap = await createImageBitmap(await res.blob());
  if (state.camera !== cam || cam.picture === "live") return;
  cam.image = bitmap;
  cam.size = size.length === 2 && size.every((n) => n > 0) ? size : [bitmap.width, bitmap.height];
  cam.boxes = [];
  cam.picture = "snapshot";
  $("#camera-picture").textContent = `Last snapshot, taken ${when(taken)}.`;
  draw(cam);
}

function connectCamera(cam) {
  const proto = location.protocol === "https:" ? "wss:" : "ws:";
  const ws = new WebSocket(`${proto}//${location.host}/ws/camera/${enc(cam.id)}?live=true`);
  cam.ws = ws;
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (_) { return; }
    if (msg.type === "frame") liveFrame(cam, msg); else cameraEvent(cam, msg);
  };
  ws.onclose = () => {
    if (state.camera !== cam) return;
    cam.picture = cam.picture === "live" ? "stale" : cam.picture;
    $("#camera-picture").textContent = "Connection lost; reconnecting…";
    cam.retry = setTimeout(() => { if (state.camera === cam) { loadSnapshot(cam); connectCamera(cam); } }, 3000);
  };
}

function liveFrame(cam, f) {
  const img = new Image();
  img.onload = () => {
    if (state.camera !== cam) return;
    cam.image = img;
    cam.size = [f.width, f.height];
    cam.boxes = f.boxes || [];
    cam.picture = "live";
    const n = cam.boxes.length;
    $("#camera-picture").textContent = `Live, ${new Date(f.ts).toLocaleTimeString()}: ${n} ${n === 1 ? "person" : "people"} tracked.`;
    draw(cam);
  };
  img.src = `data:image/jpeg;base64,${f.jpeg}`;
}

function cameraEvent(cam, ev) {
  const d = ev.data || {};
  let changed = true;
  if (ev.type === "camera_status") {
    changed = cam.lastState !== d.state;
    cameraState(cam, d.state, changed ? ev.ts : null);
    cam.lastState = d.state;
    $("#camera-fps").textContent = `${(d.fps_in || 0).toFixed(1)} / ${(d.fps_processed || 0).toFixed(1)}`;
    $("#camera-load").textContent = d.load_level == null ? "–"
      : d.load_level === 0 ? "0 (full processing)" : `${d.load_level} (reduced to keep up)`;
    if (d.config_version != null) { cam.applied = d.config_version; showConfig(cam); }
    if (d.state === "offline" && cam.picture === "live") { cam.picture = "stale"; loadSnapshot(cam); }
  }
  // Occupancy samples and detections are drawn, not listed; heartbeats
  // are listed only when the state changes.
  if (ev.type === "occupancy" || ev.type === "person_detected" || !changed) return;
  const li = document.createElement("li");
  const t = document.createElement("time");
  t.textContent = new Date(ev.ts).toLocaleTimeString();
  li.append(t, document.createTextNode(describe(ev)));
  const list = $("#camera-events");
  list.prepend(li);
  while (list.children.length > MAX_EVENTS) list.lastChild.remove();
}

function draw(cam) {
  const canvas = $("#camera-canvas");
  const ctx = canvas.getContext("2d");
  const w = 768;
  const h = cam.image ? Math.round(w * cam.image.height / cam.image.width) : 432;
  if (canvas.width !== w || canvas.height !== h) { canvas.width = w; canvas.height = h; }
  ctx.fillStyle = "#1f2937";
  ctx.fillRect(0, 0, w, h);
  if (cam.image) ctx.drawImage(cam.image, 0, 0, w, h);
  ctx.lineWidth = 2;
  ctx.font = "14px system-ui, sans-serif";
  for (const z of cam.zones) {
    ctx.beginPath();
    z.polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
    ctx.closePath();
    ctx.fillStyle = z.restricted ? "rgba(220, 38, 38, .18)" : "rgba(37, 99, 235, .15)";
    ctx.fill();
    ctx.strokeStyle = z.restricted ? "#dc2626" : "#60a5fa";
    ctx.setLineDash(z.restricted ? [6, 4] : []);
    ctx.stroke();
    ctx.setLineDash([]);
    label(ctx, `${z.id}${z.restricted ? " (restricted)" : ""}${z.max_occupancy ? ` max ${z.max_occupancy}` : ""}`, z.polygon[0][0] * w, z.polygon[0][1] * h);
  }
  const editable = can("config:write");
  if (editable) for (const z of cam.zones) for (const [x, y] of z.polygon) {
    ctx.fillStyle = "#60a5fa";
    ctx.fillRect(x * w - 5, y * h - 5, 10, 10);
    ctx.strokeStyle = "#111827"; ctx.lineWidth = 2; ctx.strokeRect(x * w - 5, y * h - 5, 10, 10);
  }
  if (cam.drawing && cam.drawing.points.length) {
    ctx.strokeStyle = "#f472b6";
    ctx.setLineDash([4, 3]);
    ctx.beginPath();
    cam.drawing.points.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
    ctx.stroke();
    ctx.setLineDash([]);
    for (const [x, y] of cam.drawing.points) { ctx.beginPath(); ctx.arc(x * w, y * h, 5, 0, 2 * Math.PI); ctx.fillStyle = "#f472b6"; ctx.fill(); }
  }
  for (const l of cam.lines) {
    const [ax, ay, bx, by] = [l.a[0] * w, l.a[1] * h, l.b[0] * w, l.b[1] * h];
    ctx.strokeStyle = "#facc15";
    ctx.lineWidth = 3;
    ctx.beginPath(); ctx.moveTo(ax, ay); ctx.lineTo(bx, by); ctx.stroke();
    // The IN arrow: from the middle, towards the IN side (left of a→b on screen).
    const [dx, dy] = [bx - ax, by - ay];
    const len = Math.hypot(dx, dy) || 1;
    const sign = l.in_side === "left" ? 1 : -1;
    const [nx, ny] = [sign * dy / len, -sign * dx / len];
    const [mx, my] = [(ax + bx) / 2, (ay + by) / 2];
    arrow(ctx, mx - nx * 18, my - ny * 18, mx + nx * 22, my + ny * 22);
    label(ctx, `${l.id} IN →`, mx + nx * 26, my + ny * 26);
    if (editable) for (const [px, py] of [[ax, ay], [bx, by]]) {
      ctx.beginPath(); ctx.arc(px, py, 7, 0, 2 * Math.PI);
      ctx.fillStyle = "#facc15"; ctx.fill();
      ctx.strokeStyle = "#111827"; ctx.lineWidth = 2; ctx.stroke();
    }
  }
  if (cam.size && cam.picture === "live") {
    const [sx, sy] = [w / cam.size[0], h / cam.size[1]];
    ctx.lineWidth = 2;
    for (const b of cam.boxes) {
      const [x1, y1, x2, y2] = b.bbox;
      ctx.strokeStyle = "#22c55e";
      ctx.strokeRect(x1 * sx, y1 * sy, (x2 - x1) * sx, (y2 - y1) * sy);
      label(ctx, `#${b.track}`, x1 * sx, y1 * sy);
    }
  }
}

function label(ctx, text, x, y) {
  const m = ctx.measureText(text);
  ctx.fillStyle = "rgba(17, 24, 39, .75)";
  ctx.fillRect(x, y - 16, m.width + 8, 18);
  ctx.fillStyle = "#fff";
  ctx.fillText(text, x + 4, y - 3);
}

function arrow(ctx, x1, y1, x2, y2) {
  ctx.strokeStyle = "#facc15";
  ctx.lineWidth = 3;
  ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x2, y2); ctx.stroke();
  const a = Math.atan2(y2 - y1, x2 - x1);
  ctx.beginPath();
  ctx.moveTo(x2, y2);
  ctx.lineTo(x2 - 10 * Math.cos(a - 0.5), y2 - 10 * Math.sin(a - 0.5));
  ctx.lineTo(x2 - 10 * Math.cos(a + 0.5), y2 - 10 * Math.sin(a + 0.5));
  ctx.closePath();
  ctx.fillStyle = "#facc15";
  ctx.fill();
}

// The tables under the picture: numbers a keyboard user can edit.
function renderParts(cam) {
  const editable = can("config:write");
  const tbody = $("#camera-lines tbody");
  tbody.replaceChildren();
  for (const l of cam.lines) {
    const tr = document.createElement("tr");
    tr.dataset.line = l.id;
    tr.append(cell(l.name ? `${l.id} (${l.name})` : l.id));
    const inputs = [];
    for (const [end, label] of [["a", "A"], ["b", "B"]]) {
      const td = document.createElement("td");
      if (editable) {
        for (const k of [0, 1]) {
          const input = document.createElement("input");
          input.type = "number"; input.min = "0"; input.max = "1"; input.step = "0.01";
          input.className = "coord";
          input.value = l[end][k].toFixed(3);
          input.setAttribute("aria-label", `${l.id} ${label} ${k ? "y" : "x"}`);
          input.dataset.end = end; input.dataset.k = String(k);
          inputs.push(input);
          td.append(input);
        }
      } else {
        td.textContent = `${l[end][0].toFixed(2)}, ${l[end][1].toFixed(2)}`;
      }
      tr.append(td);
    }
    const side = document.createElement("td");
    if (editable) {
      const sel = document.createElement("select");
      sel.setAttribute("aria-label", `${l.id} IN side`);
      for (const v of ["left", "right"]) {
        const o = document.createElement("option");
        o.value = v; o.textContent = v; o.selected = l.in_side === v;
        sel.append(o);
      }
      sel.addEventListener("change", () => { l.in_side = sel.value; draw(cam); saveLine(cam, l); });
      side.append(sel);
    } else {
      side.textContent = l.in_side;
    }
    tr.append(side);
    const act = document.createElement("td");
    if (editable) {
      const save = document.createElement("button");
      save.type = "button"; save.className = "small"; save.textContent = "Save";
      save.addEventListener("click", () => {
        for (const i of inputs) l[i.dataset.end][Number(i.dataset.k)] = Math.min(1, Math.max(0, Number(i.value)));
        draw(cam);
        saveLine(cam, l);
      });
      const del = document.createElement("button");
      del.type = "button"; del.className = "small danger"; del.textContent = "Remove";
      del.addEventListener("click", () => removePart(cam, "lines", l.id));
      act.append(save, del);
    }
    tr.append(act);
    tbody.append(tr);
  }
  const zb = $("#camera-zones tbody");
  zb.replaceChildren();
  for (const z of cam.zones) {
    const tr = document.createElement("tr");
    tr.dataset.zone = z.id;
    tr.append(cell(z.name ? `${z.id} (${z.name})` : z.id), cell(String(z.polygon.length), "num"));
    if (editable) {
      const max = document.createElement("input");
      max.type = "number"; max.min = "1"; max.step = "1"; max.className = "coord";
      max.value = z.max_occupancy == null ? "" : String(z.max_occupancy);
      max.placeholder = "none";
      max.setAttribute("aria-label", `${z.id} max occupancy`);
      const restricted = document.createElement("input");
      restricted.type = "checkbox"; restricted.checked = z.restricted;
      restricted.setAttribute("aria-label", `${z.id} restricted`);
      const save = document.createElement("button");
      save.type = "button"; save.className = "small"; save.textContent = "Save";
      save.addEventListener("click", () => {
        z.max_occupancy = max.value === "" ? null : Number(max.value);
        z.restricted = restricted.checked;
        saveZone(cam, z);
      });
      const del = document.createElement("button");
      del.type = "button"; del.className = "small danger"; del.textContent = "Remove";
      del.addEventListener("click", () => removePart(cam, "zones", z.id));
      const [a, b, c] = [document.createElement("td"), document.createElement("td"), document.createElement("td")];
      a.append(max); b.append(restricted); c.append(save, del);
      tr.append(a, b, c);
    } else {
      tr.append(cell(z.max_occupancy == null ? "–" : String(z.max_occupancy), "num"), cell(z.restricted ? "yes" : "no"), cell(""));
    }
    zb.append(tr);
  }
  if (!cam.lines.length) { const tr = document.createElement("tr"); tr.append(cell("No lines on this camera.", "muted")); tbody.append(tr); }
  if (!cam.zones.length) { const tr = document.createElement("tr"); tr.append(cell("No zones on this camera.", "muted")); zb.append(tr); }
}

async function saveLine(cam, l) {
  $("#camera-error").textContent = "";
  const round = (p) => p.map((v) => Math.round(v * 1000) / 1000);
  const res = await api(`/api/v1/config/lines/${enc(cam.id)}/${enc(l.id)}`, {
    method: "PUT",
    body: JSON.stringify({ name: l.name, a: round(l.a), b: round(l.b), in_side: l.in_side }),
  });
  await afterChange(cam, res);
}

async function saveZone(cam, z) {
  $("#camera-error").textContent = "";
  const round = (p) => p.map((v) => Math.round(v * 1000) / 1000);
  const res = await api(`/api/v1/config/zones/${enc(cam.id)}/${enc(z.id)}`, {
    method: "PUT",
    body: JSON.stringify({ name: z.name, polygon: z.polygon.map(round), max_occupancy: z.max_occupancy, restricted: z.restricted }),
  });
  await afterChange(cam, res);
}

async function removePart(cam, kind, id) {
  if (!confirm(`Remove ${kind === "lines" ? "line" : "zone"} ${id} from this camera?`)) return;
  $("#camera-error").textContent = "";
  const res = await api(`/api/v1/config/${kind}/${enc(cam.id)}/${enc(id)}`, { method: "DELETE" });
  await afterChange(cam, res);
}

// After a change: show the API's refusal, or reload what is stored (the
// new version, and the stored coordinates rather than the dragged ones).
async function afterChange(cam, res) {
  if (state.camera !== cam) return;
  if (!res.ok) { $("#camera-error").textContent = await errorText(res); }
  const cfg = await api(`/api/v1/config/cameras/${enc(cam.id)}`);
  if (cfg.ok && state.camera === cam) {
    const c = await cfg.json();
    cam.configVersion = c.config_version;
    cam.lines = c.lines;
    cam.zones = c.zones;
    renderParts(cam);
    showConfig(cam);
    draw(cam);
  }
}

// Dragging a line's end point with a mouse, pen or finger.
function canvasPoint(ev) {
  const canvas = $("#camera-canvas");
  const r = canvas.getBoundingClientRect();
  return [(ev.clientX - r.left) * canvas.width / r.width, (ev.clientY - r.top) * canvas.height / r.height];
}

function startDrag(ev) {
  const cam = state.camera;
  if (!cam || !can("config:write")) return;
  const canvas = $("#camera-canvas");
  const [x, y] = canvasPoint(ev);
  if (cam.drawing) {
    addDrawnPoint(cam, [x / canvas.width, y / canvas.height]);
    ev.preventDefault();
    return;
  }
  const near = ([nx, ny]) => Math.hypot(nx * canvas.width - x, ny * canvas.height - y) <= HANDLE_PX;
  for (const l of cam.lines) {
    for (const end of ["a", "b"]) {
      if (near(l[end])) {
        cam.drag = { line: l, end };
        canvas.setPointerCapture(ev.pointerId);
        ev.preventDefault();
        return;
      }
    }
  }
  for (const z of cam.zones) {
    const i = z.polygon.findIndex(near);
    if (i >= 0) {
      cam.drag = { zone: z, vertex: i };
      canvas.setPointerCapture(ev.pointerId);
      ev.preventDefault();
      return;
    }
  }
}

// Drawing a new line (two clicks) or zone (clicks, then "Finish zone").
function startDrawing(event) {
  event.preventDefault();
  const cam = state.camera;
  if (!cam) return;
  const kind = $("#draw-kind").value;
  const id = $("#draw-id").value.trim();
  cam.drawing = { kind, id, points: [] };
  $("#draw-cancel").hidden = false;
  $("#draw-finish").hidden = kind !== "zone";
  $("#draw-hint").textContent = kind === "line"
    ? `Click the line's two end points on the picture (IN is to the left of the first → second).`
    : `Click the zone's corners on the picture, then "Finish zone".`;
  draw(cam);
}

function stopDrawing(cam) {
  cam.drawing = null;
  $("#draw-cancel").hidden = true;
  $("#draw-finish").hidden = true;
  $("#draw-hint").textContent = "";
  draw(cam);
}

function addDrawnPoint(cam, p) {
  const d = cam.drawing;
  d.points.push(p.map((v) => Math.min(1, Math.max(0, v))));
  if (d.kind === "zone") $("#draw-hint").textContent = `${d.points.length} corner(s); "Finish zone" when done (at least 3).`;
  draw(cam);
  if (d.kind === "line" && d.points.length === 2) finishDrawing();
}

async function finishDrawing() {
  const cam = state.camera;
  if (!cam || !cam.drawing) return;
  const { kind, id, points } = cam.drawing;
  const round = (p) => p.map((v) => Math.round(v * 1000) / 1000);
  if (kind === "zone" && points.length < 3) { $("#draw-hint").textContent = "A zone needs at least 3 corners."; return; }
  const body = kind === "line"
    ? { camera_id: cam.id, id, a: round(points[0]), b: round(points[1]), in_side: "left" }
    : { camera_id: cam.id, id, polygon: points.map(round), restricted: false };
  stopDrawing(cam);
  const res = await api(`/api/v1/config/${kind === "line" ? "lines" : "zones"}`, { method: "POST", body: JSON.stringify(body) });
  if (res.ok) $("#draw-id").value = "";
  await afterChange(cam, res);
}

function moveDrag(ev) {
  const cam = state.camera;
  if (!cam || !cam.drag) return;
  const canvas = $("#camera-canvas");
  const [x, y] = canvasPoint(ev);
  const clamp = (v) => Math.min(1, Math.max(0, v));
  const p = [clamp(x / canvas.width), clamp(y / canvas.height)];
  if (cam.drag.line) cam.drag.line[cam.drag.end] = p; else cam.drag.zone.polygon[cam.drag.vertex] = p;
  draw(cam);
}

function endDrag() {
  const cam = state.camera;
  if (!cam || !cam.drag) return;
  const { line, zone } = cam.drag;
  cam.drag = null;
  if (line) saveLine(cam, line); else saveZone(cam, zone);
}

document.addEventListener("DOMContentLoaded", () => {
  const canvas = $("#camera-canvas");
  canvas.addEventListener("pointerdown", startDrag);
  canvas.addEventListener("pointermove", moveDrag);
  canvas.addEventListener("pointerup", endDrag);
  canvas.addEventListener("pointercancel", endDrag);
  $("#camera-draw").addEventListener("submit", startDrawing);
  $("#draw-finish").addEventListener("click", finishDrawing);
  $("#draw-cancel").addEventListener("click", () => { if (state.camera) stopDrawing(state.camera); });
  $("#camera-snapshot").addEventListener("click", async () => {
    const cam = state.camera;
    if (!cam) return;
    $("#camera-error").textContent = "";
    const res = await api(`/api/v1/cameras/${enc(cam.id)}/snapshot`, { method: "POST" });
    if (!res.ok) { $("#camera-error").textContent = await errorText(res); return; }
    $("#camera-picture").textContent = "Asked the edge for a fresh snapshot…";
    if (cam.picture !== "live") setTimeout(() => { if (state.camera === cam && cam.picture !== "live") loadSnapshot(cam); }, 2000);
  });
});
