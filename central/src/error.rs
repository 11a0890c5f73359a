//! The API's one error type and its JSON shape (the planning document's):
//!
//! ```json
//! {"error": {"code": "NOT_FOUND", "message": "…", "status": 404,
//!            "timestamp": "2026-11-25T10:30:00Z", "path": "/api/v1/…",
//!            "details": {…}}}
//! ```
//!
//! Handlers return `ApiError`; a middleware adds the request path (handlers
//! need not know it). Internal errors are logged with their cause and
//! answered with a generic message: nothing about the database leaks.

use axum::Json;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{OriginalUri, Request};
use axum::http::{HeaderMap, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Serialize;

/// An error answer.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Option<serde_json::Value>,
    /// Extra response headers (e.g. `Retry-After`).
    pub headers: Vec<(&'static str, String)>,
    /// Seconds to wait before trying again (429 only).
    pub retry_after: Option<u64>,
}

/// The body, as documented in OpenAPI.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable code, e.g. `VALIDATION_FAILED`.
    pub code: String,
    pub message: String,
    pub status: u16,
    pub timestamp: chrono::DateTime<chrono::Utc>,
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub details: Option<serde_json::Value>,
    /// Seconds to wait before trying again (429 only; also `Retry-After`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
            details: None,
            headers: Vec::new(),
            retry_after: None,
        }
    }

    pub fn with_header(mut self, name: &'static str, value: String) -> Self {
        self.headers.push((name, value));
        self
    }

    pub fn with_details(mut self, details: serde_json::Value) -> Self {
        self.details = Some(details);
        self
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "VALIDATION_FAILED", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "UNAUTHORIZED", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "FORBIDDEN", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "NOT_FOUND", message)
    }

    /// 404 for an unknown camera, pointing at the list.
    pub fn camera_not_found(id: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "CAMERA_NOT_FOUND", format!("camera {id:?} not found"))
            .with_details(serde_json::json!({ "camera_id": id, "suggestion": "GET /api/v1/config/cameras lists the cameras" }))
    }

    /// 429 with `Retry-After` and `retry_after` in the body (whole
    /// seconds, at least 1).
    pub fn too_many_requests(wait: std::time::Duration) -> Self {
        let secs = (wait.as_secs_f64().ceil() as u64).max(1);
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMIT_EXCEEDED",
            "too many requests",
        )
        .with_header("retry-after", secs.to_string());
        e.retry_after = Some(secs);
        e
    }

    pub fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "CONFLICT", message)
    }

    pub fn unavailable(message: impl Into<String>) -> Self {
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "UNAVAILABLE", message)
    }

    /// A failure of ours: logged in full, answered in general terms.
    pub fn internal(context: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(context, error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "INTERNAL_ERROR",
            format!("{context} failed; the error is logged"),
        )
    }
}

impl From<tokio_postgres::Error> for ApiError {
    fn from(e: tokio_postgres::Error) -> Self {
        Self::internal("database query", e)
    }
}

impl From<deadpool_postgres::PoolError> for ApiError {
    fn from(e: deadpool_postgres::PoolError) -> Self {
        tracing::error!(error = %e, "database pool");
        Self::unavailable("the database is unavailable; try again shortly")
    }
}

impl From<JsonRejection> for ApiError {
    fn from(r: JsonRejection) -> Self {
        // Malformed JSON and JSON of the wrong shape are both the client's
        // bad request (axum says 422 for the latter; we keep one status for
        // every validation failure).
        match r.status() {
            StatusCode::PAYLOAD_TOO_LARGE => Self::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                "PAYLOAD_TOO_LARGE",
                r.body_text(),
            ),
            StatusCode::UNSUPPORTED_MEDIA_TYPE => Self::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "UNSUPPORTED_MEDIA_TYPE",
                r.body_text(),
            ),
            _ => Self::bad_request(r.body_text()),
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::bad_request(r.body_text())
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        Self::bad_request(r.body_text())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status;
        let mut res = (status, Json(serde_json::json!({}))).into_response();
        res.extensions_mut().insert(self);
        res
    }
}

/// Fills in the error body with the request path (and turns axum's own
/// plain-text errors, such as 405 and 413, into the same format).
pub async fn render_errors(OriginalUri(uri): OriginalUri, req: Request, next: Next) -> Response {
    let res = next.run(req).await;
    let status = res.status();
    let api_error = res.extensions().get::<ApiError>().cloned();
    let error = match api_error {
        Some(e) => e,
        None if status == StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            status,
            "METHOD_NOT_ALLOWED",
            "method not allowed on this resource",
        ),
        None if status == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::new(status, "PAYLOAD_TOO_LARGE", "request body too large")
        }
        None if status == StatusCode::UNSUPPORTED_MEDIA_TYPE => ApiError::new(
            status,
            "UNSUPPORTED_MEDIA_TYPE",
            "send JSON with Content-Type: application/json",
        ),
        // Any other plain-text client error (an extractor's rejection,
        // such as a multipart body without a boundary): its text, in our
        // format.
        None if status.is_client_error() && !is_json(&res) => {
            let (parts, body) = res.into_parts();
            let fallback = status.canonical_reason().unwrap_or("bad request");
            let message = match axum::body::to_bytes(body, 4096).await {
                Ok(b) if !b.trim_ascii().is_empty() => String::from_utf8_lossy(&b).into_owned(),
                // Empty, unreadable or over 4 KiB: the status's own name.
                Ok(_) | Err(_) => fallback.to_owned(),
            };
            let code = if status == StatusCode::BAD_REQUEST {
                "VALIDATION_FAILED"
            } else {
                "CLIENT_ERROR"
            };
            let error = ApiError::new(status, code, message);
            return rendered(&uri, error, &parts.headers);
        }
        None => return res,
    };
    rendered(&uri, error, res.headers())
}

fn is_json(res: &Response) -> bool {
    res.headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// The error answer, keeping `headers` the handler set (e.g.
/// `WWW-Authenticate`, `Retry-After`, the rate-limit headers).
fn rendered(uri: &axum::http::Uri, error: ApiError, headers: &HeaderMap) -> Response {
    let body = ErrorBody {
        error: ErrorDetail {
            code: error.code.to_owned(),
            message: error.message.clone(),
            status: error.status.as_u16(),
            timestamp: chrono::Utc::now(),
            path: uri.path().to_owned(),
            details: error.details.clone(),
            retry_after: error.retry_after,
        },
    };
    let mut out = (error.status, Json(body)).into_response();
    for (k, v) in headers {
        if k != axum::http::header::CONTENT_TYPE && k != axum::http::header::CONTENT_LENGTH {
            out.headers_mut().insert(k.clone(), v.clone());
        }
    }
    for (k, v) in &error.headers {
        if let Ok(v) = HeaderValue::from_str(v) {
            out.headers_mut().insert(*k, v);
        }
    }
    if error.status == StatusCode::UNAUTHORIZED {
        out.headers_mut().insert(
            axum::http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer"),
        );
    }
    out
}

/// 404 for unknown routes, in the error format.
pub async fn not_found() -> ApiError {
    ApiError::not_found("no such resource")
}
