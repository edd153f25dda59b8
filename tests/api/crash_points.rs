//! A crash at every durable step of create, expiry, payment and the outbox: the real binary
//! aborts at a named crash point (`ORDERCENTER_FAILPOINT`), restarts on the same data dir,
//! and both sides must agree — no half-made order, no stuck or double-released seat, every
//! notification effective once.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::crash::{self, apply, apply_record, client, post, save_activity, Server};
use crate::helpers::{
    create_form, data_of, order_form, pay_form, Applied, Registration, State, Status,
};

const TTL: u64 = 3;
const SEATS: u64 = 5;

/// An activity with [`SEATS`] seats and member 1's apply to it.
fn member_one_applies(base: &str) -> (u64, Applied) {
    let activity = save_activity(base, SEATS);
    let applied = apply(&client(), base, 1, activity);
    (activity, data_of(&applied))
}

/// The seats are all free again, none reserved.
fn every_seat_free(base: &str, activity: u64) -> bool {
    let detail = crash::activity(base, activity);
    detail.seats_left == SEATS && detail.reserved == 0
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

/// Starts the binary (in-process platform) armed to abort at crash `point`.
fn start_armed(dir: &std::path::Path, port: u16, point: &str) -> Server {
    start(
        dir,
        port,
        Platform::InProcess,
        &[("ORDERCENTER_FAILPOINT", point)],
    )
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
    let (activity, applied) = member_one_applies(&base);
    let apply_id = applied.apply_info.apply_id;

    // Drive the flow; the request that hits the crash point gets no answer.
    let created: Option<String> = client()
        .post(format!("{base}/shop/order/create"))
        .form(&create_form(1, &applied.sku_slice))
        .send()
        .ok()
        .and_then(|r| r.json::<Value>().ok())
        .and_then(|envelope| {
            envelope["data"]["parent_order_no"]
                .as_str()
                .map(str::to_owned)
        });
    if pay {
        let parent = created.as_deref().expect("created");
        let _ = client()
            .post(format!("{base}/shop/order/pay"))
            .form(&pay_form(1, parent))
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
        || {
            let record = apply_record(&base, 1, apply_id);
            (record.status == Registration::Cancelled).then_some(())
        },
    );
    until(Duration::from_secs(5), "the seat to return", || {
        every_seat_free(&base, activity).then_some(())
    });
    if let Some(parent) = &created {
        let state = post(
            &client(),
            format!("{base}/shop/order/state"),
            &order_form(1, parent),
        );
        assert_eq!(
            data_of::<State>(&state).status,
            Status::Closed,
            "acknowledged order after {point}: {state}"
        );
    }
    // A fresh reservation is counted once: a stray second release would show here.
    let other = apply(&client(), &base, 2, activity);
    assert_eq!(other["code"], 200, "{other}");
    std::thread::sleep(Duration::from_millis(1500));
    let detail = crash::activity(&base, activity);
    assert_eq!(
        (detail.reserved, detail.seats_left),
        (1, SEATS - 1),
        "after {point}: {detail:?}"
    );
    // Member 1 is not stuck: it can sign up again.
    let again = apply(&client(), &base, 1, activity);
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
    let mut server = start_armed(dir.path(), port, "create.after_journal_record");
    let base = server.base.clone();
    let (activity, applied) = member_one_applies(&base);
    let apply_id = applied.apply_info.apply_id;
    let answer = client()
        .post(format!("{base}/shop/order/create"))
        .form(&create_form(1, &applied.sku_slice))
        .send();
    assert!(answer.is_err(), "the create must crash before answering");
    wait_dead(&mut server);
    drop(server);

    let server = start(dir.path(), port, Platform::InProcess, &[]);
    let base = server.base.clone();
    let record = apply_record(&base, 1, apply_id);
    let parent = record.parent_order_no.clone().unwrap_or_default();
    assert_eq!(parent.len(), 19, "the binding was replayed: {record:?}");
    let state = post(
        &client(),
        format!("{base}/shop/order/state"),
        &order_form(1, &parent),
    );
    assert_eq!(
        data_of::<State>(&state).status,
        Status::Unpaid,
        "the order was replayed, unpaid: {state}"
    );
    until(
        Duration::from_secs(TTL + 10),
        "the replayed order to close and release its apply",
        || {
            let record = apply_record(&base, 1, apply_id);
            (record.status == Registration::Cancelled).then_some(())
        },
    );
    until(Duration::from_secs(5), "the seat to return", || {
        every_seat_free(&base, activity).then_some(())
    });
}

/// Member 1's paid order of the activity (the simulated buyer paid and the order heard).
fn member_one_pays(base: &str, activity: u64, applied: &Applied) -> String {
    let created = post(
        &client(),
        format!("{base}/shop/order/create"),
        &create_form(1, &applied.sku_slice),
    );
    let parent = created["data"]["parent_order_no"]
        .as_str()
        .unwrap_or_else(|| panic!("created: {created}"))
        .to_owned();
    let paying = post(
        &client(),
        format!("{base}/shop/order/pay"),
        &pay_form(1, &parent),
    );
    assert_eq!(paying["code"], 200, "{paying}");
    let paid = client()
        .post(format!("{base}/paysim/pay"))
        .form(&[("merOrderId", parent.clone())])
        .send()
        .expect("buyer pays");
    assert_eq!(paid.status(), 200);
    until(
        Duration::from_secs(10),
        "the order paid and registered",
        || {
            let record = apply_record(base, 1, applied.apply_info.apply_id);
            (record.status == Registration::Registered).then_some(())
        },
    );
    assert_eq!(crash::activity(base, activity).seats_left, SEATS - 1);
    parent
}

/// The order's state as member 1 sees it.
fn status_of(base: &str, parent: &str) -> Status {
    let state = post(
        &client(),
        format!("{base}/shop/order/state"),
        &order_form(1, parent),
    );
    data_of::<State>(&state).status
}

/// The provider refunded the order's payment under attempt 1's id, and no other.
fn refunded_once_at_the_provider(base: &str, parent: &str) {
    use ordercenter::provider::{ProviderConfig, RefundStatus, TradeStatus, UmsClient};
    let provider = UmsClient::new(ProviderConfig::with_base_url(base)).expect("client");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        let query = provider.query(parent).await.expect("query");
        assert_eq!(query.status, TradeStatus::TradeRefund, "{query:?}");
        let first = provider.refund_query(parent, &format!("{parent}01")).await;
        assert_eq!(
            first.expect("refund 01").refund_status,
            RefundStatus::Success
        );
        let second = provider.refund_query(parent, &format!("{parent}02")).await;
        assert!(second.is_err(), "a second refund was asked for: {second:?}");
    });
}

/// Member 1 pays, asks for a refund, and the binary dies at `point` of it; after the
/// restart the refund goes on by itself: refunded once, the seat free, the registration
/// cancelled.
fn crash_during_a_refund(point: &str) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start_armed(dir.path(), port, point);
    let base = server.base.clone();
    let (activity, applied) = member_one_applies(&base);
    let parent = member_one_pays(&base, activity, &applied);

    let mut form = order_form(1, &parent);
    form.push(("reason", "行程有变".into()));
    let _ = client()
        .post(format!("{base}/shop/order/refund"))
        .form(&form)
        .send();
    wait_dead(&mut server);
    drop(server);

    let server = start(dir.path(), port, Platform::InProcess, &[]);
    let base = server.base.clone();
    until(Duration::from_secs(15), "the refund confirmed", || {
        (status_of(&base, &parent) == Status::Refunded).then_some(())
    });
    refunded_once_at_the_provider(&base, &parent);
    until(Duration::from_secs(5), "the seat to return", || {
        every_seat_free(&base, activity).then_some(())
    });
    let record = apply_record(&base, 1, applied.apply_info.apply_id);
    assert_eq!(record.status, Registration::Cancelled, "after {point}");
    assert_eq!(crash::activity(&base, activity).registered, 0);
}

#[test]
fn crash_after_a_refund_was_recorded_before_the_provider_heard_of_it() {
    crash_during_a_refund("refund.after_record");
}

#[test]
fn crash_after_the_provider_refunded_before_the_order_recorded_it() {
    crash_during_a_refund("refund.after_provider");
}

/// Member 1 holds the one seat of an activity — with an order when `ordered`, else a bare
/// reservation — and member 2 waits for it. Nobody pays: at the deadline the seat is
/// released and handed to member 2, and the binary dies in that change. After the restart
/// the release happens again, whole: member 2 holds the seat, once.
fn crash_during_a_promotion(ordered: bool) {
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut server = start_armed(dir.path(), port, "waitlist.before_promote");
    let base = server.base.clone();
    let activity = save_activity(&base, 1);
    let holder: Applied = data_of(&apply(&client(), &base, 1, activity));
    let parent = ordered.then(|| {
        let created = post(
            &client(),
            format!("{base}/shop/order/create"),
            &create_form(1, &holder.sku_slice),
        );
        created["data"]["parent_order_no"]
            .as_str()
            .unwrap_or_else(|| panic!("created: {created}"))
            .to_owned()
    });
    let mut form = crate::helpers::apply_form(2, activity);
    form.push(("waitlist", "1".into()));
    let waiting: Applied = data_of(&post(
        &client(),
        format!("{base}/activityPlatform/wxActivity/apply"),
        &form,
    ));
    assert_eq!(waiting.apply_info.position, Some(1));
    wait_dead(&mut server);
    drop(server);

    let server = start(dir.path(), port, Platform::InProcess, &[]);
    let base = server.base.clone();
    until(Duration::from_secs(TTL + 10), "member 2 promoted", || {
        let record = apply_record(&base, 2, waiting.apply_info.apply_id);
        (record.status == Registration::PendingPayment).then_some(())
    });
    let record = apply_record(&base, 1, holder.apply_info.apply_id);
    assert_eq!(record.status, Registration::Cancelled);
    if let Some(parent) = &parent {
        assert_eq!(status_of(&base, parent), Status::Closed);
    }
    let detail = crash::activity(&base, activity);
    assert_eq!(
        (
            detail.reserved,
            detail.registered,
            detail.seats_left,
            detail.waitlist
        ),
        (1, 0, 0, 0),
        "the seat held once: {detail:?}"
    );
    // Member 2 orders the seat it was given.
    let created = post(
        &client(),
        format!("{base}/shop/order/create"),
        &create_form(2, &waiting.sku_slice),
    );
    assert_eq!(created["code"], 200, "{created}");
}

#[test]
fn crash_while_a_lapsed_reservation_is_handed_to_the_first_waiter() {
    crash_during_a_promotion(false);
}

#[test]
fn crash_while_an_expired_order_hands_its_seat_to_the_first_waiter() {
    crash_during_a_promotion(true);
}
