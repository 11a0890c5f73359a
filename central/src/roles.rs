//! The six roles of the planning document. They sit at the bottom of the
//! crate so the store (which keeps users' roles) and the rest can both
//! name them; what each role may do is `auth::permissions`.

use serde::{Deserialize, Serialize};

/// The six roles of the planning document.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema, clap::ValueEnum,
)]
#[serde(rename_all = "snake_case")]
#[value(rename_all = "snake_case")]
pub enum Role {
    SuperAdmin,
    Admin,
    FacilityManager,
    SecurityOfficer,
    Operator,
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SuperAdmin => "super_admin",
            Self::Admin => "admin",
            Self::FacilityManager => "facility_manager",
            Self::SecurityOfficer => "security_officer",
            Self::Operator => "operator",
            Self::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }
}
