//! Reconciliation with the provider (对账): `POST /admin/reconcile` and `ordercenter
//! reconcile`, against the simulator with injected faults.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{spawn_app_with, Order, Reply, Status, TestApp};

const TOKEN: &str = "r3concile";

async fn spawn(order_ttl: u64) -> TestApp {
    spawn_app_with(move |c| {
        c.order_ttl = order_ttl;
        c.admin_token = Some(TOKEN.into());
    })
    .await
}

/// The whole of today (and a minute ahead).
fn window() -> (u64, u64) {
    let now = ordercenter::domain::time::now_secs();
    (now - 3600, now + 60)
}

async fn reconcile(app: &TestApp, fix: bool) -> Value {
    let (since, until) = window();
    let reply = post(
        app,
        &[
            ("since", since.to_string()),
            ("until", until.to_string()),
            ("fix", u8::from(fix).to_string()),
            ("admin_token", TOKEN.into()),
        ],
    )
    .await;
    reply.ok().clone()
}

async fn post(app: &TestApp, form: &[(&str, String)]) -> Reply {
    app.send(app.client.post(app.url("/admin/reconcile")).form(form))
        .await
}

fn findings(report: &Value) -> &Vec<Value> {
    report["findings"].as_array().expect("findings")
}

/// `member_id` orders and starts paying; the order closes at its deadline; then the provider
/// takes the buyer's money anyway and its notify is lost, so the order center has no reason
/// to ask again. Returns the order (closed here, TRADE_SUCCESS there).
async fn late_charge_with_dropped_notify(app: &TestApp, member_id: u64) -> Order {
    let member = app.member(member_id);
    let order = member.order(1).await;
    member.pay(&order).await;
    member
        .wait_status(&order, Status::Closed, Duration::from_secs(10))
        .await;
    app.set_faults(
        json!({"charge_closed": true, "drop_notify_rate": 1.0, "refund_processing_ms": 100}),
    )
    .await;
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
    order
}

#[actix_web::test]
async fn a_late_charge_whose_notify_was_dropped_is_found_and_fixed_by_a_refund() {
    let app = spawn(2).await;
    let member = app.member(9301);
    let order = late_charge_with_dropped_notify(&app, 9301).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(member.state(&order).await.status, Status::Closed);

    let found = reconcile(&app, false).await;

    assert_eq!(found["checked"], 1, "{found}");
    assert_eq!(
        findings(&found).as_slice(),
        [json!({
            "parent_order_no": order.parent_order_no,
            "mismatch": "charged_not_paid_here",
            "ours": "closed",
            "provider": "TRADE_SUCCESS",
            "amount_fen": 1,
            "fix": null,
        })],
        "{found}"
    );
    assert_eq!(
        member.state(&order).await.status,
        Status::Closed,
        "a report changes nothing"
    );

    let fixed = reconcile(&app, true).await;

    assert_eq!(findings(&fixed).len(), 1, "{fixed}");
    assert_eq!(findings(&fixed)[0]["fix"], "settled: refunded", "{fixed}");
    assert_eq!(member.state(&order).await.status, Status::Refunded);
    let again = reconcile(&app, false).await;
    assert!(findings(&again).is_empty(), "{again}");
}

#[actix_web::test]
async fn a_payment_the_order_center_missed_is_found_and_confirmed() {
    let app = spawn(480).await;
    let member = app.member(9311);
    let order = member.order(1).await;
    member.pay(&order).await;
    // Its queries fail and the notify is dropped: the poller backs off.
    app.set_faults(json!({"drop_notify_rate": 1.0, "error_rate": 1.0}))
        .await;
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(member.state(&order).await.status, Status::Unpaid);
    let unanswered = reconcile(&app, false).await;
    assert_eq!(
        unanswered["unanswered"],
        json!([order.parent_order_no]),
        "{unanswered}"
    );
    app.set_faults(json!({"drop_notify_rate": 1.0, "error_rate": 0.0}))
        .await;

    let fixed = reconcile(&app, true).await;

    // The poller, backing off, may have found it first; either way it is paid, and if the
    // reconciliation found it, it says so.
    match findings(&fixed).as_slice() {
        [] => {}
        [finding] => {
            assert_eq!(finding["mismatch"], "charged_not_paid_here", "{fixed}");
            assert_eq!(finding["ours"], "unpaid", "{fixed}");
            assert_eq!(finding["fix"], "settled: paid", "{fixed}");
        }
        more => panic!("one order, findings {more:?}"),
    }
    assert_eq!(member.state(&order).await.status, Status::Paid);
    assert!(findings(&reconcile(&app, false).await).is_empty());
}

#[actix_web::test]
async fn a_refund_made_only_at_the_provider_is_reported_for_a_person() {
    let app = spawn(480).await;
    let member = app.member(9321);
    let order = member.order(1).await;
    member.pay(&order).await;
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
    member
        .wait_status(&order, Status::Paid, Duration::from_secs(10))
        .await;
    let refunded = app
        .post_form(
            "/paysim/console-refund",
            &[("merOrderId", order.parent_order_no.clone())],
        )
        .await;
    assert_eq!(refunded.status, 200, "{}", refunded.text);

    let fixed = reconcile(&app, true).await;

    assert_eq!(findings(&fixed).len(), 1, "{fixed}");
    let finding = &findings(&fixed)[0];
    assert_eq!(finding["mismatch"], "refunded_at_provider_only");
    assert_eq!(finding["ours"], "paid");
    assert_eq!(finding["provider"], "TRADE_REFUND");
    assert!(
        finding["fix"]
            .as_str()
            .unwrap()
            .starts_with("needs a person"),
        "{fixed}"
    );
    assert_eq!(member.state(&order).await.status, Status::Paid);
}

#[actix_web::test]
async fn only_payments_started_in_the_window_are_checked_and_agreeing_ones_are_not_reported() {
    let app = spawn(480).await;
    let paid_by = app.member(9331);
    let paid = paid_by.order(1).await;
    paid_by.pay(&paid).await;
    assert_eq!(app.buyer_pays(&paid.parent_order_no).await, 200);
    paid_by
        .wait_status(&paid, Status::Paid, Duration::from_secs(10))
        .await;
    let waiting_by = app.member(9332);
    let waiting = waiting_by.order(1).await;
    waiting_by.pay(&waiting).await;
    app.member(9333).order(1).await; // never paid: no attempt, not checked

    let all = reconcile(&app, false).await;
    let (_, until) = window();
    let later = post(
        &app,
        &[
            ("since", until.to_string()),
            ("until", (until + 60).to_string()),
            ("admin_token", TOKEN.into()),
        ],
    )
    .await;

    assert_eq!(all["checked"], 2, "{all}");
    assert!(findings(&all).is_empty(), "{all}");
    assert_eq!(later.ok()["checked"], 0, "{}", later.text);
}

#[actix_web::test]
async fn reconcile_refuses_missing_malformed_and_unauthorized_requests() {
    let app = spawn(480).await;
    let (since, until) = window();
    let token = ("admin_token", TOKEN.to_owned());
    for (form, field) in [
        (vec![("until", until.to_string()), token.clone()], "since"),
        (vec![("since", since.to_string()), token.clone()], "until"),
        (
            vec![
                ("since", "yesterday".into()),
                ("until", until.to_string()),
                token.clone(),
            ],
            "since",
        ),
        (
            vec![
                ("since", until.to_string()),
                ("until", since.to_string()),
                token.clone(),
            ],
            "until",
        ),
        (
            vec![
                ("since", since.to_string()),
                ("until", since.to_string()),
                token.clone(),
            ],
            "until",
        ),
        (
            vec![
                ("since", since.to_string()),
                ("until", until.to_string()),
                ("fix", "2".into()),
                token.clone(),
            ],
            "fix",
        ),
        (
            vec![
                ("since", "9".repeat(400)),
                ("until", until.to_string()),
                token.clone(),
            ],
            "since",
        ),
    ] {
        let reply = post(&app, &form).await;
        assert_eq!(reply.status, 400, "{form:?}: {}", reply.text);
        reply.expect_error(400, 4_000_000_001);
        assert!(reply.text.contains(field), "{form:?}: {}", reply.text);
    }
    post(
        &app,
        &[("since", since.to_string()), ("until", until.to_string())],
    )
    .await
    .expect_error(401, 4_010_000_000);
    app.send(app.client.get(app.url("/admin/reconcile")))
        .await
        .expect_error(405, 4_050_000_000);
}

#[actix_web::test]
async fn the_reconcile_command_prints_the_findings_and_fails_while_one_is_unsettled() {
    let app = spawn(2).await;
    let member = app.member(9341);
    let order = late_charge_with_dropped_notify(&app, 9341).await;
    let (since, until) = window();
    let run = |fix: bool, json: bool| {
        let mut command = Command::new(env!("CARGO_BIN_EXE_ordercenter"));
        command
            .args(["reconcile", "--url", &app.base, "--admin-token", TOKEN])
            .args(["--since", &since.to_string(), "--until", &until.to_string()]);
        if fix {
            command.arg("--fix");
        }
        if json {
            command.arg("--json");
        }
        command
    };

    let mut report = run(false, false);
    let report = tokio::task::spawn_blocking(move || report.output())
        .await
        .unwrap()
        .unwrap();
    let mut fixed = run(true, true);
    let fixed = tokio::task::spawn_blocking(move || fixed.output())
        .await
        .unwrap()
        .unwrap();

    assert!(
        !report.status.success(),
        "an unsettled mismatch fails the command"
    );
    let table = String::from_utf8_lossy(&report.stdout);
    assert!(
        table.contains(&order.parent_order_no) && table.contains("charged_not_paid_here"),
        "{table}"
    );
    assert!(
        fixed.status.success(),
        "{}",
        String::from_utf8_lossy(&fixed.stderr)
    );
    let fixed: Value = serde_json::from_slice(&fixed.stdout).expect("JSON");
    assert_eq!(fixed["findings"][0]["fix"], "settled: refunded", "{fixed}");
    assert_eq!(member.state(&order).await.status, Status::Refunded);
}
