//! Central as a library, so integration tests run the same code as the
//! binary.

pub mod api;
pub mod auth;
pub mod config;
pub mod ingest;
pub mod live;
pub mod metrics;
pub mod recognize;
pub mod retention;
pub mod server;
pub mod store;
pub mod ui;
pub mod ws;
