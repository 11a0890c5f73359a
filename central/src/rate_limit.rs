//! Request budgets, as the planning document lists them: per role per
//! minute for every signed-in caller (keyed by user, or by API key, so an
//! integration's key does not eat its owner's budget), per client address
//! before login, and tighter ones on a few endpoints (login per address
//! and per user name, creating persons, the event lists, report export).
//!
//! Each budget is governor's GCRA: a budget of `n` per window refills
//! continuously (one request every window/`n`), so `X-RateLimit-Reset` is
//! when the budget is whole again. Counters live in this process: several
//! central instances each grant the whole budget (docs/ref/api.md says
//! so); keeping them in PostgreSQL would cost a write per request.

use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::{Duration, Instant};

use atrium_clock::SharedClock;
use governor::clock::{Clock as _, ReasonablyRealtime};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};
use uuid::Uuid;

use crate::auth::Role;
pub use crate::config::RateLimitSection;

/// Governor reads the time through this, so the limiter follows the
/// process's [`atrium_clock::Clock`] (and a test's manual clock).
#[derive(Debug, Clone)]
pub struct GovernorClock(pub SharedClock);

impl governor::clock::Clock for GovernorClock {
    type Instant = Instant;

    fn now(&self) -> Instant {
        self.0.instant()
    }
}

impl ReasonablyRealtime for GovernorClock {}

/// A role's budget per minute.
pub fn per_minute(cfg: &RateLimitSection, role: Role) -> u32 {
    match role {
        Role::SuperAdmin => cfg.super_admin_per_minute,
        Role::Admin => cfg.admin_per_minute,
        Role::FacilityManager => cfg.facility_manager_per_minute,
        Role::SecurityOfficer => cfg.security_officer_per_minute,
        Role::Operator => cfg.operator_per_minute,
        Role::Viewer => cfg.viewer_per_minute,
    }
}

/// Whose budget a request spends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Who {
    User(Uuid),
    Key(Uuid),
    Addr(IpAddr),
}

/// One budget's answer for one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    pub limit: u32,
    pub remaining: u32,
    /// Until the budget is whole again.
    pub reset_after: Duration,
    /// Set when refused: how long until one request is allowed.
    pub retry_after: Option<Duration>,
}

type Keyed<K> = RateLimiter<K, DashMapStateStore<K>, GovernorClock, StateInformationMiddleware>;

/// One keyed budget of `limit` requests per `window`.
pub struct Budget<K: std::hash::Hash + Eq + Clone> {
    limiter: Keyed<K>,
    limit: u32,
    /// Time for one request's worth to come back.
    interval: Duration,
    clock: GovernorClock,
}

impl<K: std::hash::Hash + Eq + Clone> std::fmt::Debug for Budget<K> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Budget")
            .field("limit", &self.limit)
            .field("interval", &self.interval)
            .finish_non_exhaustive()
    }
}

impl<K: std::hash::Hash + Eq + Clone> Budget<K> {
    /// `limit` (at least 1) requests per `window`.
    pub fn new(limit: u32, window: Duration, clock: &SharedClock) -> Self {
        let n = NonZeroU32::new(limit).unwrap_or(NonZeroU32::MIN);
        let interval = window / n.get();
        // A zero window cannot come from the configuration (whole
        // minutes and hours only); fall back to a minute regardless.
        let quota = Quota::with_period(interval)
            .unwrap_or_else(|| Quota::per_minute(n))
            .allow_burst(n);
        let clock = GovernorClock(clock.clone());
        Self {
            limiter: RateLimiter::dashmap_with_clock(quota, clock.clone())
                .with_middleware::<StateInformationMiddleware>(),
            limit: n.get(),
            interval,
            clock,
        }
    }

    /// Spends one request of `key`'s budget, if there is one left.
    pub fn check(&self, key: &K) -> Verdict {
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                Verdict {
                    limit: self.limit,
                    remaining,
                    reset_after: self.interval * (self.limit - remaining.min(self.limit)),
                    retry_after: None,
                }
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(self.clock.now());
                Verdict {
                    limit: self.limit,
                    remaining: 0,
                    reset_after: wait + self.interval * self.limit.saturating_sub(1),
                    retry_after: Some(wait),
                }
            }
        }
    }

    /// Forgets keys whose budget is whole again.
    pub fn shrink(&self) {
        self.limiter.retain_recent();
    }
}

/// Which endpoint budget a request falls under.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Endpoint {
    Login,
    PersonsCreate,
    Events,
    ReportsExport,
}

impl Endpoint {
    /// The endpoint budget of `method path` (the full path), if any.
    pub fn of(method: &axum::http::Method, path: &str) -> Option<Self> {
        use axum::http::Method;
        let under = |prefix: &str| {
            path == prefix
                || path
                    .strip_prefix(prefix)
                    .is_some_and(|rest| rest.starts_with('/'))
        };
        if *method == Method::POST && path == "/api/v1/auth/login" {
            Some(Self::Login)
        } else if *method == Method::POST && path == "/api/v1/persons" {
            Some(Self::PersonsCreate)
        } else if under("/api/v1/events") {
            Some(Self::Events)
        } else if path
            .strip_prefix("/api/v1/reports/")
            .and_then(|rest| rest.strip_suffix("/export"))
            .is_some_and(|id| !id.is_empty() && !id.contains('/'))
        {
            Some(Self::ReportsExport)
        } else {
            None
        }
    }
}

/// Every budget of the API.
#[derive(Debug)]
pub struct RateLimits {
    pub enabled: bool,
    roles: Vec<(Role, Budget<Who>)>,
    anonymous: Budget<Who>,
    login: Budget<Who>,
    login_user: Budget<String>,
    persons_create: Budget<Who>,
    events: Budget<Who>,
    reports_export: Budget<Who>,
}

const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

impl RateLimits {
    pub fn new(cfg: &RateLimitSection, clock: &SharedClock) -> Self {
        Self {
            enabled: cfg.enabled,
            roles: Role::ALL
                .into_iter()
                .map(|r| (r, Budget::new(per_minute(cfg, r), MINUTE, clock)))
                .collect(),
            anonymous: Budget::new(cfg.anonymous_per_minute, MINUTE, clock),
            login: Budget::new(cfg.login_per_minute, MINUTE, clock),
            login_user: Budget::new(cfg.login_per_minute, MINUTE, clock),
            persons_create: Budget::new(cfg.persons_create_per_minute, MINUTE, clock),
            events: Budget::new(cfg.events_per_minute, MINUTE, clock),
            reports_export: Budget::new(cfg.reports_export_per_hour, HOUR, clock),
        }
    }

    /// Spends one request: the endpoint's budget first (a request it
    /// refuses spends nothing else), then the caller's. `role` is `None`
    /// for a caller without valid credentials. Returns the verdict to
    /// report: the refusing one, else the one with least left.
    pub fn check(&self, who: Who, role: Option<Role>, endpoint: Option<Endpoint>) -> Verdict {
        let endpoint_verdict = endpoint.map(|e| {
            let budget = match e {
                Endpoint::Login => &self.login,
                Endpoint::PersonsCreate => &self.persons_create,
                Endpoint::Events => &self.events,
                Endpoint::ReportsExport => &self.reports_export,
            };
            budget.check(&who)
        });
        if let Some(v) = endpoint_verdict
            && v.retry_after.is_some()
        {
            return v;
        }
        let caller = match role.and_then(|r| self.roles.iter().find(|(x, _)| *x == r)) {
            Some((_, budget)) => budget.check(&who),
            None => self.anonymous.check(&who),
        };
        match endpoint_verdict {
            Some(e) if caller.retry_after.is_none() && e.remaining < caller.remaining => e,
            _ => caller,
        }
    }

    /// The per-user-name login budget (the handler knows the name).
    pub fn check_login_user(&self, username: &str) -> Verdict {
        self.login_user.check(&username.to_lowercase())
    }

    /// Forgets idle keys (call now and then).
    pub fn shrink(&self) {
        for (_, b) in &self.roles {
            b.shrink();
        }
        for b in [
            &self.anonymous,
            &self.login,
            &self.persons_create,
            &self.events,
            &self.reports_export,
        ] {
            b.shrink();
        }
        self.login_user.shrink();
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    use atrium_clock::ManualClock;

    fn limits(clock: &ManualClock) -> RateLimits {
        RateLimits::new(&RateLimitSection::default(), &clock.shared())
    }

    #[test]
    fn a_budget_counts_down_refuses_at_zero_and_refills_over_its_window() {
        let clock = ManualClock::new(chrono::Utc::now());
        let b: Budget<u8> = Budget::new(5, MINUTE, &clock.shared());
        for left in (0..5).rev() {
            let v = b.check(&1);
            assert_eq!((v.limit, v.remaining, v.retry_after), (5, left, None));
            assert_eq!(v.reset_after, Duration::from_secs(12) * (5 - left));
        }
        let v = b.check(&1);
        assert_eq!(v.remaining, 0);
        let wait = v.retry_after.unwrap();
        assert!(
            wait > Duration::ZERO && wait <= Duration::from_secs(12),
            "{wait:?}"
        );
        assert!(
            b.check(&2).retry_after.is_none(),
            "another key has its own budget"
        );
        clock.advance(wait - Duration::from_millis(1));
        assert!(b.check(&1).retry_after.is_some(), "not before the wait");
        clock.advance(Duration::from_millis(1));
        assert!(b.check(&1).retry_after.is_none(), "one back after 12 s");
        clock.advance(MINUTE);
        assert_eq!(b.check(&1).remaining, 4, "whole again after a window");
    }

    #[test]
    fn roles_get_the_planning_documents_budgets() {
        let clock = ManualClock::new(chrono::Utc::now());
        let l = limits(&clock);
        let expect = [
            (Role::Viewer, 60),
            (Role::Operator, 100),
            (Role::Admin, 300),
            (Role::SuperAdmin, 1000),
            (Role::FacilityManager, 200),
            (Role::SecurityOfficer, 200),
        ];
        for (role, n) in expect {
            let v = l.check(Who::User(Uuid::now_v7()), Some(role), None);
            assert_eq!((v.limit, v.remaining), (n, n - 1), "{role:?}");
        }
        let v = l.check(Who::Addr([10, 0, 0, 1].into()), None, None);
        assert_eq!(v.limit, 60, "anonymous");
    }

    #[test]
    fn an_endpoint_budget_binds_first_and_a_refusal_there_spends_nothing_else() {
        let clock = ManualClock::new(chrono::Utc::now());
        let l = limits(&clock);
        let who = Who::User(Uuid::now_v7());
        let create = Some(Endpoint::PersonsCreate);
        for left in (0..10).rev() {
            let v = l.check(who, Some(Role::Admin), create);
            assert_eq!((v.limit, v.remaining), (10, left));
        }
        assert!(
            l.check(who, Some(Role::Admin), create)
                .retry_after
                .is_some()
        );
        // The role budget spent 10, not 11.
        let v = l.check(who, Some(Role::Admin), None);
        assert_eq!((v.limit, v.remaining), (300, 289));
    }

    #[test]
    fn endpoints_are_recognised_by_method_and_path() {
        use axum::http::Method;
        let of = Endpoint::of;
        assert_eq!(
            of(&Method::POST, "/api/v1/auth/login"),
            Some(Endpoint::Login)
        );
        assert_eq!(of(&Method::GET, "/api/v1/auth/login"), None);
        assert_eq!(
            of(&Method::POST, "/api/v1/persons"),
            Some(Endpoint::PersonsCreate)
        );
        assert_eq!(of(&Method::POST, "/api/v1/persons/x/photos"), None);
        assert_eq!(of(&Method::GET, "/api/v1/events"), Some(Endpoint::Events));
        assert_eq!(
            of(&Method::GET, "/api/v1/events/recognition"),
            Some(Endpoint::Events)
        );
        assert_eq!(of(&Method::GET, "/api/v1/eventsx"), None);
        assert_eq!(
            of(
                &Method::GET,
                "/api/v1/reports/7d0c1a54-2b7e-4c1a-9f31-0a1b2c3d4e5f/export"
            ),
            Some(Endpoint::ReportsExport)
        );
    }

    #[test]
    fn login_is_limited_per_user_name_whatever_its_case() {
        let clock = ManualClock::new(chrono::Utc::now());
        let l = limits(&clock);
        for _ in 0..5 {
            assert!(l.check_login_user("alice").retry_after.is_none());
        }
        assert!(l.check_login_user("Alice").retry_after.is_some());
        assert!(l.check_login_user("bob").retry_after.is_none());
    }
}
