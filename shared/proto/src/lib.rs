//! The wire contract between edge agents, IoT devices and central.
//!
//! Everything that crosses a process boundary is defined here once, so the
//! edge and central cannot drift apart: identifiers (validated, because they
//! become MQTT topic levels and certificate names), topic names, event
//! payloads, the retained status, the camera configuration central
//! pushes to the edge, camera pictures ([`media`]) and the building
//! systems' payloads ([`iot`]). Reference: docs/ref/mqtt.md.

pub mod config;
pub mod event;
pub mod ids;
pub mod iot;
pub mod limits;
pub mod media;
pub mod status;
pub mod topic;
pub mod validate;
pub mod validate_device;

pub use config::{CameraConfig, LineConfig, Side, ZoneConfig};
pub use event::{CameraState, Direction, Event, EventBody, SCHEMA_VERSION, WireEmbedding};
pub use ids::{CameraId, CentralId, DeviceId, IdError, SiteId};
pub use status::Status;
