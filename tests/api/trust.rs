//! What a payments engineer found pointing the service at real money and hostile members:
//! notifies for orders that never paid, stray successes on closed orders, refunds made in
//! the provider's console, actors left behind by ended orders, idempotency keys that were
//! not recorded or silently ignored, the internal token's refusal, and a member's history
//! read on every apply.

use std::time::Duration;

use serde_json::json;

use crate::helpers::{
    create_form, eventually, spawn_app, spawn_app_with, Order, Registration, Status, TestApp,
    COMPANY,
};

/// A value from `/metrics`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let text = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text");
    text.lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("{name} not in /metrics:\n{text}"))
}

/// A TRADE_SUCCESS notify signed with the simulator's communication key (MD5, no
/// `signType`, as the real gateway sends for an order placed without one).
fn provider_notify(parent: &str, amount: u64) -> Vec<(String, String)> {
    let mut fields = std::collections::BTreeMap::new();
    fields.insert("merOrderId".to_owned(), parent.to_owned());
    fields.insert("status".to_owned(), "TRADE_SUCCESS".to_owned());
    fields.insert("totalAmount".to_owned(), amount.to_string());
    fields.insert("payTime".to_owned(), "2026-12-01 12:00:00".to_owned());
    fields.insert(
        "targetOrderId".to_owned(),
        "4200000000000000000000000007".to_owned(),
    );
    let sign = ordercenter::provider::sign::notify_sign(
        &fields,
        ordercenter::provider::config::DEFAULT_NOTIFY_KEY,
        ordercenter::provider::SignType::Md5,
    );
    fields.insert("sign".to_owned(), sign);
    fields.into_iter().collect()
}

async fn post_notify(app: &TestApp, form: &[(String, String)]) -> u16 {
    app.client
        .post(format!("{}/trade/notify/ums", app.base))
        .form(form)
        .send()
        .await
        .expect("notify sent")
        .status()
        .as_u16()
}

async fn wait_no_live_actors(app: &TestApp) {
    eventually(Duration::from_secs(10), "no live order actors", || async {
        (metric(app, "ordercenter_live_order_actors").await == 0.0).then_some(())
    })
    .await;
}

#[actix_web::test]
async fn ended_orders_poked_again_leave_no_actor_behind() {
    let app = spawn_app().await;
    let activity = app.save_activity("戳一戳", 1, 100).await;
    for member in (8100..8120).map(|id| app.member(id)) {
        let order = member.order(activity).await;
        member.pay(&order).await;
        assert_eq!(member.cancel(&order).await.status, Status::Closed);
        // Poke the ended order again: each call activates its actor from the store.
        assert_eq!(member.cancel(&order).await.status, Status::Closed);
        member
            .try_pay(&order)
            .await
            .expect_error(409, 4_090_000_001);
        let detail = member.detail(&order).await;
        assert_eq!(detail.status, Status::Closed, "{detail:?}");
    }

    wait_no_live_actors(&app).await;
}

#[actix_web::test]
async fn a_notify_for_an_order_that_never_called_pay_is_refused() {
    let app = spawn_app().await;
    let member = app.member(8201);
    let order = member.order(1).await;

    // Correctly signed (the provider's key), right amount: still no provider order exists.
    let notified = post_notify(&app, &provider_notify(&order.parent_order_no, 1)).await;

    assert_eq!(notified, 400);
    assert_eq!(
        member.state(&order).await.status,
        Status::Unpaid,
        "an order that never called pay was registered by a notify"
    );
}

#[actix_web::test]
async fn a_stray_success_notify_on_a_closed_order_starts_no_refund_and_leaves_no_actor() {
    let app = spawn_app().await;
    let member = app.member(8301);
    let order = member.order(1).await;
    member.pay(&order).await;
    member.cancel(&order).await;

    // The provider's query says TRADE_CLOSED: the notify is not believed.
    let notified = post_notify(&app, &provider_notify(&order.parent_order_no, 1)).await;

    assert_eq!(notified, 400);
    wait_no_live_actors(&app).await;
    assert_eq!(member.state(&order).await.status, Status::Closed);
    assert_eq!(
        metric(&app, "ordercenter_orders_needing_attention_total").await,
        0.0
    );
}

#[actix_web::test]
async fn a_payment_refunded_in_the_providers_console_settles_as_refunded_and_frees_the_seat() {
    let app = spawn_app_with(|c| c.order_ttl = 2).await;
    let activity = app.save_activity("控制台退款", 1, 3).await;
    let member = app.member(8401);
    let applied = member.apply(activity).await;
    let order = member.create_order(&applied).await;
    let parent = order.parent_order_no.clone();
    member.pay(&order).await;
    // The order center hears nothing for now: its queries fail, the notify is dropped.
    app.set_faults(json!({"drop_notify_rate": 1.0, "error_rate": 1.0}))
        .await;
    assert_eq!(app.buyer_pays(&parent).await, 200);
    // The merchant refunds from the provider's console before the order center heard of
    // the payment: its next query (or the close at the deadline) finds it refunded.
    let refunded = app
        .post_form("/paysim/console-refund", &[("merOrderId", parent.clone())])
        .await;
    assert_eq!(refunded.status, 200, "{}", refunded.text);
    assert_eq!(refunded.body["status"], "TRADE_REFUND", "{}", refunded.text);
    app.set_faults(json!({"drop_notify_rate": 1.0, "error_rate": 0.0}))
        .await;

    let state = member
        .wait_status(&order, Status::Refunded, Duration::from_secs(10))
        .await;
    assert_eq!(state.message, "订单已退款");
    let record = member.apply_record(applied.apply_info.apply_id).await;
    assert_eq!(record.status, Registration::Cancelled);
    app.wait_seats_left(activity, 3, Duration::from_secs(5))
        .await;
    wait_no_live_actors(&app).await;
}

#[actix_web::test]
async fn a_key_that_answered_with_an_existing_order_is_recorded() {
    let app = spawn_app().await;
    let activity = app.save_activity("幂等", 1, 10).await;
    let member = app.member(8501);
    let applied = member.apply(activity).await;
    let order = member.create_order(&applied).await;
    let app = &app;
    let keyed = |sku: &str| {
        let form = create_form(member.id, sku);
        async move {
            app.post_form_with_key("/shop/order/create", "k-8501", &form)
                .await
        }
    };

    // A fresh key for SKUs already bound to the member's unpaid order returns that order.
    let first: Order = keyed(&applied.sku_slice).await.ok_as();
    assert_eq!(first.parent_order_no, order.parent_order_no);

    member.cancel(&order).await;
    // The same key with the same parameters: the same order again, as it is now.
    let replay: Order = keyed(&applied.sku_slice).await.ok_as();
    assert_eq!(replay.parent_order_no, order.parent_order_no);
    assert_eq!(replay.status, Status::Closed);
    // The same key for another apply: other parameters.
    let other = member.apply(activity).await;
    let reused = keyed(&other.sku_slice).await;
    assert_eq!(reused.status, 409);
    assert_eq!(reused.code(), 4_090_000_005, "{}", reused.text);
}

#[actix_web::test]
async fn a_non_ascii_idempotency_key_is_refused_not_ignored() {
    let app = spawn_app().await;
    let applied = app.member(8601).apply(1).await;
    let value = reqwest::header::HeaderValue::from_bytes("订单-1".as_bytes()).expect("header");

    let reply = app
        .send(
            app.client
                .post(app.url("/shop/order/create"))
                .header("Idempotency-Key", value)
                .form(&create_form(8601, &applied.sku_slice)),
        )
        .await;

    assert_eq!(reply.status, 400);
    assert_eq!(reply.code(), 4_000_000_001, "{}", reply.text);
    assert!(
        reply.body["message"]
            .as_str()
            .is_some_and(|m| m.contains("Idempotency-Key")),
        "{}",
        reply.text
    );
}

#[actix_web::test]
async fn the_internal_endpoints_name_the_internal_token() {
    let app = spawn_app().await;
    for path in [
        "/activityPlatform/activity/applyOrderNotify",
        "/activityPlatform/activity/applyOrderCreate",
    ] {
        let reply = app
            .post_form(
                path,
                &[
                    ("order_no", "3001000000000000001".into()),
                    ("order_status", "1".into()),
                ],
            )
            .await;
        reply.expect_error(401, 4_010_000_000);
        let message = reply.body["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("内部令牌") && !message.contains("管理员"),
            "{path}: {message}"
        );
    }
}

#[actix_web::test]
async fn an_apply_reads_only_the_members_live_applies_whatever_their_history() {
    let mut app = spawn_app().await;
    let activity = app.save_activity("循环", 1, 10).await;
    let member = app.member(8701);
    for _ in 0..30 {
        let order = member.order(activity).await;
        member.cancel(&order).await;
    }
    member.order(activity).await;

    // The store the app wrote (a copy: sled keeps its files locked while the app's handles
    // live): the member's index holds only the apply that holds a seat.
    app.stop().await;
    let copy = tempfile::tempdir().expect("temp dir");
    crate::storage::copy_dir(app.dir.path(), copy.path());
    let dir = copy.path().to_path_buf();
    let store = tokio::task::spawn_blocking(move || {
        ordercenter::store::Store::open(&ordercenter::store::StoreConfig {
            data_dir: dir,
            cache_capacity: 8 << 20,
            disk_reserve_bytes: 0,
        })
    })
    .await
    .expect("joined")
    .expect("store reopens");
    let activities = ordercenter::store::activity::ActivityStore::open(&store).expect("trees");
    let service = ordercenter::activity::ActivityService::new(activities, 480);
    let owner = ordercenter::domain::MemberRef {
        company_id: COMPANY,
        member_id: 8701,
    };
    assert_eq!(
        service
            .member_index_len(activity, owner)
            .await
            .expect("index"),
        1,
        "an apply would read every apply of the member's history"
    );
}

#[actix_web::test]
async fn closes_at_a_shared_deadline_take_a_bounded_number_of_provider_calls() {
    let app = spawn_app_with(|c| c.order_ttl = 8).await;
    let activity = app.save_activity("同一截止", 1, 100).await;
    let mut orders = Vec::new();
    for member in (8800..8880).map(|id| app.member(id)) {
        let order = member.order(activity).await;
        member.pay(&order).await;
        orders.push((member, order));
    }
    // Every close at the provider now takes 300 ms, so unbounded closes would all overlap.
    app.set_faults(json!({"latency_ms": 300})).await;
    for (member, order) in &orders {
        member
            .wait_status(order, Status::Closed, Duration::from_secs(30))
            .await;
    }
    // Counted by the provider, not by the client's own bound.
    let stats = app.get("/paysim/stats", &[]).await;
    let closes = stats.body["in_flight_peak"]["/v1/netpay/close"]
        .as_u64()
        .unwrap_or_else(|| panic!("no close counted: {}", stats.text));
    assert!(
        (2..=ordercenter::workflow::MAX_PROVIDER_CALLS as u64).contains(&closes),
        "closes in flight at once at the provider: {closes}"
    );
}

#[actix_web::test]
async fn a_late_payment_the_provider_will_not_refund_is_left_to_a_person_not_retried_forever() {
    let app = spawn_app_with(|c| c.order_ttl = 2).await;
    let activity = app.save_activity("拒绝退款", 1, 5).await;
    let member = app.member(8901);
    let order = member.order(activity).await;
    member.pay(&order).await;
    member
        .wait_status(&order, Status::Closed, Duration::from_secs(8))
        .await;
    // The buyer's payment goes through after the close; the provider refuses to refund it.
    app.set_faults(json!({"charge_closed": true, "refuse_refunds": true}))
        .await;
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);

    eventually(
        Duration::from_secs(10),
        "the refusal to be counted",
        || async {
            (metric(&app, "ordercenter_orders_needing_attention_total").await == 1.0).then_some(())
        },
    )
    .await;
    wait_no_live_actors(&app).await;
    assert_eq!(
        member.state(&order).await.status,
        Status::Closed,
        "shown closed: the registration never happened"
    );
}
