//! WebSocket feeds: `/ws/dashboard` (everything) and `/ws/camera/{id}` (one
//! camera). Each message is one [`LiveEvent`] as JSON, sent once ingest
//! has committed it; `face_recognized` only to users who may read persons,
//! building systems' events (`system_status`, `power_update`) only to
//! users who may read them (`systems:read`).
//!
//! Authentication happens before the upgrade: the access cookie (browsers
//! send it on same-origin WebSocket requests), a bearer header, or
//! `?token=` for clients that can set neither. The connection subscribes
//! to the broadcast before the 101 answer, so a client that has its
//! answer misses nothing committed after it. A client that falls more than
//! the channel's buffer behind is closed (1013, try again later) rather
//! than buffered without bound; the connection is also closed when its
//! access token expires (1008), and the client reconnects with a fresh one.
//! When a session ends or its user changes (logout, new password, new role,
//! disabled: `store::sessions`), every connection of that session or user
//! checks its token again at once and closes (1008) unless it still holds;
//! every connection also checks itself every [`RECHECK`], in case a
//! notification was missed while the database was away.

use std::time::Duration;

use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::http::request::Parts;
use axum::response::Response;
use serde::Deserialize;
use tokio::sync::broadcast::error::RecvError;

use crate::app::AppState;
use crate::auth::{AuthUser, Permission, access_token};
use crate::caller::authenticate;
use crate::error::ApiError;
use crate::http::exists::camera_site;
use crate::http::extract::{Path, Query};
use crate::live::LiveEvent;
use crate::media::{LiveFrame, Watching};

#[derive(Debug, Deserialize)]
pub struct WsQuery {
    token: Option<String>,
    /// `/ws/camera/{id}` only: also relay the camera's live frames
    /// (messages of `type` `frame`), asking its edge agent for them while
    /// this connection lasts.
    #[serde(default)]
    live: bool,
}

async fn caller(
    state: &AppState,
    parts: &Parts,
    q: &WsQuery,
) -> Result<(String, AuthUser), ApiError> {
    let token = q
        .token
        .clone()
        .or_else(|| access_token(parts))
        .ok_or_else(|| {
            ApiError::unauthorized("authentication required: log in, or pass ?token=")
        })?;
    let user = authenticate(state, &token).await?;
    user.require(Permission::EventsRead)?;
    Ok((token, user))
}

/// Every camera's live events.
pub async fn dashboard(
    State(state): State<AppState>,
    parts: Parts,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (token, user) = caller(&state, &parts, &q).await?;
    let feeds = Feeds {
        events: state.live.subscribe(),
        sessions: state.sessions.subscribe(),
        frames: None,
    };
    Ok(ws.on_upgrade(move |socket| serve(socket, feeds, None, Caller { token, user }, state)))
}

/// One camera's live events.
pub async fn camera(
    State(state): State<AppState>,
    parts: Parts,
    Path(camera_id): Path<String>,
    Query(q): Query<WsQuery>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let (token, user) = caller(&state, &parts, &q).await?;
    let client = state.pool.get().await?;
    let (site, id) = camera_site(&client, &camera_id).await?;
    drop(client);
    let rx = state.live.subscribe();
    let sessions = state.sessions.subscribe();
    let frames = q.live.then(|| state.media.watch(site, id));
    Ok(ws.on_upgrade(move |socket| {
        serve(
            socket,
            Feeds {
                events: rx,
                sessions,
                frames,
            },
            Some(camera_id),
            Caller { token, user },
            state,
        )
    }))
}

/// What a connection relays: committed events, session changes (to check
/// itself again), and for a live camera view its frames (with the
/// guard that keeps the camera asked for them).
struct Feeds {
    events: tokio::sync::broadcast::Receiver<LiveEvent>,
    sessions: tokio::sync::broadcast::Receiver<uuid::Uuid>,
    frames: Option<(
        Watching,
        tokio::sync::broadcast::Receiver<std::sync::Arc<LiveFrame>>,
    )>,
}

/// The next live frame for `camera`; never resolves without a live feed.
/// A viewer too slow for the frames skips some (a frame is replaced half
/// a second later), unlike events.
async fn next_frame(
    frames: &mut Option<(
        Watching,
        tokio::sync::broadcast::Receiver<std::sync::Arc<LiveFrame>>,
    )>,
    camera: Option<&str>,
) -> Option<std::sync::Arc<LiveFrame>> {
    let Some((_, rx)) = frames else {
        return std::future::pending().await;
    };
    loop {
        match rx.recv().await {
            Ok(f) if camera.is_none_or(|c| c == f.camera.as_str()) => return Some(f),
            Ok(_) | Err(RecvError::Lagged(_)) => {}
            Err(RecvError::Closed) => return None,
        }
    }
}

/// Who is on the other end, and the token they proved it with.
struct Caller {
    token: String,
    user: AuthUser,
}

/// How often a connection checks its token again without being told.
pub const RECHECK: Duration = Duration::from_secs(15);

async fn serve(
    mut socket: WebSocket,
    feeds: Feeds,
    camera: Option<String>,
    caller: Caller,
    state: AppState,
) {
    let Feeds {
        events: mut rx,
        mut sessions,
        mut frames,
    } = feeds;
    state.metrics.ws_clients.inc();
    let Caller { token, mut user } = caller;
    let mut may_see_persons = user.allows(Permission::PersonsRead);
    let mut may_see_systems = user.allows(Permission::SystemsRead);
    let mut may_see_energy = user.allows(Permission::EnergyRead);
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.tick().await;
    let expires_in = (user.expires_at - state.clock.now().timestamp()).max(0) as u64;
    let expiry = tokio::time::sleep(Duration::from_secs(expires_in));
    tokio::pin!(expiry);
    let mut ping = tokio::time::interval(Duration::from_secs(20));
    let close = |code: u16, reason: &'static str| {
        Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        }))
    };
    loop {
        tokio::select! {
            ev = rx.recv() => match ev {
                Ok(ev) => {
                    if camera.as_deref().is_some_and(|c| c != ev.camera) {
                        continue;
                    }
                    // Names of recognised people are personal data.
                    if ev.kind == "face_recognized" && !may_see_persons {
                        continue;
                    }
                    // Building systems: for those who may read them.
                    if ev.is_system() && !may_see_systems {
                        continue;
                    }
                    if ev.is_energy() && !may_see_energy {
                        continue;
                    }
                    // An API key may lack alerts:read, which every role holds.
                    if ev.kind == "alert" && !user.allows(Permission::AlertsRead) {
                        continue;
                    }
                    let Ok(text) = serde_json::to_string(&ev) else { continue };
                    if socket.send(Message::Text(text.into())).await.is_err() {
                        break;
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    tracing::info!(user = %user.username, missed = n, "WebSocket client too slow; closing");
                    let _ = socket.send(close(1013, "too slow: reconnect and reload")).await;
                    break;
                }
                Err(RecvError::Closed) => {
                    let _ = socket.send(close(1001, "server shutting down")).await;
                    break;
                }
            },
            Some(frame) = next_frame(&mut frames, camera.as_deref()) => {
                if socket.send(Message::Text(frame.text.clone().into())).await.is_err() {
                    break;
                }
            }
            msg = socket.recv() => match msg {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Vec::new().into())).await.is_err() {
                    break;
                }
            }
            _ = &mut expiry => {
                let _ = socket.send(close(1008, "access token expired")).await;
                break;
            }
            changed = sessions.recv() => {
                let concerns_us = match changed {
                    Ok(id) => id == user.id || id == user.session,
                    // Missed some: check anyway.
                    Err(RecvError::Lagged(_)) => true,
                    Err(RecvError::Closed) => false,
                };
                if concerns_us && !recheck_or_close(&state, &token, &mut user, &mut may_see_persons, &mut socket).await {
                    break;
                }
                may_see_systems = user.allows(Permission::SystemsRead);
                may_see_energy = user.allows(Permission::EnergyRead);
            }
            _ = recheck.tick() => {
                if !recheck_or_close(&state, &token, &mut user, &mut may_see_persons, &mut socket).await {
                    break;
                }
                may_see_systems = user.allows(Permission::SystemsRead);
                may_see_energy = user.allows(Permission::EnergyRead);
            }
        }
    }
    state.metrics.ws_clients.dec();
}

/// What checking a connection's token again found.
enum Check {
    /// Still valid (with the user's current role).
    Valid(AuthUser),
    /// The session ended, the user was disabled, or may no longer read.
    Ended,
    /// The database did not answer: keep the connection for now (the
    /// periodic check tries again).
    Unknown,
}

async fn check(state: &AppState, token: &str) -> Check {
    match authenticate(state, token).await {
        Ok(u) if u.allows(Permission::EventsRead) => Check::Valid(u),
        Ok(_) => Check::Ended,
        Err(e) if e.status == axum::http::StatusCode::UNAUTHORIZED => Check::Ended,
        Err(_) => Check::Unknown,
    }
}

/// Checks the token again; closes the socket (and returns false) when the
/// session is over.
async fn recheck_or_close(
    state: &AppState,
    token: &str,
    user: &mut AuthUser,
    may_see_persons: &mut bool,
    socket: &mut WebSocket,
) -> bool {
    match check(state, token).await {
        Check::Valid(u) => {
            *may_see_persons = u.allows(Permission::PersonsRead);
            *user = u;
            true
        }
        Check::Unknown => true,
        Check::Ended => {
            tracing::info!(user = %user.username, "session ended; closing its WebSocket");
            // The client may be gone already; the socket closes either way.
            let _ = socket
                .send(Message::Close(Some(CloseFrame {
                    code: 1008,
                    reason: "session ended: log in again".into(),
                })))
                .await;
            false
        }
    }
}
