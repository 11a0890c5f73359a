//! MQTT plumbing shared by the edge agent and central.
//!
//! Every Atrium MQTT connection is mutual TLS: the broker authenticates each
//! client by its certificate and uses the certificate's common name as the
//! user name in its ACL. This crate holds the three pieces both sides (and the
//! test harness) need to agree on: building a rustls client configuration
//! from PEM files, issuing certificates from a site CA, and writing the
//! broker ACL that confines each identity to its own topics.

pub mod acl;
pub mod broker;
pub mod pki;
pub mod tls;

pub use tls::{TlsError, TlsFiles};
