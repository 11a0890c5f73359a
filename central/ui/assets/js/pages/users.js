// Users (users:read; changes need users:write): roles, disabling,
// password resets, deletion; the API's refusals are shown as they come.

import { api, errorText } from "../api.js";
import { $, button, cell, el, fillTable, say } from "../dom.js";
import { can, when } from "../session.js";

export const ROLES = ["super_admin", "admin", "facility_manager", "security_officer", "operator", "viewer"];

function roleSelect(current, label) {
  return el("select", { "aria-label": label },
    ...ROLES.map((r) => el("option", { value: r, selected: r === current }, r)));
}

async function loadUsers() {
  const res = await api("/api/v1/users?per_page=1000");
  if (!res.ok) { say("#users-error", await errorText(res)); return; }
  say("#users-error", "");
  const writable = can("users:write");
  const rows = (await res.json()).data.map((u) => {
    const roleCell = el("td", {});
    if (writable) {
      const sel = roleSelect(u.role, `Role of ${u.username}`);
      sel.addEventListener("change", () => changeUser(u.id, { role: sel.value }));
      roleCell.append(sel);
    } else {
      roleCell.textContent = u.role;
    }
    const actions = el("td", {});
    if (writable) {
      actions.append(
        button(u.disabled ? "Enable" : "Disable", () => changeUser(u.id, { disabled: !u.disabled }), { label: `${u.disabled ? "Enable" : "Disable"} ${u.username}` }), " ",
        button("Reset password", () => {
          const pw = prompt(`New password for ${u.username} (12+ characters)`);
          if (pw) changeUser(u.id, { password: pw });
        }, { label: `Reset password of ${u.username}` }), " ",
        button("Delete", async () => {
          if (!confirm(`Delete ${u.username}, their sessions and API keys?`)) return;
          const r = await api(`/api/v1/users/${u.id}`, { method: "DELETE" });
          const error = r.ok ? "" : await errorText(r);
          await loadUsers();
          say("#users-error", error);
        }, { danger: true, label: `Delete ${u.username}` }));
    }
    return el("tr", { dataset: { username: u.username } },
      cell(u.username), cell(u.display_name), roleCell, cell(u.disabled ? "disabled" : "active"), actions);
  });
  $("#users tbody").replaceChildren(...rows);
  await loadAllKeys();
}

// Everyone's keys (users:read), with their owners; revoking another
// user's key follows the same rules as changing that user.
async function loadAllKeys() {
  const res = await api("/api/v1/api-keys?all=true&per_page=1000");
  if (!res.ok) { say("#all-keys-error", await errorText(res)); return; }
  say("#all-keys-error", "");
  const rows = (await res.json()).data.map((k) => {
    const actions = el("td", {});
    if (k.revoked_at) actions.textContent = "revoked";
    else if (can("apikeys:write")) {
      actions.append(button("Revoke", async () => {
        const r = await api(`/api/v1/api-keys/${k.id}`, { method: "DELETE" });
        const error = r.ok ? "" : await errorText(r);
        await loadUsers();
        say("#all-keys-error", error);
      }, { danger: true, label: `Revoke the key ${k.name} of ${k.username}` }));
    }
    return el("tr", { dataset: { key: k.prefix } }, cell(k.username), cell(k.name), cell(k.prefix),
      cell(k.permissions.join(", ")), cell(k.site_id || "all"), cell(k.expires_at ? when(k.expires_at) : "never"),
      cell(k.last_used_at ? when(k.last_used_at) : "never"), actions);
  });
  fillTable($("#all-keys tbody"), rows, "No API keys.");
}

async function changeUser(id, change) {
  const res = await api(`/api/v1/users/${id}`, { method: "PUT", body: change });
  const error = res.ok ? "" : await errorText(res);
  // Reload first (it clears the message), so a refused change shows the
  // current state and why.
  await loadUsers();
  say("#users-error", error);
}

async function addUser(event) {
  event.preventDefault();
  say("#users-error", "");
  const res = await api("/api/v1/users", {
    method: "POST",
    body: {
      username: $("#new-username").value.trim(),
      display_name: $("#new-display").value.trim(),
      password: $("#new-password").value,
      role: $("#new-role").value,
    },
  });
  if (!res.ok) { say("#users-error", await errorText(res)); return; }
  for (const f of ["#new-username", "#new-display", "#new-password"]) $(f).value = "";
  await loadUsers();
}

$("#new-role").append(...ROLES.map((r) => el("option", { value: r, selected: r === "viewer" }, r)));
$("#user-add").addEventListener("submit", addUser);

export const page = {
  name: "users",
  nav: "Users",
  title: () => "Users",
  allowed: () => can("users:read"),
  enter: () => {
    $("#user-add").hidden = !can("users:write");
    return loadUsers();
  },
};
