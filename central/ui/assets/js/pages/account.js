// Account: one's own password and (apikeys:write) one's API keys.

import { api, errorText } from "../api.js";
import { $, button, cell, el, fillTable, say } from "../dom.js";
import { can, when } from "../session.js";

let loggedOut = () => {};

/** What to do after a password change ended every session. */
export function afterPasswordChange(f) {
  loggedOut = f;
}

async function changePassword(event) {
  event.preventDefault();
  const res = await api("/api/v1/auth/password", {
    method: "POST",
    body: { current_password: $("#current-password").value, new_password: $("#new-own-password").value },
  });
  if (!res.ok) { say("#password-result", await errorText(res)); return; }
  // Every session ended, this one too: log in with the new password.
  $("#current-password").value = "";
  $("#new-own-password").value = "";
  await loggedOut();
  say("#login-error", "Password changed: log in with the new one.");
}

async function loadKeys() {
  const res = await api("/api/v1/api-keys?per_page=1000");
  if (!res.ok) { say("#key-error", await errorText(res)); return; }
  const rows = (await res.json()).data.map((k) => {
    const actions = el("td", {});
    if (k.revoked_at) {
      actions.textContent = "revoked";
    } else {
      actions.append(button("Revoke", async () => {
        const r = await api(`/api/v1/api-keys/${k.id}`, { method: "DELETE" });
        if (!r.ok) say("#key-error", await errorText(r));
        await loadKeys();
      }, { danger: true, label: `Revoke the key ${k.name}` }));
    }
    return el("tr", {}, cell(k.name), cell(k.prefix), cell(k.permissions.join(", ")), cell(k.site_id || "all"),
      cell(k.expires_at ? when(k.expires_at) : "never"), cell(k.last_used_at ? when(k.last_used_at) : "never"), actions);
  });
  fillTable($("#apikeys tbody"), rows, "No keys yet.");
}

async function addKey(event) {
  event.preventDefault();
  say("#key-error", "");
  const input = { name: $("#key-name").value.trim() };
  const perms = $("#key-permissions").value.split(",").map((p) => p.trim()).filter(Boolean);
  if (perms.length) input.permissions = perms;
  if ($("#key-site").value.trim()) input.site_id = $("#key-site").value.trim();
  if ($("#key-expires").value) input.expires_at = new Date(`${$("#key-expires").value}T00:00:00`).toISOString();
  const res = await api("/api/v1/api-keys", { method: "POST", body: input });
  if (!res.ok) { say("#key-error", await errorText(res)); return; }
  const created = await res.json();
  $("#key-text").textContent = created.key;
  $("#key-created").hidden = false;
  $("#key-name").value = "";
  await loadKeys();
}

$("#password-form").addEventListener("submit", changePassword);
$("#key-add").addEventListener("submit", addKey);

export const page = {
  name: "account",
  nav: "Account",
  title: () => "Account",
  allowed: () => true,
  enter: () => {
    say("#password-result", "");
    $("#keys-panel").hidden = !can("apikeys:write");
    return can("apikeys:write") ? loadKeys() : undefined;
  },
};
