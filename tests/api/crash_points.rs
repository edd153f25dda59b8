//! A crash at every durable step of create, expiry, payment and the outbox: the real binary
//! aborts at a named crash point (`ORDERCENTER_FAILPOINT`), restarts on the same data dir,
//! and both sides must agree — no half-made order, no stuck or double-released seat, every
//! notification effective once.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::crash::{client, post, save_activity, Server};

const TTL: u64 = 3;
const SEATS: u64 = 5;

fn form(member: u64, extra: &[(&'static str, String)]) -> Vec<(&'static str, String)> {
    let mut fields = vec![
        ("company_id", "421".to_string()),
        ("member_id", member.to_string()),
        ("business_id", "10000001".into()),
    ];
    fields.extend_from_slice(extra);
    fields
}

fn apply(base: &str, member: u64, activity: u64) -> Value {
    let reply = post(
        &client(),
        format!("{base}/activityPlatform/wxActivity/apply"),
        &form(
            member,
            &[
                ("activity_id", activity.to_string()),
                ("name", "崩溃".into()),
                ("phone", "13800000000".into()),
            ],
        ),
    );
    reply
}

fn detail(base: &str, activity: u64) -> Value {
    client()
        .get(format!(
            "{base}/activityPlatform/wxActivity/detail?activity_id={activity}"
        ))
        .send()
        .expect("detail")
        .json::<Value>()
        .expect("json")["data"]
        .clone()
}

fn apply_status(base: &str, member: u64, apply_id: u64) -> String {
    let info: Value = client()
        .get(format!("{base}/activityPlatform/wxActivity/applyInfo?apply_id={apply_id}&member_id={member}&company_id=421"))
        .send()
        .expect("applyInfo")
        .json()
        .expect("json");
    info["data"]["status"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// An activity with [`SEATS`] seats and member 1's apply to it: (activity, apply id, the
/// `sku_slice` to order it).
fn member_one_applies(base: &str) -> (u64, u64, String) {
    let activity = save_activity(base, SEATS);
    let applied = apply(base, 1, activity);
    let apply_id = applied["data"]["apply_info"]["apply_id"]
        .as_u64()
        .expect("apply id");
    let sku_slice = applied["data"]["sku_slice"].as_str().unwrap().to_owned();
    (activity, apply_id, sku_slice)
}

/// Waits for the child to die at its crash point.
fn wait_dead(server: &mut Server) {
    let until = Instant::now() + Duration::from_secs(TTL + 10);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            assert!(
                !status.success(),
                "the server exited cleanly instead of crashing"
            );
            return;
        }
        assert!(Instant::now() < until, "the crash point was never reached");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn until<T>(within: Duration, what: &str, mut check: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + within;
    loop {
        if let Some(value) = check() {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Where the order center finds the activity platform.
#[derive(Clone, Copy, PartialEq)]
enum Platform {
    /// In-process: binding and order are one atomic change.
    InProcess,
    /// Over HTTP (the same binary's own endpoints): the written-ahead creation.
    OverHttp,
}

/// Starts the binary on the same port each time, so a subsystem URL pointing at itself
/// stays valid across the restart.
fn start(dir: &std::path::Path, port: u16, platform: Platform, env: &[(&str, &str)]) -> Server {
    let listen = format!("127.0.0.1:{port}");
    let args = match platform {
        Platform::InProcess => vec![],
        Platform::OverHttp => vec![
            "--subsystem-url".to_string(),
            format!("3001=http://{listen}"),
        ],
    };
    Server::start_with(dir, TTL, env, &listen, &args)
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .expect("a free port")
        .port()
}

/// Runs member 1's flow into the crash `point` (in-process platform), restarts, and checks
/// both sides agree.
fn crash_at(point: &str, pay: bool) {
    crash_with(point, pay, Platform::InProcess);
}

fn crash_with(point: &str, pay: bool, platform: Platform) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(
        dir.path(),
        port,
        platform,
        &[("ORDERCENTER_FAILPOINT", point)],
    );
    let base = server.base.clone();
    let (activity, apply_id, sku_slice) = member_one_applies(&base);

    // Drive the flow; the request that hits the crash point gets no answer.
    let created = client()
        .post(format!("{base}/shop/order/create"))
        .form(&crate::helpers::TestApp::create_form(1, &sku_slice))
        .send()
        .ok()
        .and_then(|r| r.json::<Value>().ok());
    if pay {
        let parent = created
            .as_ref()
            .and_then(|c| c["data"]["parent_order_no"].as_str())
            .expect("created")
            .to_owned();
        let _ = client()
            .post(format!("{base}/shop/order/pay"))
            .form(&form(
                1,
                &[("parent_order_no", parent), ("payment_way", "110".into())],
            ))
            .send();
    }
    wait_dead(&mut server);
    drop(server);

    let server = start(dir.path(), port, platform, &[]);
    let base = server.base.clone();
    // Everything member 1 started ends closed, and its seat comes back exactly once.
    until(
        Duration::from_secs(TTL + 10),
        "member 1's apply to be released",
        || (apply_status(&base, 1, apply_id) == "cancelled").then_some(()),
    );
    until(Duration::from_secs(5), "the seat to return", || {
        let detail = detail(&base, activity);
        (detail["seats_left"] == SEATS && detail["reserved"] == 0).then_some(())
    });
    if let Some(parent) = created
        .as_ref()
        .and_then(|c| c["data"]["parent_order_no"].as_str())
    {
        let state = post(
            &client(),
            format!("{base}/shop/order/state"),
            &form(1, &[("parent_order_no", parent.to_owned())]),
        );
        assert_eq!(
            state["data"]["transaction_status"], "2",
            "acknowledged order after {point}: {state}"
        );
    }
    // A fresh reservation is counted once: a stray second release would show here.
    let other = apply(&base, 2, activity);
    assert_eq!(other["code"], 200, "{other}");
    std::thread::sleep(Duration::from_millis(1500));
    let detail = detail(&base, activity);
    assert_eq!(
        (detail["reserved"].as_u64(), detail["seats_left"].as_u64()),
        (Some(1), Some(SEATS - 1)),
        "after {point}: {detail}"
    );
    // Member 1 is not stuck: it can sign up again.
    let again = apply(&base, 1, activity);
    assert_eq!(again["code"], 200, "member 1 after {point}: {again}");
}

#[test]
fn crash_before_the_order_and_its_binding_are_written() {
    crash_at("create.before_commit", false);
}

#[test]
fn crash_after_created_before_the_answer() {
    crash_at("create.after_created", false);
}

#[test]
fn crash_after_creating_is_recorded_with_a_subsystem_over_http() {
    crash_with("create.after_creating", false, Platform::OverHttp);
}

#[test]
fn crash_after_a_subsystem_over_http_bound_the_apply() {
    crash_with("create.after_bind", false, Platform::OverHttp);
}

#[test]
fn crash_after_created_with_a_subsystem_over_http() {
    crash_with("create.after_created", false, Platform::OverHttp);
}

#[test]
fn crash_after_the_expiry_was_recorded() {
    crash_at("expire.after_close", false);
}

#[test]
fn crash_after_a_subsystem_over_http_acknowledged_a_notice() {
    // In-process notices are applied in the order's own change; the outbox carries them to
    // subsystems over HTTP.
    crash_with("outbox.after_notify", false, Platform::OverHttp);
}

#[test]
fn crash_after_the_payment_attempt_was_recorded() {
    crash_at("pay.after_attempt", true);
}

/// The crash the store journal exists for: a create's change has its journal record on disk
/// but none of its keys. The restart must replay it whole — the apply bound to an order that
/// exists, unpaid — and that order then ends like any other: closed at its deadline, seat back.
#[test]
fn a_create_torn_after_its_journal_record_is_replayed_whole() {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start(
        dir.path(),
        port,
        Platform::InProcess,
        &[("ORDERCENTER_FAILPOINT", "create.after_journal_record")],
    );
    let base = server.base.clone();
    let (activity, apply_id, sku_slice) = member_one_applies(&base);
    let answer = client()
        .post(format!("{base}/shop/order/create"))
        .form(&crate::helpers::TestApp::create_form(1, &sku_slice))
        .send();
    assert!(answer.is_err(), "the create must crash before answering");
    wait_dead(&mut server);
    drop(server);

    let server = start(dir.path(), port, Platform::InProcess, &[]);
    let base = server.base.clone();
    let info: Value = client()
        .get(format!(
            "{base}/activityPlatform/wxActivity/applyInfo?apply_id={apply_id}&member_id=1&company_id=421"
        ))
        .send()
        .expect("applyInfo")
        .json()
        .expect("json");
    let parent = info["data"]["parent_order_no"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert_eq!(parent.len(), 19, "the binding was replayed: {info}");
    let state = post(
        &client(),
        format!("{base}/shop/order/state"),
        &form(1, &[("parent_order_no", parent.clone())]),
    );
    assert_eq!(
        state["data"]["transaction_status"], "0",
        "the order was replayed, unpaid: {state}"
    );
    until(
        Duration::from_secs(TTL + 10),
        "the replayed order to close and release its apply",
        || (apply_status(&base, 1, apply_id) == "cancelled").then_some(()),
    );
    until(Duration::from_secs(5), "the seat to return", || {
        let detail = detail(&base, activity);
        (detail["seats_left"] == SEATS && detail["reserved"] == 0).then_some(())
    });
}
