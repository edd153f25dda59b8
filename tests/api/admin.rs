//! "What happened to this order?": `GET /admin/orders/{parent_order_no}` and, offline,
//! `ordercenter inspect`.

use std::process::Command;
use std::time::Duration;

use serde_json::{json, Value};

use crate::helpers::{eventually, spawn_app_with, Reply, Status, TestApp};

const TOKEN: &str = "adm1n";

async fn spawn() -> TestApp {
    spawn_app_with(|c| {
        c.order_ttl = 2;
        c.admin_token = Some(TOKEN.into());
    })
    .await
}

async fn admin_get(app: &TestApp, number: &str, token: Option<&str>) -> Reply {
    let mut request = app.client.get(app.url(&format!("/admin/orders/{number}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    app.send(request).await
}

/// The order's history as `event` names, oldest first.
fn events(data: &Value) -> Vec<String> {
    data["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|entry| entry["event"].as_str().expect("event").to_owned())
        .collect()
}

/// The history's times never go backwards and are all of this run.
fn assert_times_in_order(data: &Value) {
    let times: Vec<u64> = data["history"]
        .as_array()
        .expect("history")
        .iter()
        .map(|entry| entry["at_ms"].as_u64().expect("at_ms"))
        .collect();
    assert!(
        times.windows(2).all(|pair| pair[0] <= pair[1]),
        "times out of order: {times:?}"
    );
    let now_ms = ordercenter::domain::time::now_millis();
    assert!(
        times.iter().all(|t| *t <= now_ms && *t + 600_000 > now_ms),
        "{times:?}"
    );
}

fn event_detail<'a>(data: &'a Value, event: &str) -> &'a str {
    data["history"]
        .as_array()
        .expect("history")
        .iter()
        .find(|entry| entry["event"] == event)
        .and_then(|entry| entry["detail"].as_str())
        .unwrap_or_else(|| panic!("no {event} in {data}"))
}

#[actix_web::test]
async fn a_paid_order_shows_creation_payment_prepay_provider_report_and_notice_in_order() {
    let app = spawn().await;
    let member = app.member(8001);
    let order = member.order(1).await;
    let payment = member.pay(&order).await;
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
    member
        .wait_status(&order, Status::Paid, Duration::from_secs(10))
        .await;

    let reply = admin_get(&app, &order.parent_order_no, Some(TOKEN)).await;
    let data = reply.ok();

    assert_eq!(
        events(data),
        [
            "creating",
            "created",
            "payment_started",
            "prepay_received",
            "provider_reported",
            "paid",
            "notice_delivered"
        ],
        "{data}"
    );
    assert_times_in_order(data);
    assert_eq!(
        event_detail(data, "prepay_received"),
        format!("prepay_id {}", payment.prepay_id)
    );
    let reported = event_detail(data, "provider_reported");
    assert!(
        reported == "paid, by notify" || reported == "paid, by query",
        "{reported}"
    );
    assert_eq!(data["status"], "paid");
    assert_eq!(data["member_id"], 8001);
    assert_eq!(data["payment"]["prepay_id"], payment.prepay_id.as_str());
    assert_eq!(
        data["detail"]["parent_order_no"],
        order.parent_order_no.as_str()
    );
    assert_eq!(data["detail"]["transaction_status"], "1");
}

#[actix_web::test]
async fn closed_orders_say_why_and_the_child_order_no_finds_the_order_too() {
    let app = spawn().await;
    let cancelled_by = app.member(8101);
    let cancelled = cancelled_by.order(1).await;
    cancelled_by.cancel(&cancelled).await;
    let expired_by = app.member(8102);
    let expired = expired_by.order(1).await;
    expired_by
        .wait_status(&expired, Status::Closed, Duration::from_secs(10))
        .await;

    let cancelled_view = admin_get(&app, &cancelled.parent_order_no, Some(TOKEN)).await;
    let expired_view = admin_get(&app, &expired.order_no, Some(TOKEN)).await;

    assert_eq!(
        events(cancelled_view.ok()),
        [
            "creating",
            "created",
            "closed_cancelled",
            "notice_delivered"
        ]
    );
    assert_eq!(
        events(expired_view.ok()),
        ["creating", "created", "closed_expired", "notice_delivered"]
    );
    assert_eq!(
        expired_view.ok()["parent_order_no"],
        expired.parent_order_no.as_str()
    );
    assert_eq!(expired_view.ok()["status"], "closed");
}

#[actix_web::test]
async fn a_late_payment_shows_its_refund_request_and_confirmation() {
    let app = spawn().await;
    let member = app.member(8201);
    let order = member.order(1).await;
    member.pay(&order).await;
    member
        .wait_status(&order, Status::Closed, Duration::from_secs(10))
        .await;
    app.set_faults(json!({"charge_closed": true, "refund_processing_ms": 200}))
        .await;
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
    member
        .wait_status(&order, Status::Refunded, Duration::from_secs(15))
        .await;

    let data = admin_get(&app, &order.parent_order_no, Some(TOKEN)).await;
    let data = data.ok();

    let seen = events(data);
    let position = |event: &str| {
        seen.iter()
            .position(|e| e == event)
            .unwrap_or_else(|| panic!("no {event} in {seen:?}"))
    };
    assert!(
        position("closed_expired") < position("provider_reported"),
        "{seen:?}"
    );
    assert!(
        position("provider_reported") < position("refund_requested"),
        "{seen:?}"
    );
    assert!(
        position("refund_requested") < position("refunded"),
        "{seen:?}"
    );
    assert_eq!(
        event_detail(data, "refund_requested"),
        format!("refundOrderId {}01, attempt 1", order.parent_order_no)
    );
    assert_eq!(seen.last().map(String::as_str), Some("notice_delivered"));
    assert_eq!(data["status"], "refunded");
    assert_eq!(
        data["payment"]["refund"]["refund_order_id"],
        format!("{}01", order.parent_order_no)
    );
    assert_times_in_order(data);
}

#[actix_web::test]
async fn the_admin_order_needs_the_admin_token() {
    let app = spawn().await;
    let order = app.member(8301).order(1).await;

    admin_get(&app, &order.parent_order_no, None)
        .await
        .expect_error(401, 4_010_000_000);
    admin_get(&app, &order.parent_order_no, Some("wrong"))
        .await
        .expect_error(401, 4_010_000_000);
    admin_get(&app, &order.parent_order_no, Some(&format!("{TOKEN}x")))
        .await
        .expect_error(401, 4_010_000_000);
    // The member who owns it is no admin either.
    let as_member = app
        .get(
            &format!("/admin/orders/{}", order.parent_order_no),
            &[("member_id", "8301".into()), ("company_id", "421".into())],
        )
        .await;
    as_member.expect_error(401, 4_010_000_000);
    let by_field = app
        .get(
            &format!("/admin/orders/{}", order.parent_order_no),
            &[("admin_token", TOKEN.into())],
        )
        .await;
    assert_eq!(
        by_field.ok()["parent_order_no"],
        order.parent_order_no.as_str()
    );
}

#[actix_web::test]
async fn malformed_unknown_and_hostile_order_numbers_are_refused_cleanly() {
    let app = spawn().await;
    let order = app.member(8401).order(1).await;
    let long = "9".repeat(10_000);

    for bad in [
        "abc",
        "123",
        "20131500010045256280",
        "2013-15000100452562",
        &long,
        "%00%00",
    ] {
        let reply = admin_get(&app, bad, Some(TOKEN)).await;
        reply.expect_error(400, 4_000_000_001);
        assert!(reply.text.contains("parent_order_no"), "{}", reply.text);
    }
    admin_get(&app, "2013999999999999999", Some(TOKEN))
        .await
        .expect_error(404, 4_040_000_001);
    let posted = app
        .send(
            app.client
                .post(app.url(&format!("/admin/orders/{}", order.parent_order_no)))
                .bearer_auth(TOKEN),
        )
        .await;
    posted.expect_error(405, 4_050_000_000);
    // Nothing changed.
    assert_eq!(app.member(8401).state(&order).await.status, Status::Unpaid);
}

fn inspect(dir: &std::path::Path, number: &str, json: bool) -> std::process::Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_ordercenter"));
    command
        .arg("inspect")
        .arg("--data-dir")
        .arg(dir)
        .arg(number);
    if json {
        command.arg("--json");
    }
    command.output().expect("ordercenter inspect runs")
}

#[actix_web::test]
async fn inspect_prints_offline_what_the_admin_endpoint_answers_and_refuses_a_store_in_use() {
    let mut app = spawn().await;
    let member = app.member(8501);
    let order = member.order(1).await;
    member.cancel(&order).await;
    let online = admin_get(&app, &order.parent_order_no, Some(TOKEN)).await;
    let online = online.ok().clone();

    let dir = app.dir.path().to_path_buf();
    let in_use = tokio::task::spawn_blocking({
        let dir = dir.clone();
        let number = order.parent_order_no.clone();
        move || inspect(&dir, &number, true)
    })
    .await
    .unwrap();
    assert!(!in_use.status.success());
    let said = String::from_utf8_lossy(&in_use.stderr);
    assert!(said.contains("in use by a running ordercenter"), "{said}");

    app.stop().await;
    let offline = inspect(&dir, &order.parent_order_no, true);
    assert!(
        offline.status.success(),
        "{}",
        String::from_utf8_lossy(&offline.stderr)
    );
    let offline: Value = serde_json::from_slice(&offline.stdout).expect("JSON");
    assert_eq!(offline, online);

    let table = inspect(&dir, &order.order_no, false);
    assert!(table.status.success());
    let table = String::from_utf8_lossy(&table.stdout);
    assert!(table.contains("closed_cancelled"), "{table}");
    assert!(table.contains(&order.parent_order_no), "{table}");

    let missing = inspect(&dir, "2013999999999999999", false);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no order 2013999999999999999"));
    let nowhere = tempfile::tempdir().unwrap();
    let no_store = inspect(nowhere.path(), &order.parent_order_no, false);
    assert!(!no_store.status.success());
    assert!(String::from_utf8_lossy(&no_store.stderr).contains("there is no store"));
    assert!(
        !nowhere.path().join("db").exists(),
        "inspect created a store"
    );
}

#[actix_web::test]
async fn a_notice_the_outbox_delivers_over_http_is_in_the_history_once_acknowledged() {
    const INTERNAL: &str = "internal-secret";
    let platform = spawn_app_with(|c| c.internal_token = Some(INTERNAL.into())).await;
    let activity = platform.save_activity("远程活动", 250, 1).await;
    let base = platform.base.clone();
    let center = spawn_app_with(move |c| {
        c.no_demo = true;
        c.admin_token = Some(TOKEN.into());
        c.internal_token = Some(INTERNAL.into());
        c.subsystem_urls = vec![format!("3001={base}")];
    })
    .await;
    let applied = platform.member(8601).apply(activity).await;
    let order = center.member(8601).create_order(&applied).await;

    center.member(8601).cancel(&order).await;

    let data = eventually(
        Duration::from_secs(10),
        "the notice to be acknowledged",
        || async {
            let reply = admin_get(&center, &order.parent_order_no, Some(TOKEN)).await;
            let data = reply.ok().clone();
            (events(&data).last().map(String::as_str) == Some("notice_delivered")).then_some(data)
        },
    )
    .await;
    assert_eq!(
        events(&data),
        [
            "creating",
            "created",
            "closed_cancelled",
            "notice_queued",
            "notice_delivered"
        ]
    );
    assert_eq!(
        event_detail(&data, "notice_delivered"),
        "order_status 2 (outbox, acknowledged)"
    );
    assert_times_in_order(&data);
    platform
        .wait_seats_left(activity, 1, Duration::from_secs(5))
        .await;
}
