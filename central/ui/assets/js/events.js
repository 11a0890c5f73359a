// How events read in lists (the dashboard's and a camera's).

export function describe(ev) {
  const d = ev.data || {};
  switch (ev.type) {
    case "line_crossed": return `${d.direction === "in" ? "IN" : "OUT"} across ${d.line} (track ${d.track})`;
    case "occupancy": return `${d.in_view} in view`;
    case "camera_status": return `camera ${d.state}${d.reason ? `: ${d.reason}` : ""}`;
    case "zone_violation": return `zone ${d.zone}: ${d.kind === "max_occupancy" ? `over capacity (${d.occupancy}/${d.max})` : "restricted entry"}`;
    case "zone_entered": return `entered zone ${d.zone} (track ${d.track})`;
    case "zone_exited": return `left zone ${d.zone} after ${Math.round(d.dwell_s)} s (track ${d.track})`;
    case "spool_overflow": return `edge spool full: ${d.dropped} events dropped`;
    case "person_detected": return `person detected (track ${d.track})`;
    default: return ev.type;
  }
}

/** Occupancy samples and detections are drawn or counted, not listed. */
export function listed(ev) {
  return ev.type !== "occupancy" && ev.type !== "person_detected";
}
