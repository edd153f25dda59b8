//! Asynchronous payment notifies, delivered like UMS delivers them: a signed form posted to
//! the order's `notifyUrl`, retried on a schedule until the merchant answers `SUCCESS`. The
//! form is [`super::notify_form`]'s; how it is signed, [`super::signing`]'s.
//!
//! Jobs are stored (`paysim_notifies`) in the same write that marks the order paid, so a
//! restart resumes delivery. One background task sends due jobs a few at a time; it stops
//! when told to or when the simulator is dropped.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use tokio::sync::{watch, Notify};

use super::faults::{roll, Faults};
use super::notify_form::notify_fields;
use super::signing::RequestedSigns;
use super::PaySimConfig;
use crate::provider::time::now_unix_ms;
use crate::store::paysim::{NotifyJob, PaySimStore, SimOrder};

/// Jobs taken per round.
const BATCH: usize = 64;
/// Longest idle sleep between looks at the queue.
const IDLE: Duration = Duration::from_millis(500);

/// The delivery task's state.
pub(super) struct Notifier {
    pub(super) store: PaySimStore,
    pub(super) http: reqwest::Client,
    pub(super) config: Arc<PaySimConfig>,
    pub(super) faults: Arc<parking_lot::RwLock<Faults>>,
    pub(super) wake: Arc<Notify>,
    pub(super) stop: watch::Receiver<bool>,
    /// What each unified order asked its notify to be signed with.
    pub(super) requested: Arc<RequestedSigns>,
}

impl Notifier {
    /// Runs until stopped: sends what is due, then sleeps until the next job is due, a
    /// payment wakes it, or it is told to stop.
    pub(super) async fn run(mut self) {
        loop {
            if *self.stop.borrow() {
                break;
            }
            let sent = self.round().await;
            if sent >= BATCH {
                continue;
            }
            let pause = match self.store.next_notify_due().await {
                Ok(Some(due)) => {
                    let wait = u64::try_from(due.saturating_sub(now_unix_ms())).unwrap_or(0);
                    Duration::from_millis(wait).min(IDLE)
                }
                Ok(None) => IDLE,
                Err(error) => {
                    tracing::warn!(%error, "paysim: cannot read the notify queue");
                    IDLE
                }
            };
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = self.wake.notified() => {}
                changed = self.stop.changed() => {
                    if changed.is_err() {
                        break;
                    }
                }
            }
        }
        tracing::debug!("paysim: notifier stopped");
    }

    /// Sends every due job (bounded concurrency); returns how many were due.
    async fn round(&self) -> usize {
        let due = match self.store.due_notifies(now_unix_ms(), BATCH).await {
            Ok(due) => due,
            Err(error) => {
                tracing::warn!(%error, "paysim: cannot read the notify queue");
                return 0;
            }
        };
        let count = due.len();
        futures::stream::iter(due)
            .for_each_concurrent(self.config.notify_concurrency.max(1), |job| {
                self.attempt(job)
            })
            .await;
        count
    }

    async fn attempt(&self, job: NotifyJob) {
        let delivered = match self.store.order(&job.mer_order_id).await {
            // An order placed without a notifyUrl is never told about; the real gateway
            // leaves such merchants to query.
            Ok(Some(order)) if order.notify_url.is_empty() => true,
            Ok(Some(order)) => self.send(&order).await,
            Ok(None) => true, // nothing left to tell
            Err(error) => {
                tracing::warn!(%error, mer_order_id = %job.mer_order_id, "paysim: cannot read order");
                false
            }
        };
        let next = if delivered {
            None
        } else {
            let retry = self.config.notify_retry_delays.get(job.attempt as usize);
            if retry.is_none() {
                tracing::warn!(mer_order_id = %job.mer_order_id, attempts = job.attempt + 1, "paysim: notify given up");
            }
            retry.map(|delay| NotifyJob {
                mer_order_id: job.mer_order_id.clone(),
                attempt: job.attempt + 1,
                due_ms: now_unix_ms()
                    .saturating_add(i64::try_from(delay.as_millis()).unwrap_or(i64::MAX)),
            })
        };
        if let Err(error) = self.store.reschedule_notify(&job, next).await {
            tracing::warn!(%error, mer_order_id = %job.mer_order_id, "paysim: cannot reschedule notify");
        }
    }

    /// One delivery attempt; true when the merchant answered `SUCCESS`.
    async fn send(&self, order: &SimOrder) -> bool {
        if roll(self.faults.read().drop_notify_rate) {
            tracing::debug!(mer_order_id = %order.mer_order_id, "paysim: notify dropped by fault");
            return false;
        }
        let sign = self
            .config
            .notify_signing
            .for_order(self.requested.get(&order.mer_order_id));
        let fields = notify_fields(order, &self.config.mer_name, &self.config.notify_key, sign);
        let outcome = self
            .http
            .post(&order.notify_url)
            .timeout(self.config.notify_timeout)
            .form(&fields)
            .send()
            .await;
        let response = match outcome {
            Ok(response) => response,
            Err(error) => {
                tracing::debug!(%error, mer_order_id = %order.mer_order_id, "paysim: notify not delivered");
                return false;
            }
        };
        let status = response.status();
        let body = response.text().await.unwrap_or_default();
        let accepted = status.is_success() && body.trim() == "SUCCESS";
        tracing::debug!(mer_order_id = %order.mer_order_id, %status, accepted, "paysim: notify sent");
        accepted
    }
}
