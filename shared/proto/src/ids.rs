//! Identifiers for sites, cameras and IoT devices.
//!
//! An identifier becomes an MQTT topic level, the common name of a client
//! certificate (which Mosquitto uses as the user name in ACL patterns) and a
//! database key, so the allowed alphabet is deliberately narrow: lower-case
//! ASCII letters, digits, `-` and `_`, starting with a letter or digit, at
//! most 64 bytes. That rules out the MQTT wildcards `+` and `#`, the level
//! separator `/`, and anything a shell or a URL would need to escape.
//!
//! Camera and device ids are also broker identities, so they may not take
//! the names reserved for central instances (`central`, `central-…`,
//! `central_…`): the broker ACL grants those names central's rights, and a
//! camera certificate must never carry them.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize};

/// Longest identifier accepted, in bytes.
pub const MAX_ID_LEN: usize = 64;

/// Why a string is not a valid identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdError {
    #[error("{kind} id is empty")]
    Empty { kind: &'static str },
    #[error("{kind} id {value:?} is longer than {MAX_ID_LEN} bytes")]
    TooLong { kind: &'static str, value: String },
    #[error(
        "{kind} id {value:?} is reserved: `central` and names starting with `central-` or `central_` identify central instances to the broker"
    )]
    Reserved { kind: &'static str, value: String },
    #[error(
        "{value:?} is not a central identity: central instances are named `central`, `central-…` or `central_…`"
    )]
    NotCentral { value: String },
    #[error(
        "{kind} id {value:?} has {found:?} at byte {at}: use lower-case letters, digits, '-' and '_' (starting with a letter or digit)"
    )]
    BadChar {
        kind: &'static str,
        value: String,
        found: char,
        at: usize,
    },
}

fn validate(kind: &'static str, value: &str) -> Result<(), IdError> {
    if value.is_empty() {
        return Err(IdError::Empty { kind });
    }
    if value.len() > MAX_ID_LEN {
        return Err(IdError::TooLong {
            kind,
            value: value.to_owned(),
        });
    }
    for (at, c) in value.char_indices() {
        let ok = c.is_ascii_lowercase() || c.is_ascii_digit() || (at > 0 && (c == '-' || c == '_'));
        if !ok {
            return Err(IdError::BadChar {
                kind,
                value: value.to_owned(),
                found: c,
                at,
            });
        }
    }
    Ok(())
}

/// Whether `value` is a name reserved for central instances.
pub fn is_reserved(value: &str) -> bool {
    value == "central" || value.starts_with("central-") || value.starts_with("central_")
}

fn validate_identity(kind: &'static str, value: &str) -> Result<(), IdError> {
    validate(kind, value)?;
    if is_reserved(value) {
        return Err(IdError::Reserved {
            kind,
            value: value.to_owned(),
        });
    }
    Ok(())
}

fn validate_central(kind: &'static str, value: &str) -> Result<(), IdError> {
    validate(kind, value)?;
    if !is_reserved(value) {
        return Err(IdError::NotCentral {
            value: value.to_owned(),
        });
    }
    Ok(())
}

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident, $kind:literal, $check:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self, IdError> {
                let value = value.into();
                $check($kind, &value)?;
                Ok(Self(value))
            }

            /// The identifier as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl FromStr for $name {
            type Err = IdError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::new(s)
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let s = String::deserialize(d)?;
                Self::new(s).map_err(serde::de::Error::custom)
            }
        }
    };
}

id_type!(
    /// A site (building or campus); the first level under `atrium/v1/`.
    SiteId,
    "site",
    validate
);
id_type!(
    /// A camera, unique across the whole installation; also the common name
    /// of the edge agent's client certificate.
    CameraId,
    "camera",
    validate_identity
);
id_type!(
    /// An IoT device (meter, lift controller, fire panel…), unique across the
    /// installation; also the common name of its client certificate.
    DeviceId,
    "device",
    validate_identity
);
id_type!(
    /// A central instance's broker identity: `central`, or `central-N` /
    /// `central_N` for further instances. The ACL gives these names read
    /// access to every camera and device topic.
    CentralId,
    "central",
    validate_central
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_plain_identifiers() {
        for ok in ["lobby", "cam-01", "b2_floor3", "7", &"a".repeat(MAX_ID_LEN)] {
            assert!(CameraId::new(ok).is_ok(), "{ok} should be accepted");
        }
    }

    #[test]
    fn rejects_topic_wildcards_separators_and_case() {
        for bad in [
            "",
            "a/b",
            "a+b",
            "#",
            "Lobby",
            "-x",
            "_x",
            "caf\u{e9}",
            "a b",
        ] {
            assert!(CameraId::new(bad).is_err(), "{bad:?} should be rejected");
        }
        assert!(matches!(
            SiteId::new("a".repeat(MAX_ID_LEN + 1)),
            Err(IdError::TooLong { .. })
        ));
    }

    #[test]
    fn central_names_are_reserved_for_central_instances() {
        for reserved in ["central", "central-2", "central_b"] {
            assert!(
                matches!(CameraId::new(reserved), Err(IdError::Reserved { .. })),
                "{reserved}"
            );
            assert!(DeviceId::new(reserved).is_err(), "{reserved}");
            assert!(CentralId::new(reserved).is_ok(), "{reserved}");
        }
        // Only the exact name and the two prefixes are reserved.
        for camera in ["centralhall", "lobby-central", "centra"] {
            assert!(CameraId::new(camera).is_ok(), "{camera}");
            assert!(
                matches!(CentralId::new(camera), Err(IdError::NotCentral { .. })),
                "{camera}"
            );
        }
        assert!(SiteId::new("central").is_ok(), "sites are not identities");
        let err = CameraId::new("central").unwrap_err().to_string();
        assert!(err.contains("reserved"), "{err}");
    }

    #[test]
    fn error_names_the_kind_and_the_offending_character() {
        let err = CameraId::new("cam/1").unwrap_err().to_string();
        assert!(err.contains("camera id"), "{err}");
        assert!(err.contains("'/'"), "{err}");
    }

    #[test]
    fn deserialisation_validates() {
        let ok: CameraId = serde_json::from_str("\"cam-1\"").unwrap();
        assert_eq!(ok.as_str(), "cam-1");
        assert!(serde_json::from_str::<CameraId>("\"cam#1\"").is_err());
    }
}
