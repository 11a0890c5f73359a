//! What every `/api/v1` request passes before its handler, in this order:
//! `caller::identify` (who is calling; cross-site writes refused), the
//! rate limiter ([`rate_limit`]), the audit of writes ([`audit`]); and,
//! around the whole application, the browser rules ([`browser`]: CORS
//! from an allow-list, `nosniff`, `Referrer-Policy`). Kept in one place
//! so the order is visible and each step stays a small function.

pub mod audit;
pub mod browser;
pub mod rate_limit;
