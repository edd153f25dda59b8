//! The `chaos` scenario: the crash-and-fault harness. loadgen runs the server binary itself,
//! drives the seed's flow for many members while it **SIGKILLs the server at random moments**
//! and restarts it on the same data dir, with the simulator injecting latency, errors and
//! dropped notifies. Members retry through the outages (create with an `Idempotency-Key`).
//! Afterwards it checks: no acknowledged order lost; charged ⇒ paid (or refunded); not
//! charged ⇒ closed, within a few seconds of the deadline for deadlines after the last
//! restart; registrations equal payments; no seat left reserved.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Mutex, RwLock};
use rand::Rng;
use serde_json::{json, Value};
use tokio::io::AsyncBufReadExt;

/// Settings of a chaos run.
pub struct ChaosSettings {
    /// The `ordercenter` binary to run.
    pub server_bin: PathBuf,
    /// Members to simulate.
    pub members: u64,
    /// Members in flight at once.
    pub concurrency: usize,
    /// SIGKILL + restart rounds.
    pub rounds: u32,
    /// Order TTL given to the server.
    pub ttl: u64,
    /// Probability that a member pays.
    pub pay_ratio: f64,
}

/// Acceptable lateness of a close after its deadline (noisy shared machines).
const CLOSE_SLACK_MS: u64 = 5000;

struct Server {
    child: tokio::process::Child,
}

/// The server's current address, swapped at each restart.
type Base = Arc<RwLock<String>>;

async fn start_server(
    settings: &ChaosSettings,
    dir: &std::path::Path,
) -> Result<(Server, String), String> {
    let mut child = tokio::process::Command::new(&settings.server_bin)
        .args([
            "--listen",
            "127.0.0.1:0",
            "--order-ttl",
            &settings.ttl.to_string(),
        ])
        .arg("--data-dir")
        .arg(dir)
        .env("RUST_LOG", "error")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", settings.server_bin.display()))?;
    let stdout = child.stdout.take().ok_or("no stdout")?;
    let line = tokio::io::BufReader::new(stdout)
        .lines()
        .next_line()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the server printed no address")?;
    let base = line.rsplit(' ').next().unwrap_or_default().to_owned();
    let client = reqwest::Client::new();
    let until = Instant::now() + Duration::from_secs(60);
    loop {
        if client
            .get(format!("{base}/readyz"))
            .send()
            .await
            .is_ok_and(|r| r.status() == 200)
        {
            break;
        }
        if Instant::now() > until {
            return Err("the server never became ready".into());
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Faults are run-time settings of the simulator: set them again after each start.
    let faults = json!({"latency_ms": 20, "error_rate": 0.1, "lost_response_rate": 0.05, "drop_notify_rate": 0.5});
    let _ = client
        .post(format!("{base}/paysim/faults"))
        .json(&faults)
        .send()
        .await;
    Ok((Server { child }, base))
}

/// What happened to one member, from loadgen's own records.
#[derive(Default, Clone)]
struct Record {
    parent: Option<String>,
    deadline: u64,
    charged: Option<bool>,
    final_status: String,
    closed_seen_ms: u64,
}

/// What members experienced per step, across the crashes (a request sent while the server
/// is down is retried until it answers, and its latency includes the wait).
struct ChaosSteps {
    apply: crate::Step,
    create: crate::Step,
    pay: crate::Step,
    state: crate::Step,
}

/// `Ok` for an answer with code 200, else the code (for the report's error counts).
fn outcome(status: u16, body: &Value) -> Result<(), String> {
    match body["code"].as_u64() {
        Some(200) => Ok(()),
        Some(code) => Err(code.to_string()),
        None => Err(format!("http_{status}")),
    }
}

fn now_ms() -> u64 {
    ordercenter::domain::time::now_millis()
}

/// POSTs until the server answers (it may be down or restarting); returns HTTP status and body.
async fn post_retrying(
    client: &reqwest::Client,
    base: &Base,
    path: &str,
    form: &[(&str, String)],
    key: Option<&str>,
) -> (u16, Value) {
    loop {
        let url = format!("{}{}", base.read(), path);
        let mut request = client.post(url).form(form);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        match request.send().await {
            Ok(response) if response.status().as_u16() != 503 => {
                let status = response.status().as_u16();
                let body = response.json::<Value>().await.unwrap_or(Value::Null);
                if !body.is_null() || status == 200 || status == 409 {
                    return (status, body);
                }
            }
            _ => {}
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn member(
    client: reqwest::Client,
    base: Base,
    settings: Arc<ChaosSettings>,
    steps: Arc<ChaosSteps>,
    activity: u64,
    member: u64,
) -> Record {
    let who = |extra: &[(&'static str, String)]| crate::member_form(member, extra);
    let mut record = Record::default();
    let started = Instant::now();
    let (status, applied) = post_retrying(
        &client,
        &base,
        "/activityPlatform/wxActivity/apply",
        &who(&[
            ("activity_id", activity.to_string()),
            ("name", "混沌".into()),
            ("phone", "13800000000".into()),
        ]),
        None,
    )
    .await;
    steps.apply.record(started, outcome(status, &applied));
    let sku = applied["data"]["sku_slice"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let key = format!("chaos-{member}");
    let create_form = who(&[
        ("sys_id", "30".into()),
        ("sku_slice", sku),
        ("business_type", "3001".into()),
        ("request_id", "chaos".into()),
        ("handle_info", r#"{"platform_id":3}"#.into()),
    ]);
    let started = Instant::now();
    let (status, created) = post_retrying(
        &client,
        &base,
        "/shop/order/create",
        &create_form,
        Some(&key),
    )
    .await;
    steps.create.record(started, outcome(status, &created));
    if status != 200 {
        return record;
    }
    let parent = created["data"]["parent_order_no"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    record.deadline = created["data"]["expire_time"].as_u64().unwrap_or_default();
    record.parent = Some(parent.clone());
    let started = Instant::now();
    let (status, paid) = post_retrying(
        &client,
        &base,
        "/shop/order/pay",
        &who(&[
            ("parent_order_no", parent.clone()),
            ("payment_way", "110".into()),
        ]),
        None,
    )
    .await;
    steps.pay.record(started, outcome(status, &paid));
    let pays = status == 200 && rand::thread_rng().gen_bool(settings.pay_ratio);
    if pays {
        let think = rand::thread_rng().gen_range(0..1500);
        tokio::time::sleep(Duration::from_millis(think)).await;
        let url = format!("{}/paysim/pay", base.read());
        record.charged = match client
            .post(url)
            .form(&[("merOrderId", parent.as_str())])
            .send()
            .await
            .map(|r| r.status().as_u16())
        {
            Ok(200) => Some(true),
            Ok(409) => Some(false),
            _ => None, // lost in a crash: the provider will tell
        };
    } else {
        record.charged = Some(false);
    }
    // Poll until final.
    let give_up = Instant::now() + Duration::from_secs(settings.ttl * 4 + 60);
    loop {
        let started = Instant::now();
        let (status, state) = post_retrying(
            &client,
            &base,
            "/shop/order/state",
            &who(&[("parent_order_no", parent.clone())]),
            None,
        )
        .await;
        steps.state.record(started, outcome(status, &state));
        let now = now_ms();
        let transaction = state["data"]["transaction_status"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        if status != 200 {
            record.final_status = format!("lost ({status})");
            break;
        }
        if transaction != "0" {
            if transaction == "2" {
                record.closed_seen_ms = now;
            }
            record.final_status = transaction;
            break;
        }
        if Instant::now() > give_up {
            record.final_status = "0".into();
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    record
}

/// Runs the harness; returns the report (with `violations`).
pub async fn run(settings: ChaosSettings, quiet: bool) -> Result<Value, String> {
    let dir = tempfile_dir()?;
    let (server, first) = start_server(&settings, &dir).await?;
    let server = Arc::new(tokio::sync::Mutex::new(server));
    let base: Base = Arc::new(RwLock::new(first));
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .map_err(|e| e.to_string())?;
    let activity = crate::post(
        &client,
        &format!("{}/activityPlatform/activity/save", base.read()),
        &[
            ("name", "chaos".into()),
            ("price", "1".into()),
            ("seats", settings.members.to_string()),
        ],
    )
    .await?["activity_id"]
        .as_u64()
        .ok_or("no activity id")?;
    let settings = Arc::new(settings);
    let steps = Arc::new(ChaosSteps {
        apply: crate::Step::new(),
        create: crate::Step::new(),
        pay: crate::Step::new(),
        state: crate::Step::new(),
    });
    let started = Instant::now();
    let last_restart = Arc::new(AtomicU64::new(0));
    let killer = spawn_killer(
        server.clone(),
        base.clone(),
        settings.clone(),
        dir.clone(),
        last_restart.clone(),
        quiet,
    );
    let records = run_members(&client, &base, &settings, &steps, activity).await;
    killer.await.map_err(|e| e.to_string())??;
    let provider = ordercenter::provider::UmsClient::new(
        ordercenter::provider::ProviderConfig::with_base_url(base.read().clone()),
    )
    .map_err(|e| e.to_string())?;
    let (charged, mut violations) =
        check_records(&records, &provider, last_restart.load(Ordering::Relaxed)).await;
    let detail_url = format!(
        "{}/activityPlatform/wxActivity/detail?activity_id={activity}",
        base.read()
    );
    violations.extend(check_registrations(&client, &detail_url, charged).await?);
    let mut guard = server.lock().await;
    let _ = guard.child.start_kill();
    let _ = std::fs::remove_dir_all(&dir);
    let completed = records.len();
    let elapsed = started.elapsed();
    let errors = crate::errors_by_code(&[&steps.apply, &steps.create, &steps.pay, &steps.state]);
    Ok(json!({
        "scenario": "chaos",
        "members": settings.members,
        "rounds": settings.rounds,
        "completed": completed,
        "throughput_per_s": (completed as f64 / elapsed.as_secs_f64() * 10.0).round() / 10.0,
        "acknowledged_orders": records.iter().filter(|r| r.parent.is_some()).count(),
        "paid": charged,
        "elapsed_s": elapsed.as_secs(),
        "errors": errors,
        "latency_ms": {
            "apply": steps.apply.summary(),
            "create": steps.create.summary(),
            "pay": steps.pay.summary(),
            "state": steps.state.summary(),
        },
        "violations": violations,
    }))
}

/// The killer: `rounds` times, SIGKILL at a random moment and restart on the same data dir.
fn spawn_killer(
    server: Arc<tokio::sync::Mutex<Server>>,
    base: Base,
    settings: Arc<ChaosSettings>,
    dir: PathBuf,
    last_restart: Arc<AtomicU64>,
    quiet: bool,
) -> tokio::task::JoinHandle<Result<(), String>> {
    tokio::spawn(async move {
        for round in 1..=settings.rounds {
            let pause: u64 = rand::thread_rng().gen_range(1000..4000);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            let mut guard = server.lock().await;
            let _ = guard.child.start_kill();
            let _ = guard.child.wait().await;
            if !quiet {
                eprintln!("chaos: round {round}: SIGKILL");
            }
            let (restarted, address) = start_server(&settings, &dir).await?;
            *guard = restarted;
            *base.write() = address;
            last_restart.store(now_ms(), Ordering::Relaxed);
        }
        Ok(())
    })
}

/// Every member's flow, `concurrency` at a time, through the restarts.
async fn run_members(
    client: &reqwest::Client,
    base: &Base,
    settings: &Arc<ChaosSettings>,
    steps: &Arc<ChaosSteps>,
    activity: u64,
) -> Vec<Record> {
    let records = Arc::new(Mutex::new(Vec::new()));
    let (client, base, settings2, steps, filled) = (
        client.clone(),
        base.clone(),
        settings.clone(),
        steps.clone(),
        records.clone(),
    );
    crate::drive(settings.members, None, settings.concurrency, move |i| {
        let (client, base, settings, steps, records) = (
            client.clone(),
            base.clone(),
            settings2.clone(),
            steps.clone(),
            filled.clone(),
        );
        async move {
            let record = member(client, base, settings, steps, activity, 5_000_000 + i).await;
            records.lock().push(record);
        }
    })
    .await;
    let records = records.lock().clone();
    records
}

/// Each acknowledged order against the provider: charged ⇔ paid (or refunded), never
/// lost, and closed on time unless a restart came after its deadline. Returns how many
/// members paid, and the violations.
async fn check_records(
    records: &[Record],
    provider: &ordercenter::provider::UmsClient,
    last_restart: u64,
) -> (u64, Vec<String>) {
    let mut violations = Vec::new();
    let mut charged = 0;
    for record in records {
        let Some(parent) = &record.parent else {
            continue;
        };
        let was_charged = match record.charged {
            Some(known) => known,
            None => provider
                .query(parent)
                .await
                .map(|q| {
                    matches!(
                        q.status,
                        ordercenter::provider::TradeStatus::TradeSuccess
                            | ordercenter::provider::TradeStatus::TradeRefund
                    )
                })
                .unwrap_or(false),
        };
        charged += u64::from(was_charged && record.final_status == "1");
        match (was_charged, record.final_status.as_str()) {
            (true, "1" | "3") | (false, "2") => {}
            (_, lost) if lost.starts_with("lost") => {
                violations.push(format!("{parent}: acknowledged order lost: {lost}"))
            }
            (true, other) => violations.push(format!("{parent}: charged but {other}")),
            (false, other) => violations.push(format!("{parent}: not charged but {other}")),
        }
        let deadline_ms = record.deadline * 1000;
        if record.final_status == "2"
            && deadline_ms > last_restart
            && record.closed_seen_ms > deadline_ms + CLOSE_SLACK_MS
        {
            violations.push(format!(
                "{parent}: closed {} ms after its deadline",
                record.closed_seen_ms - deadline_ms
            ));
        }
    }
    (charged, violations)
}

/// Registrations follow through the outbox: within 30 s the activity shows one
/// registration per paying member and nothing reserved.
async fn check_registrations(
    client: &reqwest::Client,
    detail_url: &str,
    charged: u64,
) -> Result<Vec<String>, String> {
    let until = Instant::now() + Duration::from_secs(30);
    let detail = loop {
        let detail: Value = client
            .get(detail_url)
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        let data = detail["data"].clone();
        if (data["registered"] == charged && data["reserved"] == 0) || Instant::now() > until {
            break data;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if detail["registered"] != charged || detail["reserved"] != 0 {
        return Ok(vec![format!(
            "registered {} / reserved {} but {charged} members paid",
            detail["registered"], detail["reserved"]
        )]);
    }
    Ok(Vec::new())
}

fn tempfile_dir() -> Result<PathBuf, String> {
    let dir = std::env::temp_dir().join(format!(
        "ordercenter-chaos-{}-{}",
        std::process::id(),
        now_ms()
    ));
    std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
    Ok(dir)
}
