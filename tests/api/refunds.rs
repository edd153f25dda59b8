//! Refunds on request (`shop/order/refund`, `shop/order/adminRefund`): recorded before the
//! provider hears of them, refunded once however often or concurrently they are asked,
//! followed until the provider confirms, and then the seat is free and the registration
//! cancelled. Refusals: not paid or refunded already, past the deadline, not the caller's.

use std::time::Duration;

use ordercenter::provider::{ProviderConfig, ProviderError, RefundStatus, TradeStatus, UmsClient};
use serde_json::json;

use crate::helpers::{
    eventually, order_form, spawn_app, spawn_app_with, Registration, Status, TestApp,
};

const NOT_REFUNDABLE: (u16, u64) = (409, 4_090_000_006);
const PAST_DEADLINE: (u16, u64) = (403, 4_030_000_002);
const REFUNDED_WITHIN: Duration = Duration::from_secs(15);

/// The provider, as the order center's client talks to it (the embedded simulator).
fn provider(app: &TestApp) -> UmsClient {
    UmsClient::new(ProviderConfig::with_base_url(&app.base)).expect("provider client")
}

/// Creates an activity with the admin form's extra fields.
async fn save_activity_with(app: &TestApp, seats: u64, extra: &[(&'static str, String)]) -> u64 {
    let mut form = vec![
        ("name", "退款活动".to_string()),
        ("price", "1".to_string()),
        ("seats", seats.to_string()),
    ];
    form.extend_from_slice(extra);
    let reply = app
        .post_form("/activityPlatform/activity/save", &form)
        .await;
    reply.ok()["activity_id"].as_u64().expect("activity_id")
}

/// The refund the order center asked the provider for: attempt 1's id refunded in full,
/// and no second attempt.
async fn refunded_once_at_the_provider(app: &TestApp, parent: &str) {
    let provider = provider(app);
    let query = provider.query(parent).await.expect("query");
    assert_eq!(query.status, TradeStatus::TradeRefund, "{query:?}");
    let first = provider
        .refund_query(parent, &format!("{parent}01"))
        .await
        .expect("refund 01 exists");
    assert_eq!(first.refund_status, RefundStatus::Success);
    match provider.refund_query(parent, &format!("{parent}02")).await {
        Err(ProviderError::Refused { .. }) => {}
        other => panic!("a second refund was asked for: {other:?}"),
    }
}

#[actix_web::test]
async fn a_refund_asked_for_is_recorded_then_confirmed_and_frees_the_seat() {
    let app = spawn_app().await;
    let activity = save_activity_with(&app, 1, &[]).await;
    let member = app.member(9101);
    let (applied, order) = member.paid_order(activity).await;
    member.wait_registered(applied.apply_info.apply_id).await;
    assert_eq!(app.activity(activity).await.seats_left, 0);
    // The provider works on refunds for a moment: the order shows the refund pending.
    app.set_faults(json!({"refund_processing_ms": 1500})).await;

    let state = member.refund(&order).await;

    assert_eq!(
        state.status,
        Status::Paid,
        "paid until the provider confirms"
    );
    let detail = member.try_detail(&order).await;
    assert_eq!(detail.ok()["refund_status"], 1, "{}", detail.text);
    assert_eq!(detail.ok()["list"]["order"]["refund_status"], 1);
    let refunded = member
        .wait_status(&order, Status::Refunded, REFUNDED_WITHIN)
        .await;
    assert_eq!(refunded.message, "订单已退款");
    refunded_once_at_the_provider(&app, &order.parent_order_no).await;
    let record = member.apply_record(applied.apply_info.apply_id).await;
    assert_eq!(record.status, Registration::Cancelled);
    app.wait_seats_left(activity, 1, Duration::from_secs(5))
        .await;
    let detail = app.activity(activity).await;
    assert_eq!((detail.registered, detail.reserved), (0, 0));
    // The seat is someone else's to take now.
    app.member(9102).apply(activity).await;
    // Asked again once refunded: nothing to refund.
    member
        .try_refund(&order, "again")
        .await
        .expect_error(NOT_REFUNDABLE.0, NOT_REFUNDABLE.1);
}

#[actix_web::test]
async fn two_refunds_racing_refund_once() {
    let app = spawn_app().await;
    let activity = save_activity_with(&app, 5, &[]).await;
    let member = app.member(9201);
    let (applied, order) = member.paid_order(activity).await;
    member.wait_registered(applied.apply_info.apply_id).await;
    app.set_faults(json!({"refund_processing_ms": 300})).await;

    let replies =
        futures::future::join_all((0..8).map(|_| member.try_refund(&order, "并发"))).await;

    // The provider takes 300 ms: every answer is the same recorded, pending refund.
    for reply in &replies {
        let state: crate::helpers::State = reply.ok_as();
        assert_eq!(state.status, Status::Paid, "{state:?}");
        assert_eq!(reply.body, replies[0].body, "answers differ");
    }
    member
        .wait_status(&order, Status::Refunded, REFUNDED_WITHIN)
        .await;
    refunded_once_at_the_provider(&app, &order.parent_order_no).await;
    // Recorded once: the provider was asked once, not once per request under the same id
    // (which its state alone could not tell).
    let stats = app.get("/paysim/stats", &[]).await;
    assert_eq!(
        stats.body["calls"]["/v1/netpay/refund"], 1,
        "refund calls: {}",
        stats.text
    );
    app.wait_seats_left(activity, 5, Duration::from_secs(5))
        .await;
    assert_eq!(app.activity(activity).await.registered, 0);
}

#[actix_web::test]
async fn an_order_not_paid_or_someone_elses_is_not_refunded() {
    let app = spawn_app().await;
    let activity = save_activity_with(&app, 5, &[]).await;
    let member = app.member(9301);
    let unpaid = member.order(activity).await;

    member
        .try_refund(&unpaid, "")
        .await
        .expect_error(NOT_REFUNDABLE.0, NOT_REFUNDABLE.1);
    let cancelled = member.cancel(&unpaid).await;
    assert_eq!(cancelled.status, Status::Closed);
    member
        .try_refund(&unpaid, "")
        .await
        .expect_error(NOT_REFUNDABLE.0, NOT_REFUNDABLE.1);

    let (_, paid) = app.member(9302).paid_order(activity).await;
    // Another member is told the order does not exist, and nothing happens to it.
    member
        .try_refund(&paid, "not mine")
        .await
        .expect_error(404, 4_040_000_001);
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.member(9302).state(&paid).await.status, Status::Paid);
    let detail = app.member(9302).try_detail(&paid).await;
    assert_eq!(detail.ok()["refund_status"], 0);
}

#[actix_web::test]
async fn past_the_refund_deadline_only_an_operator_refunds() {
    let app = spawn_app_with(|c| c.admin_token = Some("s3cret".into())).await;
    let save = |extra: Vec<(&'static str, String)>| {
        let mut form = vec![
            ("name", "已开始".to_string()),
            ("price", "1".to_string()),
            ("seats", "5".to_string()),
            ("admin_token", "s3cret".to_string()),
        ];
        form.extend(extra);
        let app = &app;
        async move {
            let reply = app
                .post_form("/activityPlatform/activity/save", &form)
                .await;
            reply.ok().clone()
        }
    };
    // Saved with a deadline already past; and one that started (its default deadline).
    let past = save(vec![("refund_deadline", "1".into())]).await;
    assert_eq!(past["refund_deadline"], 1);
    let started = save(vec![(
        "start_time",
        (ordercenter::domain::time::now_secs() - 5).to_string(),
    )])
    .await;
    assert!(started["refund_deadline"].as_u64().is_some(), "{started}");
    let always = save(vec![]).await;
    assert!(always["refund_deadline"].is_null(), "{always}");

    for (i, activity) in [&past, &started].into_iter().enumerate() {
        let activity = activity["activity_id"].as_u64().unwrap();
        let member = app.member(9401 + i as u64);
        let (_, order) = member.paid_order(activity).await;
        member
            .try_refund(&order, "late")
            .await
            .expect_error(PAST_DEADLINE.0, PAST_DEADLINE.1);
        assert_eq!(member.state(&order).await.status, Status::Paid);

        // The operator needs the token and a reason.
        let mut admin = vec![
            ("parent_order_no", order.parent_order_no.clone()),
            ("reason", "活动取消".to_string()),
        ];
        app.post_form("/shop/order/adminRefund", &admin)
            .await
            .expect_error(401, 4_010_000_000);
        admin.push(("admin_token", "wrong".into()));
        app.post_form("/shop/order/adminRefund", &admin)
            .await
            .expect_error(401, 4_010_000_000);
        admin.pop();
        admin.push(("admin_token", "s3cret".into()));
        let without_reason: Vec<_> = admin
            .iter()
            .filter(|(k, _)| *k != "reason")
            .cloned()
            .collect();
        app.post_form("/shop/order/adminRefund", &without_reason)
            .await
            .expect_error(400, 4_000_000_001);
        // Nobody's order, or a child's number: not found for an operator either.
        for other in ["2013000000000000001".to_string(), order.order_no.clone()] {
            let mut nobodys = admin.clone();
            nobodys[0].1 = other;
            app.post_form("/shop/order/adminRefund", &nobodys)
                .await
                .expect_error(404, 4_040_000_001);
        }
        let reply = app.post_form("/shop/order/adminRefund", &admin).await;
        assert_eq!(
            reply.ok()["parent_order_no"],
            order.parent_order_no.as_str()
        );
        member
            .wait_status(&order, Status::Refunded, REFUNDED_WITHIN)
            .await;
        refunded_once_at_the_provider(&app, &order.parent_order_no).await;
        app.post_form("/shop/order/adminRefund", &admin)
            .await
            .expect_error(NOT_REFUNDABLE.0, NOT_REFUNDABLE.1);
    }
}

#[actix_web::test]
async fn a_refund_the_provider_fails_is_retried_until_it_is_made() {
    let app = spawn_app().await;
    let activity = save_activity_with(&app, 2, &[]).await;
    let member = app.member(9501);
    let (applied, order) = member.paid_order(activity).await;
    member.wait_registered(applied.apply_info.apply_id).await;
    // The provider is down: the refund is recorded and answered, and waits for it.
    app.set_faults(json!({"error_rate": 1.0})).await;

    let state = member.refund(&order).await;
    assert_eq!(state.status, Status::Paid);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(member.state(&order).await.status, Status::Paid);
    assert_eq!(
        member
            .apply_record(applied.apply_info.apply_id)
            .await
            .status,
        Registration::Registered
    );

    app.set_faults(json!({"error_rate": 0.0})).await;
    // The first retry comes after about 10 s (jittered ± 25 %).
    member
        .wait_status(&order, Status::Refunded, Duration::from_secs(25))
        .await;
    refunded_once_at_the_provider(&app, &order.parent_order_no).await;
    app.wait_seats_left(activity, 2, Duration::from_secs(5))
        .await;
}

#[actix_web::test]
async fn a_zero_price_order_is_refunded_at_once() {
    let app = spawn_app().await;
    let activity = app.save_activity("免费", 0, 1).await;
    let member = app.member(9601);
    let applied = member.apply(activity).await;
    let order = member.create_order(&applied).await;
    member.pay(&order).await;
    member
        .wait_status(&order, Status::Paid, Duration::from_secs(5))
        .await;

    let state = member.refund(&order).await;

    assert_eq!(state.status, Status::Refunded);
    app.wait_seats_left(activity, 1, Duration::from_secs(5))
        .await;
    eventually(
        Duration::from_secs(5),
        "the registration cancelled",
        || async {
            let record = member.apply_record(applied.apply_info.apply_id).await;
            (record.status == Registration::Cancelled).then_some(())
        },
    )
    .await;
    let form = order_form(member.id, &order.parent_order_no);
    let again = app.post_form("/shop/order/refund", &form).await;
    again.expect_error(NOT_REFUNDABLE.0, NOT_REFUNDABLE.1);
}

/// A refund asked while the payment confirmation is being written (the published order
/// still unpaid) is still held to the refund deadline: every answer is 409 (not paid yet)
/// or 403 (past the deadline), and the provider is never asked for a refund.
#[actix_web::test]
async fn a_refund_racing_the_payment_confirmation_keeps_the_deadline() {
    let app = spawn_app().await;
    let activity = save_activity_with(&app, 10, &[("refund_deadline", "1".into())]).await;
    for i in 0..5 {
        let member = app.member(9701 + i);
        let order = member.order(activity).await;
        member.pay(&order).await;
        let refunds = async {
            let mut answers = Vec::new();
            loop {
                let reply = member.try_refund(&order, "抢在确认前").await;
                answers.push((reply.status, reply.text.clone()));
                if reply.status == 403 || answers.len() >= 200 {
                    return answers;
                }
            }
        };
        let (paid, answers) = futures::join!(app.buyer_pays(&order.parent_order_no), refunds);
        assert_eq!(paid, 200);
        for (status, text) in &answers {
            assert!(
                *status == NOT_REFUNDABLE.0 || *status == PAST_DEADLINE.0,
                "{status} {text}"
            );
        }
        member
            .wait_status(&order, Status::Paid, REFUNDED_WITHIN)
            .await;
        member
            .try_refund(&order, "之后")
            .await
            .expect_error(PAST_DEADLINE.0, PAST_DEADLINE.1);
        let query = provider(&app)
            .query(&order.parent_order_no)
            .await
            .expect("query");
        assert_eq!(query.status, TradeStatus::TradeSuccess, "{query:?}");
        let detail = member.try_detail(&order).await;
        assert_eq!(detail.ok()["refund_status"], 0, "{}", detail.text);
    }
}

/// Without a configured admin token `adminRefund` is refused for everyone, with a message
/// that says so (unlike `activity/save`, open in an embedded demo); the order stays paid.
#[actix_web::test]
async fn without_an_admin_token_nobody_refunds_as_an_operator() {
    let app = spawn_app().await;
    let activity = save_activity_with(&app, 5, &[]).await;
    let member = app.member(9801);
    let (_, order) = member.paid_order(activity).await;
    for token in [None, Some("guess")] {
        let mut form = vec![
            ("parent_order_no", order.parent_order_no.clone()),
            ("reason", "活动取消".to_string()),
        ];
        if let Some(token) = token {
            form.push(("admin_token", token.to_string()));
        }
        let reply = app.post_form("/shop/order/adminRefund", &form).await;
        reply.expect_error(401, 4_010_000_000);
        assert!(reply.text.contains("not configured"), "{}", reply.text);
    }
    assert_eq!(member.state(&order).await.status, Status::Paid);
    let detail = member.try_detail(&order).await;
    assert_eq!(detail.ok()["refund_status"], 0, "{}", detail.text);
}
