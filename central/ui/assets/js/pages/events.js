// Events (events:read): the stored event log, newest first, by camera,
// type and span, a page of 100 at a time.

import { all, api, errorText } from "../api.js";
import { $, cell, el, fillTable, say } from "../dom.js";
import { describe } from "../events.js";
import { noteCamera, when } from "../session.js";

const PER_PAGE = 100;
let pageNo = 1;

async function loadCameras() {
  const cams = await all("/api/v1/counting/current");
  const box = $("#events-camera");
  const keep = box.value;
  box.replaceChildren(el("option", { value: "" }, "all cameras"),
    ...cams.map((c) => { noteCamera(c.camera_id, c.site_id); return el("option", { value: c.camera_id }, c.camera_id); }));
  if ([...box.options].some((o) => o.value === keep)) box.value = keep;
}

async function show() {
  say("#events-error", "");
  const end = new Date();
  const start = new Date(end - Number($("#events-days").value) * 86400e3);
  const q = new URLSearchParams({ start_time: start.toISOString(), end_time: end.toISOString(), per_page: String(PER_PAGE), page: String(pageNo) });
  if ($("#events-camera").value) q.set("camera_id", $("#events-camera").value);
  if ($("#events-type").value) q.set("type", $("#events-type").value);
  const res = await api(`/api/v1/events?${q}`);
  if (!res.ok) { say("#events-error", await errorText(res)); return; }
  const body = await res.json();
  fillTable($("#events-log tbody"), body.data.map((e) => el("tr", { dataset: { type: e.type } },
    cell(when(e.ts, { camera: e.camera_id })), cell(e.camera_id), cell(e.type),
    cell(describe({ type: e.type, data: e.data })))), "No events match.");
  const pages = Math.max(1, body.meta.total_pages);
  $("#events-summary").textContent = `${body.meta.total} event(s); page ${pageNo} of ${pages}.`;
  $("#events-newer").disabled = pageNo <= 1;
  $("#events-older").disabled = pageNo >= pages;
}

$("#events-filter").addEventListener("submit", (e) => { e.preventDefault(); pageNo = 1; show(); });
$("#events-newer").addEventListener("click", () => { pageNo = Math.max(1, pageNo - 1); show(); });
$("#events-older").addEventListener("click", () => { pageNo += 1; show(); });

export const page = {
  name: "events",
  nav: "Events",
  title: () => "Events",
  allowed: () => true,
  enter: async () => {
    pageNo = 1;
    try { await loadCameras(); } catch (e) { say("#events-error", e.message); return; }
    await show();
  },
};
