//! The `flow` scenario: each simulated member does the seed's flow — apply → create → pay →
//! after a think time either pays at the simulator (probability `pay_ratio`) or abandons —
//! then polls `shop/order/state` until the order is final, and checks its registration.
//! Invariants are checked from loadgen's own records and the simulator's answers.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rand::Rng;
use serde_json::{json, Value};

use crate::{get, post, Step};

/// Settings of one flow run.
pub struct FlowSettings {
    /// Base URL.
    pub base: String,
    /// Members to simulate.
    pub members: u64,
    /// Members in flight at once.
    pub concurrency: usize,
    /// Probability that a member pays.
    pub pay_ratio: f64,
    /// Longest think time before paying or abandoning, in ms.
    pub think_ms: u64,
    /// Pause between state polls, in ms.
    pub poll_ms: u64,
    /// First member id.
    pub member_base: u64,
}

/// Timings per step and what went wrong.
pub struct FlowSteps {
    apply: Step,
    create: Step,
    pay: Step,
    state: Step,
    paid_to_state: Step,
    violations: Mutex<Vec<String>>,
    charged: AtomicU64,
    abandoned: AtomicU64,
    completed: AtomicU64,
}

fn violation(steps: &FlowSteps, text: String) {
    crate::note_violation(&steps.violations, text);
}

/// One member's whole flow.
async fn member_flow(
    client: reqwest::Client,
    settings: Arc<FlowSettings>,
    steps: Arc<FlowSteps>,
    activity: u64,
    member: u64,
) {
    let base = &settings.base;
    let who = |extra: &[(&'static str, String)]| crate::member_form(member, extra);
    let started = Instant::now();
    let applied = post(
        &client,
        &format!("{base}/activityPlatform/wxActivity/apply"),
        &who(&[
            ("activity_id", activity.to_string()),
            ("name", "压测".into()),
            ("phone", "13800000000".into()),
        ]),
    )
    .await;
    steps
        .apply
        .record(started, applied.as_ref().map(|_| ()).map_err(Clone::clone));
    let Ok(applied) = applied else { return };
    let sku = applied["sku_slice"].as_str().unwrap_or_default().to_owned();
    let apply_id = applied["apply_info"]["apply_id"]
        .as_u64()
        .unwrap_or_default();

    let started = Instant::now();
    let created = post(
        &client,
        &format!("{base}/shop/order/create"),
        &who(&[
            ("sys_id", "30".into()),
            ("sku_slice", sku),
            ("business_type", "3001".into()),
            ("request_id", "loadgen".into()),
            ("handle_info", r#"{"platform_id":3}"#.into()),
        ]),
    )
    .await;
    steps
        .create
        .record(started, created.as_ref().map(|_| ()).map_err(Clone::clone));
    let Ok(created) = created else { return };
    let parent = created["parent_order_no"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let overdue = created["overdue_time"].as_u64().unwrap_or(480);

    let started = Instant::now();
    let paying = post(
        &client,
        &format!("{base}/shop/order/pay"),
        &who(&[
            ("parent_order_no", parent.clone()),
            ("payment_way", "110".into()),
        ]),
    )
    .await;
    steps
        .pay
        .record(started, paying.as_ref().map(|_| ()).map_err(Clone::clone));
    if paying.is_err() {
        return;
    }
    let charged_at = play_the_buyer(&client, &settings, &steps, &parent).await;
    let final_status = poll_until_final(
        &client, &settings, &steps, member, &parent, charged_at, overdue,
    )
    .await;
    match (charged_at.is_some(), final_status.as_str()) {
        (true, "1" | "3") | (false, "2") => {}
        (true, other) => violation(&steps, format!("{parent}: charged but state {other}")),
        (false, other) => violation(
            &steps,
            format!("{parent}: abandoned but state {other} after overdue_time + 15 s"),
        ),
    }
    await_registration(&client, &settings, &steps, member, apply_id, &final_status).await;
    steps.completed.fetch_add(1, Ordering::Relaxed);
}

/// Thinks a while, then pays at the simulator with probability `pay_ratio`; when the
/// buyer was charged.
async fn play_the_buyer(
    client: &reqwest::Client,
    settings: &FlowSettings,
    steps: &FlowSteps,
    parent: &str,
) -> Option<Instant> {
    let base = &settings.base;
    let (think, pays) = {
        let mut rng = rand::thread_rng();
        (
            rng.gen_range(0..=settings.think_ms),
            rng.gen_bool(settings.pay_ratio.clamp(0.0, 1.0)),
        )
    };
    tokio::time::sleep(Duration::from_millis(think)).await;
    let mut charged_at = None;
    if pays {
        let response = client
            .post(format!("{base}/paysim/pay"))
            .form(&[("merOrderId", parent)])
            .send()
            .await;
        match response.map(|r| r.status().as_u16()) {
            Ok(200) => {
                charged_at = Some(Instant::now());
                steps.charged.fetch_add(1, Ordering::Relaxed);
            }
            Ok(409) => {}
            other => violation(steps, format!("{parent}: buyer could not pay: {other:?}")),
        }
    }
    if charged_at.is_none() {
        steps.abandoned.fetch_add(1, Ordering::Relaxed);
    }
    charged_at
}

/// Polls `shop/order/state` as the frontend does until it is final (or `overdue_time` +
/// 15 s passed: then `"0"`), recording how long a payment took to show.
async fn poll_until_final(
    client: &reqwest::Client,
    settings: &FlowSettings,
    steps: &FlowSteps,
    member: u64,
    parent: &str,
    charged_at: Option<Instant>,
    overdue: u64,
) -> String {
    let base = &settings.base;
    let give_up = Instant::now() + Duration::from_secs(overdue + 15);
    loop {
        let started = Instant::now();
        let state = post(
            client,
            &format!("{base}/shop/order/state"),
            &crate::member_form(member, &[("parent_order_no", parent.to_owned())]),
        )
        .await;
        steps
            .state
            .record(started, state.as_ref().map(|_| ()).map_err(Clone::clone));
        let status = state
            .ok()
            .and_then(|s| s["transaction_status"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if !status.is_empty() && status != "0" {
            if let (Some(charged), "1") = (charged_at, status.as_str()) {
                let _ = steps
                    .paid_to_state
                    .latencies
                    .lock()
                    .record(charged.elapsed().as_micros().max(1) as u64);
            }
            return status;
        }
        if Instant::now() > give_up {
            return "0".to_owned();
        }
        tokio::time::sleep(Duration::from_millis(settings.poll_ms)).await;
    }
}

/// The registration follows through the outbox: within 10 s the apply shows `registered`
/// for a paid order and `cancelled` for any other.
async fn await_registration(
    client: &reqwest::Client,
    settings: &FlowSettings,
    steps: &FlowSteps,
    member: u64,
    apply_id: u64,
    final_status: &str,
) {
    let base = &settings.base;
    let wanted = if final_status == "1" {
        "registered"
    } else {
        "cancelled"
    };
    let until = Instant::now() + Duration::from_secs(10);
    loop {
        let info = get(client, format!("{base}/activityPlatform/wxActivity/applyInfo?apply_id={apply_id}&member_id={member}&company_id=421")).await;
        let status = info
            .ok()
            .and_then(|i| i["status"].as_str().map(str::to_owned))
            .unwrap_or_default();
        if status == wanted {
            break;
        }
        if Instant::now() > until {
            violation(
                steps,
                format!("apply {apply_id}: {status}, expected {wanted}"),
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Runs the flow for every member and returns the report.
pub async fn run(
    client: reqwest::Client,
    settings: FlowSettings,
    quiet: bool,
) -> Result<Value, String> {
    let settings = Arc::new(settings);
    let base = settings.base.clone();
    let seats = settings.members;
    let activity = post(
        &client,
        &format!("{base}/activityPlatform/activity/save"),
        &[
            ("name", "loadgen flow".into()),
            ("price", "1".into()),
            ("seats", seats.to_string()),
        ],
    )
    .await?["activity_id"]
        .as_u64()
        .ok_or("no activity_id")?;
    let queries_before = poller_queries(&client, &base).await;
    let steps = Arc::new(FlowSteps {
        apply: Step::new(),
        create: Step::new(),
        pay: Step::new(),
        state: Step::new(),
        paid_to_state: Step::new(),
        violations: Mutex::new(Vec::new()),
        charged: AtomicU64::new(0),
        abandoned: AtomicU64::new(0),
        completed: AtomicU64::new(0),
    });
    let progress = {
        let steps = steps.clone();
        crate::Progress::start("flow", settings.members, quiet, move || {
            let errors: u64 = [&steps.apply, &steps.create, &steps.pay, &steps.state]
                .iter()
                .map(|s| s.errors.lock().values().sum::<u64>())
                .sum();
            (
                steps.completed.load(Ordering::Relaxed),
                format!("errors {errors}"),
            )
        })
    };
    let elapsed = {
        let (client, steps, settings2) = (client.clone(), steps.clone(), settings.clone());
        let member_base = settings.member_base;
        crate::drive(settings.members, None, settings.concurrency, move |i| {
            member_flow(
                client.clone(),
                settings2.clone(),
                steps.clone(),
                activity,
                member_base + i,
            )
        })
        .await
    };
    progress.finish();
    let detail = get(
        &client,
        format!("{base}/activityPlatform/wxActivity/detail?activity_id={activity}"),
    )
    .await?;
    let charged = steps.charged.load(Ordering::Relaxed);
    let registered = detail["registered"].as_u64().unwrap_or_default();
    let seats_left = detail["seats_left"].as_u64().unwrap_or_default();
    let reserved = detail["reserved"].as_u64().unwrap_or_default();
    if registered != charged {
        violation(
            &steps,
            format!("{registered} registered, but {charged} members were charged"),
        );
    }
    if seats_left != seats.saturating_sub(registered).saturating_sub(reserved) || reserved != 0 {
        violation(
            &steps,
            format!(
                "seats_left {seats_left}, reserved {reserved}, registered {registered} of {seats}"
            ),
        );
    }
    let queries = poller_queries(&client, &base)
        .await
        .saturating_sub(queries_before);
    let completed = steps.completed.load(Ordering::Relaxed);
    let errors = crate::errors_by_code(&[&steps.apply, &steps.create, &steps.pay, &steps.state]);
    let violations = steps.violations.lock().clone();
    Ok(json!({
        "scenario": "flow",
        "concurrency": settings.concurrency,
        "completed": completed,
        "elapsed_s": (elapsed.as_secs_f64() * 1000.0).round() / 1000.0,
        "throughput_per_s": (completed as f64 / elapsed.as_secs_f64() * 10.0).round() / 10.0,
        "charged": charged,
        "abandoned": steps.abandoned.load(Ordering::Relaxed),
        "provider_queries": queries,
        "provider_queries_per_payment": if charged > 0 { (queries as f64 / charged as f64 * 100.0).round() / 100.0 } else { 0.0 },
        "errors": errors,
        "latency_ms": {
            "apply": steps.apply.summary(),
            "create": steps.create.summary(),
            "pay": steps.pay.summary(),
            "state": steps.state.summary(),
            "paid_to_state_1": steps.paid_to_state.summary(),
        },
        "violations": violations,
    }))
}

async fn poller_queries(client: &reqwest::Client, base: &str) -> u64 {
    let Ok(response) = client.get(format!("{base}/metrics")).send().await else {
        return 0;
    };
    let text = response.text().await.unwrap_or_default();
    text.lines()
        .find_map(|line| line.strip_prefix("ordercenter_poller_queries_total "))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0)
}
