// Atrium dashboard: log in (session in httpOnly cookies), show occupancy and
// IN/OUT today per camera, and keep them live over the WebSocket. No
// framework and no build step: the file is embedded in the central binary.
// Every value from the server is written with textContent (never as HTML).
"use strict";

const $ = (sel) => document.querySelector(sel);
const state = { cameras: new Map(), ws: null, retry: 1000, resync: null, user: null, person: null };
const PERSON_ROLES = ["super_admin", "admin", "security_officer"];
const VIEWS = ["login", "dashboard", "people", "person", "recognitions", "users", "audit", "account"];
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
  if (view === "people" && maySeePersons()) { show("people"); await loadPersons(); }
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
