//! `atrium-demo` (run by `scripts/demo`): the whole system on one machine,
//! on the bundled sample video.
//!
//! It starts the same real services the end-to-end tests use, each private
//! and on a free port (PostgreSQL with TimescaleDB and pgvector, Mosquitto
//! with TLS and generated certificates, a GStreamer RTSP camera looping
//! `vtest.avi`), provisions a site, a camera and an admin user through the
//! `central admin` CLI, starts `central serve` on port 8080 (or
//! `ATRIUM_DEMO_PORT`), configures a counting line and a zone through the
//! API (pushed live to the edge), starts `edge-agent`, and a simulated
//! building's systems (`atrium-iot-sim`, each device registered and with
//! its own certificate). Ctrl-C stops
//! everything in order and deletes the temporary data; logs stay in
//! `.cache/demo/`.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, bail};
use atrium_testkit::{Mosquitto, Postgres, RtspCamera, fixture, workspace_root};
use atrium_tests::{CentralServer, CentralSetup, EdgeAgent, EdgeSetup, IotSim, central_cli};

const CAMERA: &str = "lobby-cam";
/// The second camera: the face clip, with one enrolled person in it.
const FACE_CAMERA: &str = "reception-cam";
const SITE: &str = "demo";

fn main() -> ExitCode {
    let rt = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("atrium-demo: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("atrium-demo: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn timezone() -> String {
    std::env::var("TZ")
        .ok()
        .filter(|t| !t.is_empty())
        .or_else(|| {
            std::fs::read_to_string("/etc/timezone")
                .ok()
                .map(|t| t.trim().to_owned())
        })
        .filter(|t| !t.is_empty())
        .unwrap_or_else(|| "UTC".into())
}

async fn run() -> anyhow::Result<()> {
    let port: u16 = std::env::var("ATRIUM_DEMO_PORT")
        .ok()
        .map(|p| p.parse().context("ATRIUM_DEMO_PORT must be a port number"))
        .transpose()?
        .unwrap_or(8080);
    if std::net::TcpListener::bind(("127.0.0.1", port)).is_err() {
        bail!("port {port} is in use; set ATRIUM_DEMO_PORT to another one");
    }
    // Ctrl-C reaches only this process; it stops the others in order.
    atrium_testkit::process::detach_servers();
    let state = workspace_root().join(".cache/demo");
    let _ = std::fs::remove_dir_all(&state);
    std::fs::create_dir_all(state.join("edge")).context("creating .cache/demo")?;
    let vtest = fixture("vtest.mp4").context("the sample video (scripts/setup makes it)")?;
    let faces_clip = fixture("faces.mp4").context("the face clip (scripts/setup makes it)")?;

    step("PostgreSQL 15 with TimescaleDB and pgvector");
    let pg = Postgres::start().await.context("starting PostgreSQL")?;
    step("Mosquitto with TLS and client certificates");
    let broker = Mosquitto::start().await.context("starting Mosquitto")?;
    step("two RTSP cameras: vtest.avi (768x576) and the face clip (1280x1024), looping");
    let cam = RtspCamera::start(&[("lobby", vtest.as_path())])
        .await
        .context("starting the RTSP camera")?;
    // Its own server, so the demo can stop it alone (the alert below).
    let mut reception = RtspCamera::start(&[("reception", faces_clip.as_path())])
        .await
        .context("starting the second RTSP camera")?;

    step("provisioning: site, camera, admin user (`central admin`)");
    let db = pg.url();
    let tz = timezone();
    central_cli(&[
        "admin",
        "--database-url",
        &db,
        "site",
        "add",
        "--id",
        SITE,
        "--name",
        "Demo building",
        "--timezone",
        &tz,
    ]);
    central_cli(&[
        "admin",
        "--database-url",
        &db,
        "camera",
        "add",
        "--id",
        CAMERA,
        "--site",
        SITE,
        "--name",
        "Lobby entrance",
    ]);
    central_cli(&[
        "admin",
        "--database-url",
        &db,
        "camera",
        "add",
        "--id",
        FACE_CAMERA,
        "--site",
        SITE,
        "--name",
        "Reception desk",
    ]);
    let out = central_cli(&[
        "admin",
        "--database-url",
        &db,
        "user",
        "add",
        "--username",
        "admin",
        "--role",
        "super_admin",
    ]);
    let password = out
        .lines()
        .find_map(|l| l.strip_prefix("password: "))
        .context("central admin user add printed no password")?
        .to_owned();

    step("central");
    let config = CentralSetup {
        database_url: db.clone(),
        broker_port: broker.port(),
        tls: broker.identity("central")?,
        listen: format!("127.0.0.1:{port}"),
        // Plain http on localhost: browsers would not return Secure cookies.
        secure_cookies: false,
        client_id: None,
    }
    .write(&state);
    let mut central = CentralServer::start(&state, &config);

    step("configuration: a counting line and a zone (REST API)");
    let http = reqwest::Client::new();
    let login: serde_json::Value = http
        .post(format!("{}/api/v1/auth/login", central.base))
        .json(&serde_json::json!({"username": "admin", "password": password}))
        .send()
        .await?
        .json()
        .await?;
    let token = login["access_token"]
        .as_str()
        .context("logging in as admin")?
        .to_owned();
    // The line of the counting ground truth: a vertical line across the
    // road; walking leftwards across it is IN.
    let gt: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(fixture(
        "vtest_line_road.expected.json",
    )?)?)?;
    let line = &gt["line"];
    for (path, body) in [
        (
            "/api/v1/config/lines",
            serde_json::json!({"camera_id": CAMERA, "id": "entrance", "name": "Entrance", "a": line["a"], "b": line["b"], "in_side": line["in_side"]}),
        ),
        (
            "/api/v1/config/zones",
            serde_json::json!({"camera_id": CAMERA, "id": "plaza", "name": "Plaza", "polygon": [[0.0, 0.55], [1.0, 0.55], [1.0, 1.0], [0.0, 1.0]], "max_occupancy": 6}),
        ),
    ] {
        let r = http
            .post(format!("{}{path}", central.base))
            .bearer_auth(&token)
            .json(&body)
            .send()
            .await?;
        if !r.status().is_success() {
            bail!(
                "{path}: {} {}",
                r.status(),
                r.text().await.unwrap_or_default()
            );
        }
    }

    step("edge-agent");
    let edge_dir = state.join("edge");
    let mut setup = EdgeSetup::new(
        CAMERA,
        &cam.url("lobby"),
        broker.port(),
        broker.identity(CAMERA)?,
    );
    setup.site = SITE.into();
    let edge_config = setup
        .section("adaptive", "enabled = true")
        .extra("[analytics]\noccupancy_interval_s = 2\n")
        .write(&edge_dir);
    let mut edge = EdgeAgent::start(&edge_dir, &edge_config);

    step(
        "a person to recognise: one face of the first photo in the clip (`central admin person import`)",
    );
    let people = state.join("people");
    enrolment_photo(&people.join("Demo Visitor"))?;
    let out = std::process::Command::new(atrium_tests::binary("central"))
        .args(["admin", "--database-url", &db, "person", "import"])
        .arg(&people)
        .arg("--models-dir")
        .arg(workspace_root().join("models"))
        .arg("--onnxruntime")
        .arg(atrium_testkit::onnxruntime_library())
        .output()
        .context("running central admin person import")?;
    if !out.status.success() {
        bail!(
            "enrolling the demo person failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }

    step("a second edge-agent, with face recognition, on the reception camera");
    let face_edge_dir = state.join("edge-reception");
    std::fs::create_dir_all(&face_edge_dir)?;
    let mut face_setup = EdgeSetup::new(
        FACE_CAMERA,
        &reception.url("reception"),
        broker.port(),
        broker.identity(FACE_CAMERA)?,
    );
    face_setup.site = SITE.into();
    let face_edge_config = face_setup
        .section("faces", "enabled = true\ninterval_s = 0.5")
        .section("adaptive", "enabled = true")
        .write(&face_edge_dir);
    let mut face_edge = EdgeAgent::start(&face_edge_dir, &face_edge_config);

    // Ready when the camera reports online through the whole chain.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(90);
    loop {
        let r: serde_json::Value = http
            .get(format!("{}/api/v1/counting/current", central.base))
            .bearer_auth(&token)
            .send()
            .await?
            .json()
            .await?;
        let online = r["data"]
            .as_array()
            .is_some_and(|c| c.len() == 2 && c.iter().all(|c| c["state"] == "online"));
        if online {
            break;
        }
        if tokio::time::Instant::now() > deadline {
            bail!(
                "the cameras did not come online within 90 s; see {}/edge.log and {}/edge.log",
                edge_dir.display(),
                face_edge_dir.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    step(
        "building systems: atrium-iot-sim's meters, lighting, lifts, doors and fire panel, each with its certificate (`central admin device add`)",
    );
    // An API key that may read the counts: lighting follows the people
    // the cameras count.
    let key: serde_json::Value = http
        .post(format!("{}/api/v1/api-keys", central.base))
        .bearer_auth(&token)
        .json(&serde_json::json!({"name": "iot-sim occupancy", "permissions": ["events:read"]}))
        .send()
        .await?
        .json()
        .await?;
    let key_file = state.join("iot-sim.key");
    std::fs::write(
        &key_file,
        key["key"]
            .as_str()
            .context("creating the simulator's API key")?,
    )?;
    let offset = chrono::Local::now().offset().to_string();
    let key_path = key_file.to_string_lossy().into_owned();
    let mut sim = IotSim::start(
        &state,
        &db,
        SITE,
        &broker,
        4,
        &[
            "--interval-s",
            "5",
            "--utc-offset",
            &offset,
            "--alarm-after-s",
            "600",
            "--occupancy-url",
            &central.base,
            "--api-key-file",
            &key_path,
        ],
    );

    step(
        "energy: a time-of-use tariff (docs/examples/tariff.json), emission factors, the floor area, floor 1's meter tied to the plaza zone (`central admin energy`)",
    );
    let tariff = workspace_root().join("docs/examples/tariff.json");
    let tariff = tariff.to_string_lossy().into_owned();
    let year = chrono::Utc::now().format("%Y").to_string();
    let since = (chrono::Utc::now() - chrono::Duration::days(400))
        .format("%Y-%m-%d")
        .to_string();
    for args in [
        vec![
            "tariff",
            "add",
            "--site",
            SITE,
            "--name",
            "Demo time-of-use",
            "--from",
            &since,
            "--file",
            &tariff,
        ],
        vec![
            "factor",
            "--site",
            SITE,
            "--year",
            &year,
            "--location",
            "0.21",
            "--residual-mix",
            "0.38",
            "--source",
            "demo figures, not a real grid's",
        ],
        vec!["floor-area", "--site", SITE, "2400"],
        vec![
            "meter-zones",
            "--meter",
            "meter-2",
            "--zone",
            &format!("{CAMERA}/plaza"),
        ],
    ] {
        let mut a = vec!["admin", "--database-url", &db, "energy"];
        a.extend(args);
        central_cli(&a);
    }

    let base = &central.base;
    println!(
        "\n\
         Atrium demo is running.\n\n\
         \x20 Dashboard   {base}/\n\
         \x20 Log in as   admin / {password}\n\
         \x20 API docs    {base}/docs\n\
         \x20 Health      {base}/health\n\
         \x20 Building    {base}/#systems\n\
         \x20 Energy      {base}/#energy\n\
         \x20 Logs        {state}/central.log, {state}/edge/edge.log, {state}/iot-sim.log\n\n\
         People crossing the road in the sample video are counted IN (leftwards)\n\
         and OUT; the plaza zone shows its occupancy. The reception camera shows\n\
         six group photos; \"Demo Visitor\" (in the first one) is recognised\n\
         within seconds, the others stay unknown: see \"Recognised now\" and the\n\
         People and Recognitions pages. The videos loop.\n\
         The Building systems page shows a simulated building: four power meters\n\
         (a main meter and three sub-meters), lighting that follows the people\n\
         counted, two lifts, a door controller and a fire panel, whose plant-room\n\
         zone goes into alarm for two minutes ten minutes after start.\n\
         The Energy page shows the building's power, energy and cost under a\n\
         time-of-use tariff, its emissions, and energy per occupant-hour from\n\
         the people the lobby camera counts.\n\
         \x20 Alerts      {base}/#alerts: one minute after start the demo stops the\n\
         reception camera for about two minutes: a camera_offline warning fires\n\
         90 s later (the banner shows it on every page) and resolves once the\n\
         camera is back; the fire panel's alarm is a critical alert.\n\
         Press Ctrl-C to stop everything.\n",
        state = state.display()
    );

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    {
        let base = central.base.clone();
        let outage = camera_outage(&mut reception, &http, &base, &token);
        tokio::pin!(outage);
        let mut outage_done = false;
        loop {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => break,
                _ = term.recv() => break,
                r = &mut outage, if !outage_done => {
                    outage_done = true;
                    if let Err(e) = r {
                        eprintln!("atrium-demo: the camera outage did not go as planned: {e:#}");
                    }
                }
            }
        }
    }
    println!("\nstopping: simulator, edge-agent, central, camera, broker, database…");
    sim.stop();
    edge.stop();
    face_edge.stop();
    central.stop();
    drop(cam);
    drop(reception);
    drop(broker);
    drop(pg);
    println!("stopped; logs are in {}", state.display());
    Ok(())
}

/// A minute after start, stops the reception camera until central has
/// fired its camera_offline alert, then starts it again and waits for the
/// alert to resolve: the alerting chain shown end to end.
async fn camera_outage(
    camera: &mut RtspCamera,
    http: &reqwest::Client,
    base: &str,
    token: &str,
) -> anyhow::Result<()> {
    let alert = || async {
        let r: serde_json::Value = http
            .get(format!(
                "{base}/api/v1/alerts?state=all&rule=camera_offline&per_page=1"
            ))
            .bearer_auth(token)
            .send()
            .await?
            .json()
            .await?;
        anyhow::Ok(r["data"][0].clone())
    };
    // A deliberate pause: the outage begins once the visitor has had a
    // minute to look around (not a wait for anything).
    tokio::time::sleep(Duration::from_secs(60)).await;
    println!("• demo: stopping the reception camera (an outage for the alerts page)");
    camera.stop().await;
    let stopped = tokio::time::Instant::now();
    let fired = loop {
        let a = alert().await?;
        if a["state"] == "firing" {
            break a;
        }
        if stopped.elapsed() > Duration::from_secs(300) {
            bail!("no camera_offline alert within 5 minutes of stopping the camera");
        }
        // The poll interval; the deadline is the 5 minutes above.
        tokio::time::sleep(Duration::from_secs(2)).await;
    };
    println!(
        "• demo: alert {} fired after {} s: {}; starting the camera again",
        fired["id"],
        stopped.elapsed().as_secs(),
        fired["summary"].as_str().unwrap_or("")
    );
    camera
        .restart()
        .await
        .context("restarting the reception camera")?;
    let back = tokio::time::Instant::now();
    loop {
        let a = alert().await?;
        if a["state"] == "resolved" {
            println!(
                "• demo: alert {} resolved {} s after the camera came back",
                a["id"],
                back.elapsed().as_secs()
            );
            return Ok(());
        }
        if back.elapsed() > Duration::from_secs(300) {
            bail!("the camera_offline alert did not resolve within 5 minutes");
        }
        // The poll interval; the deadline is the 5 minutes above.
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
}

/// Writes a crop of the first face of the clip's first photo into `dir`.
fn enrolment_photo(dir: &std::path::Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(fixture("faces/sample1.jpg")?)?;
    let img = atrium_vision::image::decode(&bytes, Default::default())?;
    let models = atrium_vision::Models::open(
        &workspace_root().join("models"),
        atrium_vision::RuntimeOptions {
            library: Some(atrium_testkit::onnxruntime_library()),
            ..Default::default()
        },
    )?;
    let faces = models.face_detector()?.detect(&img.view(), None)?;
    let face = faces.first().context("no face found in sample1.jpg")?;
    let crop = img
        .crop(face.bbox.square(2.0))
        .context("the face lies outside the photo")?;
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("face.png"), crop.to_png()?)?;
    Ok(())
}

fn step(what: &str) {
    println!("• {what}");
}
