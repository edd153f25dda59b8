//! Every transition of the provider-side state machine, legal and illegal.

use super::*;
use crate::store::paysim::SimPrepay;

const NOW_MS: i64 = 1_747_279_526_000;
const NOW: i64 = NOW_MS / 1000;

fn order(status: SimStatus) -> SimOrder {
    SimOrder {
        mer_order_id: "2013150001004525628".into(),
        mid: "898340149000005".into(),
        tid: "88880001".into(),
        inst_mid: "MINIDEFAULT".into(),
        total_amount: 100,
        status,
        created_at: NOW,
        expire_at: Some(NOW + 480),
        notify_url: "http://127.0.0.1/notify".into(),
        sub_open_id: "openid".into(),
        order_desc: None,
        seq_id: "12345678901N".into(),
        prepay: SimPrepay {
            prepay_id: "wx15112526abcdef".into(),
            app_id: "wx5a3f1c0d2b4e6a70".into(),
            time_stamp: NOW.to_string(),
            nonce_str: "n".into(),
            pay_sign: "s".into(),
        },
        paid_at: None,
        target_order_id: None,
        closed_at: None,
        refunds: Vec::new(),
    }
}

fn paid() -> SimOrder {
    let mut paid = order(SimStatus::Paid);
    paid.paid_at = Some(NOW);
    paid
}

fn ask(id: &str, amount: u64, processing_ms: Option<u64>) -> RefundAsk {
    RefundAsk {
        refund_order_id: id.into(),
        amount,
        processing_ms,
        refund_target_order_id: "503".into(),
    }
}

fn code<T>(change: &Change<Result<T, Refusal>>) -> Option<&'static str> {
    change.output.as_ref().err().map(|refusal| refusal.code)
}

#[test]
fn unified_order_creates_then_returns_the_same_prepay() {
    let created = place(None, order(SimStatus::WaitBuyerPay), NOW_MS);
    assert!(created.order.is_some(), "a new order is written");
    let mut other = order(SimStatus::WaitBuyerPay);
    other.prepay.prepay_id = "wx-other".into();
    let again = place(created.order, other, NOW_MS);
    assert!(again.order.is_none(), "a repeat writes nothing");
    let prepay = again.output.map(|order| order.prepay.prepay_id);
    assert_eq!(prepay, Ok("wx15112526abcdef".into()));
}

#[test]
fn unified_order_with_another_amount_or_after_pay_or_close_is_refused() {
    let mut cheaper = order(SimStatus::WaitBuyerPay);
    cheaper.total_amount = 1;
    let dup = place(Some(order(SimStatus::WaitBuyerPay)), cheaper, NOW_MS);
    assert_eq!(code(&dup), Some(codes::DUP_ORDER));
    let candidate = order(SimStatus::WaitBuyerPay);
    assert_eq!(
        code(&place(Some(paid()), candidate.clone(), NOW_MS)),
        Some(codes::ORDER_PAID)
    );
    let closed = order(SimStatus::Closed);
    assert_eq!(
        code(&place(Some(closed), candidate.clone(), NOW_MS)),
        Some(codes::ORDER_CLOSED)
    );
    let late = NOW_MS + 481_000;
    let expired = place(Some(order(SimStatus::WaitBuyerPay)), candidate, late);
    assert_eq!(code(&expired), Some(codes::ORDER_CLOSED));
    assert!(expired.order.is_some(), "the expiry is recorded");
}

#[test]
fn pay_only_while_waiting_and_before_the_deadline() {
    let ok = pay(
        Some(order(SimStatus::WaitBuyerPay)),
        NOW_MS,
        "4200".into(),
        false,
    );
    assert!(ok.notify.is_some(), "paying schedules a notify");
    assert_eq!(ok.output.map(|order| order.status), Ok(SimStatus::Paid));
    // The deadline second itself is still payable; the next one is not.
    let at_deadline = pay(
        Some(order(SimStatus::WaitBuyerPay)),
        NOW_MS + 480_999,
        "4200".into(),
        false,
    );
    assert!(at_deadline.output.is_ok());
    let late = pay(
        Some(order(SimStatus::WaitBuyerPay)),
        NOW_MS + 481_000,
        "4200".into(),
        false,
    );
    assert_eq!(late.output.err(), Some(PayRefusal::Closed));
    assert!(late.notify.is_none());
    let closed = pay(Some(order(SimStatus::Closed)), NOW_MS, "4200".into(), false);
    assert_eq!(closed.output.err(), Some(PayRefusal::Closed));
    // The charge_closed fault: the provider-side race that makes a merchant refund.
    let raced = pay(Some(order(SimStatus::Closed)), NOW_MS, "4200".into(), true);
    assert!(raced.output.is_ok() && raced.notify.is_some());
    let twice = pay(Some(paid()), NOW_MS, "4200".into(), false);
    assert_eq!(twice.output.err(), Some(PayRefusal::AlreadyPaid));
    assert!(twice.order.is_none(), "nothing is charged twice");
    let refunded = pay(
        Some(order(SimStatus::Refunded)),
        NOW_MS,
        "4200".into(),
        false,
    );
    assert_eq!(refunded.output.err(), Some(PayRefusal::AlreadyPaid));
    assert_eq!(
        pay(None, NOW_MS, "4200".into(), false).output.err(),
        Some(PayRefusal::NoOrder)
    );
}

#[test]
fn close_is_idempotent_and_refused_once_paid() {
    let closed = close(Some(order(SimStatus::WaitBuyerPay)), NOW_MS);
    assert_eq!(
        closed.output.map(|order| order.status),
        Ok(SimStatus::Closed)
    );
    let again = close(Some(order(SimStatus::Closed)), NOW_MS);
    assert!(again.output.is_ok() && again.order.is_none());
    assert_eq!(code(&close(Some(paid()), NOW_MS)), Some(codes::ORDER_PAID));
    assert_eq!(
        code(&close(Some(order(SimStatus::Refunded)), NOW_MS)),
        Some(codes::ORDER_PAID)
    );
    assert_eq!(code(&close(None, NOW_MS)), Some(codes::NO_ORDER));
}

#[test]
fn query_applies_expiry() {
    let expired = query(Some(order(SimStatus::WaitBuyerPay)), NOW_MS + 481_000);
    assert_eq!(
        expired.output.map(|order| order.status),
        Ok(SimStatus::Closed)
    );
    assert_eq!(code(&query(None, NOW_MS)), Some(codes::NO_ORDER));
}

#[test]
fn refund_only_paid_orders_never_more_than_paid() {
    for status in [SimStatus::WaitBuyerPay, SimStatus::Closed] {
        let refused = refund(Some(order(status)), ask("r1", 100, None), NOW_MS);
        assert_eq!(code(&refused), Some(codes::REFUND_NOT_ALLOWED));
    }
    let too_much = refund(Some(paid()), ask("r1", 101, None), NOW_MS);
    assert_eq!(code(&too_much), Some(codes::REFUND_NOT_ALLOWED));
    let zero = refund(Some(paid()), ask("r1", 0, None), NOW_MS);
    assert_eq!(code(&zero), Some(codes::REFUND_NOT_ALLOWED));
    assert_eq!(
        code(&refund(None, ask("r1", 1, None), NOW_MS)),
        Some(codes::NO_ORDER)
    );
}

#[test]
fn full_refund_at_once_makes_the_order_refunded_and_is_idempotent() {
    let done = refund(Some(paid()), ask("r1", 100, None), NOW_MS);
    let refunded = done.order.clone();
    assert_eq!(
        done.output.map(|(order, _)| order.status),
        Ok(SimStatus::Refunded)
    );
    let again = refund(refunded.clone(), ask("r1", 100, None), NOW_MS);
    assert!(again.order.is_none(), "a repeated refund changes nothing");
    assert!(again.output.is_ok());
    let other_amount = refund(refunded.clone(), ask("r1", 50, None), NOW_MS);
    assert_eq!(code(&other_amount), Some(codes::DUP_ORDER));
    let second = refund(refunded, ask("r2", 1, None), NOW_MS);
    assert_eq!(code(&second), Some(codes::REFUND_NOT_ALLOWED));
}

#[test]
fn pending_refund_succeeds_later() {
    let pending = refund(Some(paid()), ask("r1", 100, Some(0)), NOW_MS);
    let Ok((stored, refund_now)) = &pending.output else {
        panic!("refund refused: {:?}", pending.output.err());
    };
    assert_eq!(
        stored.status,
        SimStatus::Paid,
        "not refunded while processing"
    );
    assert_eq!(refund_status(refund_now, NOW_MS), RefundStatus::Processing);
    let later = refund_query(pending.order, Some("r1"), NOW_MS + 1);
    assert!(later.order.is_some(), "completion is recorded");
    let outcome = later
        .output
        .map(|(order, refund)| (order.status, refund_status(&refund, NOW_MS + 1)));
    assert_eq!(outcome, Ok((SimStatus::Refunded, RefundStatus::Success)));
    assert_eq!(
        code(&refund_query(Some(paid()), Some("nope"), NOW_MS)),
        Some(codes::NO_ORDER)
    );
}

#[test]
fn partial_refunds_add_up() {
    let first = refund(Some(paid()), ask("r1", 40, None), NOW_MS);
    assert_eq!(
        first.output.as_ref().map(|(order, _)| order.status),
        Ok(SimStatus::Paid)
    );
    let second = refund(first.order, ask("r2", 60, None), NOW_MS);
    assert_eq!(
        second.output.as_ref().map(|(order, _)| order.status),
        Ok(SimStatus::Refunded)
    );
}

#[test]
fn an_order_placed_without_a_notify_url_is_paid_without_a_notify() {
    let mut silent = order(SimStatus::WaitBuyerPay);
    silent.notify_url = String::new();
    let paid = pay(Some(silent), NOW_MS, "4200".into(), false);
    assert_eq!(paid.output.map(|order| order.status), Ok(SimStatus::Paid));
    assert!(paid.order.is_some(), "the payment is written");
    assert!(paid.notify.is_none(), "no notifyUrl, no notify");
}

#[test]
fn refund_query_without_an_id_answers_about_the_latest_refund() {
    let first = refund(Some(paid()), ask("r1", 40, None), NOW_MS);
    let second = refund(first.order, ask("r2", 60, None), NOW_MS);
    let latest = refund_query(second.order, None, NOW_MS);
    let id = latest.output.map(|(_, refund)| refund.refund_order_id);
    assert_eq!(id, Ok("r2".to_owned()));
    assert_eq!(
        code(&refund_query(Some(paid()), None, NOW_MS)),
        Some(codes::NO_ORDER),
        "an order never refunded has no refund to tell about"
    );
}
