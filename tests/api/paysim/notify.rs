//! The simulator's notify looks like the real gateway's: MD5 without `signType` unless the
//! order asked for a `signType`, the real field set, `+` for spaces — and our receiver
//! takes it.

use std::collections::BTreeMap;
use std::time::Duration;

use ordercenter::paysim::{NotifySigning, PaySimConfig};
use ordercenter::provider::config::DEFAULT_NOTIFY_KEY;
use ordercenter::provider::sign::{notify_sign, verify_notify_sign, SignType};
use ordercenter::provider::time::{now_unix, parse_china, DATE_TIME};
use ordercenter::provider::Notify;
use serde_json::json;

use super::{eventually, form_fields, spawn_sim, test_config, TestSim};
use crate::helpers::Status;

/// Fields every captured WeChat mini-program notify of the real gateway carries.
const REAL_FIELDS: &[&str] = &[
    "msgType",
    "mid",
    "tid",
    "instMid",
    "merName",
    "mchntUuid",
    "subInst",
    "merOrderId",
    "seqId",
    "status",
    "totalAmount",
    "buyerPayAmount",
    "buyerCashPayAmt",
    "invoiceAmount",
    "receiptAmount",
    "couponAmount",
    "billFunds",
    "billFundsDesc",
    "buyerId",
    "subBuyerId",
    "createTime",
    "payTime",
    "settleDate",
    "targetOrderId",
    "targetSys",
    "connectSys",
    "notifyId",
    "orderDesc",
    "sign",
];

/// Pays a fresh order of `amount` fen and returns the first notify body.
async fn first_notify(app: &TestSim, amount: u64) -> (String, Vec<u8>) {
    let (id, _) = app.place(amount).await;
    first_notify_of(app, &id).await
}

async fn first_notify_of(app: &TestSim, id: &str) -> (String, Vec<u8>) {
    assert_eq!(app.pay(id).await.0, 200, "the buyer pays {id}");
    let arrived = eventually(Duration::from_secs(5), || !app.notifies().is_empty()).await;
    assert!(arrived, "a notify arrives for {id}");
    (id.to_owned(), app.notifies().remove(0))
}

#[actix_web::test]
async fn the_default_notify_is_md5_signed_without_sign_type_and_our_receiver_takes_it() {
    let app = spawn_sim(test_config()).await;

    let (id, body) = first_notify(&app, 1250).await;

    // Signed as the real gateway signs an order that asked for no signType.
    let fields = form_fields(&body);
    assert!(
        !fields.contains_key("signType"),
        "no signType field: {fields:?}"
    );
    let sign = fields.get("sign").cloned().unwrap_or_default();
    assert_eq!(sign.len(), 32, "an MD5 signature is 32 hex digits: {sign}");
    assert_eq!(
        notify_sign(&fields, DEFAULT_NOTIFY_KEY, SignType::Md5),
        sign,
        "MD5 over the sorted fields and the notify key"
    );
    assert!(verify_notify_sign(&fields, DEFAULT_NOTIFY_KEY));
    let notify = Notify::parse_form(&body, DEFAULT_NOTIFY_KEY).expect("our receiver verifies it");
    assert_eq!(notify.sign_type, SignType::Md5);
    notify
        .check(&id, 1250)
        .expect("about this order and amount");
}

#[actix_web::test]
async fn the_notify_carries_the_real_gateways_fields_with_plausible_values() {
    let app = spawn_sim(test_config()).await;

    let (id, body) = first_notify(&app, 1250).await;

    let fields = form_fields(&body);
    let missing: Vec<_> = REAL_FIELDS
        .iter()
        .filter(|name| !fields.contains_key(**name))
        .collect();
    assert!(missing.is_empty(), "missing real fields {missing:?}");
    assert_real_values(&fields, &id, &app);
}

#[actix_web::test]
async fn the_notify_form_encodes_a_space_as_plus_as_gateways_do() {
    let app = spawn_sim(test_config()).await;

    let (_, body) = first_notify(&app, 1250).await;

    let text = String::from_utf8(body).expect("an ASCII form");
    assert!(
        text.contains("payTime=") && text.contains('+') && !text.contains("%20"),
        "spaces as +, never %20: {text}"
    );
}

fn assert_real_values(fields: &BTreeMap<String, String>, id: &str, app: &TestSim) {
    let get = |name: &str| fields.get(name).map(String::as_str).unwrap_or_default();
    let config = app.client.config();
    assert_eq!(get("merOrderId"), id);
    assert_eq!((get("mid"), get("tid")), (&*config.mid, &*config.tid));
    assert_eq!(get("instMid"), "MINIDEFAULT");
    assert_eq!(get("msgType"), "wx.notify");
    assert_eq!(get("status"), "TRADE_SUCCESS");
    for name in [
        "totalAmount",
        "buyerPayAmount",
        "buyerCashPayAmt",
        "invoiceAmount",
        "receiptAmount",
    ] {
        assert_eq!(get(name), "1250", "{name}");
    }
    assert_eq!(get("couponAmount"), "0");
    assert_eq!(get("billFunds"), "现金:1250");
    assert_eq!(get("billFundsDesc"), "现金支付12.50元。");
    assert_eq!((get("targetSys"), get("connectSys")), ("WXPay", "UNIONPAY"));
    assert_eq!(get("subBuyerId"), "o-test-openid");
    assert!(get("buyerId").starts_with("otdJ_u") && get("buyerId").len() == 28);
    let uuid = get("mchntUuid");
    assert!(uuid.len() == 32 && uuid.bytes().all(|b| b.is_ascii_hexdigit()));
    let notify_id = get("notifyId");
    assert_eq!(notify_id.len(), 36, "a UUID: {notify_id}");
    assert_eq!(notify_id.matches('-').count(), 4, "a UUID: {notify_id}");
    let paid_at = parse_china(get("payTime"), DATE_TIME).expect("payTime yyyy-MM-dd HH:mm:ss");
    assert!((paid_at - now_unix()).abs() < 60, "payTime is now");
    assert!(parse_china(get("createTime"), DATE_TIME).is_some());
    assert!(get("seqId").ends_with('N'));
    assert!(get("targetOrderId").starts_with("4200"));
    let markers = fields
        .iter()
        .filter(|(name, value)| {
            name.len() == 2 && value.len() == 4 && value.bytes().all(|b| b.is_ascii_alphabetic())
        })
        .count();
    assert_eq!(markers, 1, "one random two-letter field, as UMS sends");
}

#[actix_web::test]
async fn sha256_with_sign_type_stays_available_as_a_setting() {
    let app = spawn_sim(PaySimConfig {
        notify_signing: NotifySigning::Sha256,
        ..test_config()
    })
    .await;
    let (id, body) = first_notify(&app, 100).await;
    let fields = form_fields(&body);
    assert_eq!(fields.get("signType").map(String::as_str), Some("SHA256"));
    let notify = app.client.verify_notify(&body).expect("verifies");
    assert_eq!(notify.sign_type, SignType::Sha256);
    notify.check(&id, 100).expect("this order and amount");
}

#[actix_web::test]
async fn a_notify_is_signed_with_the_sign_type_its_order_asked_for() {
    for (asked, expected) in [("SHA256", SignType::Sha256), ("MD5", SignType::Md5)] {
        let app = spawn_sim(test_config()).await;
        let (id, _) = app.place_raw(json!({"signType": asked})).await;
        let (_, body) = first_notify_of(&app, &id).await;
        let fields = form_fields(&body);
        assert_eq!(
            fields.get("signType").map(String::as_str),
            Some(asked),
            "the asked signType is named"
        );
        let notify = app.client.verify_notify(&body).expect("verifies");
        assert_eq!(notify.sign_type, expected);
    }
}

#[actix_web::test]
async fn the_order_center_is_paid_through_the_default_notify() {
    // Arrange: an order paying at the embedded simulator.
    let app = crate::helpers::spawn_app().await;
    let activity = app.save_activity("通知活动", 1, 5).await;
    let member = app.member(8101);
    let order = member.order(activity).await;
    member.pay(&order).await;
    // Every protocol call now fails, so the trade poller cannot see the payment: only the
    // notify (which faults on calls do not touch) can confirm it.
    app.set_faults(json!({"error_rate": 1.0})).await;
    // Act
    assert_eq!(app.buyer_pays(&order.parent_order_no).await, 200);
    // Assert
    member
        .wait_status(&order, Status::Paid, Duration::from_secs(10))
        .await;
    app.set_faults(json!({"error_rate": 0.0})).await;
}
