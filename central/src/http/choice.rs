//! Query parameters that name one of a fixed set (an event type, a
//! recognition status). Parsed by hand rather than by serde, so a bad
//! value gets the API's error with the allowed values listed, not serde's
//! wording.

use serde::Serialize;

use crate::error::ApiError;

/// `value` read as one of `all` (spelled by `spell`); `None` stays `None`.
/// An unknown value is a 400 "unknown {what} …" listing `all`.
pub fn one_of<T: Copy + Serialize>(
    value: Option<&str>,
    what: &str,
    all: &[T],
    spell: fn(T) -> &'static str,
) -> Result<Option<T>, ApiError> {
    let Some(v) = value else { return Ok(None) };
    all.iter()
        .copied()
        .find(|t| spell(*t) == v)
        .map(Some)
        .ok_or_else(|| {
            ApiError::bad_request(format!("unknown {what} {v:?}"))
                .with_details(serde_json::json!({ "allowed": all }))
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use atrium_proto::event::EventKind;

    #[test]
    fn a_known_value_parses_and_an_unknown_one_lists_the_allowed() {
        assert_eq!(
            one_of(
                Some("occupancy"),
                "event type",
                &EventKind::ALL,
                EventKind::as_str
            )
            .ok(),
            Some(Some(EventKind::Occupancy))
        );
        assert_eq!(
            one_of(None, "event type", &EventKind::ALL, EventKind::as_str).ok(),
            Some(None)
        );
        let Err(e) = one_of(
            Some("teleported"),
            "event type",
            &EventKind::ALL,
            EventKind::as_str,
        ) else {
            panic!("an unknown type was accepted");
        };
        assert_eq!(e.status, axum::http::StatusCode::BAD_REQUEST);
        assert_eq!(e.message, "unknown event type \"teleported\"");
        let allowed = e
            .details
            .as_ref()
            .and_then(|d| d["allowed"].as_array().cloned());
        assert_eq!(allowed.map(|a| a.len()), Some(EventKind::ALL.len()));
    }
}
