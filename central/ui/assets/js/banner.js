// The alert banner, on every page while someone is logged in: how many
// alerts fire and the worst of them (GET /api/v1/alerts/summary), with a
// link to the alerts page. It is read at login, on every `alert` live
// event (coalesced), whenever the WebSocket (re)connects (events may have
// been missed), once a minute (the summary's "offline for …" grows), and
// by the alerts page after an acknowledgement or a resolve. Hidden while
// nothing fires and after logout.

import { api } from "./api.js";
import { $, el } from "./dom.js";
import { onLive, onOpen } from "./live.js";
import { can } from "./session.js";

const RESYNC_MS = 60000;
const COALESCE_MS = 300;

let running = false;
let stopLive = null;
let soonTimer = null;
let resync = null;
// Each read takes a number; only the newest may draw (replies can cross).
let generation = 0;

function hide() {
  const b = $("#alert-banner");
  b.hidden = true;
  b.className = "";
  b.replaceChildren();
}

function render(s) {
  const firing = Number(s.firing) || 0;
  const w = s.worst;
  if (firing === 0) { hide(); return; }
  const b = $("#alert-banner");
  const sev = w && w.severity ? w.severity : "warning";
  b.className = `sev-${sev}`;
  const count = `${firing} ${firing === 1 ? "alert" : "alerts"} firing`;
  const parts = [el("strong", {}, w ? `${count}:` : count)];
  if (w) {
    // The severity is a word in a badge, not a colour only.
    parts.push(" ", el("span", { class: `badge sev-${sev}` }, sev), " ",
      el("a", { href: `#alerts/${encodeURIComponent(String(w.id))}` }, w.summary));
  }
  const acked = Number(s.acknowledged) || 0;
  if (acked) parts.push(` (and ${acked} acknowledged)`);
  parts.push(" ", el("a", { href: "#alerts", class: "all-alerts" }, "All alerts"));
  b.replaceChildren(...parts);
  b.hidden = false;
}

/** Reads the summary and redraws the banner (a no-op when logged out). */
export async function refreshBanner() {
  if (!running || !can("alerts:read")) return;
  const mine = ++generation;
  let summary = null;
  try {
    const res = await api("/api/v1/alerts/summary");
    if (res.ok) summary = await res.json();
  } catch (_) {
    return; // the network is away: keep what is shown until the next read
  }
  if (!running || mine !== generation) return;
  if (summary) render(summary); else hide();
}

function soon() {
  if (soonTimer) return;
  soonTimer = setTimeout(() => { soonTimer = null; refreshBanner(); }, COALESCE_MS);
}

function live(ev) {
  if (ev.type === "alert") soon();
}

onOpen(() => { if (running) refreshBanner(); });

/** Starts the banner for the session that just began. */
export function startBanner() {
  running = true;
  if (!stopLive) stopLive = onLive(live);
  clearInterval(resync);
  resync = setInterval(refreshBanner, RESYNC_MS);
  return refreshBanner();
}

/** Stops and hides it (logout, or the session ended). */
export function stopBanner() {
  running = false;
  generation += 1;
  if (stopLive) { stopLive(); stopLive = null; }
  clearTimeout(soonTimer);
  soonTimer = null;
  clearInterval(resync);
  resync = null;
  hide();
}
