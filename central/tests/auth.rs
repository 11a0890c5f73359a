//! Authentication against a real database: passwords, JWTs, refresh
//! rotation, logout, cookies, the login brake.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use base64::Engine;
use support::{Api, Stack, assert_error};

fn b64(v: &serde_json::Value) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn passwords_tokens_refresh_and_logout() {
    let stack = Stack::start().await;
    let pw = stack.add_user("alice", "admin").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);

    // Wrong password and unknown user: 401 in the error format, same text.
    for (user, pass) in [("alice", "wrong password!"), ("nobody", "whatever pw")] {
        let r = api
            .http
            .post(api.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": user, "password": pass}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401);
        let body: serde_json::Value = r.json().await.unwrap();
        assert_error(&body, 401, "INVALID_CREDENTIALS", "/api/v1/auth/login");
        assert_eq!(body["error"]["message"], "wrong user name or password");
    }

    let login = api.login("alice", &pw).await;
    let access = login["access_token"].as_str().unwrap().to_owned();
    let refresh1 = login["refresh_token"].as_str().unwrap().to_owned();
    assert_eq!(login["token_type"], "Bearer");
    assert_eq!(login["expires_in"], 3600);
    assert_eq!(login["user"]["role"], "admin");
    let (s, me) = api.get("/api/v1/auth/me", &access).await;
    assert_eq!((s, me["username"].as_str()), (200, Some("alice")));
    assert!(
        me["permissions"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p == "config:write")
    );

    // No token, garbage, forged, alg=none, HS256 with the public key,
    // expired: all 401.
    let r = api
        .http
        .get(api.url("/api/v1/auth/me"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    assert_error(
        &r.json().await.unwrap(),
        401,
        "UNAUTHORIZED",
        "/api/v1/auth/me",
    );
    let parts: Vec<&str> = access.split('.').collect();
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(parts[1])
            .unwrap(),
    )
    .unwrap();
    let mut raised = claims.clone();
    raised["role"] = "super_admin".into();
    let forged = format!("{}.{}.{}", parts[0], b64(&raised), parts[2]);
    let none = format!(
        "{}.{}.",
        b64(&serde_json::json!({"alg": "none", "typ": "JWT"})),
        b64(&claims)
    );
    let keys =
        central::auth::jwt::Keys::load_or_create(&stack.dir.path().join("jwt.pem"), 3600).unwrap();
    let hs256 = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(keys.public_pem.as_bytes()),
    )
    .unwrap();
    let mut old = claims.clone();
    old["iat"] = (chrono::Utc::now().timestamp() - 7200).into();
    old["exp"] = (chrono::Utc::now().timestamp() - 3600).into();
    let private = std::fs::read(stack.dir.path().join("jwt.pem")).unwrap();
    let expired = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &old,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    for (what, token) in [
        ("garbage", "abc.def.ghi"),
        ("forged", &forged),
        ("alg none", &none),
        ("HS256", &hs256),
        ("expired", &expired),
    ] {
        let (s, body) = api.get("/api/v1/auth/me", token).await;
        assert_eq!(s, 401, "{what} token accepted: {body}");
        assert_error(&body, 401, "UNAUTHORIZED", "/api/v1/auth/me");
    }
    // The same claims, properly signed, are accepted: the refusals above
    // are about the signature, algorithm and expiry, not the claims.
    let resigned = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_rsa_pem(&private).unwrap(),
    )
    .unwrap();
    assert_eq!(api.get("/api/v1/auth/me", &resigned).await.0, 200);

    // Refresh rotation: a refresh token works once.
    let refresh = |token: String| {
        let api = &api;
        async move {
            let r = api
                .http
                .post(api.url("/api/v1/auth/refresh"))
                .json(&serde_json::json!({"refresh_token": token}))
                .send()
                .await
                .unwrap();
            let s = r.status().as_u16();
            (s, r.json::<serde_json::Value>().await.unwrap())
        }
    };
    let (s, r2) = refresh(refresh1.clone()).await;
    assert_eq!(s, 200, "{r2}");
    let refresh2 = r2["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(refresh2, refresh1);
    assert_eq!(
        api.get("/api/v1/auth/me", r2["access_token"].as_str().unwrap())
            .await
            .0,
        200
    );
    let (s, body) = refresh(refresh1.clone()).await;
    assert_eq!(s, 401);
    assert_error(&body, 401, "INVALID_REFRESH_TOKEN", "/api/v1/auth/refresh");
    // Reuse of the old token revoked the session: the newest refresh token
    // and the session's access tokens stop working too.
    assert_eq!(refresh(refresh2).await.0, 401);
    assert_eq!(api.get("/api/v1/auth/me", &access).await.0, 401);

    // Logout revokes a fresh session's refresh and access tokens.
    let login = api.login("alice", &pw).await;
    let (access, refresh3) = (
        login["access_token"].as_str().unwrap().to_owned(),
        login["refresh_token"].as_str().unwrap().to_owned(),
    );
    let r = api
        .http
        .post(api.url("/api/v1/auth/logout"))
        .bearer_auth(&access)
        .json(&serde_json::json!({"refresh_token": refresh3}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert_eq!(refresh(refresh3).await.0, 401);
    assert_eq!(api.get("/api/v1/auth/me", &access).await.0, 401);

    central.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn browser_sessions_use_httponly_cookies_and_logins_are_rate_limited() {
    let stack = Stack::start().await;
    let pw = stack.add_user("bob", "viewer").await;
    let central = stack.central("central", "").await;
    let api = Api::new(&central);

    let r = api
        .http
        .post(api.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "bob", "password": pw, "session": "cookie"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let cookies: Vec<String> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|v| v.to_str().unwrap().to_owned())
        .collect();
    let body: serde_json::Value = r.json().await.unwrap();
    assert!(
        body.get("access_token").is_none() && body.get("refresh_token").is_none(),
        "cookie mode leaks tokens: {body}"
    );
    assert_eq!(cookies.len(), 2, "{cookies:?}");
    for c in &cookies {
        for attr in ["HttpOnly", "SameSite=Strict", "Secure"] {
            assert!(c.contains(attr), "{c} lacks {attr}");
        }
    }
    assert!(
        cookies
            .iter()
            .any(|c| c.starts_with("atrium_refresh=") && c.contains("Path=/api/v1/auth"))
    );

    // reqwest's cookie store does not send Secure cookies over http, so
    // present them by hand, as a browser would over https.
    let access = cookies
        .iter()
        .find_map(|c| {
            c.strip_prefix("atrium_access=")
                .and_then(|v| v.split(';').next())
        })
        .unwrap();
    let refresh = cookies
        .iter()
        .find_map(|c| {
            c.strip_prefix("atrium_refresh=")
                .and_then(|v| v.split(';').next())
        })
        .unwrap();
    let plain = reqwest::Client::new();
    let r = plain
        .get(api.url("/api/v1/auth/me"))
        .header("cookie", format!("atrium_access={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // A viewer may read but not change configuration (the write comes
    // from the UI's own origin, as a browser would say).
    let r = plain
        .put(api.url("/api/v1/config/cameras/nope"))
        .header("cookie", format!("atrium_access={access}"))
        .header("origin", &api.base)
        .json(&serde_json::json!({"name": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_error(&body, 403, "FORBIDDEN", "/api/v1/config/cameras/nope");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("lacks permission"),
        "refused for the role, not the origin: {body}"
    );
    // A cookie-authenticated write from another site, or from nowhere, is
    // refused before anything happens (CSRF).
    for origin in [Some("https://evil.example"), None] {
        let mut req = plain
            .post(api.url("/api/v1/auth/refresh"))
            .header("cookie", format!("atrium_refresh={refresh}"));
        if let Some(o) = origin {
            req = req.header("origin", o);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 403, "origin {origin:?}");
        let body: serde_json::Value = r.json().await.unwrap();
        assert_error(&body, 403, "FORBIDDEN", "/api/v1/auth/refresh");
        assert!(
            body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("cross-site")
        );
    }
    // Refresh by cookie answers with new cookies.
    let r = plain
        .post(api.url("/api/v1/auth/refresh"))
        .header("cookie", format!("atrium_refresh={refresh}"))
        .header("origin", &api.base)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers().get_all("set-cookie").iter().count(), 2);

    // Five attempts a minute per user name; the sixth waits.
    for i in 0..4 {
        let r = plain
            .post(api.url("/api/v1/auth/login"))
            .json(&serde_json::json!({"username": "bob", "password": "not the password"}))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 401, "attempt {i}");
    }
    let r = plain
        .post(api.url("/api/v1/auth/login"))
        .json(&serde_json::json!({"username": "bob", "password": pw}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    assert!(r.headers().contains_key("retry-after"));
    let body: serde_json::Value = r.json().await.unwrap();
    assert_error(&body, 429, "RATE_LIMIT_EXCEEDED", "/api/v1/auth/login");
    assert!(body["error"]["retry_after"].as_u64().unwrap() >= 1);

    central.shutdown().await;
}
