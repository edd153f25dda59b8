//! `spawn_app()`, the member fixture and typed views of the answers.
//!
//! Each [`TestApp`] runs the real application on port 0 with a temporary data dir, on a
//! thread of its own with its own actix `System`, and stops it when dropped: the server
//! stops, the store is closed, then the data dir is removed. Requests go through
//! [`TestApp::member`] (the seed's caller, typed answers) or, for hostile input, the raw
//! `post_form` / `post_json` / `post_raw` / `get`.

#![allow(dead_code)]

mod member;
mod views;

use std::process::Child;
use std::sync::mpsc;
use std::time::Duration;

use ordercenter::config::Config;
use ordercenter::startup::Application;
use serde::de::DeserializeOwned;
use serde_json::Value;

pub use member::Member;
pub use views::{
    data_of, Activity, Applied, ApplyRecord, Order, Payment, Registration, State, Status,
};

/// The seed's caller.
pub const COMPANY: u64 = 421;
/// The seed's business.
pub const BUSINESS: u64 = 10000001;

/// A form as (field, value) pairs.
pub type Form = Vec<(&'static str, String)>;

/// Who calls: the seed's company and business, and `member`.
pub fn caller_form(member: u64) -> Form {
    vec![
        ("company_id", COMPANY.to_string()),
        ("member_id", member.to_string()),
        ("business_id", BUSINESS.to_string()),
    ]
}

/// The seed's apply form for `member` and `activity_id`.
pub fn apply_form(member: u64, activity_id: u64) -> Form {
    let mut form = caller_form(member);
    form.extend([
        ("activity_id", activity_id.to_string()),
        ("name", "张文林".into()),
        ("phone", "15976123893".into()),
    ]);
    form
}

/// The seed's create form for `member` and `sku_slice`.
pub fn create_form(member: u64, sku_slice: &str) -> Form {
    let mut form = caller_form(member);
    form.extend([
        ("latitude", "22.5483".into()),
        ("longitude", "113.9174".into()),
        ("city_id", "4403".into()),
        ("sys_id", "30".into()),
        ("sku_slice", sku_slice.into()),
        ("business_type", "3001".into()),
        ("request_id", "ppsport".into()),
        ("handle_info", r#"{"platform_id":3}"#.into()),
    ]);
    form
}

/// The caller's fields and `parent_order_no`: state, cancel and detail.
pub fn order_form(member: u64, parent_order_no: &str) -> Form {
    let mut form = caller_form(member);
    form.push(("parent_order_no", parent_order_no.into()));
    form
}

/// The seed's pay form (WeChat through UMS).
pub fn pay_form(member: u64, parent_order_no: &str) -> Form {
    let mut form = order_form(member, parent_order_no);
    form.extend([
        ("payment_way", "110".into()),
        (
            "extend_field",
            r#"{"trade_pay_type":"umsPay.open.mini","msg_type":"wx.unifiedOrder"}"#.into(),
        ),
    ]);
    form
}

/// Longest a dropped [`TestApp`] waits for its application to shut down (the server gives
/// requests in flight 10 s).
const SHUTDOWN_LIMIT: Duration = Duration::from_secs(20);

/// A running application for one test; stopped when dropped.
pub struct TestApp {
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// Shared keep-alive client.
    pub client: reqwest::Client,
    /// The data dir, removed after the application stopped.
    pub dir: tempfile::TempDir,
    running: Option<Running>,
}

/// The application's thread, seen from the test.
struct Running {
    server: actix_web::dev::ServerHandle,
    /// Disconnects when the application's thread ends (after its store closed).
    ended: mpsc::Receiver<()>,
}

impl Running {
    /// Asks the server to stop as SIGTERM does: it answers the requests in flight, then the
    /// application shuts down in order. Returns at once.
    fn stop(&self) {
        // The command is sent when `stop` is called; its future only waits for it.
        drop(self.server.stop(true));
    }
}

/// A response: HTTP status and JSON body.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Parsed JSON body (`Null` when the body was not JSON).
    pub body: Value,
    /// The raw body.
    pub text: String,
}

impl Reply {
    /// The envelope's `code`.
    pub fn code(&self) -> u64 {
        self.body["code"].as_u64().unwrap_or(0)
    }

    /// The envelope's `data`.
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    /// Asserts success and returns `data`.
    pub fn ok(&self) -> &Value {
        assert_eq!(
            (self.status, self.code()),
            (200, 200),
            "expected success, got {}",
            self.text
        );
        assert_eq!(self.body["message"], "SUCCESS");
        self.data()
    }

    /// Asserts success and returns `data` as `T`.
    pub fn ok_as<T: DeserializeOwned>(&self) -> T {
        self.ok();
        data_of(&self.body)
    }

    /// Asserts a failure with this HTTP status and business code, in the envelope.
    pub fn expect_error(&self, status: u16, code: u64) {
        assert_eq!(
            (self.status, self.code()),
            (status, code),
            "expected {status}/{code}, got {}",
            self.text
        );
        assert!(
            self.body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "no message: {}",
            self.text
        );
        assert!(
            self.body.get("data").is_some(),
            "no data key: {}",
            self.text
        );
    }
}

/// Starts the app with the default embedded configuration.
pub async fn spawn_app() -> TestApp {
    spawn_app_with(|_| {}).await
}

/// Starts the app after `adjust` changed its configuration.
pub async fn spawn_app_with(adjust: impl FnOnce(&mut Config)) -> TestApp {
    // Kept for the test process's life: its last lines need no flush at exit.
    std::mem::forget(ordercenter::telemetry::init());
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = Config::embedded(dir.path(), "127.0.0.1:0");
    // One shared RSA key: generating one in a debug build takes seconds.
    config.paysim_key_file = Some(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/paysim_test_key.pem"),
    );
    config.workers = Some(2);
    config.cache_mb = 32;
    adjust(&mut config);

    let (started, answer) = tokio::sync::oneshot::channel();
    let (ending, ended) = mpsc::channel::<()>();
    std::thread::Builder::new()
        .name("test-app".into())
        .spawn(move || {
            let _ending = ending;
            actix_rt::System::new().block_on(async move {
                match Application::build(config).await {
                    Ok(app) => {
                        let _ = started.send(Ok((app.address(), app.server_handle())));
                        let _ = app.run_until_stopped().await;
                    }
                    Err(error) => {
                        let _ = started.send(Err(error.to_string()));
                    }
                }
            });
        })
        .expect("application thread starts");
    let (address, server) = answer
        .await
        .expect("the application thread answers")
        .unwrap_or_else(|error| panic!("application starts: {error}"));
    let test_app = TestApp {
        base: format!("http://{address}"),
        client: reqwest::Client::new(),
        dir,
        running: Some(Running { server, ended }),
    };
    test_app.wait_ready().await;
    test_app
}

impl Drop for TestApp {
    fn drop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop();
        if let Err(mpsc::RecvTimeoutError::Timeout) = running.ended.recv_timeout(SHUTDOWN_LIMIT) {
            eprintln!(
                "{}: still shutting down after {SHUTDOWN_LIMIT:?}; left running",
                self.base
            );
        }
    }
}

impl TestApp {
    /// Waits for `/readyz`.
    pub async fn wait_ready(&self) {
        for _ in 0..200 {
            if let Ok(r) = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
            {
                if r.status() == 200 {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("{} never became ready", self.base);
    }

    /// Stops the application and waits until it has closed its store, so its data dir can
    /// be read. Dropping the app does the same.
    pub async fn stop(&mut self) {
        let Some(running) = self.running.take() else {
            return;
        };
        running.stop();
        let ended = tokio::task::spawn_blocking(move || running.ended.recv_timeout(SHUTDOWN_LIMIT))
            .await
            .expect("waiting for the application thread");
        assert!(
            matches!(ended, Err(mpsc::RecvTimeoutError::Disconnected)),
            "{} still shutting down after {SHUTDOWN_LIMIT:?}",
            self.base
        );
        // The store's flusher ends just after the application's thread, with a last flush:
        // sled's lock on the data dir goes with it.
        let db = self.dir.path().join("db");
        let released = tokio::task::spawn_blocking(move || {
            use fs2::FileExt;
            let started = std::time::Instant::now();
            while started.elapsed() < SHUTDOWN_LIMIT {
                match std::fs::File::open(&db).map(|file| file.try_lock_exclusive()) {
                    Ok(Ok(())) | Err(_) => return true,
                    Ok(Err(_)) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
            false
        })
        .await
        .expect("waiting for the store's lock");
        assert!(released, "{} still holds its store", self.base);
    }

    /// `member` of the seed's company, calling as the mini-program does.
    pub fn member(&self, member_id: u64) -> Member<'_> {
        Member::new(self, member_id)
    }

    async fn reply(response: reqwest::Response) -> Reply {
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Reply { status, body, text }
    }

    /// POSTs a urlencoded form.
    pub async fn post_form(&self, path: &str, form: &[(&str, String)]) -> Reply {
        self.send(self.client.post(self.url(path)).form(form)).await
    }

    /// POSTs a urlencoded form with an `Idempotency-Key` header.
    pub async fn post_form_with_key(
        &self,
        path: &str,
        key: &str,
        form: &[(&str, String)],
    ) -> Reply {
        let request = self.client.post(self.url(path)).form(form);
        self.send(request.header("Idempotency-Key", key)).await
    }

    /// POSTs a JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.send(self.client.post(self.url(path)).json(body)).await
    }

    /// POSTs raw bytes with a content type.
    pub async fn post_raw(&self, path: &str, content_type: &str, body: Vec<u8>) -> Reply {
        let request = self.client.post(self.url(path)).body(body);
        self.send(request.header("content-type", content_type))
            .await
    }

    /// GETs with a query.
    pub async fn get(&self, path: &str, query: &[(&str, String)]) -> Reply {
        self.send(self.client.get(self.url(path)).query(query))
            .await
    }

    /// Sends a request built on [`TestApp::client`] (for headers the helpers do not set).
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Reply {
        Self::reply(request.send().await.expect("request sent")).await
    }

    /// The URL of `path` on this app.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Creates an activity (admin).
    pub async fn save_activity(&self, name: &str, price_fen: u64, seats: u64) -> u64 {
        let reply = self
            .post_form(
                "/activityPlatform/activity/save",
                &[
                    ("name", name.into()),
                    ("price", price_fen.to_string()),
                    ("seats", seats.to_string()),
                ],
            )
            .await;
        reply.ok()["activity_id"].as_u64().expect("activity_id")
    }

    /// The activity's detail.
    pub async fn activity(&self, activity_id: u64) -> Activity {
        self.get(
            "/activityPlatform/wxActivity/detail",
            &[("activity_id", activity_id.to_string())],
        )
        .await
        .ok_as()
    }

    /// Waits until the activity has `seats_left` seats nobody holds.
    pub async fn wait_seats_left(&self, activity_id: u64, seats_left: u64, within: Duration) {
        eventually(within, &format!("{seats_left} seats left"), || async {
            (self.activity(activity_id).await.seats_left == seats_left).then_some(())
        })
        .await;
    }

    /// Plays the buyer at the simulator; returns the HTTP status.
    pub async fn buyer_pays(&self, parent_order_no: &str) -> u16 {
        self.post_form("/paysim/pay", &[("merOrderId", parent_order_no.into())])
            .await
            .status
    }

    /// Sets the simulator's faults.
    pub async fn set_faults(&self, faults: Value) {
        let reply = self.post_json("/paysim/faults", &faults).await;
        assert_eq!(reply.status, 200, "faults not set: {}", reply.text);
    }
}

/// Polls `check` every 100 ms until it returns `Some`, or panics after `within`.
pub async fn eventually<T, F, Fut>(within: Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = std::time::Instant::now() + within;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "timed out after {within:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Runs the `loadgen` binary with `args` (plus `--json`) to its end: its JSON report and
/// whether it exited 0 (it exits 1 when an invariant was violated).
pub fn run_loadgen(args: &[&str]) -> (Value, bool) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_loadgen"))
        .args(args)
        .arg("--json")
        .output()
        .expect("loadgen runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Value = serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!(
            "no report; stderr: {}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (report, output.status.success())
}

/// A child process that is killed (SIGKILL) and reaped when this is dropped, so a failing
/// test leaves no process behind.
pub struct KillOnDrop(Option<Child>);

impl KillOnDrop {
    /// Guards `child`.
    pub fn new(child: Child) -> Self {
        KillOnDrop(Some(child))
    }

    /// Waits for the child to exit by itself and returns what it printed.
    pub fn wait_with_output(mut self) -> std::process::Output {
        let child = self.0.take().expect("a guarded child");
        child.wait_with_output().expect("child output")
    }
}

impl std::ops::Deref for KillOnDrop {
    type Target = Child;

    fn deref(&self) -> &Child {
        self.0.as_ref().expect("a guarded child")
    }
}

impl std::ops::DerefMut for KillOnDrop {
    fn deref_mut(&mut self) -> &mut Child {
        self.0.as_mut().expect("a guarded child")
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
