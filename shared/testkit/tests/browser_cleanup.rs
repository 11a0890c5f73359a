//! A browser session a test never closed (it panicked first) does not
//! outlive the harness: dropping `Chromedriver` ends the browser too.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use atrium_testkit::{Chromedriver, poll, webui};

/// PIDs of running processes whose command line mentions `needle`.
fn processes_with(needle: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| {
            let pid: u32 = e.ok()?.file_name().to_str()?.parse().ok()?;
            let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
            String::from_utf8_lossy(&cmd)
                .contains(needle)
                .then_some(pid)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unclosed_session_ends_with_the_harness() {
    let driver = Chromedriver::start().await.unwrap();
    let browser = webui::open(&driver, "about:blank").await;
    // The profile directory names this harness's browsers.
    let profile = driver.capabilities()["goog:chromeOptions"]["args"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a.as_str()?.strip_prefix("--user-data-dir="))
        .map(|p| p.rsplit_once('/').map_or(p, |(dir, _)| dir).to_owned())
        .next()
        .unwrap();
    assert!(
        !processes_with(&profile).is_empty(),
        "a browser runs with a profile under {profile}"
    );
    drop(browser); // not closed, as after a panic
    drop(driver);
    let gone = poll(Duration::from_secs(10), || async {
        processes_with(&profile).is_empty().then_some(())
    })
    .await;
    assert!(
        gone.is_some(),
        "browsers left running: {:?}",
        processes_with(&profile)
    );
}
