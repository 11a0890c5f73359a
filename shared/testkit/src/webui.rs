//! Driving the web UI in a real Chromium (through [`Chromedriver`]) from
//! tests: sessions, waiting for what the page shows, filling forms, the
//! axe-core accessibility check, and screenshots kept as CI artefacts.
//!
//! These are test helpers: they panic with the page's source or the
//! check's findings when the page does not do what the test expects.

use std::path::PathBuf;
use std::time::Duration;

use fantoccini::{Client, Locator};

use crate::Chromedriver;

/// How long a page gets to show what a test waits for.
pub const PAGE_WAIT: Duration = Duration::from_secs(20);

/// axe-core (vendored from npm; `scripts/vendor-js`, `docs/vendor.md`),
/// the accessibility checker the UI tests run in the page.
pub const AXE_SOURCE: &str = include_str!("../vendor/axe-core/axe.min.js");

/// A new Chromium session (its own profile: no shared cookies) at `url`.
pub async fn open(driver: &Chromedriver, url: &str) -> Client {
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let browser =
        Client::with_capabilities_and_connector(&driver.url(), &driver.capabilities(), connector)
            .await
            .unwrap_or_else(|e| panic!("chromium session: {e}\n{}", driver.log()));
    browser
        .goto(url)
        .await
        .unwrap_or_else(|e| panic!("open {url}: {e}"));
    browser
}

/// The element's text; `None` while it is missing or being replaced (the
/// page redraws parts of itself on every event).
pub async fn text_of(c: &Client, css: &str) -> Option<String> {
    c.find(Locator::Css(css)).await.ok()?.text().await.ok()
}

/// Whether the element exists and is displayed.
pub async fn visible(c: &Client, css: &str) -> bool {
    match c.find(Locator::Css(css)).await {
        Ok(e) => e.is_displayed().await.unwrap_or(false),
        Err(_) => false,
    }
}

async fn wait_for<F>(c: &Client, what: &str, mut ok: F) -> String
where
    F: AsyncFnMut() -> Option<String>,
{
    let deadline = tokio::time::Instant::now() + PAGE_WAIT;
    loop {
        if let Some(t) = ok().await {
            return t;
        }
        if tokio::time::Instant::now() > deadline {
            let src = c.source().await.unwrap_or_else(|e| e.to_string());
            panic!("{what} within {PAGE_WAIT:?}; page:\n{src}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits for the element's text to become `want`.
pub async fn wait_text(c: &Client, css: &str, want: &str) {
    wait_for(c, &format!("{css} never showed {want:?}"), async || {
        text_of(c, css).await.filter(|t| t == want)
    })
    .await;
}

/// Waits for the element's text to contain `want`; returns the text.
pub async fn wait_contains(c: &Client, css: &str, want: &str) -> String {
    wait_for(c, &format!("{css} never contained {want:?}"), async || {
        text_of(c, css).await.filter(|t| t.contains(want))
    })
    .await
}

/// Waits for an element to be displayed.
pub async fn wait_visible(c: &Client, css: &str) {
    wait_for(c, &format!("{css} never became visible"), async || {
        visible(c, css).await.then(String::new)
    })
    .await;
}

pub async fn click(c: &Client, css: &str) {
    let e = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    e.click()
        .await
        .unwrap_or_else(|e| panic!("click {css}: {e}"));
}

/// Types `value` into the field at `css` (replacing what it holds).
pub async fn fill(c: &Client, css: &str, value: &str) {
    let field = c
        .find(Locator::Css(css))
        .await
        .unwrap_or_else(|e| panic!("{css}: {e}"));
    field
        .clear()
        .await
        .unwrap_or_else(|e| panic!("clear {css}: {e}"));
    field
        .send_keys(value)
        .await
        .unwrap_or_else(|e| panic!("type into {css}: {e}"));
}

/// Fills in the login form and submits it.
pub async fn log_in(c: &Client, user: &str, password: &str) {
    wait_visible(c, "#login-form").await;
    fill(c, "#username", user).await;
    fill(c, "#password", password).await;
    click(c, "#login-button").await;
}

/// What axe-core found on a page.
#[derive(Debug, Clone)]
pub struct AxeReport {
    /// Serious and critical violations: rule, help and the elements.
    pub serious: Vec<serde_json::Value>,
    /// Every violation: rule, impact and how many elements.
    pub all: Vec<serde_json::Value>,
}

/// Runs axe-core on the page as it is now. Its source is part of the
/// script WebDriver runs, so the page's Content-Security-Policy (no
/// injected scripts) does not stop it and the page needs no test hook.
pub async fn axe(c: &Client) -> AxeReport {
    let script = format!(
        "{AXE_SOURCE}\n;\
        const done = arguments[arguments.length - 1];\
        axe.run(document, {{ resultTypes: ['violations'] }}).then((r) => done({{\
          serious: r.violations.filter((v) => v.impact === 'serious' || v.impact === 'critical')\
            .map((v) => ({{ id: v.id, impact: v.impact, help: v.help,\
              nodes: v.nodes.slice(0, 5).map((n) => n.target.join(' ') + ': ' + (n.failureSummary || '')) }})),\
          all: r.violations.map((v) => ({{ id: v.id, impact: v.impact, nodes: v.nodes.length }})),\
        }}), (e) => done({{ error: String(e) }}));"
    );
    let out = c
        .execute_async(&script, vec![])
        .await
        .unwrap_or_else(|e| panic!("axe-core did not run: {e}"));
    if let Some(e) = out.get("error") {
        panic!("axe-core failed: {e}");
    }
    let list = |k: &str| {
        out.get(k)
            .and_then(|v| v.as_array())
            .cloned()
            .unwrap_or_else(|| panic!("axe-core answered without {k:?}: {out}"))
    };
    AxeReport {
        serious: list("serious"),
        all: list("all"),
    }
}

/// Where browser tests leave their screenshots (CI keeps the target
/// directory's `ui-screenshots/`): `$CARGO_TARGET_DIR` or `target/`.
pub fn screenshot_path(name: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| crate::workspace_root().join("target"));
    let dir = target.join("ui-screenshots");
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    dir.join(format!("{name}.png"))
}

/// Saves a screenshot of the page as `<name>.png` (see [`screenshot_path`]).
pub async fn screenshot(c: &Client, name: &str) -> PathBuf {
    let png = c
        .screenshot()
        .await
        .unwrap_or_else(|e| panic!("screenshot {name}: {e}"));
    let path = screenshot_path(name);
    std::fs::write(&path, png).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    path
}
