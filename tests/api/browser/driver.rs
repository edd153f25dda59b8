//! A real browser for the tests: the system's Chromium driven over WebDriver (fantoccini →
//! chromedriver), headless, as a 390×844 phone.
//!
//! The browser test never passes without a browser: when `chromium` or `chromedriver` is
//! missing it installs them with apt-get if it runs as root (as CI does; `.ci/run` installs
//! them first anyway), and otherwise fails naming the command to run.
//! `ORDERCENTER_CHROMIUM` and `ORDERCENTER_CHROMEDRIVER` point at other binaries.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};

/// What to install on Debian (the fonts: Chinese text in the screenshots).
const APT_PACKAGES: &[&str] = &["chromium", "chromium-driver", "fonts-wqy-microhei"];

/// The phone: an iPhone 12–15 sized viewport.
pub const PHONE: (u32, u32) = (390, 844);

/// One browser session with its own chromedriver and profile; both end with it.
pub struct Browser {
    /// The WebDriver client.
    pub client: Client,
    driver: Child,
    driver_url: String,
    session_id: String,
    http: reqwest::Client,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts chromedriver and a headless Chromium as a phone, logging the console.
    pub async fn start() -> Browser {
        let (chromium, chromedriver) = tools();
        let profile = tempfile::tempdir().expect("browser profile dir");
        let (driver, driver_url) = start_driver(&chromedriver).await;
        let capabilities = json!({
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless=new",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--no-first-run",
                    "--no-default-browser-check",
                    "--disable-extensions",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--lang=zh-CN",
                    // Offline: any name but the loopback address fails to resolve, so a
                    // page that fetched anything from the network would log an error.
                    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
                "mobileEmulation": {
                    "deviceMetrics": { "width": PHONE.0, "height": PHONE.1, "pixelRatio": 1.0, "touch": true },
                    "userAgent": "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Mobile/15E148 MicroMessenger/8.0.47 ordercenter-test"
                },
            },
            "goog:loggingPrefs": { "browser": "ALL" },
        });
        let Value::Object(capabilities) = capabilities else {
            unreachable!("an object literal")
        };
        let mut builder =
            ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new());
        builder.capabilities(capabilities);
        let client = builder.connect(&driver_url).await.unwrap_or_else(|e| {
            panic!("no browser session from {driver_url} with {chromium}: {e}")
        });
        let session_id = client
            .session_id()
            .await
            .expect("session id")
            .expect("a session");
        Browser {
            client,
            driver,
            driver_url,
            session_id,
            http: reqwest::Client::new(),
            _profile: profile,
        }
    }

    /// Opens `url` and waits until the document has loaded.
    pub async fn open(&self, url: &str) {
        self.client.goto(url).await.expect("page opens");
    }

    /// The element, once it exists (within 10 s).
    pub async fn element(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(10))
            .every(Duration::from_millis(50))
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css}: {e}"))
    }

    /// `[data-testid="…"]`.
    pub async fn testid(&self, id: &str) -> fantoccini::elements::Element {
        self.element(&format!("[data-testid=\"{id}\"]")).await
    }

    /// Clicks an element once it is displayed and enabled.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let element = self.element(css).await;
            let ready = element.is_displayed().await.unwrap_or(false)
                && element.is_enabled().await.unwrap_or(false);
            if ready && element.click().await.is_ok() {
                return;
            }
            assert!(Instant::now() < deadline, "{css} never became clickable");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits until the element's visible text satisfies `wanted`; returns it.
    pub async fn wait_text(
        &self,
        css: &str,
        within: Duration,
        what: &str,
        wanted: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + within;
        let mut last = String::new();
        loop {
            if let Ok(element) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = element.text().await {
                    if wanted(&text) {
                        return text;
                    }
                    last = text;
                }
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {within:?} waiting for {css} to show {what}; it shows {last:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Saves a screenshot of the viewport as `target/browser-artifacts/<name>.png`.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.expect("screenshot");
        let dir = artifacts_dir();
        std::fs::create_dir_all(&dir).expect("artifacts dir");
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).expect("screenshot written");
        path
    }

    /// The console entries logged since the last call (chromedriver's browser log).
    pub async fn console(&self) -> Vec<ConsoleEntry> {
        let url = format!("{}/session/{}/se/log", self.driver_url, self.session_id);
        let reply: Value = self
            .http
            .post(url)
            .json(&json!({ "type": "browser" }))
            .send()
            .await
            .expect("browser log request")
            .json()
            .await
            .expect("browser log JSON");
        reply["value"]
            .as_array()
            .unwrap_or_else(|| panic!("no browser log: {reply}"))
            .iter()
            .map(|entry| ConsoleEntry {
                level: entry["level"].as_str().unwrap_or_default().to_owned(),
                source: entry["source"].as_str().unwrap_or_default().to_owned(),
                message: entry["message"].as_str().unwrap_or_default().to_owned(),
            })
            .collect()
    }

    /// Ends the session (the browser quits) and chromedriver.
    pub async fn quit(mut self) {
        let client = self.client.clone();
        let _ = client.close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    /// A failed test may leave the browser running: end chromedriver's process group
    /// (Chromium runs in it) by its id.
    fn drop(&mut self) {
        if let Ok(None) = self.driver.try_wait() {
            let group = format!("-{}", self.driver.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = self.driver.wait();
        }
    }
}

/// One console message.
#[derive(Debug, Clone)]
pub struct ConsoleEntry {
    /// `SEVERE`, `WARNING`, `INFO`, …
    pub level: String,
    /// `javascript`, `network`, `console-api`, `security`, …
    pub source: String,
    /// The text.
    pub message: String,
}

impl ConsoleEntry {
    /// An error: what the test fails on.
    pub fn is_error(&self) -> bool {
        self.level == "SEVERE"
    }
}

/// `target/browser-artifacts/`.
pub fn artifacts_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|target| target.join("browser-artifacts"))
        .unwrap_or_else(|| PathBuf::from("target/browser-artifacts"))
}

/// Chromium and chromedriver, installed first if they are missing and we may.
fn tools() -> (String, PathBuf) {
    if let (Some(chromium), Some(driver)) = (chromium(), chromedriver()) {
        return (chromium.display().to_string(), driver);
    }
    let command = format!("apt-get install -y {}", APT_PACKAGES.join(" "));
    if !is_root() {
        panic!(
            "the browser test needs Chromium and chromedriver, which are not installed: \
             run `sudo {command}` (Debian/Ubuntu), or set ORDERCENTER_CHROMIUM and \
             ORDERCENTER_CHROMEDRIVER to their paths"
        );
    }
    install();
    match (chromium(), chromedriver()) {
        (Some(chromium), Some(driver)) => (chromium.display().to_string(), driver),
        _ => panic!(
            "the browser test needs Chromium and chromedriver; installing them failed: \
             run `{command}` and look at its output (ORDERCENTER_CHROMIUM and \
             ORDERCENTER_CHROMEDRIVER, when set, must name existing files)"
        ),
    }
}

/// apt-get, once at a time across the test processes (nextest runs each test in its own).
fn install() {
    let lock_path = std::env::temp_dir().join("ordercenter-browser-install.lock");
    let lock = std::fs::File::create(&lock_path).expect("install lock file");
    fs2::FileExt::lock_exclusive(&lock).expect("install lock");
    if chromium().is_some() && chromedriver().is_some() {
        return; // another test process installed them meanwhile
    }
    eprintln!(
        "browser test: installing {} with apt-get",
        APT_PACKAGES.join(" ")
    );
    let apt = |args: &[&str]| {
        Command::new("apt-get")
            .args(["-o", "DPkg::Lock::Timeout=600", "-qq"])
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdin(Stdio::null())
            .status()
            .is_ok_and(|status| status.success())
    };
    let updated = apt(&["update"]);
    let installed = apt(&[&["install", "-y"][..], APT_PACKAGES].concat());
    eprintln!("browser test: apt-get update ok: {updated}, install ok: {installed}");
    let _ = fs2::FileExt::unlock(&lock);
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}

fn chromium() -> Option<PathBuf> {
    found(
        "ORDERCENTER_CHROMIUM",
        &[
            "chromium",
            "chromium-browser",
            "google-chrome",
            "google-chrome-stable",
        ],
    )
}

fn chromedriver() -> Option<PathBuf> {
    found("ORDERCENTER_CHROMEDRIVER", &["chromedriver"])
}

/// The override, or the first of `names` on `PATH`.
fn found(override_var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(override_var) {
        let path = PathBuf::from(path);
        return path.is_file().then_some(path);
    }
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.extend(["/usr/bin", "/usr/local/bin", "/usr/lib/chromium"].map(PathBuf::from));
    names
        .iter()
        .flat_map(|name| dirs.iter().map(move |dir| dir.join(name)))
        .find(|candidate| candidate.is_file())
}

/// chromedriver on a free loopback port, in its own process group; once it answers.
async fn start_driver(chromedriver: &Path) -> (Child, String) {
    use std::os::unix::process::CommandExt;
    for _ in 0..5 {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut child = Command::new(chromedriver)
            .arg(format!("--port={port}"))
            .arg("--log-level=WARNING")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", chromedriver.display()));
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                break; // the port was taken meanwhile: try another
            }
            let ready = http
                .get(format!("{url}/status"))
                .send()
                .await
                .ok()
                .map(|r| r.status().is_success())
                .unwrap_or(false);
            if ready {
                return (child, url);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("{} did not start", chromedriver.display());
}
