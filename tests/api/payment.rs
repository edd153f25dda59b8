//! The payment flow end to end against the embedded simulator: pay, notify and poll paths,
//! forged notifies, the deadline races and refunds.

use std::collections::BTreeMap;
use std::time::Duration;

use base64::Engine;
use rsa::pkcs1v15::{Signature, VerifyingKey};
use rsa::pkcs8::DecodePublicKey;
use rsa::signature::Verifier;
use serde_json::json;

use crate::helpers::{
    eventually, spawn_app, spawn_app_with, Applied, Member, Order, Payment, Registration, State,
    Status, TestApp,
};
use crate::seed_shapes::{assert_same_shape, seed_samples};

/// How long the notify (or the poller) may take to confirm a payment.
const CONFIRMED_WITHIN: Duration = Duration::from_secs(10);

/// `member` applies for `activity`, orders it and starts paying.
async fn paying(member: Member<'_>, activity: u64) -> (Applied, Order, Payment) {
    let applied = member.apply(activity).await;
    let order = member.create_order(&applied).await;
    let payment = member.pay(&order).await;
    (applied, order, payment)
}

/// `member` orders `activity` and the buyer pays; returns once the order is paid.
async fn paid(app: &TestApp, member: Member<'_>, activity: u64) -> (Applied, Order) {
    let (applied, order, _) = paying(member, activity).await;
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
    member
        .wait_status(&order, Status::Paid, CONFIRMED_WITHIN)
        .await;
    (applied, order)
}

#[actix_web::test]
async fn pay_answers_in_the_seeds_shape_with_a_wechat_prepay() {
    let app = spawn_app().await;
    let member = app.member(32171);
    let order = member.order(1).await;

    let reply = member.try_pay(&order).await;

    let seed_pay = seed_samples()
        .into_iter()
        .find(|s| s["data"].get("pay_sign").is_some())
        .unwrap();
    assert_same_shape(&seed_pay, &reply.body, "pay");
    let payment: Payment = reply.ok_as();
    assert_eq!(payment.price, "1");
    assert_eq!(payment.payment_way, 110);
    assert_eq!(payment.sign_type, "RSA");
    assert_eq!(payment.status, Status::Unpaid);
    assert!(
        payment.prepay_id.starts_with("wx") && payment.prepay_id.len() == 36,
        "{}",
        payment.prepay_id
    );
}

#[actix_web::test]
async fn the_pay_sign_verifies_with_the_simulators_public_key() {
    let app = spawn_app().await;
    let (_, _, payment) = paying(app.member(32172), 1).await;

    let pem = app.get("/paysim/public-key", &[]).await.text;

    // What wx.requestPayment verifies.
    let key = rsa::RsaPublicKey::from_public_key_pem(&pem).expect("PEM public key");
    let signed = format!(
        "{}\n{}\n{}\nprepay_id={}\n",
        payment.mini_app_id, payment.timestamp, payment.nonce_str, payment.prepay_id
    );
    let signature = base64::engine::general_purpose::STANDARD
        .decode(&payment.pay_sign)
        .unwrap();
    VerifyingKey::<sha2::Sha256>::new(key)
        .verify(
            signed.as_bytes(),
            &Signature::try_from(signature.as_slice()).unwrap(),
        )
        .expect("pay_sign verifies");
}

#[actix_web::test]
async fn paying_again_while_the_payment_is_open_returns_the_same_prepay() {
    let app = spawn_app().await;
    let member = app.member(32173);
    let (_, order, first) = paying(member, 1).await;

    let again = member.pay(&order).await;

    assert_eq!(again.prepay_id, first.prepay_id);
    assert_eq!(again.pay_sign, first.pay_sign);
}

#[actix_web::test]
async fn the_buyers_payment_turns_the_order_paid_in_the_seeds_state_shape() {
    let app = spawn_app().await;
    let member = app.member(32174);
    let (_, order, _) = paying(member, 1).await;

    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);

    member
        .wait_status(&order, Status::Paid, CONFIRMED_WITHIN)
        .await;
    let reply = member.try_state(&order).await;
    let seed_paid = seed_samples()
        .into_iter()
        .find(|s| s["data"]["transaction_status"] == "1")
        .unwrap();
    assert_same_shape(&seed_paid, &reply.body, "state");
    assert_eq!(reply.ok_as::<State>().message, "SUCCESS");
}

#[actix_web::test]
async fn a_paid_orders_apply_is_registered() {
    let app = spawn_app().await;
    let member = app.member(32175);

    let (applied, _) = paid(&app, member, 1).await;

    member.wait_registered(applied.apply_info.apply_id).await;
}

#[actix_web::test]
async fn a_paid_order_cannot_be_paid_again() {
    let app = spawn_app().await;
    let member = app.member(32176);
    let (_, order) = paid(&app, member, 1).await;

    let again = member.try_pay(&order).await;

    again.expect_error(409, 4_090_000_002);
}

#[actix_web::test]
async fn a_paid_order_is_never_cancelled() {
    let app = spawn_app().await;
    let member = app.member(32177);
    let (_, order) = paid(&app, member, 1).await;

    let cancel = member.try_cancel(&order).await;

    cancel.expect_error(409, 4_090_000_002);
}

#[actix_web::test]
async fn the_detail_of_a_paid_order_shows_it_paid_with_its_payment_time() {
    let app = spawn_app().await;
    let member = app.member(32178);
    let (_, order) = paid(&app, member, 1).await;

    let detail = member.detail(&order).await;

    assert_eq!(detail.status, Status::Paid);
    assert!(detail.payment_time > 0, "{detail:?}");
}

#[actix_web::test]
async fn a_payment_confirmed_by_the_providers_notify_registers_once() {
    let app = spawn_app().await;
    let activity = app.save_activity("支付活动", 1, 10).await;
    let member = app.member(7001);

    let (applied, _) = paid(&app, member, activity).await;

    member.wait_registered(applied.apply_info.apply_id).await;
    let detail = app.activity(activity).await;
    assert_eq!((detail.registered, detail.reserved), (1, 0), "{detail:?}");
}

#[actix_web::test]
async fn a_payment_confirmed_only_by_polling_registers_once() {
    let app = spawn_app().await;
    let activity = app.save_activity("支付活动", 1, 10).await;
    let member = app.member(7002);
    // The provider never notifies.
    app.set_faults(json!({"drop_notify_rate": 1.0})).await;
    let (applied, order, _) = paying(member, activity).await;

    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);

    member
        .wait_status(&order, Status::Paid, Duration::from_secs(15))
        .await;
    member.wait_registered(applied.apply_info.apply_id).await;
    let detail = app.activity(activity).await;
    assert_eq!((detail.registered, detail.reserved), (1, 0), "{detail:?}");
}

/// A notify form signed with `key` (SHA256, with `signType`).
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

/// The provider's communication key (the simulator's default).
const PROVIDER_KEY: &str = ordercenter::provider::config::DEFAULT_NOTIFY_KEY;

async fn post_notify(app: &TestApp, form: &[(String, String)]) -> (u16, String) {
    let reply = app
        .send(app.client.post(app.url("/trade/notify/ums")).form(form))
        .await;
    (reply.status, reply.text)
}

#[actix_web::test]
async fn a_notify_whose_signature_does_not_verify_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let member = app.member(7101);
    let (_, order, _) = paying(member, 1).await;
    let forged = signed_notify(&order.parent_order_no, 1, "not-the-key");
    let mut tampered = signed_notify(&order.parent_order_no, 1, PROVIDER_KEY);
    tampered
        .iter_mut()
        .filter(|(k, _)| k == "totalAmount")
        .for_each(|(_, v)| *v = "100".into());

    assert_eq!(post_notify(&app, &forged).await, (400, "FAILED".into()));
    assert_eq!(post_notify(&app, &tampered).await.0, 400);

    assert_eq!(
        member.state(&order).await.status,
        Status::Unpaid,
        "nothing changed"
    );
}

#[actix_web::test]
async fn a_correctly_signed_notify_for_another_amount_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let member = app.member(7111);
    let (_, order, _) = paying(member, 1).await;

    let wrong_amount = signed_notify(&order.parent_order_no, 2, PROVIDER_KEY);

    assert_eq!(post_notify(&app, &wrong_amount).await.0, 400);
    assert_eq!(
        member.state(&order).await.status,
        Status::Unpaid,
        "nothing changed"
    );
}

#[actix_web::test]
async fn a_notify_for_an_unknown_order_is_not_found() {
    let app = spawn_app().await;
    let member = app.member(7121);
    let (_, order, _) = paying(member, 1).await;

    let unknown = signed_notify("2013000000000000001", 1, PROVIDER_KEY);

    assert_eq!(post_notify(&app, &unknown).await.0, 404);
    assert_eq!(
        member.state(&order).await.status,
        Status::Unpaid,
        "nothing changed"
    );
}

#[actix_web::test]
async fn a_valid_notify_settles_the_order_and_a_duplicate_is_acknowledged_again() {
    let app = spawn_app().await;
    let member = app.member(7131);
    let (_, order, _) = paying(member, 1).await;
    let valid = signed_notify(&order.parent_order_no, 1, PROVIDER_KEY);

    assert_eq!(post_notify(&app, &valid).await, (200, "SUCCESS".into()));
    assert_eq!(post_notify(&app, &valid).await, (200, "SUCCESS".into()));

    assert_eq!(member.state(&order).await.status, Status::Paid);
}

#[actix_web::test]
async fn another_member_cannot_pay_the_order() {
    let app = spawn_app().await;
    let order = app.member(7201).order(1).await;

    let theirs = app.member(7202).try_pay(&order).await;

    theirs.expect_error(404, 4_040_000_001);
}

#[actix_web::test]
async fn an_unknown_payment_way_or_a_broken_extend_field_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let member = app.member(7211);
    let order = member.order(1).await;
    let parent = || ("parent_order_no", order.parent_order_no.clone());

    let unknown_way = member
        .post(
            "/shop/order/pay",
            &[parent(), ("payment_way", "999".into())],
        )
        .await;
    let broken_extend = member
        .post(
            "/shop/order/pay",
            &[
                parent(),
                ("payment_way", "110".into()),
                ("extend_field", "{broken".into()),
            ],
        )
        .await;

    unknown_way.expect_error(400, 4_000_000_001);
    broken_extend.expect_error(400, 4_000_000_001);
    assert_eq!(member.state(&order).await.status, Status::Unpaid);
}

#[actix_web::test]
async fn a_zero_price_order_is_paid_at_once() {
    let app = spawn_app().await;
    let free = app.save_activity("免费活动", 0, 5).await;
    let member = app.member(7301);

    let (applied, order, payment) = paying(member, free).await;

    assert_eq!(
        (
            payment.status,
            payment.price.as_str(),
            payment.prepay_id.as_str()
        ),
        (Status::Paid, "0", "")
    );
    assert_eq!(payment.message, "SUCCESS");
    assert_eq!(member.state(&order).await.status, Status::Paid);
    member.wait_registered(applied.apply_info.apply_id).await;
}

#[actix_web::test]
async fn an_unpaid_payment_is_closed_at_the_provider_at_the_deadline() {
    let app = spawn_app_with(|c| c.order_ttl = 2).await;
    let member = app.member(7401);
    let (_, order, _) = paying(member, 1).await;

    member
        .wait_status(&order, Status::Closed, Duration::from_secs(8))
        .await;

    // The provider closed it first: the buyer can no longer be charged.
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 409);
    member
        .try_pay(&order)
        .await
        .expect_error(409, 4_090_000_001);
}

#[actix_web::test]
async fn payments_around_the_deadline_end_paid_or_closed_never_closed_with_money_kept() {
    let app = spawn_app_with(|c| c.order_ttl = 3).await;
    let activity = app.save_activity("截止活动", 1, 40).await;
    let mut orders = Vec::new();
    for member in (7500..7516u64).map(|id| app.member(id)) {
        let (_, order, payment) = paying(member, activity).await;
        assert_eq!(payment.status, Status::Unpaid);
        orders.push((member, order));
    }
    let deadline = orders[0].1.expire_time;

    // The buyers pay from 600 ms before the deadline to 600 ms after it, 80 ms apart.
    let start_ms = deadline * 1000 - 600;
    let buyers = orders.iter().enumerate().map(|(i, (_, order))| {
        let app = &app;
        async move {
            let at = start_ms + i as u64 * 80;
            let now = ordercenter::domain::time::now_millis();
            tokio::time::sleep(Duration::from_millis(at.saturating_sub(now))).await;
            app.buyer_pays(&order.parent_order_no).await
        }
    });
    let charged: Vec<u16> = futures::future::join_all(buyers).await;

    for ((member, order), status) in orders.iter().zip(&charged) {
        let final_state = eventually(Duration::from_secs(15), "a final state", || async {
            let state = member.state(order).await;
            (state.status != Status::Unpaid).then_some(state.status)
        })
        .await;
        let parent = &order.parent_order_no;
        match status {
            200 => assert!(
                matches!(final_state, Status::Paid | Status::Refunded),
                "{parent}: charged but {final_state:?}"
            ),
            409 => assert_eq!(
                final_state,
                Status::Closed,
                "{parent}: not charged but {final_state:?}"
            ),
            other => panic!("simulator answered {other}"),
        }
    }
    let detail = app.activity(activity).await;
    let paid = charged.iter().filter(|s| **s == 200).count() as u64;
    eventually(Duration::from_secs(5), "seats to settle", || async {
        (app.activity(activity).await.reserved == 0).then_some(())
    })
    .await;
    assert!(detail.registered <= paid);
}

#[actix_web::test]
async fn cancel_racing_pay_never_leaves_a_closed_order_chargeable() {
    let app = spawn_app().await;
    let activity = app.save_activity("竞态活动", 1, 40).await;
    for member in (7600..7612u64).map(|id| app.member(id)) {
        let order = member.order(activity).await;
        let parent = &order.parent_order_no;

        let (cancelled, paying) = futures::join!(member.try_cancel(&order), member.try_pay(&order));

        assert!(
            matches!(cancelled.status, 200),
            "cancel: {}",
            cancelled.text
        );
        assert!(matches!(paying.status, 200 | 409), "pay: {}", paying.text);
        let state = member.state(&order).await;
        assert_eq!(state.status, Status::Closed, "cancelled order: {state:?}");
        assert_ne!(
            app.buyer_pays(parent).await,
            200,
            "{parent} closed here but chargeable at the provider"
        );
        // Paying after the cancel is refused.
        member
            .try_pay(&order)
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
    for member in (7700..7706u64).map(|id| app.member(id)) {
        let order = member.order(activity).await;
        // The frontend retries a failed pay; a 502 changed nothing it can see.
        let mut prepay = None;
        for _ in 0..30 {
            let reply = member.try_pay(&order).await;
            match reply.status {
                200 => {
                    prepay = Some(reply.ok_as::<Payment>().prepay_id);
                    break;
                }
                502 => {
                    reply.expect_error(502, 5_020_000_001);
                    assert_eq!(member.state(&order).await.status, Status::Unpaid);
                }
                other => panic!("pay answered {other}: {}", reply.text),
            }
        }
        assert!(prepay.is_some(), "pay never got through");
        paid.push((member, order));
    }

    for (_, order) in &paid {
        assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
    }

    for (member, order) in &paid {
        member
            .wait_status(order, Status::Paid, Duration::from_secs(25))
            .await;
    }
    app.set_faults(json!({"latency_ms": 0, "error_rate": 0.0, "lost_response_rate": 0.0}))
        .await;
    eventually(
        Duration::from_secs(10),
        "every payment registered once",
        || async {
            let detail = app.activity(activity).await;
            (detail.registered == paid.len() as u64 && detail.reserved == 0).then_some(())
        },
    )
    .await;
    // Duplicates arriving late change nothing.
    for (member, order) in &paid {
        assert_eq!(member.state(order).await.status, Status::Paid);
    }
    assert_eq!(app.activity(activity).await.registered, paid.len() as u64);
}

#[actix_web::test]
async fn a_payment_that_reaches_the_provider_after_the_close_is_refunded() {
    let app = spawn_app_with(|c| c.order_ttl = 2).await;
    let activity = app.save_activity("退款活动", 1, 5).await;
    let member = app.member(7801);
    let (applied, order, _) = paying(member, activity).await;
    member
        .wait_status(&order, Status::Closed, Duration::from_secs(8))
        .await;
    app.wait_seats_left(activity, 5, Duration::from_secs(5))
        .await;

    // The provider lets the buyer's payment through after the close (a race WeChat allows).
    app.set_faults(json!({"charge_closed": true, "refund_processing_ms": 300}))
        .await;
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);

    let state = member
        .wait_status(&order, Status::Refunded, Duration::from_secs(15))
        .await;
    assert_eq!(state.message, "订单已退款");
    // The provider agrees: the money went back.
    let query = ordercenter::provider::UmsClient::new(
        ordercenter::provider::ProviderConfig::with_base_url(&app.base),
    )
    .unwrap()
    .query(&order.parent_order_no)
    .await
    .unwrap();
    assert_eq!(
        query.status,
        ordercenter::provider::TradeStatus::TradeRefund
    );
    // The registration never happened and the seat stays free.
    let record = member.apply_record(applied.apply_info.apply_id).await;
    assert_eq!(record.status, Registration::Cancelled);
    assert_eq!(app.activity(activity).await.seats_left, 5);
}
