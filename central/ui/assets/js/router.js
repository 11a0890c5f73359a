// Pages and hash routes (#name or #name/<id>). A page is a module that
// registers itself here: its section in index.html is `#<name>-view`, its
// nav label (if any) is listed for the users `allowed()` admits, and
// `enter(arg)` / `leave()` load and release what it shows. Energy, alerts
// and reports plug in the same way.

import { $, $$, el } from "./dom.js";

const pages = [];
let current = null;

/** Adds a page: {name, title, nav?, allowed(), enter(arg), leave?()}. */
export function register(page) {
  pages.push(page);
}

/** The nav bar: a link for every page the user may open. */
export function buildNav() {
  const nav = $("#nav-links");
  nav.replaceChildren(...pages
    .filter((p) => p.nav && p.allowed())
    .map((p) => el("a", { href: `#${p.name}`, id: `nav-${p.name}`, dataset: { page: p.name } }, p.nav)));
}

/** Shows one view (by page name, or "login") and hides the others. */
export function show(name) {
  for (const s of $$("main > section")) s.hidden = s.id !== `${name}-view`;
  const loggedIn = name !== "login";
  $("#session").hidden = !loggedIn;
  $("#nav").hidden = !loggedIn;
  for (const a of $$("#nav-links a")) {
    const on = a.dataset.page === name || (current && current.parent === a.dataset.page);
    a.classList.toggle("active", on);
    if (on) a.setAttribute("aria-current", "page"); else a.removeAttribute("aria-current");
  }
}

/** Leaves the current page (logging out, or before another opens). */
export function leave() {
  if (current && current.leave) current.leave();
  current = null;
}

/** Opens the page the hash names, or the dashboard when it names none the user may open. */
export async function route() {
  const [name, ...rest] = location.hash.replace(/^#/, "").split("/");
  const arg = rest.length ? decodeURIComponent(rest.join("/")) : null;
  let page = pages.find((p) => p.name === name && p.allowed() && (!p.needsArg || arg));
  if (!page) page = pages.find((p) => p.name === "dashboard");
  const same = current === page;
  if (!same) leave();
  current = page;
  show(page.name);
  document.title = `${page.title(arg)} · Atrium`;
  if (!same) {
    // Tell screen readers where they are: focus the page's heading.
    const h = $(`#${page.name}-view h2`);
    if (h) { h.tabIndex = -1; h.focus({ preventScroll: true }); }
  }
  await page.enter(arg);
}
