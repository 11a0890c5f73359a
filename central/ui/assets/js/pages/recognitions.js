// Recognitions (persons:read): who was recognised where, filtered; a
// wrong match is corrected with "Not this person" (persons:update).

import { api, errorText } from "../api.js";
import { $, button, cell, el, fillTable, say } from "../dom.js";
import { can, maySeePersons, when } from "../session.js";

async function loadRecognitions(event) {
  if (event) event.preventDefault();
  say("#rec-error", "");
  const params = new URLSearchParams({ per_page: "100" });
  if ($("#rec-camera").value.trim()) params.set("camera_id", $("#rec-camera").value.trim());
  if ($("#rec-status").value) params.set("status", $("#rec-status").value);
  if ($("#rec-min").value) params.set("min_confidence", $("#rec-min").value);
  const res = await api(`/api/v1/events/recognition?${params}`);
  if (!res.ok) { say("#rec-error", await errorText(res)); return; }
  const rows = (await res.json()).data.map((r) => {
    const act = el("td", {});
    if (r.status === "recognized" && can("persons:update")) {
      act.append(button("Not this person", async () => {
        const x = await api(`/api/v1/events/recognition/${encodeURIComponent(r.id)}/reject`, { method: "POST" });
        if (x.ok) await loadRecognitions(); else say("#rec-error", await errorText(x));
      }, { label: `Not this person: ${r.person_name || "unnamed"}, track ${r.track} at ${r.camera_id}` }));
    }
    return el("tr", { dataset: { status: r.status } },
      cell(when(r.ts, { camera: r.camera_id })), cell(r.camera_id), cell(String(r.track), "num"), cell(r.status),
      cell(r.person_name || "–"), cell(r.confidence.toFixed(2), "num"), act);
  });
  fillTable($("#recognitions tbody"), rows, "No recognitions match.");
}

$("#rec-filter").addEventListener("submit", loadRecognitions);

export const page = {
  name: "recognitions",
  nav: "Recognitions",
  title: () => "Recognitions",
  allowed: maySeePersons,
  enter: () => loadRecognitions(),
};
