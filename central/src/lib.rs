//! Central as a library, so integration tests run the same code as the
//! binary.
//!
//! Modules depend downwards only, in this order (docs/architecture.md):
//! `server` → `routes` → the HTTP surfaces (`api`, `ws`, `ui`) →
//! `front_door` → `caller` → `app` → everything below it (`rate_limit`,
//! `auth`, `media`, `ingest`, `recognize`,
//! `live`, `retention`, `store`, `metrics`, `config`, `roles`, `http`,
//! `error`).

pub mod alert_record;
pub mod alert_watch;
pub mod alerts;
pub mod api;
pub mod app;
pub mod auth;
pub mod caller;
pub mod config;
pub mod counting_view;
pub mod device_watch;
pub mod energy;
pub mod energy_view;
pub mod energy_watch;
pub mod error;
pub mod front_door;
pub mod http;
pub mod ingest;
pub mod internal_events;
pub mod live;
pub mod media;
pub mod metrics;
pub mod notify;
pub mod rate_limit;
pub mod recognize;
pub mod report_schedule;
pub mod reports;
pub mod retention;
pub mod roles;
pub mod routes;
pub mod server;
pub mod store;
pub mod systems;
pub mod ui;
pub mod vitals;
pub mod ws;
