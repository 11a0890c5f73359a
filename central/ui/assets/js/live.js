// The dashboard WebSocket (/ws/dashboard): open while someone is logged
// in, reconnecting with back-off; pages subscribe to its events.

import { mayReconnect, wsUrl } from "./api.js";
import { $ } from "./dom.js";

const listeners = new Set();
const opened = new Set();
let ws = null;
let retry = 1000;
let timer = null;

/** `f(event)` for each live event; returns the unsubscribe function. */
export function onLive(f) {
  listeners.add(f);
  return () => listeners.delete(f);
}

/** `f()` each time the connection (re)opens: re-read what may have been missed. */
export function onOpen(f) {
  opened.add(f);
}

function badge(text, cls) {
  const b = $("#live-state");
  b.textContent = text;
  b.className = `badge ${cls}`;
}

export function connect() {
  disconnect();
  const socket = new WebSocket(wsUrl("/ws/dashboard"));
  ws = socket;
  socket.onopen = () => { retry = 1000; badge("live", "live"); for (const f of opened) f(); };
  socket.onmessage = (m) => {
    let ev;
    try { ev = JSON.parse(m.data); } catch (_) { return; }
    for (const f of listeners) f(ev);
  };
  socket.onclose = async (e) => {
    if (ws !== socket) return;
    badge("reconnecting", "down");
    if (!(await mayReconnect(e.code)) || ws !== socket) return;
    timer = setTimeout(connect, retry);
    retry = Math.min(retry * 2, 30000);
  };
}

export function disconnect() {
  clearTimeout(timer);
  if (ws) { const s = ws; ws = null; s.onclose = null; s.close(); }
}
