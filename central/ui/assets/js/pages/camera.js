// Camera page: the live view (or the last snapshot) with lines, IN
// arrows, zones and tracked boxes drawn over it, the camera's state and
// live events, and the editor for its lines and zones. Live frames flow
// only while this page is open (/ws/camera/{id}?live=true renews the
// edge's live request); editing needs config:write.

import { api, errorText, mayReconnect, wsUrl } from "../api.js";
import { $, cell, el } from "../dom.js";
import { describe, listed } from "../events.js";
import { can, duration, noteCamera, timeOf, when } from "../session.js";

const MAX_EVENTS = 50;
const enc = encodeURIComponent;
const state = { camera: null };

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
  $("#camera-edit-hint").hidden = !can("config:write");
  $("#camera-draw").hidden = !can("config:write");
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
  $("#camera-settings").hidden = !can("config:write");
  $("#camera-name").value = cfg.name || "";
  $("#camera-enabled").checked = cfg.enabled;
  if (nowRes.ok) {
    const now = (await nowRes.json()).data[0];
    if (now) { noteCamera(now.camera_id, now.site_id); cameraState(cam, now.state, now.state_since); cam.lastState = now.state; }
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
  $("#camera-picture").textContent = `Last snapshot, taken ${when(taken, { camera: cam.id })}.`;
  draw(cam);
}

function connectCamera(cam) {
  const ws = new WebSocket(wsUrl(`/ws/camera/${enc(cam.id)}?live=true`));
  cam.ws = ws;
  ws.onmessage = (m) => {
    let msg;
    try { msg = JSON.parse(m.data); } catch (_) { return; }
    if (msg.type === "frame") liveFrame(cam, msg); else cameraEvent(cam, msg);
  };
  ws.onclose = async (e) => {
    if (state.camera !== cam) return;
    cam.picture = cam.picture === "live" ? "stale" : cam.picture;
    $("#camera-picture").textContent = "Connection lost; reconnecting…";
    if (!(await mayReconnect(e.code))) return;
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
    $("#camera-picture").textContent = `Live, ${timeOf(f.ts, { camera: cam.id })}: ${n} ${n === 1 ? "person" : "people"} tracked.`;
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
  if (!listed(ev) || !changed) return;
  const li = el("li", {}, el("time", { datetime: ev.ts }, timeOf(ev.ts, { camera: cam.id })), describe(ev));
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
    const { mx, my, nx, ny } = inArrow(l, w, h);
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

// The IN arrow: from the middle of the line towards its IN side (left of
// a→b on screen); (nx, ny) is the unit normal pointing IN.
function inArrow(l, w, h) {
  const [ax, ay, bx, by] = [l.a[0] * w, l.a[1] * h, l.b[0] * w, l.b[1] * h];
  const [dx, dy] = [bx - ax, by - ay];
  const len = Math.hypot(dx, dy) || 1;
  const sign = l.in_side === "left" ? 1 : -1;
  return { mx: (ax + bx) / 2, my: (ay + by) / 2, nx: sign * dy / len, ny: -sign * dx / len };
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
    tr.append(cell(z.name ? `${z.id} (${z.name})` : z.id));
    if (editable) {
      // The corners as text, for keyboards: "x y; x y; …" in 0..1.
      const corners = el("input", {
        class: "corners", value: z.polygon.map(([x, y]) => `${x.toFixed(3)} ${y.toFixed(3)}`).join("; "),
        "aria-label": `${z.id} corners (x y; x y; …, 0 to 1)`,
      });
      tr.append(el("td", {}, corners));
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
        const pts = corners.value.split(";").map((p) => p.trim().split(/[\s,]+/).map(Number)).filter((p) => p.length === 2);
        if (pts.length < 3 || pts.some((p) => p.some((v) => !Number.isFinite(v) || v < 0 || v > 1))) {
          $("#camera-error").textContent = `${z.id}: give at least 3 corners as "x y; x y; x y", each from 0 to 1.`;
          return;
        }
        z.polygon = pts;
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
      tr.append(cell(`${z.polygon.length} corners`), cell(z.max_occupancy == null ? "–" : String(z.max_occupancy), "num"), cell(z.restricted ? "yes" : "no"), cell(""));
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
    body: { name: l.name, a: round(l.a), b: round(l.b), in_side: l.in_side },
  });
  await afterChange(cam, res);
}

async function saveZone(cam, z) {
  $("#camera-error").textContent = "";
  const round = (p) => p.map((v) => Math.round(v * 1000) / 1000);
  const res = await api(`/api/v1/config/zones/${enc(cam.id)}/${enc(z.id)}`, {
    method: "PUT",
    body: { name: z.name, polygon: z.polygon.map(round), max_occupancy: z.max_occupancy, restricted: z.restricted },
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
    // Dragging the IN arrow across the line turns it round.
    const { mx, my, nx, ny } = inArrow(l, canvas.width, canvas.height);
    if (Math.hypot(mx + nx * 22 - x, my + ny * 22 - y) <= HANDLE_PX) {
      cam.drag = { arrow: l };
      canvas.setPointerCapture(ev.pointerId);
      ev.preventDefault();
      return;
    }
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
  const res = await api(`/api/v1/config/${kind === "line" ? "lines" : "zones"}`, { method: "POST", body });
  if (res.ok) $("#draw-id").value = "";
  await afterChange(cam, res);
}

function moveDrag(ev) {
  const cam = state.camera;
  if (!cam || !cam.drag) return;
  const canvas = $("#camera-canvas");
  const [x, y] = canvasPoint(ev);
  if (cam.drag.arrow) {
    // The side of the line the pointer is on becomes the IN side.
    const l = cam.drag.arrow;
    const { mx, my } = inArrow(l, canvas.width, canvas.height);
    const [dx, dy] = [(l.b[0] - l.a[0]) * canvas.width, (l.b[1] - l.a[1]) * canvas.height];
    const cross = dx * (y - my) - dy * (x - mx);
    const side = cross < 0 ? "left" : "right";
    if (side !== l.in_side) { l.in_side = side; cam.drag.changed = true; draw(cam); }
    return;
  }
  const clamp = (v) => Math.min(1, Math.max(0, v));
  const p = [clamp(x / canvas.width), clamp(y / canvas.height)];
  if (cam.drag.line) cam.drag.line[cam.drag.end] = p; else cam.drag.zone.polygon[cam.drag.vertex] = p;
  draw(cam);
}

function endDrag() {
  const cam = state.camera;
  if (!cam || !cam.drag) return;
  const { line, zone, arrow, changed } = cam.drag;
  cam.drag = null;
  if (arrow) { if (changed) saveLine(cam, arrow); } else if (line) saveLine(cam, line); else saveZone(cam, zone);
}

async function saveSettings(event) {
  event.preventDefault();
  const cam = state.camera;
  if (!cam) return;
  $("#camera-error").textContent = "";
  const res = await api(`/api/v1/config/cameras/${enc(cam.id)}`, {
    method: "PUT",
    body: { name: $("#camera-name").value.trim(), enabled: $("#camera-enabled").checked },
  });
  if (!res.ok) { $("#camera-error").textContent = await errorText(res); return; }
  const c = await res.json();
  $("#camera-title").textContent = c.name || cam.id;
  await afterChange(cam, res);
}

function init() {
  $("#camera-settings").addEventListener("submit", saveSettings);
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
}

init();

export const page = {
  name: "camera",
  needsArg: true,
  parent: "dashboard",
  title: (id) => `Camera ${id}`,
  allowed: () => true,
  enter: (id) => openCamera(id),
  leave: closeCamera,
};
