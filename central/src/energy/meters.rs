//! A site's meters now, as a tree: each meter with its sub-meters and
//! what they leave unmetered (its own use minus theirs: losses and loads
//! nobody metered). Shared by `/energy/current` and the dashboard's
//! `energy_update`.

use chrono::{DateTime, Duration, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// A reading older than this is not summed into a site's power now.
pub const STALE_AFTER: Duration = Duration::minutes(5);

/// A meter now: its newest power and its energy since local midnight.
#[derive(Debug, Clone)]
pub struct MeterNow {
    pub id: String,
    pub name: String,
    pub parent_id: Option<String>,
    pub location: Option<String>,
    pub floor: Option<i32>,
    pub enabled: bool,
    pub power_kw: Option<f64>,
    pub power_at: Option<DateTime<Utc>>,
    pub kwh_today: f64,
}

/// A meter in the tree, with its sub-meters.
#[derive(Debug, Serialize, ToSchema)]
pub struct MeterNode {
    pub device_id: String,
    pub name: String,
    pub location: Option<String>,
    pub floor: Option<i32>,
    pub enabled: bool,
    /// Its newest power reading and when it was taken.
    pub power_kw: Option<f64>,
    pub power_at: Option<DateTime<Utc>>,
    /// The reading is older than 5 minutes: not summed into the site.
    pub stale: bool,
    pub kwh_today: f64,
    #[schema(no_recursion)]
    pub children: Vec<MeterNode>,
    /// With sub-meters: its own use minus theirs (losses, unmetered
    /// loads); none without sub-meters.
    pub unmetered_power_kw: Option<f64>,
    pub unmetered_kwh_today: Option<f64>,
}

/// A site's energy now.
#[derive(Debug, Serialize, ToSchema)]
pub struct SiteNow {
    pub site_id: String,
    pub name: String,
    pub timezone: String,
    /// Sum of the main meters' fresh power readings.
    pub power_kw: f64,
    /// Main meters whose power is stale or unknown.
    pub stale_meters: usize,
    /// Since local midnight (`day_start`).
    pub kwh_today: f64,
    pub day_start: DateTime<Utc>,
    /// Main meters, each with its sub-meters.
    pub meters: Vec<MeterNode>,
}

fn node(m: &MeterNow, all: &[MeterNow], now: DateTime<Utc>, depth: usize) -> MeterNode {
    let stale = m.power_at.is_none_or(|t| now - t > STALE_AFTER) || m.power_kw.is_none();
    let children: Vec<MeterNode> = if depth < 16 {
        all.iter()
            .filter(|c| c.parent_id.as_deref() == Some(m.id.as_str()))
            .map(|c| node(c, all, now, depth + 1))
            .collect()
    } else {
        Vec::new()
    };
    let (unmetered_power_kw, unmetered_kwh_today) = if children.is_empty() {
        (None, None)
    } else {
        let kw = m
            .power_kw
            .map(|own| own - children.iter().filter_map(|c| c.power_kw).sum::<f64>());
        let kwh = m.kwh_today - children.iter().map(|c| c.kwh_today).sum::<f64>();
        (kw, Some(kwh))
    };
    MeterNode {
        device_id: m.id.clone(),
        name: m.name.clone(),
        location: m.location.clone(),
        floor: m.floor,
        enabled: m.enabled,
        power_kw: m.power_kw,
        power_at: m.power_at,
        stale,
        kwh_today: m.kwh_today,
        children,
        unmetered_power_kw,
        unmetered_kwh_today,
    }
}

/// A site's energy now from its meters' rows.
pub fn tree(
    site_id: &str,
    name: &str,
    timezone: &str,
    meters: &[MeterNow],
    day_start: DateTime<Utc>,
    now: DateTime<Utc>,
) -> SiteNow {
    let roots: Vec<MeterNode> = meters
        .iter()
        .filter(|m| m.parent_id.is_none())
        .map(|m| node(m, meters, now, 0))
        .collect();
    SiteNow {
        site_id: site_id.to_owned(),
        name: name.to_owned(),
        timezone: timezone.to_owned(),
        power_kw: super::total(roots.iter().filter(|m| !m.stale).filter_map(|m| m.power_kw)),
        stale_meters: roots.iter().filter(|m| m.stale).count(),
        kwh_today: super::total(roots.iter().map(|m| m.kwh_today)),
        day_start,
        meters: roots,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(id: &str, parent: Option<&str>, kw: Option<f64>, age_min: i64, kwh: f64) -> MeterNow {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        MeterNow {
            id: id.into(),
            name: id.to_uppercase(),
            parent_id: parent.map(Into::into),
            location: None,
            floor: None,
            enabled: true,
            power_kw: kw,
            power_at: kw.map(|_| now - Duration::minutes(age_min)),
            kwh_today: kwh,
        }
    }

    #[test]
    fn tree_sums_fresh_main_meters_and_leaves_the_remainder() {
        let now: DateTime<Utc> = "2026-12-07T12:00:00Z".parse().unwrap();
        let day: DateTime<Utc> = "2026-12-07T00:00:00Z".parse().unwrap();
        // Main 100 kW with floors 30 + 45 → 25 kW unmetered; 900 kWh today
        // with 300 + 400 → 200 unmetered. A second main meter is stale (10
        // min old): not in the site's 100 kW, but its 50 kWh today counts.
        let rows = [
            m("main", None, Some(100.0), 0, 900.0),
            m("f1", Some("main"), Some(30.0), 1, 300.0),
            m("f2", Some("main"), Some(45.0), 0, 400.0),
            m("old", None, Some(70.0), 10, 50.0),
        ];
        let s = tree("hq", "HQ", "UTC", &rows, day, now);
        assert_eq!(s.power_kw, 100.0);
        assert_eq!(s.stale_meters, 1);
        assert_eq!(s.kwh_today, 950.0);
        assert_eq!(s.meters.len(), 2);
        let main = &s.meters[0];
        assert_eq!(main.children.len(), 2);
        assert_eq!(main.unmetered_power_kw, Some(25.0));
        assert_eq!(main.unmetered_kwh_today, Some(200.0));
        assert_eq!(s.meters[1].unmetered_kwh_today, None);
        assert!(s.meters[1].stale);
    }
}
