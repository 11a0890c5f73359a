//! The permission strings and which role holds which: one static table,
//! the same one `docs/ref/api.md` shows. Handlers name the permission they
//! need in their signature (`Can<perm::PersonsRead>`), and their OpenAPI
//! entry carries it as the bearer scope; `central/tests/access.rs` checks
//! every route against this table for every role.
//!
//! Permissions for features still to come (reports, energy, systems,
//! alerts, audit, API keys) are in the table already, so roles are defined
//! once and a new feature only picks its permission.

use super::Role;

/// Declares the permissions once: the enum, its spellings, `ALL`, and one
/// marker type per permission (in [`perm`]).
macro_rules! permissions {
    ($($(#[$doc:meta])* $name:ident = $text:literal,)*) => {
        /// What a caller may do.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
        pub enum Permission {
            $($(#[$doc])* #[serde(rename = $text)] $name,)*
        }

        impl Permission {
            pub const ALL: &'static [Self] = &[$(Self::$name,)*];

            /// The permission string, e.g. `persons:read`.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$name => $text,)*
                }
            }
        }

        /// One marker type per permission, for `Can<perm::X>`.
        pub mod perm {
            use super::{Permission, Requires};
            $(
                #[doc = concat!("Requires `", $text, "`.")]
                #[derive(Debug, Clone, Copy)]
                pub struct $name;
                impl Requires for $name {
                    const PERMISSION: Permission = Permission::$name;
                }
            )*
        }
    };
}

permissions! {
    PersonsCreate = "persons:create",
    /// Persons, photos and recognitions (personal data).
    PersonsRead = "persons:read",
    /// Edit a person, enrol or remove photos, reject a recognition.
    PersonsUpdate = "persons:update",
    /// Erase a person.
    PersonsDelete = "persons:delete",
    EventsRead = "events:read",
    ReportsRead = "reports:read",
    ReportsExport = "reports:export",
    ConfigRead = "config:read",
    ConfigWrite = "config:write",
    UsersRead = "users:read",
    UsersWrite = "users:write",
    EnergyRead = "energy:read",
    EnergyWrite = "energy:write",
    SystemsRead = "systems:read",
    AlertsRead = "alerts:read",
    AlertsAck = "alerts:ack",
    AlertsWrite = "alerts:write",
    AuditRead = "audit:read",
    ApikeysWrite = "apikeys:write",
}

use Permission::*;

impl Permission {
    /// The permission spelled `s`, if any.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|p| p.as_str() == s)
    }
}

/// Read-only access without personal data: what every role holds.
const READ: &[Permission] = &[
    EventsRead,
    ConfigRead,
    ReportsRead,
    EnergyRead,
    SystemsRead,
    AlertsRead,
];

impl Role {
    pub const ALL: [Self; 6] = [
        Role::SuperAdmin,
        Role::Admin,
        Role::FacilityManager,
        Role::SecurityOfficer,
        Role::Operator,
        Role::Viewer,
    ];

    /// What the role holds beyond [`READ`].
    fn extra(self) -> &'static [Permission] {
        match self {
            // Administrators hold everything; what an admin may not do to
            // a super_admin is a rule of the users endpoints, not a
            // permission.
            Role::SuperAdmin | Role::Admin => Permission::ALL,
            // Energy, equipment, reports.
            Role::FacilityManager => &[
                EnergyWrite,
                ReportsExport,
                AlertsAck,
                AlertsWrite,
                ApikeysWrite,
            ],
            // Face recognition and access control: personal data.
            Role::SecurityOfficer => &[
                PersonsCreate,
                PersonsRead,
                PersonsUpdate,
                PersonsDelete,
                ReportsExport,
                AlertsAck,
                ApikeysWrite,
            ],
            // Watches the dashboards and acknowledges alerts.
            Role::Operator => &[AlertsAck],
            Role::Viewer => &[],
        }
    }

    /// Whether this role holds `p`.
    pub fn allows(self, p: Permission) -> bool {
        READ.contains(&p) || self.extra().contains(&p)
    }

    /// Every permission the role holds, in [`Permission::ALL`] order.
    pub fn permissions(self) -> Vec<Permission> {
        Permission::ALL
            .iter()
            .copied()
            .filter(|p| self.allows(*p))
            .collect()
    }
}

/// A permission as a type, so a handler's signature names what it needs
/// (`Can<perm::EventsRead>`).
pub trait Requires {
    const PERMISSION: Permission;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_permission_spells_itself_and_parses_back() {
        for &p in Permission::ALL {
            assert_eq!(Permission::parse(p.as_str()), Some(p));
            assert_eq!(
                serde_json::to_value(p).ok(),
                Some(serde_json::Value::from(p.as_str()))
            );
        }
        assert_eq!(Permission::parse("persons:write"), None);
    }

    #[test]
    fn only_administrators_write_configuration_and_manage_users() {
        for r in Role::ALL {
            let admin = matches!(r, Role::SuperAdmin | Role::Admin);
            for p in [ConfigWrite, UsersRead, UsersWrite, AuditRead] {
                assert_eq!(r.allows(p), admin, "{r:?} {p:?}");
            }
            assert!(r.allows(EventsRead), "{r:?}");
        }
    }

    #[test]
    fn only_administrators_and_security_officers_see_personal_data() {
        for r in Role::ALL {
            let may = matches!(r, Role::SuperAdmin | Role::Admin | Role::SecurityOfficer);
            for p in [PersonsCreate, PersonsRead, PersonsUpdate, PersonsDelete] {
                assert_eq!(r.allows(p), may, "{r:?} {p:?}");
            }
        }
    }

    #[test]
    fn a_viewer_only_reads() {
        let held = Role::Viewer.permissions();
        assert!(!held.is_empty());
        for p in held {
            assert!(
                p.as_str().ends_with(":read") && p != PersonsRead,
                "viewer holds {p:?}"
            );
        }
    }
}
