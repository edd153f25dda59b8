//! Paying: the attempt is recorded before the provider is called (so a crash never loses a
//! provider order), then the unified order is placed and its prepay kept; and recording a
//! payment the provider confirmed.

use super::ended::write_ended;
use super::{provider_failed, OrderError, SharedEnv};
use crate::domain::{
    time, EvidenceSource, Fen, Happened, Order, OrderEvent, OrderOutcome, PaidEvidence, Payment,
    Prepay,
};
use crate::provider::UnifiedOrder;

/// Records the attempt (durable), then places the unified order and keeps its prepay. A
/// zero-price order is paid at once, without the provider.
///
/// On failure returns the order as recorded (the attempt is on disk once written: a
/// provider order may exist, so the caller follows it) and the reason.
pub async fn start_payment(
    env: SharedEnv,
    mut order: Order,
    payment_way: u32,
    open_id: Option<String>,
) -> Result<Order, (Order, OrderError)> {
    let now_ms = time::now_millis();
    let now = now_ms / 1000;
    let amount = order.total();
    let open_id = open_id.unwrap_or_else(|| placeholder_open_id(&order));
    if order.payment.is_none() {
        order.record(
            now_ms,
            Happened::PaymentStarted {
                payment_way,
                amount,
            },
        );
        order.payment = Some(Box::new(Payment {
            payment_way,
            started_at: now,
            amount,
            open_id: open_id.clone(),
            prepay: None,
            target_order_id: None,
            refund: None,
        }));
    }
    order.payment_way = payment_way;
    if amount == Fen::ZERO {
        let evidence = PaidEvidence {
            amount: 0,
            paid_at: Some(now),
            target_order_id: None,
            source: EvidenceSource::ZeroPrice,
            refunded: false,
        };
        let unchanged = order.clone();
        return mark_paid(&env, order, evidence)
            .await
            .map_err(|error| (unchanged, error));
    }
    if let Err(error) = env.store.write_durable(order.clone(), None).await {
        return Err((order, error.into()));
    }
    crate::failpoint::hit("pay.after_attempt");
    let request = UnifiedOrder {
        mer_order_id: order.parent_order_no.to_string(),
        total_amount: amount.0,
        expire_at: i64::try_from(order.deadline()).unwrap_or(i64::MAX),
        sub_open_id: open_id,
        order_desc: order.items.first().map(|item| item.sku_name.to_string()),
    };
    let answer = match env.provider.unified_order(&request).await {
        Ok(answer) => answer,
        Err(error) if error.is_order_closed() => return Err((order, OrderError::Closed)),
        Err(error) => {
            tracing::warn!(%error, "unified order failed");
            return Err((order, provider_failed(error)));
        }
    };
    let pay_request = answer.mini_pay_request;
    order.record(
        time::now_millis(),
        Happened::Prepaid {
            prepay_id: pay_request
                .package
                .strip_prefix("prepay_id=")
                .unwrap_or(&pay_request.package)
                .to_owned(),
        },
    );
    if let Some(payment) = order.payment.as_mut() {
        payment.prepay = Some(Prepay {
            app_id: pay_request.app_id,
            time_stamp: pay_request.time_stamp,
            nonce_str: pay_request.nonce_str,
            package: pay_request.package,
            sign_type: pay_request.sign_type,
            pay_sign: pay_request.pay_sign,
        });
    }
    match env.store.write_durable(order.clone(), None).await {
        Ok(()) => Ok(order),
        Err(error) => Err((order, error.into())),
    }
}

/// The payer's openid when the frontend did not send one: in the embedded default a stable
/// placeholder derived from the member (a real deployment reads the member's profile).
fn placeholder_open_id(order: &Order) -> String {
    use sha2::{Digest, Sha256};
    let owner = order.request.owner;
    let digest = Sha256::digest(format!("openid:{}:{}", owner.company_id, owner.member_id));
    format!("o{}", &hex::encode(digest)[..27])
}

/// Marks the order paid (durable, with the subsystem's notice).
pub async fn mark_paid(
    env: &SharedEnv,
    mut order: Order,
    evidence: PaidEvidence,
) -> Result<Order, OrderError> {
    if evidence.amount != order.total().0 {
        return Err(OrderError::Mismatch(format!(
            "paid {} fen, order is {} fen",
            evidence.amount,
            order.total()
        )));
    }
    let now_ms = time::now_millis();
    order.record(
        now_ms,
        Happened::Reported {
            source: evidence.source,
            refunded: false,
        },
    );
    order
        .apply_at(OrderEvent::Paid, now_ms)
        .map_err(|_| OrderError::Closed)?;
    order.payment_time = evidence.paid_at.filter(|t| *t > 0).unwrap_or(now_ms / 1000);
    if let Some(payment) = order.payment.as_mut() {
        payment.target_order_id = evidence.target_order_id.clone();
    }
    let order = write_ended(env, order, OrderOutcome::Paid).await?;
    let took = time::now_millis().saturating_sub(order.payment_started_ms());
    env.metrics.paid(
        evidence.source.label(),
        std::time::Duration::from_millis(took),
    );
    tracing::info!(order_no = %order.parent_order_no, source = evidence.source.as_str(), "order paid");
    Ok(order)
}
