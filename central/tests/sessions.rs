//! Sessions end everywhere at once: logout, a new password, a new role or a
//! disabled account close the user's WebSockets on every instance and
//! refuse their tokens; the role is always the database's, not the
//! token's.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::process::Command;
use std::time::{Duration, Instant};

use futures::StreamExt;
use support::{Api, Stack};
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn open(addr: std::net::SocketAddr, token: &str) -> Ws {
    let url = format!("ws://{addr}/ws/dashboard?token={token}");
    tokio_tungstenite::connect_async(&url).await.unwrap().0
}

/// The periodic re-check a connection does by itself; a close well before
/// it shows the notification path worked.
const BACKSTOP: Duration = central::ws::RECHECK;

/// Waits for the server's close frame; returns its code and how long it
/// took.
async fn closed(ws: &mut Ws) -> (u16, Duration) {
    let started = Instant::now();
    loop {
        let m = tokio::time::timeout(BACKSTOP, ws.next())
            .await
            .expect("the socket was not closed before the periodic re-check");
        match m {
            Some(Ok(Message::Close(Some(f)))) => return (u16::from(f.code), started.elapsed()),
            Some(Ok(Message::Close(None))) | None => return (0, started.elapsed()),
            Some(Ok(_)) => continue,
            Some(Err(e)) => panic!("socket error instead of a close: {e}"),
        }
    }
}

/// `central admin …` against the test database.
fn admin(stack: &Stack, args: &[&str]) {
    let out = Command::new(env!("CARGO_BIN_EXE_central"))
        .arg("admin")
        .arg("--database-url")
        .arg(stack.pg.url())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "central admin {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logout_password_role_and_disable_close_websockets_on_every_instance_and_refuse_tokens() {
    let stack = Stack::start().await;
    let one = stack.central("central", "").await;
    let two = stack.central("central-2", "").await;
    let (api1, api2) = (Api::new(&one), Api::new(&two));

    // Each way to end a session: how it is done, then what must hold.
    let cases: [(&str, &str); 4] = [
        ("ann", "logout"),
        ("bob", "passwd"),
        ("cat", "role"),
        ("dan", "disable"),
    ];
    for (user, how) in cases {
        let pw = stack.add_user(user, "security_officer").await;
        // Logged in through instance one, watching through instance two.
        let token = api1.token(user, &pw).await;
        let mut ws = open(two.addr, &token).await;
        // A second session of the same user, also ended by a user-wide
        // change (not by a logout of the first one).
        let other = api2.token(user, &pw).await;
        let mut ws_other = open(one.addr, &other).await;
        assert_eq!(api2.get("/api/v1/auth/me", &token).await.0, 200);

        match how {
            "logout" => {
                let r = api1
                    .http
                    .post(api1.url("/api/v1/auth/logout"))
                    .bearer_auth(&token)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 204);
            }
            "passwd" => admin(&stack, &["user", "passwd", user]),
            "role" => admin(&stack, &["user", "role", user, "viewer"]),
            "disable" => admin(&stack, &["user", "disable", user]),
            _ => unreachable!(),
        }
        let (code, after) = closed(&mut ws).await;
        println!("{how}: WebSocket on the other instance closed after {after:?}");
        assert_eq!(code, 1008, "{how}");
        assert!(after < BACKSTOP / 3, "{how}: closed only after {after:?}");
        assert_eq!(api2.get("/api/v1/auth/me", &token).await.0, 401, "{how}");
        assert_eq!(api1.get("/api/v1/auth/me", &token).await.0, 401, "{how}");
        if how == "logout" {
            // Only that session ended.
            assert_eq!(api1.get("/api/v1/auth/me", &other).await.0, 200);
            ws_other.close(None).await.ok();
        } else {
            let (code, _) = closed(&mut ws_other).await;
            assert_eq!(code, 1008, "{how}: the user's other session");
            assert_eq!(api1.get("/api/v1/auth/me", &other).await.0, 401, "{how}");
        }
    }
    // A disabled user cannot log in again.
    let r = api1
        .http
        .post(api1.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "dan", "password": "dan-secret-pw"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    one.shutdown().await;
    two.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_role_is_the_database_s_not_the_token_s() {
    let stack = Stack::start().await;
    let pw = stack.add_user("eve", "admin").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);
    let token = api.token("eve", &pw).await;
    let (s, me) = api.get("/api/v1/auth/me", &token).await;
    assert_eq!((s, me["role"].as_str()), (200, Some("admin")));
    // Changed behind the API's back, sessions untouched: the same token
    // now carries the new role.
    let db = stack.pg.connect().await.unwrap();
    db.execute(
        "UPDATE users SET role = 'viewer' WHERE username = 'eve'",
        &[],
    )
    .await
    .unwrap();
    let (s, me) = api.get("/api/v1/auth/me", &token).await;
    assert_eq!((s, me["role"].as_str()), (200, Some("viewer")));
    let (s, _) = api
        .send(
            reqwest::Method::POST,
            "/api/v1/config/lines",
            &token,
            serde_json::json!({"camera_id": "none", "id": "l", "a": [0.1, 0.1], "b": [0.2, 0.2], "in_side": "left"}),
        )
        .await;
    assert_eq!(s, 403, "a viewer may not write configuration");
    central.shutdown().await;
}
