//! The durable change that records how an order ended (paid, closed, refunded) and tells its
//! business subsystem: in that same change when the subsystem keeps its records in our
//! store, else through the outbox written with it.

use super::SharedEnv;
use crate::domain::{time, Happened, Order, OrderOutcome};
use crate::store::orders::OrderWrite;
use crate::store::outbox::OutboxEntry;
use crate::store::{Change, StoreError};
use crate::subsystem::OrderNotifyCall;

/// The outbox notice for the subsystem.
fn notice(order: &Order, outcome: OrderOutcome) -> OutboxEntry {
    OutboxEntry {
        business_type: order.request.business_type,
        order_no: order.order_no.clone(),
        parent_order_no: order.parent_order_no.clone(),
        order_status: outcome,
        created_at: time::now_secs(),
    }
}

/// Writes `order` durably with the notice of how it ended: applied in the same change when
/// its subsystem lives in our store, else (or if that fails) queued in the outbox, written
/// with the order, for delivery. Returns the order as written (its history says which).
pub async fn write_ended(
    env: &SharedEnv,
    mut order: Order,
    outcome: OrderOutcome,
) -> Result<Order, StoreError> {
    let told = notice(&order, outcome);
    let in_store = env
        .subsystems
        .get(order.request.business_type)
        .filter(|subsystem| subsystem.in_store().is_some());
    let Some(subsystem) = in_store else {
        order.record(time::now_millis(), Happened::NoticeQueued(outcome));
        env.store.write_durable(order.clone(), Some(told)).await?;
        env.outbox.wake();
        return Ok(order);
    };
    let orders = env.store.clone();
    let queued = env
        .store
        .store()
        .write(move || {
            let call = OrderNotifyCall {
                order_no: told.order_no.to_string(),
                parent_order_no: told.parent_order_no.to_string(),
                order_status: outcome,
            };
            let mut change = Change::new();
            let told_here = match subsystem.in_store() {
                Some(local) => match local.order_notify_in_write(&call, &mut change) {
                    Ok(()) => true,
                    Err(error) => {
                        tracing::warn!(%error, "in-process notice failed; queued in the outbox");
                        change = Change::new();
                        false
                    }
                },
                None => false,
            };
            let mut order = order;
            let told_how = if told_here {
                Happened::NoticeDelivered(outcome)
            } else {
                Happened::NoticeQueued(outcome)
            };
            order.record(time::now_millis(), told_how);
            orders.stage(
                &mut change,
                OrderWrite {
                    order: &order,
                    notify: (!told_here).then_some(told),
                    first: false,
                },
            )?;
            orders.store().apply(change)?;
            Ok((order, !told_here))
        })
        .await?;
    let (order, queued) = queued;
    if queued {
        env.outbox.wake();
    }
    Ok(order)
}
