//! A target's progress: the pro-rata share of the target the time gone
//! so far allows, how far the actual is from it, and where the period
//! ends at the rate so far. Time is measured in the site's local days'
//! real lengths (the caller gives instants), so a DST change shifts
//! nothing.

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;

/// Progress of a target at `now`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, ToSchema)]
pub struct Progress {
    /// Share of the period gone (0..1).
    pub elapsed: f64,
    pub actual: f64,
    /// target × elapsed: what staying on target allows by now.
    pub expected_to_date: f64,
    /// actual − expected_to_date (positive: over).
    pub variance: f64,
    /// variance / expected_to_date × 100; none before the period starts.
    pub variance_percent: Option<f64>,
    /// actual / elapsed: the period's end at the rate so far; none before
    /// the period starts.
    pub forecast: Option<f64>,
    /// Whether the forecast stays within the target (or, before the
    /// period, nothing is used yet).
    pub on_track: bool,
}

/// Progress of `target` over `[start, end)` with `actual` used by `now`.
pub fn progress(
    target: f64,
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    now: DateTime<Utc>,
    actual: f64,
) -> Progress {
    let span = (end - start).num_milliseconds() as f64;
    let gone = (now.min(end) - start).num_milliseconds() as f64;
    let elapsed = if span > 0.0 {
        (gone / span).clamp(0.0, 1.0)
    } else {
        1.0
    };
    let expected = target * elapsed;
    let forecast = (elapsed > 0.0).then(|| actual / elapsed);
    Progress {
        elapsed,
        actual,
        expected_to_date: expected,
        variance: actual - expected,
        variance_percent: (expected > 0.0).then(|| (actual - expected) / expected * 100.0),
        forecast,
        on_track: forecast.map_or(actual <= 0.0, |f| f <= target),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_third_of_the_way_over_target() {
        // 30-day period, 10 days gone, target 3000: 1000 allowed so far;
        // 1200 used → variance +200 (+20 %), forecast 3600 > 3000.
        let p = progress(
            3000.0,
            t("2026-11-01T00:00:00Z"),
            t("2026-12-01T00:00:00Z"),
            t("2026-11-11T00:00:00Z"),
            1200.0,
        );
        assert!((p.elapsed - 1.0 / 3.0).abs() < 1e-12);
        assert!((p.expected_to_date - 1000.0).abs() < 1e-9);
        assert!((p.variance - 200.0).abs() < 1e-9);
        assert!((p.variance_percent.unwrap() - 20.0).abs() < 1e-9);
        assert!((p.forecast.unwrap() - 3600.0).abs() < 1e-9);
        assert!(!p.on_track);
    }

    #[test]
    fn before_during_and_after_the_period() {
        let (s, e) = (t("2026-11-01T00:00:00Z"), t("2026-11-03T00:00:00Z"));
        let before = progress(100.0, s, e, t("2026-10-30T00:00:00Z"), 0.0);
        assert_eq!(before.elapsed, 0.0);
        assert_eq!(before.forecast, None);
        assert_eq!(before.variance_percent, None);
        assert!(before.on_track);
        // Half-way, 40 used: forecast 80 within 100.
        let mid = progress(100.0, s, e, t("2026-11-02T00:00:00Z"), 40.0);
        assert!((mid.forecast.unwrap() - 80.0).abs() < 1e-9);
        assert!(mid.on_track);
        // After the end the forecast is the actual.
        let after = progress(100.0, s, e, t("2026-12-01T00:00:00Z"), 120.0);
        assert_eq!(after.elapsed, 1.0);
        assert!((after.forecast.unwrap() - 120.0).abs() < 1e-9);
        assert!(!after.on_track);
    }
}
