//! The API's front door: rate limits (with a manual clock: budgets count
//! down, 429 at the limit, the window refills), API keys (scopes, site
//! restriction, expiry, revocation, malformed keys; never stored or logged
//! in clear), users (the super_admin rules; a role change closes the
//! user's WebSockets and refuses their next request), the audit log, and
//! the browser rules (headers, CORS allow-list).

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use atrium_clock::{Clock, ManualClock};
use futures::StreamExt;
use reqwest::Method;
use support::{Api, Stack, assert_error, machine_of};
use tokio_tungstenite::tungstenite::Message;

fn header(r: &reqwest::Response, name: &str) -> i64 {
    r.headers()
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
        .parse()
        .unwrap()
}

/// The wall time the manual clock starts at (whole seconds, so reset
/// times are exact).
fn start_time() -> chrono::DateTime<chrono::Utc> {
    let now = chrono::Utc::now().timestamp();
    chrono::DateTime::from_timestamp(now, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn budgets_count_down_refuse_at_the_limit_and_refill_with_the_clock() {
    let stack = Stack::start().await;
    let viewer_pw = stack.add_user("vera", "viewer").await;
    let officer_pw = stack.add_user("sam", "security_officer").await;
    let clock = ManualClock::new(start_time());
    let t0 = clock.now().timestamp();
    let running = stack
        .start_central_with_clock(stack.config("central", ""), clock.shared())
        .await;
    let api = Api::new(&running);
    let viewer = api.token("vera", &viewer_pw).await;

    // The viewer's 60 a minute: the headers count down on every answer.
    for i in 0..60 {
        let r = api
            .http
            .get(api.url("/api/v1/config/cameras"))
            .bearer_auth(&viewer)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "request {i}");
        assert_eq!(header(&r, "x-ratelimit-limit"), 60);
        assert_eq!(header(&r, "x-ratelimit-remaining"), 59 - i);
        // One request comes back every second: whole after i + 1 seconds.
        assert_eq!(header(&r, "x-ratelimit-reset"), t0 + i + 1);
    }
    let refused = api
        .http
        .get(api.url("/api/v1/auth/me"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 429);
    assert_eq!(header(&refused, "retry-after"), 1);
    assert_eq!(header(&refused, "x-ratelimit-remaining"), 0);
    let body: serde_json::Value = refused.json().await.unwrap();
    assert_error(&body, 429, "RATE_LIMIT_EXCEEDED", "/api/v1/auth/me");
    assert_eq!(body["error"]["retry_after"], 1);

    // A second later one request is back; a minute later all of them.
    clock.advance(Duration::from_secs(1));
    let (s, _) = api.get("/api/v1/auth/me", &viewer).await;
    assert_eq!(s, 200);
    let (s, _) = api.get("/api/v1/auth/me", &viewer).await;
    assert_eq!(s, 429);
    clock.advance(Duration::from_secs(60));
    let r = api
        .http
        .get(api.url("/api/v1/auth/me"))
        .bearer_auth(&viewer)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(header(&r, "x-ratelimit-remaining"), 59);

    // POST /persons: 10 a minute, tighter than the officer's 200.
    let officer = api.token("sam", &officer_pw).await;
    for i in 0..10 {
        let r = api
            .http
            .post(api.url("/api/v1/persons"))
            .bearer_auth(&officer)
            .json(&serde_json::json!({"name": format!("Person {i}"), "category": "visitor"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 201, "person {i}");
        assert_eq!(header(&r, "x-ratelimit-limit"), 10);
        assert_eq!(header(&r, "x-ratelimit-remaining"), 9 - i);
    }
    let (s, body) = api
        .send(
            Method::POST,
            "/api/v1/persons",
            &officer,
            serde_json::json!({"name": "One too many", "category": "visitor"}),
        )
        .await;
    assert_eq!(s, 429, "{body}");
    let (s, _) = api.get("/api/v1/persons", &officer).await;
    assert_eq!(s, 200, "reading persons has no such budget");
    assert_eq!(
        stack
            .count("SELECT count(*) FROM persons WHERE name = 'One too many'")
            .await,
        0,
        "a refused request does nothing"
    );

    // Before login: 60 a minute per address, whatever is asked.
    let anonymous = machine_of("a passer-by");
    for i in 0..60 {
        let r = anonymous
            .get(api.url("/api/v1/auth/me"))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "anonymous request {i}");
        assert_eq!(header(&r, "x-ratelimit-limit"), 60);
    }
    let r = anonymous
        .get(api.url("/api/v1/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);

    // Login: 5 a minute per address, whichever user names are tried.
    let guesser = machine_of("a guesser");
    for i in 0..5 {
        let r = guesser
            .post(api.url("/api/v1/auth/login"))
            .json(
                &serde_json::json!({"username": format!("guess{i}"), "password": "not it at all"}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "guess {i}");
        assert_eq!(header(&r, "x-ratelimit-limit"), 5);
    }
    let r = guesser
        .post(api.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "vera", "password": viewer_pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429, "even the right password waits");
    running.shutdown().await;
}

/// Log lines, captured for the whole test process.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

async fn create_key(api: &Api, token: &str, body: serde_json::Value) -> (u16, serde_json::Value) {
    api.send(Method::POST, "/api/v1/api-keys", token, body)
        .await
}

async fn with_key(api: &Api, path: &str, key: &str, bearer: bool) -> u16 {
    let req = api.http.get(api.url(path));
    let req = if bearer {
        req.bearer_auth(key)
    } else {
        req.header("x-api-key", key)
    };
    req.send().await.unwrap().status().as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_keys_act_within_their_scope_site_and_lifetime_and_stay_secret() {
    let logs = Captured::default();
    let sink = logs.clone();
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || sink.clone())
        .try_init()
        .unwrap();
    let stack = Stack::start().await;
    stack.add_camera("cam-1").await;
    let fm_pw = stack.add_user("fiona", "facility_manager").await;
    let admin_pw = stack.add_user("adam", "admin").await;
    let viewer_pw = stack.add_user("val", "viewer").await;
    let clock = ManualClock::new(start_time());
    let running = stack
        .start_central_with_clock(stack.config("central", ""), clock.shared())
        .await;
    let api = Api::new(&running);
    let fm = api.token("fiona", &fm_pw).await;
    let admin = api.token("adam", &admin_pw).await;
    let viewer = api.token("val", &viewer_pw).await;

    // A key for events only, in both header forms.
    let (s, made) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "BMS feed", "permissions": ["events:read"]}),
    )
    .await;
    assert_eq!(s, 201, "{made}");
    let key = made["key"].as_str().unwrap().to_owned();
    let prefix = made["api_key"]["prefix"].as_str().unwrap();
    assert!(key.starts_with(&format!("atr_{prefix}_")), "{key}");
    assert_eq!(
        made["api_key"]["permissions"],
        serde_json::json!(["events:read"])
    );
    assert!(made["api_key"]["last_used_at"].is_null());
    for bearer in [true, false] {
        assert_eq!(with_key(&api, "/api/v1/events", &key, bearer).await, 200);
        // The owner may read configuration; this key may not.
        assert_eq!(
            with_key(&api, "/api/v1/config/cameras", &key, bearer).await,
            403
        );
    }
    let (_, me) = api.get("/api/v1/auth/me", &key).await;
    assert_eq!(me["username"], "fiona");
    assert_eq!(me["permissions"], serde_json::json!(["events:read"]));
    let (s, listed) = api.get("/api/v1/api-keys", &fm).await;
    assert_eq!(s, 200);
    assert_eq!(listed["meta"]["total"], 1, "{listed}");
    assert!(
        listed["data"][0]["last_used_at"].is_string(),
        "last use recorded: {listed}"
    );
    assert!(
        !listed.to_string().contains(&key[12..]),
        "the secret is never listed"
    );

    // A key never makes keys, even one holding apikeys:write.
    let (s, minting) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "minter", "permissions": ["apikeys:write"]}),
    )
    .await;
    assert_eq!(s, 201, "{minting}");
    let (s, body) = create_key(
        &api,
        minting["key"].as_str().unwrap(),
        serde_json::json!({"name": "offspring"}),
    )
    .await;
    assert_eq!(s, 403, "{body}");
    assert_eq!(
        body["error"]["message"],
        "an API key cannot create API keys"
    );
    // Nothing beyond the owner: the facility manager holds no persons:read.
    let (s, body) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "too much", "permissions": ["persons:read"]}),
    )
    .await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "typo", "permissions": ["events:reed"]}),
    )
    .await;
    assert_eq!(s, 400);
    // A viewer holds no apikeys:write at all.
    let (s, _) = create_key(&api, &viewer, serde_json::json!({"name": "mine"})).await;
    assert_eq!(s, 403);
    // Only users:write manages someone else's keys.
    let (_, fm_me) = api.get("/api/v1/auth/me", &fm).await;
    let (_, admin_me) = api.get("/api/v1/auth/me", &admin).await;
    let (s, _) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "for adam", "user_id": admin_me["id"], "permissions": ["events:read"]}),
    )
    .await;
    assert_eq!(s, 403, "someone else's key needs users:write");
    let (s, _) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "bad owner", "user_id": "not-a-uuid"}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, for_fm) = create_key(
        &api,
        &admin,
        serde_json::json!({"name": "made by the admin", "user_id": fm_me["id"], "permissions": ["energy:read"]}),
    )
    .await;
    assert_eq!(s, 201, "{for_fm}");
    assert_eq!(for_fm["api_key"]["username"], "fiona");

    // Site restriction: its site's data only, and only where data is per site.
    let (s, sited) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "HQ only", "site_id": "hq", "permissions": ["events:read", "config:read"]}),
    )
    .await;
    assert_eq!(s, 201, "{sited}");
    let sited = sited["key"].as_str().unwrap().to_owned();
    assert_eq!(
        with_key(&api, "/api/v1/events?site_id=hq", &sited, false).await,
        200
    );
    assert_eq!(
        with_key(&api, "/api/v1/config/cameras", &sited, false).await,
        200
    );
    assert_eq!(
        with_key(&api, "/api/v1/events?site_id=elsewhere", &sited, false).await,
        403
    );
    assert_eq!(
        with_key(&api, "/api/v1/config/cameras/cam-1", &sited, false).await,
        403,
        "a route without a site filter"
    );
    let (s, _) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "nowhere", "site_id": "atlantis"}),
    )
    .await;
    assert_eq!(s, 400);

    // Expiry, by the clock central reads.
    let expires = clock.now() + chrono::Duration::hours(1);
    let (s, expiring) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "short", "expires_at": expires, "permissions": ["events:read"]}),
    )
    .await;
    assert_eq!(s, 201, "{expiring}");
    let expiring = expiring["key"].as_str().unwrap().to_owned();
    assert_eq!(with_key(&api, "/api/v1/events", &expiring, true).await, 200);
    clock.advance(Duration::from_secs(3601));
    let r = api
        .http
        .get(api.url("/api/v1/events"))
        .bearer_auth(&expiring)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["error"]["message"], "API key expired");
    let (s, _) = create_key(
        &api,
        &fm,
        serde_json::json!({"name": "past", "expires_at": clock.now() - chrono::Duration::seconds(1)}),
    )
    .await;
    assert_eq!(s, 400, "an expiry in the past");

    // Revocation: refused from the next request on.
    let id = made["api_key"]["id"].as_str().unwrap();
    let (s, revoked) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/api-keys/{id}"),
            &fm,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 200, "{revoked}");
    assert!(revoked["revoked_at"].is_string());
    assert_eq!(with_key(&api, "/api/v1/events", &key, false).await, 401);
    // Another user's key is not the viewer's to revoke.
    let other = for_fm["api_key"]["id"].as_str().unwrap();
    let (s, _) = api
        .send(
            Method::DELETE,
            &format!("/api/v1/api-keys/{other}"),
            &viewer,
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 403);

    // Wrong prefix, a changed secret, garbage: refused before or at lookup.
    let wrong_prefix = key.replacen("atr_", "atk_", 1);
    let mut changed = sited.clone();
    let last = changed.pop().unwrap();
    changed.push(if last == 'a' { 'b' } else { 'a' });
    for bad in [
        wrong_prefix.as_str(),
        changed.as_str(),
        "atr_nothing",
        "atr_abcdefgh_short",
    ] {
        let r = api
            .http
            .get(api.url("/api/v1/events"))
            .header("x-api-key", bad)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "{bad}");
        assert_error(
            &r.json().await.unwrap(),
            401,
            "UNAUTHORIZED",
            "/api/v1/events",
        );
    }

    // Never in clear: not in any row of the keys or the audit log, not in
    // any log line.
    let db = stack.pg.connect().await.unwrap();
    let rows: Vec<String> = db
        .query(
            "SELECT row_to_json(k)::text AS t FROM api_keys k
             UNION ALL SELECT row_to_json(a)::text FROM audit_log a",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|r| r.get("t"))
        .collect();
    assert!(rows.len() > 5, "rows to search: {}", rows.len());
    let written = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    assert!(written.contains("API key created"), "the capture works");
    for secret in [&key, &sited, &expiring] {
        let tail = &secret[secret.len() - 32..];
        assert!(
            !rows.iter().any(|r| r.contains(tail)),
            "a secret in the database"
        );
        assert!(!written.contains(tail), "a secret in the logs");
    }
    running.shutdown().await;
}

async fn user_id(api: &Api, token: &str) -> String {
    api.get("/api/v1/auth/me", token).await.1["id"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn users_are_managed_by_the_api_within_the_super_admin_rules() {
    let stack = Stack::start().await;
    let root_pw = stack.add_user("root", "super_admin").await;
    let admin_pw = stack.add_user("ada", "admin").await;
    let running = stack.central("central", "").await;
    let api = Api::new(&running);
    let root = api.token("root", &root_pw).await;
    let admin = api.token("ada", &admin_pw).await;
    let root_id = user_id(&api, &root).await;

    // The admin adds an operator; user names are unique; passwords strong.
    let new = serde_json::json!({"username": "otto", "password": "otto's long password", "role": "operator", "display_name": "Otto O."});
    let (s, otto) = api
        .send(Method::POST, "/api/v1/users", &admin, new.clone())
        .await;
    assert_eq!(s, 201, "{otto}");
    assert_eq!(otto["display_name"], "Otto O.");
    assert!(otto.get("password_hash").is_none());
    let (s, _) = api.send(Method::POST, "/api/v1/users", &admin, new).await;
    assert_eq!(s, 409);
    let (s, _) = api
        .send(
            Method::POST,
            "/api/v1/users",
            &admin,
            serde_json::json!({"username": "weak", "password": "short", "role": "viewer"}),
        )
        .await;
    assert_eq!(s, 400);
    // An admin neither creates nor touches a super_admin.
    let (s, _) = api
        .send(
            Method::POST,
            "/api/v1/users",
            &admin,
            serde_json::json!({"username": "boss", "password": "a long enough password", "role": "super_admin"}),
        )
        .await;
    assert_eq!(s, 403);
    let root_path = format!("/api/v1/users/{root_id}");
    for change in [
        serde_json::json!({"disabled": true}),
        serde_json::json!({"display_name": "x"}),
    ] {
        let (s, _) = api.send(Method::PUT, &root_path, &admin, change).await;
        assert_eq!(s, 403);
    }
    let (s, _) = api
        .send(Method::DELETE, &root_path, &admin, serde_json::json!({}))
        .await;
    assert_eq!(s, 403);

    // The last active super_admin can be neither demoted, disabled nor deleted.
    for change in [
        serde_json::json!({"role": "admin"}),
        serde_json::json!({"disabled": true}),
    ] {
        let (s, body) = api.send(Method::PUT, &root_path, &root, change).await;
        assert_eq!(s, 409, "{body}");
        assert_eq!(body["error"]["code"], "LAST_SUPER_ADMIN");
    }
    let (s, _) = api
        .send(Method::DELETE, &root_path, &root, serde_json::json!({}))
        .await;
    assert_eq!(s, 409);
    // With a second one, the first may step down.
    let (s, second) = api
        .send(
            Method::POST,
            "/api/v1/users",
            &root,
            serde_json::json!({"username": "root2", "password": "another long password", "role": "super_admin"}),
        )
        .await;
    assert_eq!(s, 201, "{second}");
    let (s, body) = api
        .send(
            Method::PUT,
            &root_path,
            &root,
            serde_json::json!({"role": "admin"}),
        )
        .await;
    assert_eq!((s, body["role"].as_str()), (200, Some("admin")));
    let second_path = format!("/api/v1/users/{}", second["id"].as_str().unwrap());
    let root2 = api.token("root2", "another long password").await;
    let (s, _) = api
        .send(
            Method::PUT,
            &second_path,
            &root2,
            serde_json::json!({"disabled": true}),
        )
        .await;
    assert_eq!(s, 409, "now root2 is the last one");

    // A role change closes the user's WebSocket and refuses their next
    // request.
    let otto_token = api.token("otto", "otto's long password").await;
    let url = format!("ws://{}/ws/dashboard?token={otto_token}", running.addr);
    let (mut ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
    let otto_path = format!("/api/v1/users/{}", otto["id"].as_str().unwrap());
    let (s, _) = api
        .send(
            Method::PUT,
            &otto_path,
            &admin,
            serde_json::json!({"role": "viewer"}),
        )
        .await;
    assert_eq!(s, 200);
    let closed = tokio::time::timeout(central::ws::RECHECK, async {
        loop {
            match ws.next().await {
                Some(Ok(Message::Close(f))) => return f.map(|f| u16::from(f.code)),
                Some(Ok(_)) => continue,
                _ => return None,
            }
        }
    })
    .await
    .expect("closed before the periodic re-check");
    assert_eq!(closed, Some(1008));
    let (s, _) = api.get("/api/v1/auth/me", &otto_token).await;
    assert_eq!(s, 401);
    let (s, listed) = api.get("/api/v1/users?role=viewer", &admin).await;
    assert_eq!(s, 200);
    assert_eq!(listed["data"][0]["username"], "otto");

    // A user changes their own password with the old one; every session ends.
    let otto_token = api.token("otto", "otto's long password").await;
    let change = |current: &str| serde_json::json!({"current_password": current, "new_password": "otto's new long password"});
    let (s, _) = api
        .send(
            Method::POST,
            "/api/v1/auth/password",
            &otto_token,
            change("wrong one"),
        )
        .await;
    assert_eq!(s, 400);
    let (s, _) = api
        .send(
            Method::POST,
            "/api/v1/auth/password",
            &otto_token,
            change("otto's long password"),
        )
        .await;
    assert_eq!(s, 204);
    let (s, _) = api.get("/api/v1/auth/me", &otto_token).await;
    assert_eq!(s, 401);
    api.token("otto", "otto's new long password").await;

    // An admin deletes a user; their tokens die with them.
    let (s, _) = api
        .send(Method::DELETE, &otto_path, &admin, serde_json::json!({}))
        .await;
    assert_eq!(s, 204);
    let (s, _) = api.get(&otto_path, &admin).await;
    assert_eq!(s, 404);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writes_and_personal_data_reads_are_audited_with_who_and_where() {
    let stack = Stack::start().await;
    let root_pw = stack.add_user("root", "super_admin").await;
    let officer_pw = stack.add_user("sam", "security_officer").await;
    let running = stack.central("central", "").await;
    let api = Api::new(&running);
    let root = api.token("root", &root_pw).await;
    let officer = api.token("sam", &officer_pw).await;

    let (s, person) = api
        .send(
            Method::POST,
            "/api/v1/persons",
            &officer,
            serde_json::json!({"name": "Audited Person", "category": "employee"}),
        )
        .await;
    assert_eq!(s, 201);
    let pid = person["id"].as_str().unwrap();
    let (s, _) = api.get(&format!("/api/v1/persons/{pid}"), &officer).await;
    assert_eq!(s, 200);
    // A refused write is on record too.
    let (s, _) = api
        .send(
            Method::PUT,
            "/api/v1/config/cameras/none",
            &officer,
            serde_json::json!({"name": "x"}),
        )
        .await;
    assert_eq!(s, 403);
    let failed = reqwest::Client::new()
        .post(api.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "root", "password": "a wrong guess!"}))
        .send()
        .await
        .unwrap();
    assert_eq!(failed.status(), 401);

    let (s, log) = api
        .get("/api/v1/audit?username=sam&action=http.", &root)
        .await;
    assert_eq!(s, 200, "{log}");
    let entries = log["data"].as_array().unwrap();
    let find = |method: &str, path: &str| {
        entries
            .iter()
            .find(|e| e["action"] == method && e["subject"] == path)
            .unwrap_or_else(|| panic!("no {method} {path} in {log}"))
    };
    let created = find("http.post", "/api/v1/persons");
    assert_eq!(created["detail"]["status"], 201);
    assert_eq!(created["address"], "127.0.0.1");
    assert!(created["ts"].is_string() && created["user_id"].is_string());
    assert_eq!(
        find("http.put", "/api/v1/config/cameras/none")["detail"]["status"],
        403
    );
    // The personal-data trail names the person.
    let (_, reads) = api
        .get(&format!("/api/v1/audit?subject={pid}"), &root)
        .await;
    let actions: Vec<&str> = reads["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert!(actions.len() >= 2, "create and read of {pid}: {actions:?}");
    // The failed login is there, without a user.
    let (_, anon) = api.get("/api/v1/audit?username=anonymous", &root).await;
    assert!(
        anon["data"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["subject"] == "/api/v1/auth/login" && e["detail"]["status"] == 401),
        "{anon}"
    );
    // Only audit:read sees the log.
    let (s, _) = api.get("/api/v1/audit", &officer).await;
    assert_eq!(s, 403);
    let (s, _) = api.get("/api/v1/audit?page=0", &root).await;
    assert_eq!(s, 400);
    running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browsers_get_security_headers_and_cors_only_from_the_allow_list() {
    let stack = Stack::start().await;
    let mut cfg = stack.config("central", "");
    cfg.http.cors_allowed_origins = vec!["https://dashboard.example".into()];
    let open = stack.start_central(cfg).await;
    let closed = stack.central("central-2", "").await;
    let http = reqwest::Client::new();

    let page = http
        .get(format!("http://{}/", closed.addr))
        .send()
        .await
        .unwrap();
    let h = page.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'self'")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert_eq!(h["referrer-policy"], "same-origin");

    let preflight = |addr: std::net::SocketAddr, origin: &'static str| {
        http.request(Method::OPTIONS, format!("http://{addr}/api/v1/events"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .header("access-control-request-headers", "authorization")
            .send()
    };
    // Off by default.
    let r = preflight(closed.addr, "https://dashboard.example")
        .await
        .unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    // On for the listed origin only.
    let r = preflight(open.addr, "https://dashboard.example")
        .await
        .unwrap();
    assert_eq!(
        r.headers()["access-control-allow-origin"],
        "https://dashboard.example"
    );
    let r = preflight(open.addr, "https://evil.example").await.unwrap();
    assert!(r.headers().get("access-control-allow-origin").is_none());
    open.shutdown().await;
    closed.shutdown().await;
}
