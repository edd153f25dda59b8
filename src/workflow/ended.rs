//! The durable change that records how an order ended (paid, closed, refunded) and tells its
//! business subsystem: in that same change when the subsystem keeps its records in our
//! store, else through the outbox written with it.
//!
//! Endings told in our store wait in an [`EndingQueue`] for the writer, which writes all
//! that arrived meanwhile in changes of up to [`GROUP`] orders each: when thousands of orders
//! close at one deadline, each change has one journal record and writes each activity's seat
//! counts once for the group, where one change per order wrote and read them every time.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;

use tokio::sync::oneshot;

use super::SharedEnv;
use crate::domain::{time, Happened, Order, OrderOutcome};
use crate::store::orders::{OrderStore, OrderWrite};
use crate::store::outbox::OutboxEntry;
use crate::store::{Change, StoreError};
use crate::subsystem::{OrderNotifyCall, Subsystem};

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
    let (answer, answered) = oneshot::channel();
    env.endings.push(
        &env.store,
        Ending {
            order,
            told,
            subsystem,
            answer,
        },
    );
    let (order, queued) = answered.await.unwrap_or(Err(StoreError::Closed))?;
    if queued {
        env.outbox.wake();
    }
    Ok(order)
}

/// Most orders in one grouped change. Its journal record holds every key and value of the
/// group (about 1 KB an order), and sled writes a page of more than 128 KB (its segment over
/// 4) as a file of its own: 8 keeps a page of the journal's ring (8–16 records) under that.
pub const GROUP: usize = 8;

/// Most endings one writer job writes: about 3 ms of the writer's time, so thousands of
/// closes at one deadline reach the flusher a few milliseconds' worth at a time, as other
/// changes do ([`crate::store::Writer`] hands its batch over every 5 ms), and changes queued
/// meanwhile are not held up behind them all.
const PER_JOB: usize = 256;

/// The written order, and whether its notice went to the outbox.
type Ended = Result<(Order, bool), StoreError>;

/// An order's ending waiting for the writer.
pub struct Ending {
    order: Order,
    told: OutboxEntry,
    subsystem: Arc<dyn Subsystem>,
    answer: oneshot::Sender<Ended>,
}

/// Endings of orders told in our store, waiting for the writer (see the module's doc).
#[derive(Default)]
pub struct EndingQueue {
    waiting: parking_lot::Mutex<Waiting>,
}

#[derive(Default)]
struct Waiting {
    endings: Vec<Ending>,
    /// A writer job that will take the endings is queued and has not taken them yet.
    scheduled: bool,
}

impl EndingQueue {
    /// Queues `ending`; the first ending since the writer last took them queues the writer
    /// job that takes the endings waiting when its turn comes.
    fn push(self: &Arc<Self>, orders: &OrderStore, ending: Ending) {
        let schedule = {
            let mut waiting = self.waiting.lock();
            waiting.endings.push(ending);
            !std::mem::replace(&mut waiting.scheduled, true)
        };
        if schedule {
            self.schedule(orders);
        }
    }

    /// Queues the writer job that takes up to [`PER_JOB`] waiting endings and writes them,
    /// and queues itself again behind the other changes while more wait.
    fn schedule(self: &Arc<Self>, orders: &OrderStore) {
        let unran = Unran(Some(Arc::clone(self)));
        let writes = orders.clone();
        let submitted = orders.store().submit_then(
            move |refused| {
                let mut unran = unran;
                let Some(queue) = unran.0.take() else {
                    return Vec::new();
                };
                let (endings, more) = queue.take(PER_JOB);
                if more {
                    queue.schedule(&writes);
                }
                match refused {
                    Some(error) => endings
                        .into_iter()
                        .map(|e| (e, Err(error.for_each_caller())))
                        .collect(),
                    None => write_groups(&writes, endings),
                }
            },
            |answered: Vec<(Ending, Ended)>, flushed| {
                for (ending, ended) in answered {
                    let ended = match (ended, &flushed) {
                        (Ok(written), Ok(())) => Ok(written),
                        (Ok(_), Err(error)) => Err(error.for_each_caller()),
                        (Err(error), _) => Err(error),
                    };
                    let _ = ending.answer.send(ended);
                }
            },
        );
        if let Err(error) = submitted {
            for ending in self.take(usize::MAX).0 {
                let _ = ending.answer.send(Err(error.for_each_caller()));
            }
        }
    }

    /// Up to `most` endings, oldest first, and whether more wait (a job is then still
    /// scheduled for them; otherwise the next ending queued schedules one).
    fn take(&self, most: usize) -> (Vec<Ending>, bool) {
        let mut waiting = self.waiting.lock();
        let taken: Vec<Ending> = if waiting.endings.len() <= most {
            std::mem::take(&mut waiting.endings)
        } else {
            waiting.endings.drain(..most).collect()
        };
        let more = !waiting.endings.is_empty();
        waiting.scheduled = more;
        (taken, more)
    }
}

/// The queue a scheduled job was to empty, until the job runs: if the writer drops the job
/// without running it (its threads ended), the endings waiting are answered
/// [`StoreError::Closed`], instead of waiting for ever behind a job that will not come.
struct Unran(Option<Arc<EndingQueue>>);

impl Drop for Unran {
    fn drop(&mut self) {
        if let Some(queue) = self.0.take() {
            for ending in queue.take(usize::MAX).0 {
                let _ = ending.answer.send(Err(StoreError::Closed));
            }
        }
    }
}

/// Writes `endings` in changes of up to [`GROUP`] orders of one subsystem each, on the writer
/// thread. Each order is answered with how its change went.
fn write_groups(orders: &OrderStore, endings: Vec<Ending>) -> Vec<(Ending, Ended)> {
    let mut answered = Vec::with_capacity(endings.len());
    let mut rest = endings.into_iter().peekable();
    while let Some(first) = rest.next() {
        let mut group = vec![first];
        while group.len() < GROUP {
            match rest.next_if(|next| Arc::ptr_eq(&next.subsystem, &group[0].subsystem)) {
                Some(next) => group.push(next),
                None => break,
            }
        }
        // A group that panics fails alone: the groups before it are written, and are
        // answered so once the flush is over.
        let written = std::panic::catch_unwind(AssertUnwindSafe(|| write_group(orders, &group)))
            .unwrap_or_else(|_| {
                tracing::error!(
                    orders = group.len(),
                    "writing a group of order endings panicked"
                );
                Err(StoreError::Thread(
                    "writing a group of order endings panicked".into(),
                ))
            });
        match written {
            Ok(written) => answered.extend(group.into_iter().zip(written.into_iter().map(Ok))),
            Err(error) => {
                answered.extend(group.into_iter().map(|e| (e, Err(error.for_each_caller()))))
            }
        }
    }
    answered
}

/// One atomic change for `group`: the subsystem's notices (each that fails is queued in the
/// outbox instead, written with its order) and every order as ended.
fn write_group(orders: &OrderStore, group: &[Ending]) -> Result<Vec<(Order, bool)>, StoreError> {
    let calls: Vec<OrderNotifyCall> = group
        .iter()
        .map(|ending| OrderNotifyCall {
            order_no: ending.told.order_no.to_string(),
            parent_order_no: ending.told.parent_order_no.to_string(),
            order_status: ending.told.order_status,
        })
        .collect();
    let mut change = Change::new();
    let told = match group[0].subsystem.in_store() {
        Some(local) => match local.order_notify_many_in_write(&calls, &mut change) {
            Ok(told) => told,
            Err(error) => {
                tracing::warn!(%error, orders = group.len(), "in-process notices failed; queued in the outbox");
                change = Change::new();
                calls.iter().map(|_| Err(error.clone())).collect()
            }
        },
        None => Vec::new(),
    };
    let mut written = Vec::with_capacity(group.len());
    for (index, ending) in group.iter().enumerate() {
        let told_here = match told.get(index) {
            Some(Ok(())) => true,
            Some(Err(error)) => {
                tracing::warn!(%error, order_no = %ending.told.order_no, "in-process notice failed; queued in the outbox");
                false
            }
            None => false,
        };
        let outcome = ending.told.order_status;
        let mut order = ending.order.clone();
        order.record(
            time::now_millis(),
            if told_here {
                Happened::NoticeDelivered(outcome)
            } else {
                Happened::NoticeQueued(outcome)
            },
        );
        orders.stage(
            &mut change,
            OrderWrite {
                order: &order,
                notify: (!told_here).then(|| ending.told.clone()),
                first: false,
            },
        )?;
        written.push((order, !told_here));
    }
    orders.store().apply(change)?;
    Ok(written)
}
