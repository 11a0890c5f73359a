// Who is logged in, what they may do, and the sites' time zones: every
// time on the page is shown in the zone of the site it belongs to.

import { all } from "./api.js";

export const session = { user: null, sites: new Map(), cameraSite: new Map() };

const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone;

export function can(permission) {
  const u = session.user;
  return Boolean(u && u.permissions && u.permissions.includes(permission));
}

/** Personal data (persons, photos, recognitions) is behind persons:read. */
export function maySeePersons() {
  return can("persons:read");
}

/** Reads the sites (their zones); the camera → site map comes from the counts. */
export async function loadSites() {
  session.sites.clear();
  for (const s of await all("/api/v1/sites")) session.sites.set(s.id, s);
}

export function noteCamera(cameraId, siteId) {
  if (cameraId && siteId) session.cameraSite.set(cameraId, siteId);
}

/**
 * The zone for a site (or a camera's site); without one, the zone all
 * sites share, else the browser's.
 */
export function zoneOf({ site, camera } = {}) {
  const id = site || (camera && session.cameraSite.get(camera));
  const s = id && session.sites.get(id);
  if (s) return s.timezone;
  const zones = new Set([...session.sites.values()].map((x) => x.timezone));
  return zones.size === 1 ? [...zones][0] : BROWSER_ZONE;
}

function format(ts, where, options) {
  if (!ts) return "–";
  const d = ts instanceof Date ? ts : new Date(ts);
  if (Number.isNaN(d.getTime())) return "–";
  try {
    return new Intl.DateTimeFormat(undefined, { timeZone: zoneOf(where), ...options }).format(d);
  } catch (_) {
    return d.toLocaleString(); // an unknown zone name: the browser's zone
  }
}

/** Date and time in the site's zone. */
export function when(ts, where) {
  return format(ts, where, { dateStyle: "short", timeStyle: "medium" });
}

/** Time of day in the site's zone. */
export function timeOf(ts, where) {
  return format(ts, where, { timeStyle: "medium" });
}

/** `YYYY-MM-DD` of an instant in a zone (for date inputs). */
export function localDate(d, zone) {
  const parts = new Intl.DateTimeFormat("en-CA", { timeZone: zone, year: "numeric", month: "2-digit", day: "2-digit" }).formatToParts(d);
  const get = (t) => parts.find((p) => p.type === t).value;
  return `${get("year")}-${get("month")}-${get("day")}`;
}

/** The instant a zone's local midnight of `YYYY-MM-DD` falls on. */
export function zoneMidnight(date, zone) {
  const [y, m, d] = date.split("-").map(Number);
  // Start from UTC midnight and correct by the zone's offset there (twice,
  // for days whose offset changes).
  let t = Date.UTC(y, m - 1, d);
  for (let i = 0; i < 2; i += 1) {
    const shown = new Intl.DateTimeFormat("en-US", {
      timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
    }).formatToParts(new Date(t));
    const get = (k) => Number(shown.find((p) => p.type === k).value);
    const asUtc = Date.UTC(get("year"), get("month") - 1, get("day"), get("hour"), get("minute"));
    t -= asUtc - Date.UTC(y, m - 1, d);
  }
  return new Date(t);
}

/** The `YYYY-MM-DD` `n` days after `date` (a calendar step, not 24 h). */
export function addDays(date, n) {
  const d = new Date(`${date}T12:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

export function duration(s) {
  if (s < 90) return `${Math.round(s)} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172800) return `${(s / 3600).toFixed(1)} h`;
  return `${Math.round(s / 86400)} days`;
}
