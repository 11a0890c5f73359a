// Audit log (audit:read): who did what, when, from where.

import { api, errorText } from "../api.js";
import { $, cell, el, fillTable, say } from "../dom.js";
import { can, when } from "../session.js";

async function loadAudit(event) {
  if (event) event.preventDefault();
  say("#audit-error", "");
  const q = new URLSearchParams({ per_page: "200" });
  if ($("#audit-user").value.trim()) q.set("username", $("#audit-user").value.trim());
  if ($("#audit-action").value.trim()) q.set("action", $("#audit-action").value.trim());
  const res = await api(`/api/v1/audit?${q}`);
  if (!res.ok) { say("#audit-error", await errorText(res)); return; }
  const rows = (await res.json()).data.map((e) => {
    const status = e.detail && e.detail.status ? String(e.detail.status) : "";
    return el("tr", {}, cell(when(e.ts)), cell(e.username), cell(e.action), cell(e.subject), cell(status), cell(e.address || ""));
  });
  fillTable($("#audit tbody"), rows, "Nothing matches.");
}

$("#audit-filter").addEventListener("submit", loadAudit);

export const page = {
  name: "audit",
  nav: "Audit",
  title: () => "Audit log",
  allowed: () => can("audit:read"),
  enter: () => loadAudit(),
};
