//! `loadgen`: drives a running ordercenter and reports throughput and latency.
//!
//! ```text
//! loadgen --target http://127.0.0.1:8080 --scenario create|health \
//!         [--members N | --duration SECS] --concurrency C [--json]
//! ```
//! - `health`: `GET /healthz`, the trivial baseline for ratios.
//! - `create`: applies for N members in an untimed setup phase (an activity with N seats is
//!   created first), then times `shop/order/create` alone.
//! - `flow`: each member does the seed's whole flow and the invariants are checked
//!   (see [`flow`]); exit status 1 when one is violated.
//! - `waitlist`: more members than `--seats` apply at once with `waitlist=1`; holders pay
//!   and some refund (`--refund-ratio`), each refund's seat goes to the next waiter; the
//!   invariants of refunds and the waitlist are checked (see [`waitlist`]).

mod chaos;
mod flow;
mod waitlist;

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use parking_lot::Mutex;
use serde_json::{json, Value};

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
enum Scenario {
    /// `GET /healthz`.
    Health,
    /// Durable `shop/order/create` (applies made untimed first).
    Create,
    /// The seed's whole flow per member, with invariants.
    Flow,
    /// Refunds and the waitlist: a full activity, its queue, refunds handing seats on.
    Waitlist,
    /// The crash-and-fault harness: runs the server itself and SIGKILLs it at random.
    Chaos,
    /// Setup for another load tool (`bench/wrk_ratios.sh`): an activity, one apply per
    /// member (and with `--with-orders` an order each), printed one per line as
    /// `member_id sku_slice` (or `member_id parent_order_no`).
    Prepare,
}

/// Load generator for ordercenter.
#[derive(Parser, Debug)]
#[command(name = "loadgen")]
struct Args {
    /// Base URL of a running server.
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    target: String,
    /// What to drive.
    #[arg(long, value_enum, default_value = "health")]
    scenario: Scenario,
    /// Members (requests) to run; the default for `create`.
    #[arg(long)]
    members: Option<u64>,
    /// Run for this many seconds instead (`health`).
    #[arg(long)]
    duration: Option<u64>,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// First member id (use distinct ranges for repeated runs on one store).
    #[arg(long, default_value_t = 1_000_000)]
    member_base: u64,
    /// `flow`: probability that a member pays.
    #[arg(long, default_value_t = 0.7)]
    pay_ratio: f64,
    /// `flow`: longest think time before paying or abandoning, in ms.
    #[arg(long, default_value_t = 2000)]
    think_ms: u64,
    /// `flow`, `waitlist`: pause between state polls, in ms (the frontend polls about once a
    /// second).
    #[arg(long, default_value_t = 1000)]
    poll_ms: u64,
    /// `waitlist`: seats of the activity (default: a quarter of the members).
    #[arg(long)]
    seats: Option<u64>,
    /// `waitlist`: probability that a member with a paid seat asks for a refund.
    #[arg(long, default_value_t = 0.5)]
    refund_ratio: f64,
    /// `chaos`: the server binary (default: `ordercenter` next to loadgen).
    #[arg(long)]
    server_bin: Option<std::path::PathBuf>,
    /// `chaos`: SIGKILL + restart rounds.
    #[arg(long, default_value_t = 5)]
    rounds: u32,
    /// `chaos`: order TTL for the server it runs, seconds.
    #[arg(long, default_value_t = 8)]
    ttl: u64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// `prepare`: also create an order for each apply, and print the orders.
    #[arg(long)]
    with_orders: bool,
}

/// Latencies and errors of one step.
pub(crate) struct Step {
    pub(crate) latencies: Mutex<Histogram<u64>>,
    pub(crate) errors: Mutex<BTreeMap<String, u64>>,
    done: AtomicU64,
}

impl Step {
    pub(crate) fn new() -> Self {
        Self {
            latencies: Mutex::new(
                Histogram::new_with_bounds(1, 60_000_000, 3).expect("histogram bounds"),
            ),
            errors: Mutex::new(BTreeMap::new()),
            done: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, started: Instant, outcome: Result<(), String>) {
        let micros = started.elapsed().as_micros().clamp(1, 60_000_000) as u64;
        let _ = self.latencies.lock().record(micros);
        self.done.fetch_add(1, Ordering::Relaxed);
        if let Err(code) = outcome {
            *self.errors.lock().entry(code).or_default() += 1;
        }
    }

    pub(crate) fn summary(&self) -> Value {
        let h = self.latencies.lock();
        let ms = |q: f64| (h.value_at_quantile(q) as f64 / 1000.0 * 100.0).round() / 100.0;
        json!({"p50": ms(0.5), "p90": ms(0.9), "p99": ms(0.99), "max": (h.max() as f64 / 10.0).round() / 100.0})
    }
}

/// Errors of all `steps`, counted by code (the report's `errors`).
pub(crate) fn errors_by_code(steps: &[&Step]) -> BTreeMap<String, u64> {
    let mut errors = BTreeMap::new();
    for step in steps {
        for (code, count) in step.errors.lock().iter() {
            *errors.entry(code.clone()).or_insert(0u64) += count;
        }
    }
    errors
}

pub(crate) async fn envelope_code(response: reqwest::Response) -> Result<Value, String> {
    let status = response.status();
    let body: Value = response
        .json()
        .await
        .map_err(|_| format!("http_{}", status.as_u16()))?;
    if body["code"] == 200 {
        Ok(body["data"].clone())
    } else {
        Err(body["code"].to_string())
    }
}

/// GETs `url` and returns the envelope's `data`, or the code as the error.
pub(crate) async fn get(client: &reqwest::Client, url: String) -> Result<Value, String> {
    let response = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    envelope_code(response).await
}

/// Adds `text` to a scenario's violations (the first 100 are kept).
pub(crate) fn note_violation(violations: &Mutex<Vec<String>>, text: String) {
    let mut violations = violations.lock();
    if violations.len() < 100 {
        violations.push(text);
    }
}

pub(crate) async fn post(
    client: &reqwest::Client,
    url: &str,
    form: &[(&str, String)],
) -> Result<Value, String> {
    let response = client
        .post(url)
        .form(form)
        .send()
        .await
        .map_err(|e| format!("transport: {e}"))?;
    envelope_code(response).await
}

/// Runs `work(i)` for i in 0..count (or until `until`), `concurrency` at a time.
pub(crate) async fn drive<F, Fut>(
    count: u64,
    until: Option<Instant>,
    concurrency: usize,
    work: F,
) -> Duration
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let next = Arc::new(AtomicU64::new(0));
    let work = Arc::new(work);
    let started = Instant::now();
    let tasks: Vec<_> = (0..concurrency)
        .map(|_| {
            let (next, work) = (next.clone(), work.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= count || until.is_some_and(|u| Instant::now() >= u) {
                        break;
                    }
                    work(i).await;
                }
            })
        })
        .collect();
    for task in tasks {
        let _ = task.await;
    }
    started.elapsed()
}

/// A progress bar on stderr (indicatif: count, rate, ETA), fed from counters the
/// workers bump; hidden under `--json`, and drawn only when stderr is a terminal.
pub(crate) struct Progress {
    bar: indicatif::ProgressBar,
    ticker: tokio::task::JoinHandle<()>,
}

impl Progress {
    /// Shows `label` with `total` steps; every 200 ms `read` says how many are done and
    /// what to show beside (e.g. the errors so far).
    pub(crate) fn start(
        label: &'static str,
        total: u64,
        quiet: bool,
        read: impl Fn() -> (u64, String) + Send + 'static,
    ) -> Self {
        let bar = if quiet {
            indicatif::ProgressBar::hidden()
        } else {
            indicatif::ProgressBar::new(total)
        };
        let style = indicatif::ProgressStyle::with_template(
            "{prefix} [{bar:32}] {pos}/{len}  {msg}  ETA {eta}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
        .progress_chars("=> ");
        bar.set_style(style);
        bar.set_prefix(label);
        let shown = bar.clone();
        let ticker = tokio::spawn(async move {
            let started = Instant::now();
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tick.tick().await;
                let (done, note) = read();
                let rate = done as f64 / started.elapsed().as_secs_f64().max(1e-3);
                shown.set_position(done);
                shown.set_message(format!("{rate:.0}/s  {note}"));
            }
        });
        Self { bar, ticker }
    }

    /// Stops updating and leaves the last state on screen.
    pub(crate) fn finish(self) {
        self.ticker.abort();
        self.bar.finish();
    }
}

fn progress(label: &'static str, done: Arc<AtomicUsize>, total: u64, quiet: bool) -> Progress {
    Progress::start(label, total, quiet, move || {
        (done.load(Ordering::Relaxed) as u64, String::new())
    })
}

/// The common fields of a simulated member's call (the seed's company and business), then
/// `extra`.
pub(crate) fn member_form(
    member: u64,
    extra: &[(&'static str, String)],
) -> Vec<(&'static str, String)> {
    let mut form = vec![
        ("company_id", "421".to_string()),
        ("member_id", member.to_string()),
        ("business_id", "10000001".into()),
    ];
    form.extend_from_slice(extra);
    form
}

/// Prints a scenario's report (one JSON line, or pretty) and exits 1 on a violation or error.
fn finish(report: Result<Value, String>, json: bool) -> std::process::ExitCode {
    match report {
        Ok(report) => {
            if json {
                println!("{report}");
            } else {
                eprintln!();
                println!(
                    "{}",
                    serde_json::to_string_pretty(&report).unwrap_or_default()
                );
            }
            if report["violations"]
                .as_array()
                .is_some_and(|v| !v.is_empty())
            {
                std::process::ExitCode::FAILURE
            } else {
                std::process::ExitCode::SUCCESS
            }
        }
        Err(error) => {
            eprintln!("loadgen: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.concurrency * 2)
        .timeout(Duration::from_secs(30))
        .build()
        .expect("http client");
    let base = args.target.trim_end_matches('/').to_owned();
    match args.scenario {
        Scenario::Chaos => finish(
            chaos::run(chaos_settings(&args), args.json).await,
            args.json,
        ),
        Scenario::Flow => {
            let settings = flow::FlowSettings {
                base,
                members: args.members.unwrap_or(1000),
                concurrency: args.concurrency,
                pay_ratio: args.pay_ratio,
                think_ms: args.think_ms,
                poll_ms: args.poll_ms,
                member_base: args.member_base,
            };
            finish(flow::run(client, settings, args.json).await, args.json)
        }
        Scenario::Waitlist => {
            let members = args.members.unwrap_or(400);
            let settings = waitlist::WaitlistSettings {
                base,
                members,
                seats: args.seats.unwrap_or((members / 4).max(1)),
                concurrency: args.concurrency,
                refund_ratio: args.refund_ratio,
                poll_ms: args.poll_ms,
                member_base: args.member_base,
            };
            finish(waitlist::run(client, settings).await, args.json)
        }
        Scenario::Health => {
            let step = Arc::new(Step::new());
            let elapsed = run_health(&client, &base, &args, step.clone()).await;
            report("health", &step, elapsed, &args)
        }
        Scenario::Prepare => match prepare(&client, &base, &args).await {
            Ok(lines) => {
                for line in lines {
                    println!("{line}");
                }
                std::process::ExitCode::SUCCESS
            }
            Err(reason) => {
                eprintln!("loadgen: {reason}");
                std::process::ExitCode::FAILURE
            }
        },
        Scenario::Create => {
            let step = Arc::new(Step::new());
            match run_create(&client, &base, &args, step.clone()).await {
                Ok(elapsed) => report("create", &step, elapsed, &args),
                Err(reason) => {
                    eprintln!("loadgen: {reason}");
                    std::process::ExitCode::FAILURE
                }
            }
        }
    }
}

/// The chaos harness's settings: the server binary defaults to the `ordercenter` next to
/// this one.
fn chaos_settings(args: &Args) -> chaos::ChaosSettings {
    let server_bin = args.server_bin.clone().unwrap_or_else(|| {
        std::env::current_exe()
            .ok()
            .and_then(|exe| exe.parent().map(|dir| dir.join("ordercenter")))
            .unwrap_or_else(|| "ordercenter".into())
    });
    chaos::ChaosSettings {
        server_bin,
        members: args.members.unwrap_or(200),
        concurrency: args.concurrency,
        rounds: args.rounds,
        ttl: args.ttl,
        pay_ratio: args.pay_ratio,
    }
}

/// `GET /healthz` for `--members` requests or `--duration` seconds: the trivial baseline.
async fn run_health(
    client: &reqwest::Client,
    base: &str,
    args: &Args,
    step: Arc<Step>,
) -> Duration {
    let until = args
        .duration
        .map(|d| Instant::now() + Duration::from_secs(d));
    let count = if until.is_some() {
        u64::MAX
    } else {
        args.members.unwrap_or(100_000)
    };
    let url = format!("{base}/healthz");
    let client = client.clone();
    drive(count, until, args.concurrency, move |_| {
        let (client, step, url) = (client.clone(), step.clone(), url.clone());
        async move {
            let started = Instant::now();
            let outcome = match client.get(&url).send().await {
                Ok(r) if r.status().is_success() => {
                    r.bytes().await.map(|_| ()).map_err(|e| e.to_string())
                }
                Ok(r) => Err(format!("http_{}", r.status().as_u16())),
                Err(e) => Err(format!("transport: {e}")),
            };
            step.record(started, outcome);
        }
    })
    .await
}

/// Durable `shop/order/create`, timed alone: an activity with a seat per member and one
/// apply per member are made first, untimed.
async fn run_create(
    client: &reqwest::Client,
    base: &str,
    args: &Args,
    step: Arc<Step>,
) -> Result<Duration, String> {
    let members = args.members.unwrap_or(20_000);
    let activity = new_activity(client, base, members).await?;
    let skus = apply_members(client, base, args, activity, members).await;
    let done = Arc::new(AtomicUsize::new(0));
    let bar = progress("create", done.clone(), members, args.json);
    let (client, base) = (client.clone(), base.to_owned());
    let member_base = args.member_base;
    let elapsed = drive(members, None, args.concurrency, move |i| {
        let (client, step, base, skus, done) = (
            client.clone(),
            step.clone(),
            base.clone(),
            skus.clone(),
            done.clone(),
        );
        async move {
            let Some(sku) = skus.lock()[i as usize].clone() else {
                return;
            };
            let form = create_form(member_base + i, sku);
            let started = Instant::now();
            let outcome = post(&client, &format!("{base}/shop/order/create"), &form)
                .await
                .map(|_| ());
            step.record(started, outcome);
            done.fetch_add(1, Ordering::Relaxed);
        }
    })
    .await;
    bar.finish();
    Ok(elapsed)
}

/// An activity with `seats` seats at 0.01 yuan.
async fn new_activity(client: &reqwest::Client, base: &str, seats: u64) -> Result<u64, String> {
    let saved = post(
        client,
        &format!("{base}/activityPlatform/activity/save"),
        &[
            ("name", "loadgen".into()),
            ("price", "1".into()),
            ("seats", seats.to_string()),
        ],
    )
    .await
    .map_err(|code| format!("cannot create the activity: {code}"))?;
    saved["activity_id"]
        .as_u64()
        .ok_or_else(|| "the activity has no id".to_owned())
}

/// The seed's `shop/order/create` form for `member` ordering `sku`.
fn create_form(member: u64, sku: String) -> [(&'static str, String); 8] {
    [
        ("company_id", "421".to_string()),
        ("member_id", member.to_string()),
        ("business_id", "10000001".into()),
        ("sys_id", "30".into()),
        ("sku_slice", sku),
        ("business_type", "3001".into()),
        ("request_id", "loadgen".into()),
        ("handle_info", r#"{"platform_id":3}"#.into()),
    ]
}

/// `prepare`: one apply per member (and an order each with `--with-orders`), as lines of
/// `member_id sku_slice` (or `member_id parent_order_no`); members whose step failed are
/// left out.
async fn prepare(client: &reqwest::Client, base: &str, args: &Args) -> Result<Vec<String>, String> {
    let members = args.members.unwrap_or(10_000);
    let activity = new_activity(client, base, members).await?;
    let skus = apply_members(client, base, args, activity, members).await;
    let skus = skus.lock().clone();
    if !args.with_orders {
        return Ok(skus
            .into_iter()
            .enumerate()
            .filter_map(|(i, sku)| Some(format!("{} {}", args.member_base + i as u64, sku?)))
            .collect());
    }
    let parents: Arc<Mutex<Vec<Option<String>>>> =
        Arc::new(Mutex::new(vec![None; members as usize]));
    let (client, base, filled, skus) = (
        client.clone(),
        base.to_owned(),
        parents.clone(),
        Arc::new(skus),
    );
    let member_base = args.member_base;
    drive(members, None, args.concurrency, move |i| {
        let (client, base, parents, skus) =
            (client.clone(), base.clone(), filled.clone(), skus.clone());
        async move {
            let Some(sku) = skus[i as usize].clone() else {
                return;
            };
            let url = format!("{base}/shop/order/create");
            if let Ok(data) = post(&client, &url, &create_form(member_base + i, sku)).await {
                parents.lock()[i as usize] = data["parent_order_no"].as_str().map(str::to_owned);
            }
        }
    })
    .await;
    let parents = parents.lock().clone();
    Ok(parents
        .into_iter()
        .enumerate()
        .filter_map(|(i, parent)| Some(format!("{} {}", member_base + i as u64, parent?)))
        .collect())
}

/// One apply per member for `activity`; the `sku_slice` of each (None where it failed).
async fn apply_members(
    client: &reqwest::Client,
    base: &str,
    args: &Args,
    activity: u64,
    members: u64,
) -> Arc<Mutex<Vec<Option<String>>>> {
    let skus: Arc<Mutex<Vec<Option<String>>>> = Arc::new(Mutex::new(vec![None; members as usize]));
    let done = Arc::new(AtomicUsize::new(0));
    let bar = progress("setup (apply)", done.clone(), members, args.json);
    let (client, base, filled) = (client.clone(), base.to_owned(), skus.clone());
    let member_base = args.member_base;
    drive(members, None, args.concurrency, move |i| {
        let (client, skus, base, done) =
            (client.clone(), filled.clone(), base.clone(), done.clone());
        async move {
            let form = [
                ("company_id", "421".to_string()),
                ("member_id", (member_base + i).to_string()),
                ("business_id", "10000001".into()),
                ("activity_id", activity.to_string()),
                ("name", "压测".into()),
                ("phone", "13800000000".into()),
            ];
            let url = format!("{base}/activityPlatform/wxActivity/apply");
            if let Ok(data) = post(&client, &url, &form).await {
                skus.lock()[i as usize] = data["sku_slice"].as_str().map(str::to_owned);
            }
            done.fetch_add(1, Ordering::Relaxed);
        }
    })
    .await;
    bar.finish();
    skus
}

/// Prints what one timed step did, as a table or as JSON.
fn report(step_name: &str, step: &Step, elapsed: Duration, args: &Args) -> std::process::ExitCode {
    if !args.json {
        eprintln!();
    }
    let completed = step.done.load(Ordering::Relaxed);
    let errors = step.errors.lock().clone();
    let report = json!({
        "scenario": step_name,
        "concurrency": args.concurrency,
        "completed": completed,
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "throughput_per_s": (completed as f64 / elapsed.as_secs_f64()).round(),
        "errors": errors,
        "latency_ms": { step_name: step.summary() },
        "violations": [],
    });
    if args.json {
        println!("{report}");
    } else {
        println!("scenario      {step_name}");
        println!(
            "completed     {completed} in {:.2} s",
            elapsed.as_secs_f64()
        );
        println!("throughput    {}/s", report["throughput_per_s"]);
        println!("latency (ms)  {}", report["latency_ms"][step_name]);
        println!("errors        {}", report["errors"]);
    }
    std::process::ExitCode::SUCCESS
}
