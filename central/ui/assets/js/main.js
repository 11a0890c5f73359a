// Atrium's web UI: one page per feature (pages/*.js), each registered with
// the router, all talking to the API through one client (api.js). No
// framework and no build step: the files are ES modules embedded in the
// central binary as they are written.

import { api, errorText, refresh, whenSessionEnds } from "./api.js";
import { $ } from "./dom.js";
import { connect, disconnect } from "./live.js";
import { startBanner, stopBanner } from "./banner.js";
import { buildNav, leave, register, route, show } from "./router.js";
import { loadSites, session } from "./session.js";
import { page as dashboard, startDashboard, stopDashboard } from "./pages/dashboard.js";
import { page as camera } from "./pages/camera.js";
import { page as counting } from "./pages/counting.js";
import { page as violations } from "./pages/violations.js";
import { page as systems } from "./pages/systems.js";
import { page as energy } from "./pages/energy.js";
import { page as alerts } from "./pages/alerts.js";
import { page as reports } from "./pages/reports.js";
import { page as events } from "./pages/events.js";
import { people, personPage } from "./pages/people.js";
import { page as recognitions } from "./pages/recognitions.js";
import { page as users } from "./pages/users.js";
import { page as audit } from "./pages/audit.js";
import { afterPasswordChange, page as account } from "./pages/account.js";

// Nav order is registration order.
for (const p of [dashboard, camera, counting, violations, systems, energy, alerts, reports, events, people, personPage, recognitions, users, audit, account]) register(p);

async function enter(user) {
  session.user = user;
  $("#whoami").textContent = `${user.username} (${user.role})`;
  try { await loadSites(); } catch (e) { $("#session-error").textContent = `Sites: ${e.message}`; }
  buildNav();
  connect();
  await Promise.all([route(), startDashboard(), startBanner()]);
}

function endSession(message) {
  disconnect();
  stopDashboard();
  stopBanner();
  leave();
  session.user = null;
  show("login");
  $("#login-error").textContent = message || "";
}

async function login(event) {
  event.preventDefault();
  $("#login-error").textContent = "";
  const res = await api("/api/v1/auth/login", {
    method: "POST",
    body: { username: $("#username").value, password: $("#password").value, session: "cookie" },
  });
  if (!res.ok) { $("#login-error").textContent = await errorText(res); return; }
  $("#password").value = "";
  await enter((await res.json()).user);
}

async function logout() {
  await api("/api/v1/auth/logout", { method: "POST" });
  endSession();
}

async function start() {
  const me = await fetch("/api/v1/auth/me", { credentials: "same-origin" });
  if (me.ok) { await enter(await me.json()); return; }
  const r = await refresh();
  if (r.ok) await enter((await r.json()).user); else show("login");
}

whenSessionEnds(() => { if (session.user) endSession("Your session ended: log in again."); });
afterPasswordChange(logout);
$("#login-form").addEventListener("submit", login);
$("#logout").addEventListener("click", logout);
window.addEventListener("hashchange", () => { if (session.user) route(); });
start();
