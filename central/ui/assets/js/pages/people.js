// People (persons:read): search, add, and one person's photos, enrolment
// and erasure. Personal data: the API audits every read.

import { api, errorText, upload } from "../api.js";
import { $, button, cell, el, fillTable, say } from "../dom.js";
import { can, localDate, maySeePersons, when, zoneMidnight, zoneOf } from "../session.js";

const enc = encodeURIComponent;
let person = null;

async function loadPersons() {
  const q = $("#person-q").value.trim();
  const res = await api(`/api/v1/persons?per_page=200${q ? `&q=${enc(q)}` : ""}`);
  if (!res.ok) { say("#people-error", await errorText(res)); return; }
  say("#people-error", "");
  const rows = (await res.json()).data.map((p) => {
    const seen = p.last_seen ? `${when(p.last_seen.ts, { camera: p.last_seen.camera_id })} at ${p.last_seen.camera_id}` : "never";
    return el("tr", { dataset: { person: p.id } },
      el("td", {}, el("a", { href: `#person/${enc(p.id)}` }, p.name)),
      cell(p.category), cell(String(p.photos), "num"), cell(seen));
  });
  fillTable($("#persons tbody"), rows, q ? "Nobody by that name." : "Nobody enrolled yet.");
}

async function addPerson(event) {
  event.preventDefault();
  say("#add-error", "");
  const res = await api("/api/v1/persons", {
    method: "POST",
    body: { name: $("#new-name").value, category: $("#new-category").value, consent: $("#new-consent").checked },
  });
  if (!res.ok) { say("#add-error", await errorText(res)); return; }
  const p = await res.json();
  $("#new-name").value = "";
  location.hash = `#person/${enc(p.id)}`;
}

async function loadPerson(id) {
  person = id;
  const res = await api(`/api/v1/persons/${enc(id)}`);
  if (!res.ok) { $("#person-name").textContent = await errorText(res); return; }
  const p = await res.json();
  $("#person-name").textContent = p.name;
  const seen = p.last_seen ? `last seen ${when(p.last_seen.ts, { camera: p.last_seen.camera_id })} at ${p.last_seen.camera_id}` : "not seen yet";
  $("#person-meta").textContent = `${p.category}, ${p.photos} photo(s), ${seen}${p.notes ? ` — ${p.notes}` : ""}${p.expires_at ? `; recognised until ${when(p.expires_at)}` : ""}`;
  $("#edit-name").value = p.name;
  $("#edit-category").value = p.category;
  $("#edit-notes").value = p.notes || "";
  $("#edit-consent").checked = p.consent;
  $("#edit-expires").value = p.expires_at ? localDate(new Date(p.expires_at), zoneOf()) : "";
  await loadPhotos(id, p);
}

async function loadPhotos(id, p) {
  const box = $("#photos");
  const res = await api(`/api/v1/persons/${enc(id)}/photos`);
  box.replaceChildren();
  if (!res.ok) { say("#enrol-result", await errorText(res)); return; }
  const photos = await res.json();
  // After a change of face model, a person whose photos were not kept has
  // no template of the new one (central admin faces reembed names them).
  const stale = p && p.photos > 0 && !p.recognisable
    ? " Not recognised with the current face model: their photos were not kept, so enrol new ones." : "";
  say("#photo-advice", advice(photos) + stale);
  for (const ph of photos) {
    const fig = el("figure", {});
    if (ph.stored) fig.append(el("img", { src: `/api/v1/persons/${enc(id)}/photos/${enc(ph.id)}`, alt: `Enrolment photo of ${$("#person-name").textContent}` }));
    fig.append(el("figcaption", {}, `quality ${ph.quality.toFixed(2)}`));
    if (can("persons:update")) {
      fig.append(button("Remove", async () => {
        const r = await api(`/api/v1/persons/${enc(id)}/photos/${enc(ph.id)}`, { method: "DELETE" });
        if (!r.ok) { say("#enrol-result", await errorText(r)); return; }
        await loadPerson(id);
      }, { danger: true, label: "Remove this photo" }));
    }
    box.append(fig);
  }
}

// Two photos of one person are often less alike than the same photo
// twice: recognition takes the best of a person's photos, so two or three
// taken on different days make it surer (models/README.md).
const WEAK = 0.7;

function advice(photos) {
  if (!photos.length) return "No photo yet: enrol two or three, taken on different days.";
  const weak = photos.filter((p) => p.quality < WEAK);
  const good = photos.length - weak.length;
  if (good < 2) {
    const why = weak.length ? ` (${weak.length} of them weak, quality under ${WEAK})` : "";
    return `${photos.length} photo(s)${why}: add ${2 - good} more good one(s), frontal and sharp, taken on another day; recognition takes the best match of all of them.`;
  }
  if (weak.length) return `${good} good photos; ${weak.length} weak one(s) (quality under ${WEAK}) could be replaced by a sharper, more frontal one.`;
  return `${good} good photos.`;
}

function quality(q) {
  return `quality ${q.overall.toFixed(2)} (size ${q.size.toFixed(2)}, sharpness ${q.sharpness.toFixed(2)}, pose ${q.pose.toFixed(2)})`;
}

async function enrol(event) {
  event.preventDefault();
  const file = $("#enrol-file").files[0];
  const out = $("#enrol-result");
  if (!file || !person) return;
  out.className = "";
  out.textContent = "Checking the photo…";
  const form = new FormData();
  form.append("photo", file);
  const res = await upload(`/api/v1/persons/${enc(person)}/photos`, form);
  if (res.ok) {
    const e = await res.json();
    $("#enrol-file").value = "";
    await loadPerson(person);
    out.className = "ok";
    out.textContent = `Enrolled: ${quality(e.quality)}`;
  } else {
    out.className = "error";
    out.textContent = `Refused: ${await errorText(res)}`;
  }
}

async function savePerson(event) {
  event.preventDefault();
  if (!person) return;
  say("#edit-result", "");
  const expires = $("#edit-expires").value;
  const res = await api(`/api/v1/persons/${enc(person)}`, {
    method: "PUT",
    body: {
      name: $("#edit-name").value,
      category: $("#edit-category").value,
      notes: $("#edit-notes").value,
      consent: $("#edit-consent").checked,
      // The end of the chosen day in the site's zone.
      expires_at: expires ? new Date(zoneMidnight(expires, zoneOf()).getTime() + 86400e3 - 1000).toISOString() : null,
    },
  });
  if (!res.ok) { say("#edit-result", await errorText(res)); return; }
  await loadPerson(person);
  say("#edit-result", "Saved.");
}

async function erasePerson() {
  if (!person || !confirm("Erase this person, their photos and templates, and unlink their recognitions? This cannot be undone.")) return;
  const res = await api(`/api/v1/persons/${enc(person)}`, { method: "DELETE" });
  if (res.ok) location.hash = "#people"; else say("#enrol-result", await errorText(res));
}

$("#person-search").addEventListener("submit", (e) => { e.preventDefault(); loadPersons(); });
$("#person-add").addEventListener("submit", addPerson);
$("#enrol-form").addEventListener("submit", enrol);
$("#erase-person").addEventListener("click", erasePerson);
$("#person-edit").addEventListener("submit", savePerson);

export const people = {
  name: "people",
  nav: "People",
  title: () => "People",
  allowed: maySeePersons,
  enter: () => {
    $("#person-add").hidden = !can("persons:create");
    return loadPersons();
  },
};

export const personPage = {
  name: "person",
  needsArg: true,
  parent: "people",
  title: () => "Person",
  allowed: maySeePersons,
  enter: (id) => {
    say("#enrol-result", "");
    say("#edit-result", "");
    $("#enrol-form").hidden = !can("persons:update");
    $("#person-edit").hidden = !can("persons:update");
    $("#erase-person").hidden = !can("persons:delete");
    return loadPerson(id);
  },
};
