//! Every protocol operation through the real client, and every illegal transition refused.

use std::time::Duration;

use ordercenter::provider::codes;
use ordercenter::provider::time::{china_time, now_unix};
use ordercenter::provider::{
    ProviderConfig, ProviderError, RefundResponse, RefundStatus, TradeStatus, UmsClient,
};

use super::{new_order, spawn_sim, test_config, verify_pay_sign, TestSim};

fn refused_with(result: Result<impl std::fmt::Debug, ProviderError>, code: &str) {
    match result {
        Err(ProviderError::Refused { code: got, .. }) => assert_eq!(got, code),
        other => panic!("expected errCode {code}, got {other:?}"),
    }
}

#[actix_web::test]
async fn unified_order_answers_the_order_waiting_for_the_buyer() {
    let app = spawn_sim(test_config()).await;

    let (mer_order_id, answer) = app.place(1250).await;

    assert_eq!(answer.mer_order_id, mer_order_id);
    assert_eq!(answer.status, TradeStatus::WaitBuyerPay);
    assert_eq!(answer.total_amount, 1250);
}

#[actix_web::test]
async fn the_mini_pay_request_has_wechats_fields_and_prepay_id() {
    let app = spawn_sim(test_config()).await;
    let before = now_unix();

    let (_, answer) = app.place(1250).await;

    let pay = &answer.mini_pay_request;
    assert_eq!(
        pay.app_id,
        app.client.config().sub_app_id,
        "appId is the mini-program's"
    );
    assert_eq!(pay.sign_type, "RSA");
    assert!(pay.nonce_str.len() == 32 && pay.nonce_str.bytes().all(|b| b.is_ascii_hexdigit()));
    let stamp: i64 = pay.time_stamp.parse().expect("timeStamp is Unix seconds");
    assert!(
        (before..=now_unix()).contains(&stamp),
        "timeStamp {stamp} is now"
    );
    let prepay_id = pay.prepay_id();
    assert_eq!(pay.package, format!("prepay_id={prepay_id}"));
    assert_eq!(
        prepay_id.len(),
        36,
        "like the seed's wx151125319537390e319953c133b11e0001"
    );
    let dd_hh_mm_ss = china_time(stamp).format("%d%H%M%S").to_string();
    assert_eq!(
        &prepay_id[..10],
        format!("wx{dd_hh_mm_ss}"),
        "wx + DDHHmmss in China time"
    );
    assert!(prepay_id[2..].bytes().all(|b| b.is_ascii_alphanumeric()));
}

#[actix_web::test]
async fn the_pay_sign_verifies_with_the_published_public_key_and_only_for_its_text() {
    let app = spawn_sim(test_config()).await;
    let (_, answer) = app.place(1250).await;

    let public_key = app
        .http
        .get(format!("{}/paysim/public-key", app.base_url))
        .send()
        .await
        .expect("public key request")
        .text()
        .await
        .expect("public key body");

    assert!(public_key.starts_with("-----BEGIN PUBLIC KEY-----"));
    let pay = &answer.mini_pay_request;
    let text = format!(
        "{}\n{}\n{}\n{}\n",
        pay.app_id, pay.time_stamp, pay.nonce_str, pay.package
    );
    assert!(
        verify_pay_sign(&public_key, &text, &pay.pay_sign),
        "paySign verifies"
    );
    assert!(!verify_pay_sign(
        &public_key,
        &text.replace("prepay", "prepaz"),
        &pay.pay_sign
    ));
}

#[actix_web::test]
async fn repeated_unified_order_returns_the_same_prepay_and_another_amount_is_refused() {
    let app = spawn_sim(test_config()).await;
    let mut order = new_order(100, now_unix() + 480);
    let first = app
        .client
        .unified_order(&order)
        .await
        .expect("first unified order");
    let again = app
        .client
        .unified_order(&order)
        .await
        .expect("repeated unified order");
    assert_eq!(
        again.mini_pay_request, first.mini_pay_request,
        "same prepay, same signature"
    );
    order.total_amount = 99;
    refused_with(app.client.unified_order(&order).await, codes::DUP_ORDER);
}

#[actix_web::test]
async fn query_follows_the_payment_and_checks_order_and_amount() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = app.place(1).await;
    let pending = app
        .client
        .query_checked(&id, 1)
        .await
        .expect("query pending");
    assert!(pending.status.is_pending() && pending.pay_time.is_none());
    let (status, body) = app.pay(&id).await;
    assert_eq!(status, 200, "buyer pays: {body}");
    assert_eq!(body["status"], "TRADE_SUCCESS");
    let paid = app.client.query_checked(&id, 1).await.expect("query paid");
    assert_eq!(paid.status, TradeStatus::TradeSuccess);
    assert_eq!(
        (paid.total_amount, paid.buyer_pay_amount),
        (Some(1), Some(1))
    );
    assert!(paid.pay_time.is_some() && paid.target_order_id.is_some());
    let wrong_amount = app.client.query_checked(&id, 2).await;
    assert!(
        matches!(wrong_amount, Err(ProviderError::Mismatch(_))),
        "{wrong_amount:?}"
    );
}

#[actix_web::test]
async fn a_closed_order_cannot_be_paid_or_ordered_again() {
    let app = spawn_sim(test_config()).await;
    let order = new_order(100, now_unix() + 480);
    app.client
        .unified_order(&order)
        .await
        .expect("unified order");
    let id = &order.mer_order_id;
    let closed = app.client.close(id).await.expect("close");
    assert_eq!(closed.status, Some(TradeStatus::TradeClosed));
    app.client.close(id).await.expect("closing again succeeds");
    let (status, body) = app.pay(id).await;
    assert_eq!(status, 409, "paying a closed order: {body}");
    assert_eq!(
        app.status(id).await,
        TradeStatus::TradeClosed,
        "nothing was charged"
    );
    refused_with(app.client.unified_order(&order).await, codes::ORDER_CLOSED);
}

#[actix_web::test]
async fn a_paid_order_cannot_be_closed_or_paid_twice() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = app.place(100).await;
    assert_eq!(app.pay(&id).await.0, 200);
    let close = app.client.close(&id).await;
    assert!(matches!(&close, Err(e) if e.is_order_paid()), "{close:?}");
    assert_eq!(app.pay(&id).await.0, 409, "a second payment is refused");
    assert_eq!(app.status(&id).await, TradeStatus::TradeSuccess);
    let again = app
        .client
        .unified_order(&super::new_order_with_id(&id, 100))
        .await;
    assert!(matches!(&again, Err(e) if e.is_order_paid()), "{again:?}");
}

#[actix_web::test]
async fn an_expired_order_is_closed_and_cannot_be_paid() {
    let app = spawn_sim(test_config()).await;
    let order = new_order(100, now_unix() + 1);
    app.client
        .unified_order(&order)
        .await
        .expect("unified order");
    // expireTime has one-second resolution: wait until its second is over.
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let (status, body) = app.pay(&order.mer_order_id).await;
    assert_eq!(status, 409, "paying after expireTime: {body}");
    assert_eq!(
        app.status(&order.mer_order_id).await,
        TradeStatus::TradeClosed
    );
}

#[actix_web::test]
async fn a_unified_order_whose_deadline_has_passed_is_refused() {
    let app = spawn_sim(test_config()).await;

    let stale = new_order(100, now_unix() - 10);

    refused_with(app.client.unified_order(&stale).await, codes::BAD_REQUEST);
}

/// A paid order of 300 fen whose refunds are processed in the background (answered
/// `Processing` first), with refund `R1` of all of it asked for.
async fn refunding_all_of_a_paid_order(app: &TestSim) -> (String, RefundResponse) {
    let (id, _) = app.place(300).await;
    assert_eq!(app.pay(&id).await.0, 200);
    assert_eq!(
        app.set_faults(serde_json::json!({"refund_processing_ms": 0}))
            .await,
        200
    );
    let pending = app
        .client
        .refund(&id, "R1", 300)
        .await
        .expect("refund accepted");
    (id, pending)
}

/// Asks about refund `R1` of `id` until it is no longer processing (it is, for a moment).
async fn finished_refund(app: &TestSim, id: &str) -> RefundResponse {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(2);
    loop {
        let answer = app
            .client
            .refund_query(id, "R1")
            .await
            .expect("refund query");
        if answer.refund_status != RefundStatus::Processing
            || tokio::time::Instant::now() > deadline
        {
            return answer;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[actix_web::test]
async fn an_unpaid_order_cannot_be_refunded() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = app.place(300).await;

    let refund = app.client.refund(&id, "R1", 300).await;

    refused_with(refund, codes::REFUND_NOT_ALLOWED);
}

#[actix_web::test]
async fn a_refund_may_be_processing_first_then_succeeds() {
    let app = spawn_sim(test_config()).await;

    let (id, pending) = refunding_all_of_a_paid_order(&app).await;

    assert_eq!(pending.refund_status, RefundStatus::Processing);
    let done = finished_refund(&app, &id).await;
    assert_eq!(done.refund_status, RefundStatus::Success);
    assert!(done.refund_pay_time.is_some());
    assert_eq!(app.status(&id).await, TradeStatus::TradeRefund);
}

#[actix_web::test]
async fn a_refund_asked_again_refunds_once_and_its_id_takes_no_other_amount() {
    let app = spawn_sim(test_config()).await;
    let (id, pending) = refunding_all_of_a_paid_order(&app).await;

    let repeat = app
        .client
        .refund(&id, "R1", 300)
        .await
        .expect("same refund again");
    let other_amount = app.client.refund(&id, "R1", 1).await;

    assert_eq!(
        repeat.refund_target_order_id, pending.refund_target_order_id,
        "not refunded twice"
    );
    refused_with(other_amount, codes::DUP_ORDER);
}

#[actix_web::test]
async fn a_refunded_order_takes_no_more_refunds_and_is_not_paid_again() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = refunding_all_of_a_paid_order(&app).await;
    let done = finished_refund(&app, &id).await;
    assert_eq!(done.refund_status, RefundStatus::Success);
    assert_eq!(app.status(&id).await, TradeStatus::TradeRefund);

    let more = app.client.refund(&id, "R2", 1).await;
    let (paid_again, _) = app.pay(&id).await;

    refused_with(more, codes::REFUND_NOT_ALLOWED);
    assert_eq!(paid_again, 409, "a refunded order is not paid again");
}

#[actix_web::test]
async fn a_query_for_a_refund_never_asked_for_is_no_order() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = refunding_all_of_a_paid_order(&app).await;

    let query = app.client.refund_query(&id, "R9").await;

    refused_with(query, codes::NO_ORDER);
}

#[actix_web::test]
async fn an_immediate_refund_succeeds_at_once() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = app.place(300).await;
    assert_eq!(app.pay(&id).await.0, 200);
    let partial = app
        .client
        .refund(&id, "R1", 100)
        .await
        .expect("partial refund");
    assert_eq!(partial.refund_status, RefundStatus::Success);
    assert_eq!(
        app.status(&id).await,
        TradeStatus::TradeSuccess,
        "partly refunded"
    );
    refused_with(
        app.client.refund(&id, "R2", 201).await,
        codes::REFUND_NOT_ALLOWED,
    );
    app.client.refund(&id, "R2", 200).await.expect("the rest");
    assert_eq!(app.status(&id).await, TradeStatus::TradeRefund);
}

#[actix_web::test]
async fn unknown_orders_are_no_order() {
    let app = spawn_sim(test_config()).await;
    let id = super::order_id();
    assert!(matches!(app.client.query(&id).await, Err(e) if e.is_no_order()));
    assert!(matches!(app.client.close(&id).await, Err(e) if e.is_no_order()));
    refused_with(app.client.refund(&id, "R1", 1).await, codes::NO_ORDER);
    assert_eq!(app.pay(&id).await.0, 404);
}

#[actix_web::test]
async fn wrong_keys_are_refused_with_1000() {
    let app = spawn_sim(test_config()).await;
    let forger = UmsClient::new(ProviderConfig {
        app_key: "not-the-app-key".into(),
        ..app.client.config().clone()
    })
    .expect("client builds");
    let result = forger
        .unified_order(&new_order(100, now_unix() + 480))
        .await;
    refused_with(result, codes::BAD_SIGNATURE);
    let stranger = UmsClient::new(ProviderConfig {
        app_id: "some-other-app".into(),
        ..app.client.config().clone()
    })
    .expect("client builds");
    refused_with(
        stranger.query(&super::order_id()).await,
        codes::BAD_SIGNATURE,
    );
    let unsigned = app
        .http
        .post(format!("{}/v1/netpay/query", app.base_url))
        .json(&serde_json::json!({"merOrderId": super::order_id()}))
        .send()
        .await
        .expect("unsigned request");
    assert_eq!(unsigned.status().as_u16(), 401);
    let body: serde_json::Value = unsigned.json().await.expect("UMS body");
    assert_eq!(body["errCode"], "1000");
}

#[actix_web::test]
async fn foreign_merchant_and_order_prefix_are_refused() {
    let app = spawn_sim(test_config()).await;
    let mut order = new_order(100, now_unix() + 480);
    order.mer_order_id = format!("9999{}", &order.mer_order_id[4..]);
    refused_with(app.client.unified_order(&order).await, codes::BAD_REQUEST);
    let other_mid = UmsClient::new(ProviderConfig {
        mid: "898000000000000".into(),
        ..app.client.config().clone()
    })
    .expect("client builds");
    refused_with(
        other_mid.query(&super::order_id()).await,
        codes::BAD_REQUEST,
    );
}
