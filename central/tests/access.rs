//! Every route against every role: the route × role matrix generated from
//! the OpenAPI document (each operation's bearer scope is the permission
//! it declares) and the role table of docs/ref/api.md, copied here by hand
//! as the oracle. A route without a declared permission fails the test.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::collections::{BTreeMap, BTreeSet};

use support::{Api, Stack, machine_of};

/// docs/ref/api.md, "Roles and permissions".
fn table() -> BTreeMap<&'static str, BTreeSet<&'static str>> {
    let read = [
        "events:read",
        "config:read",
        "reports:read",
        "energy:read",
        "systems:read",
        "alerts:read",
    ];
    let all = [
        "persons:create",
        "persons:read",
        "persons:update",
        "persons:delete",
        "events:read",
        "reports:read",
        "reports:export",
        "config:read",
        "config:write",
        "users:read",
        "users:write",
        "energy:read",
        "energy:write",
        "systems:read",
        "alerts:read",
        "alerts:ack",
        "alerts:write",
        "audit:read",
        "apikeys:write",
    ];
    let with = |extra: &[&'static str]| -> BTreeSet<&'static str> {
        read.iter().chain(extra).copied().collect()
    };
    BTreeMap::from([
        ("super_admin", all.into_iter().collect()),
        ("admin", all.into_iter().collect()),
        (
            "facility_manager",
            with(&[
                "energy:write",
                "reports:export",
                "alerts:ack",
                "alerts:write",
                "apikeys:write",
            ]),
        ),
        (
            "security_officer",
            with(&[
                "persons:create",
                "persons:read",
                "persons:update",
                "persons:delete",
                "reports:export",
                "alerts:ack",
                "apikeys:write",
            ]),
        ),
        ("operator", with(&["alerts:ack"])),
        ("viewer", with(&[])),
    ])
}

/// Routes any signed-in user may call (no permission beyond identity).
const IDENTITY_ONLY: &[&str] = &["GET /api/v1/auth/me", "POST /api/v1/auth/password"];

/// A concrete path for a templated one (ids that exist nowhere: the
/// request reaches the permission check and then fails on its own).
fn concrete(path: &str) -> String {
    path.split('/')
        .map(|seg| {
            if seg.starts_with('{') {
                if ["person", "photo", "recognition", "user", "key"]
                    .iter()
                    .any(|k| seg.contains(k))
                {
                    "0193a1b2-0000-7000-8000-000000000001"
                } else {
                    "nothing-here"
                }
            } else {
                seg
            }
        })
        .collect::<Vec<_>>()
        .join("/")
}

#[tokio::test]
async fn every_route_declares_a_permission_and_each_role_gets_exactly_its_table() {
    let stack = Stack::start().await;
    let running = stack.central("access", "").await;
    let api = Api::new(&running);
    let table = table();
    // Every route is asked once per role, which is more requests than a
    // viewer's budget (60 a minute, the operators' setting) allows one
    // user: each role's requests are spread over USERS users of it, and
    // the anonymous ones over one client address per route.
    const USERS: usize = 3;
    let mut users: BTreeMap<&str, Vec<String>> = BTreeMap::new();
    for role in table.keys() {
        for i in 0..USERS {
            let name = format!("user-{role}-{i}");
            let pw = stack.add_user(&name, role).await;
            users
                .entry(*role)
                .or_default()
                .push(api.token(&name, &pw).await);
        }
    }
    let tokens: BTreeMap<&str, &String> = users.iter().map(|(r, t)| (*r, &t[0])).collect();
    // The roles' permissions as /auth/me reports them equal the table.
    for (role, token) in &tokens {
        let (s, me) = api.get("/api/v1/auth/me", token).await;
        assert_eq!(s, 200);
        let got: BTreeSet<&str> = me["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_str().unwrap())
            .collect();
        assert_eq!(got, table[role], "/auth/me of {role}");
    }
    let (s, doc) = api.get("/api/v1/openapi.json", "").await;
    assert_eq!(s, 200);
    let mut cells = 0;
    let mut route = 0usize;
    let mut failures = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        if !path.starts_with("/api/v1/") {
            continue;
        }
        for (method, op) in item.as_object().unwrap() {
            let key = format!("{} {path}", method.to_uppercase());
            let Some(security) = op.get("security").and_then(|s| s.as_array()) else {
                // Public: only the token endpoints.
                assert!(
                    [
                        "/api/v1/auth/login",
                        "/api/v1/auth/refresh",
                        "/api/v1/auth/logout"
                    ]
                    .contains(&path.as_str()),
                    "{key} declares no security at all"
                );
                continue;
            };
            let scopes: Vec<&str> = security
                .iter()
                .filter_map(|s| s["bearer"].as_array())
                .flatten()
                .filter_map(|s| s.as_str())
                .collect();
            let permission = match scopes.as_slice() {
                [p] => Some(*p),
                [] if IDENTITY_ONLY.contains(&key.as_str()) => None,
                other => panic!("{key} must declare exactly one permission, declares {other:?}"),
            };
            if let Some(p) = permission {
                assert!(
                    table["super_admin"].contains(p),
                    "{key} declares {p:?}, which is not in the permission table"
                );
            }
            let url = api.url(&concrete(path));
            let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let body = serde_json::json!({});
            // Without credentials: 401.
            route += 1;
            let s = machine_of(&key)
                .request(m.clone(), &url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16();
            if s != 401 {
                failures.push(format!("{key} without credentials: {s}, expected 401"));
            }
            for (role, spread) in &users {
                let token = &spread[route % USERS];
                cells += 1;
                let allowed = permission.is_none_or(|p| table[role].contains(p));
                let s = api
                    .http
                    .request(m.clone(), &url)
                    .bearer_auth(token)
                    .json(&body)
                    .send()
                    .await
                    .unwrap()
                    .status()
                    .as_u16();
                let ok = if allowed {
                    s != 401 && s != 403 && s < 500
                } else {
                    s == 403
                };
                if !ok {
                    failures.push(format!(
                        "{key} as {role}: {s}, expected {}",
                        if allowed {
                            "neither 401, 403 nor 5xx"
                        } else {
                            "403"
                        }
                    ));
                }
            }
        }
    }
    println!("route × role matrix: {cells} cells");
    assert!(
        cells >= 6 * 25,
        "only {cells} cells: routes missing from the document?"
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
