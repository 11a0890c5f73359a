//! Extractors whose rejections are `ApiError`s (so a malformed body or
//! query string gets the documented error format, not axum's plain text).
//!
//! They also refuse U+0000 anywhere in a query string, a path or a JSON
//! body: PostgreSQL `text` cannot hold it, so such a value would otherwise
//! pass validation and fail later as a database error (a 500 for what is
//! the client's bad input). Checking the raw input here covers every
//! field of every route at once.

use axum::extract::FromRequest;
use axum::extract::FromRequestParts;
use axum::extract::Request;
use axum::http::request::Parts;
use serde::de::DeserializeOwned;

use crate::error::ApiError;

const NUL_REFUSED: &str = "text cannot contain the NUL character (U+0000)";

/// `axum::Json` with API errors.
#[derive(Debug)]
pub struct Json<T>(pub T);

/// `axum::extract::Query` with API errors.
#[derive(Debug)]
pub struct Query<T>(pub T);

/// `axum::extract::Path` with API errors.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<T, S> FromRequest<S> for Json<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state).await?;
        if value_has_nul(&value) {
            return Err(ApiError::bad_request(NUL_REFUSED));
        }
        serde_path_to_error::deserialize(value)
            .map(Json)
            .map_err(|e| {
                ApiError::bad_request(format!(
                    "Failed to deserialize the JSON body into the target type: {e}"
                ))
            })
    }
}

impl<T, S> FromRequestParts<S> for Query<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if parts.uri.query().is_some_and(encodes_nul) {
            return Err(ApiError::bad_request(NUL_REFUSED));
        }
        let axum::extract::Query(v) =
            axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Query(v))
    }
}

impl<T, S> FromRequestParts<S> for Path<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        if encodes_nul(parts.uri.path()) {
            return Err(ApiError::bad_request(NUL_REFUSED));
        }
        let axum::extract::Path(v) =
            axum::extract::Path::<T>::from_request_parts(parts, state).await?;
        Ok(Path(v))
    }
}

/// Whether percent-encoded text decodes to something holding NUL. A raw
/// NUL cannot appear in a URI, and every `%` starts an escape, so the
/// substring `%00` is exactly an encoded NUL (`%2500` is a literal "%00").
fn encodes_nul(raw: &str) -> bool {
    raw.contains("%00")
}

fn value_has_nul(v: &serde_json::Value) -> bool {
    use serde_json::Value;
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(value_has_nul),
        Value::Object(map) => map
            .iter()
            .any(|(k, v)| k.contains('\0') || value_has_nul(v)),
        Value::Null | Value::Bool(_) | Value::Number(_) => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn an_encoded_nul_is_found_and_a_literal_percent_is_not() {
        assert!(encodes_nul("camera_id=%00abc"));
        assert!(encodes_nul("a=%25%00"));
        assert!(!encodes_nul("camera_id=%2500"));
        assert!(!encodes_nul("camera_id=cam-1&page=100"));
    }

    #[test]
    fn nul_is_found_at_any_depth_of_a_json_body() {
        let nested: serde_json::Value =
            serde_json::from_str(r#"{"a":[1,{"b":"x\u0000y"}]}"#).unwrap();
        assert!(value_has_nul(&nested));
        let key: serde_json::Value = serde_json::from_str(r#"{"\u0000":1}"#).unwrap();
        assert!(value_has_nul(&key));
        let escaped: serde_json::Value = serde_json::from_str(r#"{"a":"\\u0000"}"#).unwrap();
        assert!(!value_has_nul(&escaped));
    }
}
