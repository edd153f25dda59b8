//! The payment simulator's own sled trees: it keeps its state like a real provider would,
//! independent of the order center's, and survives restarts.
//!
//! Layout:
//! - `paysim_orders`:   merOrderId → bincode [`SimOrder`] (refunds live inside their order,
//!   so an order and its refunds change atomically under one key)
//! - `paysim_prepays`:  prepay_id → merOrderId (for the checkout page)
//! - `paysim_notifies`: big-endian due time (Unix ms) ‖ merOrderId → bincode [`NotifyJob`]
//! - `paysim_meta`:     `rsa_private_key_pem` → the signing key generated on first start
//!
//! Read-modify-write of an order runs on the store's writer thread, so concurrent calls for
//! the same order (pay racing close) are serialized; every change is one atomic journaled
//! change, durable before [`PaySimStore::update`] returns.

use serde::{Deserialize, Serialize};
use sled::Tree;

use super::{be, decode, encode, read_be, Store, StoreError};

const KEY_PEM: &[u8] = b"rsa_private_key_pem";

/// State of a simulated provider order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum SimStatus {
    /// Placed; the buyer may pay until the deadline.
    WaitBuyerPay,
    /// Paid.
    Paid,
    /// Closed by the merchant or expired, unpaid.
    Closed,
    /// Paid, then refunded in full.
    Refunded,
}

/// The signed `wx.requestPayment` parameters, kept so a repeated unified order returns them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimPrepay {
    /// `wx` + DDHHmmss + 26 characters.
    pub prepay_id: String,
    /// The mini-program appId (`subAppId` of the request).
    pub app_id: String,
    /// Unix seconds as a string.
    pub time_stamp: String,
    /// 32 hex characters.
    pub nonce_str: String,
    /// base64 RSA signature.
    pub pay_sign: String,
}

/// A refund of a simulated order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimRefund {
    /// The merchant's refund id (idempotency key).
    pub refund_order_id: String,
    /// Fen.
    pub amount: u64,
    /// Unix seconds.
    pub requested_at: i64,
    /// Unix milliseconds from which the refund counts as done (`PROCESSING` before).
    pub completes_at_ms: i64,
    /// WeChat's id of the refund.
    pub refund_target_order_id: String,
}

/// A simulated provider order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct SimOrder {
    /// Merchant order id.
    pub mer_order_id: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type.
    pub inst_mid: String,
    /// Fen.
    pub total_amount: u64,
    /// Current state (expiry and refund completion are applied lazily, see `paysim`).
    pub status: SimStatus,
    /// Unix seconds.
    pub created_at: i64,
    /// Unix seconds after which it can no longer be paid.
    pub expire_at: Option<i64>,
    /// Where payment notifies go.
    pub notify_url: String,
    /// Payer's openid.
    pub sub_open_id: String,
    /// Description.
    pub order_desc: Option<String>,
    /// Provider serial number.
    pub seq_id: String,
    /// The payment parameters handed out.
    pub prepay: SimPrepay,
    /// Unix seconds, once paid.
    pub paid_at: Option<i64>,
    /// WeChat's transaction id, once paid.
    pub target_order_id: Option<String>,
    /// Unix seconds, once closed.
    pub closed_at: Option<i64>,
    /// Refunds, in request order.
    pub refunds: Vec<SimRefund>,
}

/// A payment notify still to be delivered.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotifyJob {
    /// The paid order.
    pub mer_order_id: String,
    /// Attempts made so far.
    pub attempt: u32,
    /// When the next attempt is due, Unix milliseconds.
    pub due_ms: i64,
}

/// What an [`PaySimStore::update`] closure decided.
pub struct Change<T> {
    /// The order to write, or `None` to leave the store as it is.
    pub order: Option<SimOrder>,
    /// A notify to schedule along with the write.
    pub notify: Option<NotifyJob>,
    /// What the caller gets back.
    pub output: T,
}

impl<T> Change<T> {
    /// Nothing to write.
    pub fn none(output: T) -> Self {
        Self {
            order: None,
            notify: None,
            output,
        }
    }

    /// Write `order`.
    pub fn write(order: SimOrder, output: T) -> Self {
        Self {
            order: Some(order),
            notify: None,
            output,
        }
    }
}

/// The simulator's trees. Cheap to clone.
#[derive(Clone)]
pub struct PaySimStore {
    store: Store,
    orders: Tree,
    prepays: Tree,
    notifies: Tree,
    meta: Tree,
}

impl PaySimStore {
    /// Opens the simulator's trees in `store`.
    pub async fn open(store: &Store) -> Result<Self, StoreError> {
        let opener = store.clone();
        let trees = store
            .blocking(move || {
                Ok((
                    opener.tree("paysim_orders")?,
                    opener.tree("paysim_prepays")?,
                    opener.tree("paysim_notifies")?,
                    opener.tree("paysim_meta")?,
                ))
            })
            .await?;
        let (orders, prepays, notifies, meta) = trees;
        Ok(Self {
            store: store.clone(),
            orders,
            prepays,
            notifies,
            meta,
        })
    }

    /// The order with this merOrderId, as stored.
    pub async fn order(&self, mer_order_id: &str) -> Result<Option<SimOrder>, StoreError> {
        let orders = self.orders.clone();
        let key = mer_order_id.as_bytes().to_vec();
        self.store
            .blocking(move || orders.get(key)?.map(|bytes| decode(&bytes)).transpose())
            .await
    }

    /// The order that handed out this prepay_id.
    pub async fn order_by_prepay(&self, prepay_id: &str) -> Result<Option<SimOrder>, StoreError> {
        let (orders, prepays) = (self.orders.clone(), self.prepays.clone());
        let key = prepay_id.as_bytes().to_vec();
        self.store
            .blocking(move || {
                let Some(mer_order_id) = prepays.get(key)? else {
                    return Ok(None);
                };
                orders
                    .get(mer_order_id)?
                    .map(|bytes| decode(&bytes))
                    .transpose()
            })
            .await
    }

    /// Reads the order, lets `decide` choose a change, writes it atomically (order, prepay
    /// index, notify job) and waits until it is durable. Runs on the store's writer thread,
    /// so calls are serialized and `decide` sees the latest state.
    pub async fn update<T, F>(&self, mer_order_id: &str, decide: F) -> Result<T, StoreError>
    where
        F: FnOnce(Option<SimOrder>) -> Change<T> + Send + 'static,
        T: Send + 'static,
    {
        let this = self.clone();
        let key = mer_order_id.as_bytes().to_vec();
        self.store
            .write(move || {
                let current = this
                    .orders
                    .get(&key)?
                    .map(|bytes| decode::<SimOrder>(&bytes))
                    .transpose()?;
                let change = decide(current);
                if let Some(order) = &change.order {
                    this.write(&key, order, change.notify.as_ref())?;
                }
                Ok(change.output)
            })
            .await
    }

    fn write(
        &self,
        key: &[u8],
        order: &SimOrder,
        job: Option<&NotifyJob>,
    ) -> Result<(), StoreError> {
        let value = encode(order)?;
        let prepay_key = order.prepay.prepay_id.as_bytes().to_vec();
        let job = job
            .map(|job| Ok::<_, StoreError>((notify_key(job), encode(job)?)))
            .transpose()?;
        let mut change = super::Change::new();
        change.insert(&self.orders, key, value);
        change.insert(&self.prepays, prepay_key, key);
        if let Some((job_key, job_value)) = job {
            change.insert(&self.notifies, job_key, job_value);
        }
        self.store.apply(change)
    }

    /// Up to `limit` notify jobs due at `now_ms`, earliest first.
    pub async fn due_notifies(
        &self,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<NotifyJob>, StoreError> {
        let notifies = self.notifies.clone();
        self.store
            .blocking(move || {
                let mut due = Vec::new();
                for entry in notifies.iter() {
                    let (key, value) = entry?;
                    if read_be(&key)? > u64::try_from(now_ms).unwrap_or(0) || due.len() >= limit {
                        break;
                    }
                    due.push(decode(&value)?);
                }
                Ok(due)
            })
            .await
    }

    /// When the earliest pending notify is due, Unix milliseconds.
    pub async fn next_notify_due(&self) -> Result<Option<i64>, StoreError> {
        let notifies = self.notifies.clone();
        self.store
            .blocking(move || match notifies.first()? {
                Some((key, _)) => Ok(Some(i64::try_from(read_be(&key)?).unwrap_or(i64::MAX))),
                None => Ok(None),
            })
            .await
    }

    /// Replaces a notify job by its next attempt, or drops it (`next` = `None`) once
    /// delivered or given up. Not waited for durably: a notify sent twice is harmless.
    pub async fn reschedule_notify(
        &self,
        done: &NotifyJob,
        next: Option<NotifyJob>,
    ) -> Result<(), StoreError> {
        let notifies = self.notifies.clone();
        let old_key = notify_key(done);
        let next = next
            .map(|job| Ok::<_, StoreError>((notify_key(&job), encode(&job)?)))
            .transpose()?;
        self.store
            .blocking(move || {
                // The next attempt first: a crash in between leaves a duplicate job (a
                // notify sent twice is harmless), never a lost one.
                if let Some((key, value)) = next {
                    notifies.insert(key, value)?;
                }
                notifies.remove(old_key)?;
                Ok(())
            })
            .await
    }

    /// The stored RSA private key (PEM), if one was generated before.
    pub async fn private_key_pem(&self) -> Result<Option<String>, StoreError> {
        let meta = self.meta.clone();
        self.store
            .blocking(move || {
                meta.get(KEY_PEM)?
                    .map(|bytes| {
                        String::from_utf8(bytes.to_vec())
                            .map_err(|_| StoreError::Corrupt("paysim key is not UTF-8".into()))
                    })
                    .transpose()
            })
            .await
    }

    /// Keeps `pem` as the key unless one is already stored; returns the key in effect
    /// (durable), so two processes racing on first start agree on one key.
    pub async fn keep_private_key_pem(&self, pem: String) -> Result<String, StoreError> {
        let meta = self.meta.clone();
        self.store
            .write(move || {
                match meta.compare_and_swap(KEY_PEM, None as Option<&[u8]>, Some(pem.as_bytes()))? {
                    Ok(()) => Ok(pem),
                    Err(existing) => existing
                        .current
                        .map(|bytes| String::from_utf8(bytes.to_vec()))
                        .transpose()
                        .map_err(|_| StoreError::Corrupt("paysim key is not UTF-8".into()))?
                        .ok_or_else(|| StoreError::Corrupt("paysim key vanished".into())),
                }
            })
            .await
    }
}

fn notify_key(job: &NotifyJob) -> Vec<u8> {
    let mut key = be(u64::try_from(job.due_ms).unwrap_or(0)).to_vec();
    key.extend_from_slice(job.mer_order_id.as_bytes());
    key
}
