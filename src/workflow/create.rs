//! The written-ahead creation (SPEC §3): *creating* is durable before the subsystem is
//! called, so a crash leaves a record that recovery finishes; the subsystem's binding and
//! *created* are durable before the answer; a creation that cannot finish is given up and
//! the subsystem told.

use std::sync::Arc;

use super::ended::write_ended;
use super::{OrderError, SharedEnv};
use crate::domain::{time, Fen, Order, OrderEvent, OrderItem, OrderOutcome};
use crate::store::orders::OrderWrite;
use crate::store::Change;
use crate::subsystem::{OrderCreateAnswer, OrderCreateCall, Subsystem, SubsystemError};

/// The written-ahead creation (SPEC §3). On failure returns the order as it was left and
/// the reason: abandoned with the subsystem told through the outbox once *creating* was on
/// disk; as it was when nothing was written (a new order an in-store subsystem refused, or a
/// write that failed).
pub async fn finish_create(
    env: SharedEnv,
    order: Order,
    record_creating: bool,
) -> Result<Order, (Order, OrderError)> {
    let business_type = order.request.business_type;
    let Some(subsystem) = env.subsystems.get(business_type) else {
        return Err((order, OrderError::UnknownBusinessType(business_type)));
    };
    if subsystem.in_store().is_some() {
        return finish_create_in_store(env, order, subsystem, record_creating).await;
    }
    finish_create_remote(env, order, subsystem, record_creating).await
}

/// Creation with a subsystem across the network: *creating* is durable before the call
/// (so a crash leaves a record that recovery finishes), `applyOrderCreate` is retried with
/// the same `order_no`, and *created* (or the give-up) is durable before the answer.
async fn finish_create_remote(
    env: SharedEnv,
    mut order: Order,
    subsystem: Arc<dyn Subsystem>,
    record_creating: bool,
) -> Result<Order, (Order, OrderError)> {
    if record_creating {
        if let Err(error) = env.store.write_durable(order.clone(), None).await {
            return Err((order, error.into()));
        }
    }
    crate::failpoint::hit("create.after_creating");
    let call = create_call(&order);
    let mut delay = env.settings.create_retry_base;
    let mut attempt = 1;
    let answer = loop {
        match subsystem.order_create(&call).await {
            Err(SubsystemError::Unavailable(reason)) if attempt < env.settings.create_attempts => {
                tracing::warn!(attempt, %reason, "applyOrderCreate failed; retrying with the same order_no");
                tokio::time::sleep(delay).await;
                delay = delay.saturating_mul(2);
                attempt += 1;
            }
            outcome => break outcome.map_err(OrderError::from),
        }
    };
    let now = time::now_millis();
    match answer.and_then(|answer| fill_from_answer(&mut order, answer)) {
        Ok(()) => {
            crate::failpoint::hit("create.after_bind");
            let _ = order.apply_at(OrderEvent::Created, now);
            match env.store.write_durable(order.clone(), None).await {
                Ok(()) => {
                    crate::failpoint::hit("create.after_created");
                    env.metrics.created();
                    Ok(order)
                }
                Err(error) => Err((order, error.into())),
            }
        }
        Err(reason) => {
            let _ = order.apply_at(OrderEvent::CreateFailed, now);
            give_up(&env, order, reason).await
        }
    }
}

/// Creation with a subsystem in our own store: the binding and the *created* order are one
/// atomic change on the writer thread, durable before the answer. A crash before it is on
/// disk leaves nothing; a refusal writes nothing (an order recovered *creating* is given up
/// as usual).
async fn finish_create_in_store(
    env: SharedEnv,
    order: Order,
    subsystem: Arc<dyn Subsystem>,
    record_creating: bool,
) -> Result<Order, (Order, OrderError)> {
    let orders = env.store.clone();
    let as_it_was = order.clone();
    let written = env
        .store
        .store()
        .write(move || {
            let mut order = order;
            let mut change = Change::new();
            let answer = match subsystem.in_store() {
                Some(local) => local
                    .order_create_in_write(&create_call(&order), &mut change)
                    .map_err(OrderError::from),
                None => Err(OrderError::UnknownBusinessType(order.request.business_type)),
            };
            let now = time::now_millis();
            match answer.and_then(|answer| fill_from_answer(&mut order, answer)) {
                Ok(()) => {
                    let _ = order.apply_at(OrderEvent::Created, now);
                    orders.stage(
                        &mut change,
                        OrderWrite {
                            order: &order,
                            notify: None,
                            first: record_creating,
                        },
                    )?;
                    crate::failpoint::hit("create.before_commit");
                    change.crash_point("create.after_journal_record");
                    orders.store().apply(change)?;
                    Ok(Ok(order))
                }
                Err(reason) => {
                    let _ = order.apply_at(OrderEvent::CreateFailed, now);
                    Ok(Err((order, reason)))
                }
            }
        })
        .await;
    match written {
        Ok(Ok(created)) => {
            crate::failpoint::hit("create.after_created");
            env.metrics.created();
            Ok(created)
        }
        // A new order was never written: nothing to record.
        Ok(Err((order, reason))) if record_creating => Err((order, reason)),
        Ok(Err((order, reason))) => give_up(&env, order, reason).await,
        Err(error) => Err((as_it_was, error.into())),
    }
}

/// Records a creation given up (the order abandoned, never shown) with the outbox notice
/// that tells the subsystem to let go of anything it bound, and returns the reason.
async fn give_up(
    env: &SharedEnv,
    order: Order,
    reason: OrderError,
) -> Result<Order, (Order, OrderError)> {
    tracing::warn!(%reason, "creation given up; closing the order and telling the subsystem");
    match write_ended(env, order.clone(), OrderOutcome::Closed).await {
        Ok(written) => Err((written, reason)),
        Err(error) => {
            tracing::error!(%error, "could not record the abandoned creation");
            Err((order, reason))
        }
    }
}

fn create_call(order: &Order) -> OrderCreateCall {
    OrderCreateCall {
        order_no: order.order_no.to_string(),
        parent_order_no: order.parent_order_no.to_string(),
        company_id: order.request.owner.company_id,
        member_id: order.request.owner.member_id,
        business_id: order.request.business_id,
        sku_slice: order.request.sku_slice.to_text(),
        handle_info: order.request.handle_info.to_string(),
    }
}

/// Fills items and extras from the subsystem's answer, after checking it answers for
/// exactly the SKUs and quantities ordered (prices always come from the subsystem).
pub fn fill_from_answer(order: &mut Order, answer: OrderCreateAnswer) -> Result<(), OrderError> {
    let lines = order.request.sku_slice.lines();
    let matches = answer.items.len() == lines.len()
        && answer
            .items
            .iter()
            .zip(lines)
            .all(|(item, line)| item.sku == line.sku && item.sku_num == line.quantity);
    if !matches {
        return Err(OrderError::SubsystemUnavailable(
            "answer does not match the sku_slice".into(),
        ));
    }
    order.items = answer
        .items
        .into_iter()
        .enumerate()
        .map(|(index, item)| OrderItem {
            id: order.id + 1 + index as u64,
            order_item_no: order.order_no.item_no(index as u16 + 1),
            sku: item.sku.into_boxed_str(),
            sku_name: item.sku_name.into(),
            sku_price: Fen(item.sku_price),
            sku_num: item.sku_num,
            sku_img: item.sku_img.into(),
            sku_info: item.sku_info.into(),
        })
        .collect();
    order.extra = crate::domain::OrderExtra {
        stadium_name: answer.extra.stadium_name.into(),
        user_info: answer.extra.user_info,
    };
    Ok(())
}
