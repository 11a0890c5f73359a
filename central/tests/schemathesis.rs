//! schemathesis (from PyPI, in the venv `scripts/setup` makes) against the
//! OpenAPI document of a running central, as a super_admin: no answer may
//! be a server error, and every answer must match what the document
//! declares (status, content type, headers, body schema), and the run's
//! own session must survive it. The seed is fixed so a failure
//! reproduces (`ATRIUM_SCHEMATHESIS_SEED` picks another, to explore); the
//! time budget bounds the run.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

mod support;

use std::process::Command;

use support::{Api, Stack};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_api_conforms_to_its_openapi_document() {
    let schemathesis = std::env::var("ATRIUM_SCHEMATHESIS")
        .expect("ATRIUM_SCHEMATHESIS is unset: source scripts/env.sh");
    assert!(
        std::path::Path::new(&schemathesis).exists(),
        "{schemathesis} is missing: run scripts/setup"
    );
    let stack = Stack::start().await;
    stack.add_camera("cam-1").await;
    let pw = stack.add_user("root", "super_admin").await;
    let running = stack.central("central", "").await;
    let api = Api::new(&running);
    let token = api.token("root", &pw).await;
    let (_, me) = api.get("/api/v1/auth/me", &token).await;
    let root_id = me["id"].as_str().unwrap().to_owned();
    let reports = tempfile::tempdir().unwrap();
    // schemathesis reuses ids it saw in answers: left alone it resets the
    // run's own password (or makes a second super_admin and deletes this
    // one), which ends the session the rest of the run needs. Cases aimed
    // at the run's own account are dropped; every other user id is fair.
    let hooks = reports.path().join("hooks.py");
    std::fs::write(
        &hooks,
        format!(
            "import schemathesis\n\n\n@schemathesis.hook\ndef filter_case(context, case):\n    params = case.path_parameters or {{}}\n    return str(params.get(\"user_id\", \"\")).lower() != \"{root_id}\"\n"
        ),
    )
    .unwrap();
    let base = api.base.clone();
    let token_header = format!("Authorization: Bearer {token}");
    let dir = reports.path().to_owned();
    let seed = std::env::var("ATRIUM_SCHEMATHESIS_SEED").unwrap_or_else(|_| "20261201".into());
    let out = tokio::task::spawn_blocking(move || {
        Command::new(&schemathesis)
            .args([
                "run",
                &format!("{base}/api/v1/openapi.json"),
                "--header",
                &token_header,
                "--checks",
                "not_a_server_error,status_code_conformance,content_type_conformance,\
                 response_headers_conformance,response_schema_conformance",
                "--phases",
                "examples,coverage,fuzzing",
                "--max-examples",
                "15",
                "--seed",
                &seed,
                // One worker: the rate limit below is per worker.
                "--workers",
                "1",
                // The super_admin's budget is 1000 a minute: wait when told.
                // Logging out would end the run's own session.
                "--exclude-path",
                "/api/v1/auth/logout",
                // Within the super_admin's budget of 1000 a minute.
                "--rate-limit",
                "900/m",
                "--max-time",
                "150",
                "--request-timeout",
                "10",
                "--report",
                "junit",
                "--report-dir",
            ])
            .arg(&dir)
            // Its cache (which replays earlier crashes first) stays in the
            // run's temporary directory, so every run starts alike.
            .current_dir(&dir)
            .env("NO_COLOR", "1")
            .env("SCHEMATHESIS_HOOKS", &hooks)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    println!("{stdout}");
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    // The summary names how many operations and cases ran; zero would be
    // a document schemathesis could not read.
    assert!(
        stdout.contains("passed") || stdout.contains("Passed"),
        "no summary from schemathesis"
    );
    assert!(out.status.success(), "schemathesis found failures (above)");
    // Nothing it sent ended the session it ran in.
    let (s, _) = api.get("/api/v1/auth/me", &token).await;
    assert_eq!(s, 200, "the run's own session was ended");
    running.shutdown().await;
}
