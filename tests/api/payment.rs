//! The payment flow end to end against the embedded simulator: pay, notify and poll paths,
//! forged notifies, the deadline races and refunds.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde_json::{json, Value};

use crate::helpers::{spawn_app, spawn_app_with, TestApp};
use crate::seed_shapes::{assert_same_shape, seed_samples};

/// Applies, creates and pays; returns (parent_order_no, apply_id, pay data).
async fn ordered_and_paying(app: &TestApp, member: u64, activity: u64) -> (String, u64, Value) {
    let applied = app.apply(member, activity).await;
    let apply_id = applied.ok()["apply_info"]["apply_id"].as_u64().unwrap();
    let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
    let created = app.create(member, &sku_slice).await;
    let parent = created.ok()["parent_order_no"].as_str().unwrap().to_owned();
    let paying = app.pay(member, &parent).await;
    (parent, apply_id, paying.ok().clone())
}

#[actix_web::test]
async fn the_seed_flow_end_to_end_with_a_verified_pay_sign() {
    let app = spawn_app().await;
    let (parent, apply_id, pay) = ordered_and_paying(&app, 32171, 1).await;

    let seed_pay = seed_samples()
        .into_iter()
        .find(|s| s["data"].get("pay_sign").is_some())
        .unwrap();
    assert_same_shape(
        &seed_pay,
        &json!({"code": 200, "data": pay, "message": "SUCCESS"}),
        "pay",
    );
    assert_eq!(pay["price"], "1");
    assert_eq!(pay["payment_way"], 110);
    assert_eq!(pay["sign_type"], "RSA");
    assert_eq!(pay["transaction_status"], "0");
    let prepay_id = pay["prepay_id"].as_str().unwrap();
    assert!(
        prepay_id.starts_with("wx") && prepay_id.len() == 36,
        "{prepay_id}"
    );

    // pay_sign is what wx.requestPayment verifies, with the simulator's public key.
    let pem = app
        .client
        .get(format!("{}/paysim/public-key", app.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let key = rsa::RsaPublicKey::from_public_key_pem(&pem).expect("PEM public key");
    let signed = format!(
        "{}\n{}\n{}\nprepay_id={}\n",
        pay["mini_app_id"].as_str().unwrap(),
        pay["timestamp"].as_str().unwrap(),
        pay["nonce_str"].as_str().unwrap(),
        prepay_id
    );
    let signature = base64::engine::general_purpose::STANDARD
        .decode(pay["pay_sign"].as_str().unwrap())
        .unwrap();
    VerifyingKey::<sha2::Sha256>::new(key)
        .verify(
            signed.as_bytes(),
            &Signature::try_from(signature.as_slice()).unwrap(),
        )
        .expect("pay_sign verifies");

    // Paying again while the payment is open returns the same prepay.
    let again = app.pay(32171, &parent).await;
    assert_eq!(again.ok()["prepay_id"], pay["prepay_id"]);
    assert_eq!(again.ok()["pay_sign"], pay["pay_sign"]);

    assert_eq!(app.buyer_pays(&parent).await, 200);
    let state = app
        .wait_status(32171, &parent, "1", Duration::from_secs(10))
        .await;
    let seed_paid = seed_samples()
        .into_iter()
        .find(|s| s["data"]["transaction_status"] == "1")
        .unwrap();
    assert_same_shape(
        &seed_paid,
        &json!({"code": 200, "data": state, "message": "SUCCESS"}),
        "state",
    );
    assert_eq!(state["transaction_msg"], "SUCCESS");
    crate::helpers::eventually(Duration::from_secs(5), "registered", || async {
        (app.apply_status(32171, apply_id).await == "registered").then_some(())
    })
    .await;
    app.pay(32171, &parent)
        .await
        .expect_error(409, 4_090_000_002);
    // A paid order is never cancelled.
    let cancel = app
        .post_form(
            "/shop/order/cancel",
            &[
                ("company_id", "421".into()),
                ("member_id", "32171".into()),
                ("parent_order_no", parent.clone()),
            ],
        )
        .await;
    cancel.expect_error(409, 4_090_000_002);
    let detail = app
        .get(
            "/shop/order/detail",
            &[
                ("company_id", "421".into()),
                ("member_id", "32171".into()),
                ("parent_order_no", parent),
            ],
        )
        .await;
    assert_eq!(detail.ok()["list"]["order"]["order_status"], 1);
    assert!(
        detail.ok()["list"]["order"]["payment_time"]
            .as_u64()
            .unwrap()
            > 0
    );
}

#[actix_web::test]
async fn poll_only_and_notify_paths_each_confirm_once() {
    let app = spawn_app().await;
    let activity = app.save_activity("支付活动", 1, 10).await;
    // Notify path.
    let (notified, notified_apply, _) = ordered_and_paying(&app, 7001, activity).await;
    assert_eq!(app.buyer_pays(&notified).await, 200);
    app.wait_status(7001, &notified, "1", Duration::from_secs(10))
        .await;
    // Poll-only path: the provider never notifies.
    app.set_faults(json!({"drop_notify_rate": 1.0})).await;
    let (polled, polled_apply, _) = ordered_and_paying(&app, 7002, activity).await;
    assert_eq!(app.buyer_pays(&polled).await, 200);
    app.wait_status(7002, &polled, "1", Duration::from_secs(15))
        .await;
    for (member, apply) in [(7001, notified_apply), (7002, polled_apply)] {
        crate::helpers::eventually(Duration::from_secs(5), "registered", || async {
            (app.apply_status(member, apply).await == "registered").then_some(())
        })
        .await;
    }
    let detail = app.activity_json(activity).await;
    assert_eq!(
        (detail["registered"].as_u64(), detail["reserved"].as_u64()),
        (Some(2), Some(0)),
        "{detail}"
    );
}

/// A notify form signed with the simulator's default communication key.
fn signed_notify(parent: &str, amount: u64, key: &str) -> Vec<(String, String)> {
    let mut fields: BTreeMap<String, String> = BTreeMap::new();
    fields.insert("merOrderId".into(), parent.into());
    fields.insert("status".into(), "TRADE_SUCCESS".into());
    fields.insert("totalAmount".into(), amount.to_string());
    fields.insert("payTime".into(), "2026-11-25 12:00:00".into());
    fields.insert("targetOrderId".into(), "4200000000000000001".into());
    fields.insert("signType".into(), "SHA256".into());
    let sign = ordercenter::provider::sign::notify_sign(
        &fields,
        key,
        ordercenter::provider::SignType::Sha256,
    );
    fields.insert("sign".into(), sign);
    fields.into_iter().collect()
}

async fn post_notify(app: &TestApp, form: &[(String, String)]) -> (u16, String) {
    let response = app
        .client
        .post(format!("{}/trade/notify/ums", app.base))
        .form(form)
        .send()
        .await
        .unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

#[actix_web::test]
async fn forged_wrong_amount_unknown_and_duplicate_notifies() {
    let app = spawn_app().await;
    let key = ordercenter::provider::config::DEFAULT_NOTIFY_KEY;
    let (parent, _, _) = ordered_and_paying(&app, 7101, 1).await;

    let forged = signed_notify(&parent, 1, "not-the-key");
    assert_eq!(post_notify(&app, &forged).await, (400, "FAILED".into()));
    let wrong_amount = signed_notify(&parent, 2, key);
    assert_eq!(post_notify(&app, &wrong_amount).await.0, 400);
    let unknown = signed_notify("2013000000000000001", 1, key);
    assert_eq!(post_notify(&app, &unknown).await.0, 404);
    let mut tampered = signed_notify(&parent, 1, key);
    tampered
        .iter_mut()
        .filter(|(k, _)| k == "totalAmount")
        .for_each(|(_, v)| *v = "100".into());
    assert_eq!(post_notify(&app, &tampered).await.0, 400);
    assert_eq!(
        app.state(7101, &parent).await.ok()["transaction_status"],
        "0",
        "nothing changed"
    );

    // A valid notify (the provider's key) settles it; a duplicate is acknowledged again.
    let valid = signed_notify(&parent, 1, key);
    assert_eq!(post_notify(&app, &valid).await, (200, "SUCCESS".into()));
    assert_eq!(post_notify(&app, &valid).await, (200, "SUCCESS".into()));
    assert_eq!(
        app.state(7101, &parent).await.ok()["transaction_status"],
        "1"
    );
}

#[actix_web::test]
async fn another_member_cannot_pay_and_bad_pay_input_is_refused() {
    let app = spawn_app().await;
    let applied = app.apply(7201, 1).await;
    let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
    let parent = app.create(7201, &sku_slice).await.ok()["parent_order_no"]
        .as_str()
        .unwrap()
        .to_owned();
    app.pay(7202, &parent)
        .await
        .expect_error(404, 4_040_000_001);
    let mut form = vec![
        ("company_id", "421".to_string()),
        ("member_id", "7201".into()),
        ("parent_order_no", parent.clone()),
        ("payment_way", "999".into()),
    ];
    app.post_form("/shop/order/pay", &form)
        .await
        .expect_error(400, 4_000_000_001);
    form[3].1 = "110".into();
    form.push(("extend_field", "{broken".into()));
    app.post_form("/shop/order/pay", &form)
        .await
        .expect_error(400, 4_000_000_001);
    assert_eq!(
        app.state(7201, &parent).await.ok()["transaction_status"],
        "0"
    );
}

#[actix_web::test]
async fn a_zero_price_order_is_paid_at_once() {
    let app = spawn_app().await;
    let free = app.save_activity("免费活动", 0, 5).await;
    let (parent, apply_id, pay) = ordered_and_paying(&app, 7301, free).await;
    assert_eq!(
        (
            pay["transaction_status"].as_str(),
            pay["price"].as_str(),
            pay["prepay_id"].as_str()
        ),
        (Some("1"), Some("0"), Some(""))
    );
    assert_eq!(pay["transaction_msg"], "SUCCESS");
    assert_eq!(
        app.state(7301, &parent).await.ok()["transaction_status"],
        "1"
    );
    crate::helpers::eventually(Duration::from_secs(5), "registered", || async {
        (app.apply_status(7301, apply_id).await == "registered").then_some(())
    })
    .await;
}

#[actix_web::test]
async fn an_unpaid_payment_is_closed_at_the_provider_at_the_deadline() {
    let app = spawn_app_with(|c| c.order_ttl = 2).await;
    let (parent, _, _) = ordered_and_paying(&app, 7401, 1).await;
    app.wait_status(7401, &parent, "2", Duration::from_secs(8))
        .await;
    // The provider closed it first: the buyer can no longer be charged.
    assert_eq!(app.buyer_pays(&parent).await, 409);
    app.pay(7401, &parent)
        .await
        .expect_error(409, 4_090_000_001);
}

#[actix_web::test]
async fn payments_around_the_deadline_end_paid_or_closed_never_closed_with_money_kept() {
    let app = spawn_app_with(|c| c.order_ttl = 3).await;
    let activity = app.save_activity("截止活动", 1, 40).await;
    let mut orders = Vec::new();
    for member in 0..16u64 {
        let (parent, _, pay) = ordered_and_paying(&app, 7500 + member, activity).await;
        assert_eq!(pay["transaction_status"], "0");
        orders.push((7500 + member, parent));
    }
    let deadline = app.state(orders[0].0, &orders[0].1).await.ok()["expire_time"]
        .as_u64()
        .unwrap();
    // The buyers pay from 600 ms before the deadline to 600 ms after it, 80 ms apart.
    let start_ms = deadline * 1000 - 600;
    let buyers = orders.iter().enumerate().map(|(i, (_, parent))| {
        let app = &app;
        async move {
            let at = start_ms + i as u64 * 80;
            let now = ordercenter::domain::time::now_millis();
            tokio::time::sleep(Duration::from_millis(at.saturating_sub(now))).await;
            app.buyer_pays(parent).await
        }
    });
    let charged: Vec<u16> = futures::future::join_all(buyers).await;
    for ((member, parent), status) in orders.iter().zip(&charged) {
        let final_state =
            crate::helpers::eventually(Duration::from_secs(15), "a final state", || async {
                let state = app.state(*member, parent).await;
                let status = state.ok()["transaction_status"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned();
                (status != "0").then_some(status)
            })
            .await;
        match status {
            200 => assert!(
                final_state == "1" || final_state == "3",
                "{parent}: charged but {final_state}"
            ),
            409 => assert_eq!(final_state, "2", "{parent}: not charged but {final_state}"),
            other => panic!("simulator answered {other}"),
        }
    }
    let detail = app.activity_json(activity).await;
    let paid = charged.iter().filter(|s| **s == 200).count() as u64;
    crate::helpers::eventually(Duration::from_secs(5), "seats to settle", || async {
        let detail = app.activity_json(activity).await;
        (detail["reserved"] == 0).then_some(())
    })
    .await;
    assert!(detail["registered"].as_u64().unwrap() <= paid);
}

#[actix_web::test]
async fn cancel_racing_pay_never_leaves_a_closed_order_chargeable() {
    let app = spawn_app().await;
    let activity = app.save_activity("竞态活动", 1, 40).await;
    for member in 0..12u64 {
        let member = 7600 + member;
        let applied = app.apply(member, activity).await;
        let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
        let parent = app.create(member, &sku_slice).await.ok()["parent_order_no"]
            .as_str()
            .unwrap()
            .to_owned();
        let cancel_form = [
            ("company_id", "421".to_string()),
            ("member_id", member.to_string()),
            ("parent_order_no", parent.clone()),
        ];
        let (cancelled, paying) = futures::join!(
            app.post_form("/shop/order/cancel", &cancel_form),
            app.pay(member, &parent)
        );
        assert!(
            matches!(cancelled.status, 200),
            "cancel: {}",
            cancelled.text
        );
        assert!(matches!(paying.status, 200 | 409), "pay: {}", paying.text);
        let state = app.state(member, &parent).await;
        assert_eq!(
            state.ok()["transaction_status"],
            "2",
            "cancelled order: {}",
            state.text
        );
        assert_ne!(
            app.buyer_pays(&parent).await,
            200,
            "{parent} closed here but chargeable at the provider"
        );
        // Paying after the cancel is refused.
        app.pay(member, &parent)
            .await
            .expect_error(409, 4_090_000_001);
    }
}

#[actix_web::test]
async fn provider_errors_and_slowness_delay_but_never_lose_or_double_count_a_payment() {
    let app = spawn_app_with(|c| c.order_ttl = 30).await;
    let activity = app.save_activity("故障活动", 1, 20).await;
    app.set_faults(json!({"latency_ms": 150, "error_rate": 0.4, "lost_response_rate": 0.2}))
        .await;
    let mut paid = Vec::new();
    for member in 7700..7706u64 {
        let applied = app.apply(member, activity).await;
        let sku_slice = applied.ok()["sku_slice"].as_str().unwrap().to_owned();
        let parent = app.create(member, &sku_slice).await.ok()["parent_order_no"]
            .as_str()
            .unwrap()
            .to_owned();
        // The frontend retries a failed pay; a 502 changed nothing it can see.
        let mut prepay = None;
        for _ in 0..30 {
            let reply = app.pay(member, &parent).await;
            match reply.status {
                200 => {
                    prepay = Some(reply.ok()["prepay_id"].as_str().unwrap().to_owned());
                    break;
                }
                502 => {
                    reply.expect_error(502, 5_020_000_001);
                    assert_eq!(
                        app.state(member, &parent).await.ok()["transaction_status"],
                        "0"
                    );
                }
                other => panic!("pay answered {other}: {}", reply.text),
            }
        }
        assert!(prepay.is_some(), "pay never got through");
        paid.push((member, parent));
    }
    for (_, parent) in &paid {
        assert_eq!(app.buyer_pays(parent).await, 200);
    }
    for (member, parent) in &paid {
        app.wait_status(*member, parent, "1", Duration::from_secs(25))
            .await;
    }
    app.set_faults(json!({"latency_ms": 0, "error_rate": 0.0, "lost_response_rate": 0.0}))
        .await;
    crate::helpers::eventually(
        Duration::from_secs(10),
        "every payment registered once",
        || async {
            let detail = app.activity_json(activity).await;
            (detail["registered"] == paid.len() as u64 && detail["reserved"] == 0).then_some(())
        },
    )
    .await;
    // Duplicates arriving late change nothing.
    for (member, parent) in &paid {
        assert_eq!(
            app.state(*member, parent).await.ok()["transaction_status"],
            "1"
        );
    }
    assert_eq!(
        app.activity_json(activity).await["registered"],
        paid.len() as u64
    );
}

#[actix_web::test]
async fn a_payment_that_reaches_the_provider_after_the_close_is_refunded() {
    let app = spawn_app_with(|c| c.order_ttl = 2).await;
    let activity = app.save_activity("退款活动", 1, 5).await;
    let (parent, apply_id, _) = ordered_and_paying(&app, 7801, activity).await;
    app.wait_status(7801, &parent, "2", Duration::from_secs(8))
        .await;
    crate::helpers::eventually(Duration::from_secs(5), "the seat to return", || async {
        (app.activity_json(activity).await["seats_left"] == 5).then_some(())
    })
    .await;
    // The provider lets the buyer's payment through after the close (a race WeChat allows).
    app.set_faults(json!({"charge_closed": true, "refund_processing_ms": 300}))
        .await;
    assert_eq!(app.buyer_pays(&parent).await, 200);
    let state = app
        .wait_status(7801, &parent, "3", Duration::from_secs(15))
        .await;
    assert_eq!(state["transaction_msg"], "订单已退款");
    // The provider agrees: the money went back.
    let query = ordercenter::provider::UmsClient::new(
        ordercenter::provider::ProviderConfig::with_base_url(&app.base),
    )
    .unwrap()
    .query(&parent)
    .await
    .unwrap();
    assert_eq!(
        query.status,
        ordercenter::provider::TradeStatus::TradeRefund
    );
    // The registration never happened and the seat stays free.
    assert_eq!(app.apply_status(7801, apply_id).await, "cancelled");
    assert_eq!(app.activity_json(activity).await["seats_left"], 5);
}
