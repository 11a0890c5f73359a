//! Time ranges in query strings (`start_time`, `end_time`, RFC 3339).

use chrono::{DateTime, Duration, Utc};

use crate::error::ApiError;

/// Resolves an optional range: `end` defaults to now, `start` to `end -
/// default_span`; `start` must precede `end` and the span may not exceed
/// `max_span`.
pub fn range(
    start: Option<DateTime<Utc>>,
    end: Option<DateTime<Utc>>,
    default_span: Duration,
    max_span: Duration,
) -> Result<(DateTime<Utc>, DateTime<Utc>), ApiError> {
    let end = end.unwrap_or_else(Utc::now);
    let start = start.unwrap_or(end - default_span);
    if start >= end {
        return Err(ApiError::bad_request("start_time must be before end_time")
            .with_details(serde_json::json!({"start_time": start, "end_time": end})));
    }
    if end - start > max_span {
        return Err(ApiError::bad_request(format!(
            "the range may span at most {} days",
            max_span.num_days()
        )));
    }
    Ok((start, end))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_limits() {
        let end: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let (s, e) = range(None, Some(end), Duration::hours(24), Duration::days(31)).unwrap();
        assert_eq!((e - s).num_hours(), 24);
        assert!(range(Some(end), Some(end), Duration::hours(1), Duration::days(1)).is_err());
        assert!(
            range(
                Some(end - Duration::days(40)),
                Some(end),
                Duration::hours(1),
                Duration::days(31)
            )
            .is_err()
        );
    }
}
