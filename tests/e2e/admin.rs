//! The admin CLI an installer uses for the broker: the site PKI (reserved
//! identities, revocation), and the broker configuration, run for real by
//! Mosquitto and compared with what the operations guide shows.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

use std::path::Path;
use std::time::{Duration, Instant};

use atrium_mqtt::TlsFiles;
use atrium_tests::{binary, central_cli};

fn central(args: &[&str]) -> std::process::Output {
    std::process::Command::new(binary("central"))
        .args(args)
        .output()
        .unwrap()
}

#[test]
fn pki_init_and_issue_write_usable_certificates_and_reserve_central_names() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    let out = central_cli(&[
        "admin",
        "pki",
        "init",
        "--dir",
        d,
        "--central",
        "central",
        "--central",
        "central-2",
    ]);
    assert!(out.contains("wrote ca.pem"), "{out}");
    for f in [
        "ca.pem",
        "ca.key",
        "broker.pem",
        "broker.key",
        "acl",
        "crl.pem",
        "central.pem",
        "central.key",
        "central-2.pem",
    ] {
        assert!(dir.path().join(f).exists(), "{f} missing");
    }
    use std::os::unix::fs::PermissionsExt;
    for key in ["ca.key", "broker.key", "central.key"] {
        let mode = std::fs::metadata(dir.path().join(key))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o077, 0, "{key} is readable by others");
    }
    let acl = std::fs::read_to_string(dir.path().join("acl")).unwrap();
    assert!(acl.contains("user central-2"));
    // Idempotent: a second init keeps the CA.
    let ca = std::fs::read_to_string(dir.path().join("ca.pem")).unwrap();
    let again = central_cli(&["admin", "pki", "init", "--dir", d]);
    assert!(again.contains("CA exists"), "{again}");
    assert_eq!(
        std::fs::read_to_string(dir.path().join("ca.pem")).unwrap(),
        ca
    );
    let out = central_cli(&["admin", "pki", "issue", "--dir", d, "cam-7"]);
    assert!(out.contains("cam-7.pem"), "{out}");
    let (_, cn) = atrium_mqtt::pki::certificate_id(
        &std::fs::read_to_string(dir.path().join("cam-7.pem")).unwrap(),
    )
    .unwrap();
    assert_eq!(cn, "cam-7");

    // Bad and reserved identities are refused, with the reason.
    for (args, want) in [
        (vec!["Bad Name"], "camera id"),
        (vec!["central"], "reserved for central instances"),
        (vec!["central-9"], "reserved for central instances"),
        (vec!["--central", "lobby"], "not a central identity"),
    ] {
        let mut full = vec!["admin", "pki", "issue", "--dir", d];
        full.extend(args.iter());
        let out = central(&full);
        assert!(!out.status.success(), "{args:?} was accepted");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(want), "{args:?}: {err}");
    }
    assert!(!dir.path().join("central-9.pem").exists());
    // A central identity needs --central, and joins the ACL.
    central_cli(&[
        "admin",
        "pki",
        "issue",
        "--dir",
        d,
        "--central",
        "central-3",
    ]);
    let acl = std::fs::read_to_string(dir.path().join("acl")).unwrap();
    assert!(
        acl.contains("user central-3") && acl.contains("user central-2"),
        "{acl}"
    );
    // Cameras cannot be created with those names either.
    let out = central(&[
        "admin",
        "--database-url",
        "postgres://nobody@127.0.0.1:1/none",
        "camera",
        "add",
        "--id",
        "central",
        "--site",
        "hq",
        "--name",
        "x",
    ]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("reserved"));
}

#[test]
fn the_operations_guide_shows_exactly_what_broker_config_writes() {
    let guide =
        std::fs::read_to_string(atrium_testkit::workspace_root().join("docs/guide/operations.md"))
            .unwrap();
    let begin = guide
        .find("<!-- broker-config:begin")
        .expect("begin marker");
    let end = guide
        .find("<!-- broker-config:end -->")
        .expect("end marker");
    let block = &guide[begin..end];
    let body = block
        .split_once("```\n")
        .and_then(|(_, rest)| rest.rsplit_once("```"))
        .map(|(b, _)| b)
        .expect("a fenced block");
    let generated = central_cli(&["admin", "broker", "config", "--pki", "/etc/atrium/pki"]);
    assert_eq!(
        body, generated,
        "docs/guide/operations.md is out of date: paste the output of \
         `central admin broker config --pki /etc/atrium/pki`"
    );
}

/// A connection attempt with `tls` to a broker on `port`: CONNACK or the
/// error.
async fn try_connect(port: u16, tls: &TlsFiles) -> Result<(), String> {
    let mut o =
        rumqttc::v5::MqttOptions::new(format!("probe-{}", uuid::Uuid::now_v7()), "127.0.0.1", port);
    o.set_transport(tls.transport().unwrap());
    let (_client, mut el) = rumqttc::v5::AsyncClient::new(o, 10);
    loop {
        match tokio::time::timeout(Duration::from_secs(10), el.poll()).await {
            Ok(Ok(rumqttc::v5::Event::Incoming(rumqttc::v5::mqttbytes::v5::Packet::ConnAck(
                _,
            )))) => {
                return Ok(());
            }
            Ok(Ok(_)) => {}
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("no answer".into()),
        }
    }
}

fn files(dir: &Path, identity: &str) -> TlsFiles {
    TlsFiles {
        ca: dir.join("ca.pem"),
        cert: dir.join(format!("{identity}.pem")),
        key: dir.join(format!("{identity}.key")),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_generated_broker_config_runs_and_a_revoked_certificate_is_refused_after_a_reload() {
    let dir = tempfile::tempdir().unwrap();
    let pki = dir.path().join("pki");
    let p = pki.to_str().unwrap();
    central_cli(&["admin", "pki", "init", "--dir", p]);
    central_cli(&["admin", "pki", "issue", "--dir", p, "cam-1"]);
    central_cli(&["admin", "pki", "issue", "--dir", p, "cam-2"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let conf = dir.path().join("mosquitto.conf");
    let listen = format!("127.0.0.1:{port}");
    let log = format!("file:{}", dir.path().join("mosquitto.log").display());
    let mut args = vec![
        "admin",
        "broker",
        "config",
        "--pki",
        p,
        "--listen",
        &listen,
        "--persistence-dir",
        dir.path().to_str().unwrap(),
        "--log",
        &log,
        "-o",
        conf.to_str().unwrap(),
    ];
    // As root Mosquitto would switch to its own user, who cannot read a
    // private temporary directory.
    if nix::unistd::geteuid().is_root() {
        args.extend(["--user", "root"]);
    }
    central_cli(&args);
    let mut broker = tokio::process::Command::new("mosquitto")
        .arg("-c")
        .arg(&conf)
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(10);
    while tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .is_err()
    {
        assert!(
            Instant::now() < deadline,
            "mosquitto did not start with the generated config"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    try_connect(port, &files(&pki, "cam-1")).await.unwrap();
    try_connect(port, &files(&pki, "cam-2")).await.unwrap();

    let out = central_cli(&["admin", "pki", "revoke", "--dir", p, "cam-1"]);
    assert!(out.contains("revoked cam-1"), "{out}");
    let revoked_pem = std::fs::read_dir(pki.join("revoked"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "pem"))
        .unwrap();
    let revoked = TlsFiles {
        ca: pki.join("ca.pem"),
        cert: revoked_pem.clone(),
        key: revoked_pem.with_extension("key"),
    };
    assert!(!pki.join("cam-1.pem").exists(), "moved away for a new one");
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(broker.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGHUP,
    )
    .unwrap();
    // The reload is asynchronous: the revoked certificate is refused from
    // some moment on, and the other camera is never affected.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match try_connect(port, &revoked).await {
            Err(e) => {
                println!("revoked certificate refused: {e}");
                break;
            }
            Ok(()) => assert!(
                Instant::now() < deadline,
                "the revoked certificate still connects"
            ),
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    try_connect(port, &files(&pki, "cam-2")).await.unwrap();
    // Rotation: a new certificate for the same camera connects.
    central_cli(&["admin", "pki", "issue", "--dir", p, "cam-1"]);
    try_connect(port, &files(&pki, "cam-1")).await.unwrap();
    let list = std::fs::read_to_string(pki.join("revoked.list")).unwrap();
    assert_eq!(list.lines().count(), 1);
    assert!(list.contains(" cam-1 "), "{list}");
    broker.kill().await.unwrap();
}

#[test]
fn check_config_opens_every_named_file_and_wants_a_central_certificate() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().to_str().unwrap();
    central_cli(&["admin", "pki", "init", "--dir", d, "--central", "central-1"]);
    central_cli(&["admin", "pki", "issue", "--dir", d, "cam-1"]);
    let tls = |name: &str| TlsFiles {
        ca: dir.path().join("ca.pem"),
        cert: dir.path().join(format!("{name}.pem")),
        key: dir.path().join(format!("{name}.key")),
    };
    let setup = |files: TlsFiles| atrium_tests::CentralSetup {
        database_url: "postgres://atrium@127.0.0.1:1/atrium".into(),
        broker_port: 8883,
        tls: files,
        listen: "127.0.0.1:0".into(),
        secure_cookies: false,
        client_id: Some("central-1".into()),
    };
    let config = setup(tls("central-1")).write(dir.path());
    let check = |path: &Path| central(&["check-config", "--config", path.to_str().unwrap()]);

    // A good file passes (the database port is closed: nothing connects).
    let out = check(&config);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("as central-1"), "{stdout}");
    assert!(stdout.contains("created at the first start"), "{stdout}");

    // A camera's certificate would not get central's broker rights.
    setup(tls("cam-1")).write(dir.path());
    let out = check(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("\"cam-1\"") && err.contains("not to a central instance"),
        "{err}"
    );

    // A named file that is missing, and an unknown key, are named.
    let mut missing = tls("central-1");
    missing.key = dir.path().join("nowhere.key");
    setup(missing).write(dir.path());
    let out = check(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("nowhere.key"), "{err}");
    setup(tls("central-1")).write(dir.path());
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("[http]", "[http]\nlisen = \"x\"");
    std::fs::write(&config, text).unwrap();
    let out = check(&config);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("lisen") && err.contains("central.toml"),
        "{err}"
    );
}
