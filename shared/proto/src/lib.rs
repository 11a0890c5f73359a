//! The wire contract between edge agents, IoT devices and central.
//!
//! Everything that crosses a process boundary is defined here once, so the
//! edge and central cannot drift apart: identifiers (validated, because they
//! become MQTT topic levels and certificate names) and topic names.

pub mod ids;
pub mod topic;

pub use ids::{CameraId, DeviceId, IdError, SiteId};
