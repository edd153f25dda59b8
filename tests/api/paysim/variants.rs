//! Requests other UMS clients send and our client never does, answered as the real gateway
//! answers them: other products' `instMid` on query, close and refund, a unified order
//! without `notifyUrl`, a refund without `refundOrderId`, a refund query by `merOrderId`.

use std::time::Duration;

use ordercenter::provider::TradeStatus;
use serde_json::{json, Value};

use super::{spawn_sim, test_config, TestSim};

/// `header_fields` for `id` under `inst_mid`, with `extra` laid over them.
fn body(app: &TestSim, id: &str, inst_mid: &str, extra: Value) -> Value {
    let mut body = app.header_fields(id, inst_mid);
    for (name, value) in extra.as_object().into_iter().flatten() {
        body[name] = value.clone();
    }
    body
}

fn assert_success(answer: &Value, what: &str) {
    assert_eq!(answer["errCode"], "SUCCESS", "{what}: {answer}");
}

#[actix_web::test]
async fn other_products_inst_mids_are_served_on_query_close_and_refund() {
    // Arrange: one paid order, one open order.
    let app = spawn_sim(test_config()).await;
    let (paid, _) = app.place(300).await;
    assert_eq!(app.pay(&paid).await.0, 200);
    let (open, _) = app.place(100).await;
    // Act / Assert
    let query = app
        .call(
            "/v1/netpay/query",
            body(&app, &paid, "QRPAYDEFAULT", json!({})),
        )
        .await;
    assert_success(&query, "query under QRPAYDEFAULT");
    assert_eq!(query["status"], "TRADE_SUCCESS");
    let refund = body(
        &app,
        &paid,
        "YUEDANDEFAULT",
        json!({"refundAmount": "100", "refundOrderId": "R1"}),
    );
    assert_success(
        &app.call("/v1/netpay/refund", refund).await,
        "refund under YUEDANDEFAULT",
    );
    let refund_query = body(&app, &paid, "QRPAYDEFAULT", json!({"refundOrderId": "R1"}));
    assert_success(
        &app.call("/v1/netpay/refund-query", refund_query).await,
        "refund query under QRPAYDEFAULT",
    );
    let close = app
        .call(
            "/v1/netpay/close",
            body(&app, &open, "YUEDANDEFAULT", json!({})),
        )
        .await;
    assert_success(&close, "close under YUEDANDEFAULT");
    assert_eq!(app.status(&open).await, TradeStatus::TradeClosed);
    // Garbage is still refused.
    let garbage = app
        .call(
            "/v1/netpay/query",
            body(&app, &paid, "NOTAPRODUCT", json!({})),
        )
        .await;
    assert_eq!(garbage["errCode"], "BAD_REQUEST", "{garbage}");
}

#[actix_web::test]
async fn an_order_placed_without_notify_url_is_paid_and_never_notified() {
    let app = spawn_sim(test_config()).await;
    let (id, answer) = app.place_raw(json!({"notifyUrl": null})).await;
    assert_eq!(answer["status"], "WAIT_BUYER_PAY");
    assert_eq!(app.pay(&id).await.0, 200, "the buyer pays");
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert!(app.notifies().is_empty(), "no notifyUrl, no notify");
    assert_eq!(app.status(&id).await, TradeStatus::TradeSuccess);
}

#[actix_web::test]
async fn a_refund_without_refund_order_id_gets_one_and_a_retry_finds_it() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = app.place(300).await;
    assert_eq!(app.pay(&id).await.0, 200);
    let ask = || body(&app, &id, "MINIDEFAULT", json!({"refundAmount": "300"}));
    let first = app.call("/v1/netpay/refund", ask()).await;
    assert_success(&first, "refund without refundOrderId");
    let generated = first["refundOrderId"].as_str().unwrap_or_default();
    assert!(
        !generated.is_empty(),
        "the answer names the refund: {first}"
    );
    assert_eq!(first["refundStatus"], "SUCCESS");
    let retry = app.call("/v1/netpay/refund", ask()).await;
    assert_success(&retry, "the same refund asked again");
    assert_eq!(retry["refundOrderId"], first["refundOrderId"]);
    assert_eq!(
        retry["refundTargetOrderId"], first["refundTargetOrderId"],
        "refunded once"
    );
    assert_eq!(app.status(&id).await, TradeStatus::TradeRefund);
    let by_id = app
        .client
        .refund_query(&id, generated)
        .await
        .expect("the generated id is queryable");
    assert_eq!(by_id.refund_amount, Some(300));
}

#[actix_web::test]
async fn a_refund_query_by_mer_order_id_alone_answers_about_the_latest_refund() {
    let app = spawn_sim(test_config()).await;
    let (id, _) = app.place(300).await;
    assert_eq!(app.pay(&id).await.0, 200);
    let none_yet = app
        .call(
            "/v1/netpay/refund-query",
            body(&app, &id, "MINIDEFAULT", json!({})),
        )
        .await;
    assert_eq!(none_yet["errCode"], "NO_ORDER", "no refund yet: {none_yet}");
    app.client
        .refund(&id, "R1", 100)
        .await
        .expect("first refund");
    app.client
        .refund(&id, "R2", 50)
        .await
        .expect("second refund");
    let latest = app
        .call(
            "/v1/netpay/refund-query",
            body(&app, &id, "MINIDEFAULT", json!({})),
        )
        .await;
    assert_success(&latest, "refund query by merOrderId");
    assert_eq!(latest["refundOrderId"], "R2", "the latest refund: {latest}");
    assert_eq!(latest["refundStatus"], "SUCCESS");
    assert_eq!(latest["refundAmount"], 50);
}
