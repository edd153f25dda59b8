//! The `waitlist` scenario: more members than seats apply at once with `waitlist=1`; the
//! seat holders order and pay, and some ask for a refund; every refund hands its seat to
//! the first waiter, who orders and pays in turn (and may refund too). Invariants, from
//! loadgen's own records and the server's answers:
//! - the first `seats` applies hold a seat, the rest wait with the places 1..n, each once;
//! - reserved + registered never exceed the seats (sampled throughout);
//! - each refund ends `"3"`, its registration `cancelled`, refunded once at the provider;
//! - the waiters who got a seat are exactly the first k of the queue (k = seats handed on);
//! - at the end: registered = paid and kept, nothing reserved, no seat free while someone
//!   waits.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Value};

use crate::{get, post, Step};

/// Settings of one waitlist run.
pub struct WaitlistSettings {
    /// Base URL.
    pub base: String,
    /// Members applying.
    pub members: u64,
    /// Seats of the activity.
    pub seats: u64,
    /// Members in flight at once.
    pub concurrency: usize,
    /// Probability that a member with a paid seat asks for a refund.
    pub refund_ratio: f64,
    /// Pause between a member's polls (of its order's state, or of its place in the queue),
    /// in ms: thousands of waiters polling are load too.
    pub poll_ms: u64,
    /// First member id.
    pub member_base: u64,
}

struct Steps {
    apply: Step,
    create: Step,
    pay: Step,
    refund: Step,
    refund_to_3: Step,
    paid_to_1: Step,
    violations: Mutex<Vec<String>>,
    /// Members holding a seat whose flow is not over (they may still refund).
    active: AtomicU64,
    /// Refunds confirmed (`"3"`).
    refunds: AtomicU64,
    /// Waiters who saw their seat.
    promotions: AtomicU64,
    /// Paid and kept.
    kept: AtomicU64,
}

fn violation(steps: &Steps, text: String) {
    crate::note_violation(&steps.violations, text);
}

fn timed(step: &Step, started: Instant, outcome: &Result<Value, String>) {
    step.record(started, outcome.as_ref().map(|_| ()).map_err(Clone::clone));
}

/// The first answer of a member: their apply (or place in the queue).
struct Applied {
    member: u64,
    apply_id: u64,
    sku: String,
    status: String,
    position: Option<u64>,
}

async fn apply(
    client: &reqwest::Client,
    settings: &WaitlistSettings,
    steps: &Steps,
    activity: u64,
    member: u64,
) -> Option<Applied> {
    let started = Instant::now();
    let applied = post(
        client,
        &format!("{}/activityPlatform/wxActivity/apply", settings.base),
        &crate::member_form(
            member,
            &[
                ("activity_id", activity.to_string()),
                ("name", "候补".into()),
                ("phone", "13800000000".into()),
                ("waitlist", "1".into()),
            ],
        ),
    )
    .await;
    timed(&steps.apply, started, &applied);
    let applied = applied.ok()?;
    Some(Applied {
        member,
        apply_id: applied["apply_info"]["apply_id"]
            .as_u64()
            .unwrap_or_default(),
        sku: applied["sku_slice"].as_str().unwrap_or_default().to_owned(),
        status: applied["apply_info"]["status"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        position: applied["apply_info"]["position"].as_u64(),
    })
}

async fn apply_status(client: &reqwest::Client, base: &str, applied: &Applied) -> String {
    let url = format!(
        "{base}/activityPlatform/wxActivity/applyInfo?apply_id={}&member_id={}&company_id=421",
        applied.apply_id, applied.member
    );
    get(client, url)
        .await
        .ok()
        .and_then(|info| info["status"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

/// Polls the order's `transaction_status` until it is `wanted` (or 20 s passed).
async fn wait_status(
    client: &reqwest::Client,
    settings: &WaitlistSettings,
    member: u64,
    parent: &str,
    wanted: &str,
) -> bool {
    let base = &settings.base;
    let until = Instant::now() + Duration::from_secs(20);
    while Instant::now() < until {
        let state = post(
            client,
            &format!("{base}/shop/order/state"),
            &crate::member_form(member, &[("parent_order_no", parent.to_owned())]),
        )
        .await;
        if state
            .ok()
            .and_then(|s| s["transaction_status"].as_str().map(str::to_owned))
            .as_deref()
            == Some(wanted)
        {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(settings.poll_ms)).await;
    }
    false
}

/// How many times a holder asks to pay when the provider failed.
const PAY_ATTEMPTS: u32 = 5;

/// A member holding a seat: orders, pays, and with `refund_ratio` asks for a refund
/// (then checks it ended `"3"`, cancelled, refunded once at the provider).
async fn hold(
    client: &reqwest::Client,
    settings: &WaitlistSettings,
    steps: &Steps,
    applied: &Applied,
) {
    let base = &settings.base;
    let who = |extra: &[(&'static str, String)]| crate::member_form(applied.member, extra);
    let started = Instant::now();
    let created = post(
        client,
        &format!("{base}/shop/order/create"),
        &who(&[
            ("sys_id", "30".into()),
            ("sku_slice", applied.sku.clone()),
            ("business_type", "3001".into()),
            ("request_id", "loadgen".into()),
            ("handle_info", "{}".into()),
        ]),
    )
    .await;
    timed(&steps.create, started, &created);
    let Ok(created) = created else { return };
    let parent = created["parent_order_no"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    // A pay the provider failed (5020000001) is asked again, as a member taps 支付 again;
    // giving up would hold the seat for the whole order TTL. Every attempt is counted.
    let mut attempts = 0;
    let paying = loop {
        attempts += 1;
        let started = Instant::now();
        let paying = post(
            client,
            &format!("{base}/shop/order/pay"),
            &who(&[
                ("parent_order_no", parent.clone()),
                ("payment_way", "110".into()),
            ]),
        )
        .await;
        timed(&steps.pay, started, &paying);
        match &paying {
            Err(code) if code == "5020000001" && attempts < PAY_ATTEMPTS => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            _ => break paying,
        }
    };
    if paying.is_err() {
        return;
    }
    let charged = client
        .post(format!("{base}/paysim/pay"))
        .form(&[("merOrderId", parent.as_str())])
        .send()
        .await
        .map(|r| r.status().as_u16());
    if !matches!(charged, Ok(200)) {
        violation(steps, format!("{parent}: buyer could not pay: {charged:?}"));
        return;
    }
    let paid_at = Instant::now();
    if !wait_status(client, settings, applied.member, &parent, "1").await {
        violation(steps, format!("{parent}: charged but not shown paid"));
        return;
    }
    steps.paid_to_1.record(paid_at, Ok(()));
    if !rand::thread_rng().gen_bool(settings.refund_ratio.clamp(0.0, 1.0)) {
        steps.kept.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let started = Instant::now();
    let refund = post(
        client,
        &format!("{base}/shop/order/refund"),
        &who(&[
            ("parent_order_no", parent.clone()),
            ("reason", "loadgen".into()),
        ]),
    )
    .await;
    timed(&steps.refund, started, &refund);
    if refund.is_err() {
        steps.kept.fetch_add(1, Ordering::Relaxed);
        return;
    }
    if !wait_status(client, settings, applied.member, &parent, "3").await {
        violation(
            steps,
            format!("{parent}: refund asked for, not confirmed within 20 s"),
        );
        return;
    }
    steps.refund_to_3.record(started, Ok(()));
    steps.refunds.fetch_add(1, Ordering::Relaxed);
    if apply_status(client, base, applied).await != "cancelled" {
        violation(
            steps,
            format!("apply {}: refunded but not cancelled", applied.apply_id),
        );
    }
    refunded_once(steps, base, &parent).await;
}

/// The provider refunded the order under attempt 1's id, and under no second one.
async fn refunded_once(steps: &Steps, base: &str, parent: &str) {
    use ordercenter::provider::{ProviderConfig, RefundStatus, UmsClient};
    let Ok(provider) = UmsClient::new(ProviderConfig::with_base_url(base)) else {
        return violation(steps, "no provider client".into());
    };
    let first = provider.refund_query(parent, &format!("{parent}01")).await;
    if !matches!(&first, Ok(answer) if answer.refund_status == RefundStatus::Success) {
        violation(
            steps,
            format!("{parent}: refund 01 at the provider: {first:?}"),
        );
    }
    if provider
        .refund_query(parent, &format!("{parent}02"))
        .await
        .is_ok()
    {
        violation(steps, format!("{parent}: refunded twice"));
    }
}

/// A waiter: polls until promoted (then holds the seat), or until no seat can come back
/// any more: nobody holding one is still in their flow and every refund made so far was
/// handed to a waiter who saw it.
async fn wait_then_hold(
    client: &reqwest::Client,
    settings: &WaitlistSettings,
    steps: &Steps,
    applied: &Applied,
    waiters: u64,
) -> bool {
    loop {
        let status = apply_status(client, &settings.base, applied).await;
        if status == "pending_payment" {
            steps.promotions.fetch_add(1, Ordering::Relaxed);
            steps.active.fetch_add(1, Ordering::Relaxed);
            hold(client, settings, steps, applied).await;
            steps.active.fetch_sub(1, Ordering::Relaxed);
            return true;
        }
        if status != "waitlisted" && !status.is_empty() {
            violation(steps, format!("waiter {}: {status}", applied.apply_id));
            return false;
        }
        let handed = steps.refunds.load(Ordering::Relaxed).min(waiters);
        if steps.active.load(Ordering::Relaxed) == 0
            && steps.promotions.load(Ordering::Relaxed) >= handed
        {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(settings.poll_ms)).await;
    }
}

/// Runs the scenario and returns the report.
pub async fn run(client: reqwest::Client, settings: WaitlistSettings) -> Result<Value, String> {
    let settings = Arc::new(settings);
    let base = settings.base.clone();
    let activity = post(
        &client,
        &format!("{base}/activityPlatform/activity/save"),
        &[
            ("name", "loadgen waitlist".into()),
            ("price", "1".into()),
            ("seats", settings.seats.to_string()),
        ],
    )
    .await?["activity_id"]
        .as_u64()
        .ok_or("no activity_id")?;
    let steps = Arc::new(Steps {
        apply: Step::new(),
        create: Step::new(),
        pay: Step::new(),
        refund: Step::new(),
        refund_to_3: Step::new(),
        paid_to_1: Step::new(),
        violations: Mutex::new(Vec::new()),
        active: AtomicU64::new(0),
        refunds: AtomicU64::new(0),
        promotions: AtomicU64::new(0),
        kept: AtomicU64::new(0),
    });

    // Everyone applies at once.
    let applied: Arc<Mutex<Vec<Applied>>> = Arc::new(Mutex::new(Vec::new()));
    {
        let (client, settings, steps, applied) = (
            client.clone(),
            settings.clone(),
            steps.clone(),
            applied.clone(),
        );
        crate::drive(settings.members, None, settings.concurrency, move |i| {
            let (client, settings, steps, applied) = (
                client.clone(),
                settings.clone(),
                steps.clone(),
                applied.clone(),
            );
            async move {
                let member = settings.member_base + i;
                if let Some(made) = apply(&client, &settings, &steps, activity, member).await {
                    applied.lock().push(made);
                }
            }
        })
        .await;
    }
    let applied: Vec<Applied> = std::mem::take(&mut *applied.lock());
    let holders = applied
        .iter()
        .filter(|a| a.status == "pending_payment")
        .count() as u64;
    let mut places: Vec<u64> = applied.iter().filter_map(|a| a.position).collect();
    places.sort_unstable();
    let waiters = places.len() as u64;
    if holders != settings.seats.min(settings.members) {
        violation(
            &steps,
            format!("{holders} applies hold a seat of {}", settings.seats),
        );
    }
    if places != (1..=waiters).collect::<Vec<_>>() || holders + waiters != applied.len() as u64 {
        violation(
            &steps,
            format!("waitlist places are not 1..{waiters}, once each"),
        );
    }

    // Seats held, paid, refunded and handed on; the counts sampled meanwhile.
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (client, base, steps, sampling) = (
            client.clone(),
            base.clone(),
            steps.clone(),
            sampling.clone(),
        );
        tokio::spawn(async move {
            let mut samples = 0u64;
            while sampling.load(Ordering::Relaxed) {
                let detail = get(
                    &client,
                    format!("{base}/activityPlatform/wxActivity/detail?activity_id={activity}"),
                )
                .await;
                if let Ok(detail) = detail {
                    let held = detail["reserved"].as_u64().unwrap_or(0)
                        + detail["registered"].as_u64().unwrap_or(0);
                    if held > detail["seats"].as_u64().unwrap_or(0) {
                        violation(&steps, format!("oversold: {detail}"));
                    }
                    samples += 1;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            samples
        })
    };
    steps.active.store(holders, Ordering::Relaxed);
    let applied = Arc::new(applied);
    let promoted: Arc<Mutex<Vec<u64>>> = Arc::new(Mutex::new(Vec::new()));
    let elapsed = {
        let (client, settings2, steps, applied, promoted) = (
            client.clone(),
            settings.clone(),
            steps.clone(),
            applied.clone(),
            promoted.clone(),
        );
        // Every waiter polls at once (they wait, they do not load the server much).
        let concurrency = applied.len().max(1);
        crate::drive(applied.len() as u64, None, concurrency, move |i| {
            let (client, settings, steps, applied, promoted) = (
                client.clone(),
                settings2.clone(),
                steps.clone(),
                applied.clone(),
                promoted.clone(),
            );
            async move {
                let mine = &applied[i as usize];
                match mine.position {
                    None => {
                        hold(&client, &settings, &steps, mine).await;
                        steps.active.fetch_sub(1, Ordering::Relaxed);
                    }
                    Some(place) => {
                        if wait_then_hold(&client, &settings, &steps, mine, waiters).await {
                            promoted.lock().push(place);
                        }
                    }
                }
            }
        })
        .await
    };
    sampling.store(false, Ordering::Relaxed);
    let samples = sampler.await.unwrap_or(0);

    let refunds = steps.refunds.load(Ordering::Relaxed);
    let mut promoted = promoted.lock().clone();
    promoted.sort_unstable();
    let handed = refunds.min(waiters);
    if promoted != (1..=handed).collect::<Vec<_>>() {
        violation(
            &steps,
            format!("{refunds} seats given back, the waiters who got one: {promoted:?}"),
        );
    }
    let detail = get(
        &client,
        format!("{base}/activityPlatform/wxActivity/detail?activity_id={activity}"),
    )
    .await?;
    let kept = steps.kept.load(Ordering::Relaxed);
    let number = |key: &str| detail[key].as_u64().unwrap_or_default();
    let (registered, reserved, waiting, seats_left) = (
        number("registered"),
        number("reserved"),
        number("waitlist"),
        number("seats_left"),
    );
    if registered != kept || reserved != 0 || waiting != waiters - handed {
        violation(&steps, format!("end: {kept} kept a paid seat, {waiters} waited, {handed} promoted; the activity says {detail}"));
    }
    if waiting > 0 && seats_left > 0 {
        violation(
            &steps,
            format!("a seat is free while {waiting} wait: {detail}"),
        );
    }
    let errors = crate::errors_by_code(&[&steps.apply, &steps.create, &steps.pay, &steps.refund]);
    let violations = steps.violations.lock().clone();
    let latency: BTreeMap<&str, Value> = [
        ("apply", steps.apply.summary()),
        ("create", steps.create.summary()),
        ("pay", steps.pay.summary()),
        ("paid_to_state_1", steps.paid_to_1.summary()),
        ("refund", steps.refund.summary()),
        ("refund_to_state_3", steps.refund_to_3.summary()),
    ]
    .into_iter()
    .collect();
    Ok(json!({
        "scenario": "waitlist",
        "members": settings.members,
        "seats": settings.seats,
        "waitlisted": waiters,
        "refunds": refunds,
        "promoted": promoted.len(),
        "kept": kept,
        "oversell_samples": samples,
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "errors": errors,
        "latency_ms": latency,
        "violations": violations,
    }))
}
