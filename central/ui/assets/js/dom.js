// Small DOM helpers. Every value from the server is written as text
// (textContent, attributes), never as HTML.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

/** `el("td", {class: "num"}, "3")`: an element with attributes and children. */
export function el(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k === "dataset") Object.assign(e.dataset, v);
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (k in e && typeof v !== "string") e[k] = v;
    else e.setAttribute(k, v === true ? "" : v);
  }
  e.append(...children.filter((c) => c !== null && c !== undefined));
  return e;
}

export function cell(text, cls) {
  return el("td", { class: cls }, text);
}

/** A small button; `danger` for what removes something. */
export function button(text, onclick, { danger = false, label } = {}) {
  return el("button", { type: "button", class: danger ? "small danger" : "small", onclick, "aria-label": label }, text);
}

/** Replaces a table body's rows; `empty` is shown when there are none. */
export function fillTable(tbody, rows, empty) {
  tbody.replaceChildren(...rows);
  if (!rows.length && empty) {
    const cols = tbody.closest("table").querySelectorAll("thead th").length || 1;
    tbody.append(el("tr", {}, el("td", { colspan: String(cols), class: "muted" }, empty)));
  }
}

/** Shows `text` in an error element (empty clears it). */
export function say(sel, text) {
  $(sel).textContent = text || "";
}
