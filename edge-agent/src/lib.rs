//! The edge agent as a library, so integration tests drive the same stages
//! the binary runs. One module per pipeline stage, in pipeline order; pure
//! cores (`track`, `analytics`, `adaptive`, `spool`'s format) have no I/O.

pub mod adaptive;
pub mod analytics;
pub mod config;
pub mod decode;
pub mod detect;
pub mod events;
pub mod face;
pub mod frames;
pub mod http;
pub mod internal_events;
pub mod media;
pub mod metrics;
pub mod outbox;
pub mod pipeline;
pub mod publish;
pub mod relay;
pub mod replay;
pub mod source;
pub mod spool_sync;
pub mod state;
pub mod sysload;
pub mod track;
