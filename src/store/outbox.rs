//! The subsystem outbox: notifications (paid, closed, refunded) written in the same
//! transaction as the order change they report, deleted once the subsystem acknowledged.

use serde::{Deserialize, Serialize};

use super::{decode, read_be, Store, StoreError};
use crate::domain::{OrderNo, OrderOutcome};

/// Name of the outbox tree: big-endian sequence → bincode [`OutboxEntry`].
pub(crate) const OUTBOX_TREE: &str = "outbox";

/// One notification owed to a business subsystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutboxEntry {
    /// Which subsystem (`business_type`).
    pub business_type: u16,
    /// The child order number the subsystem knows.
    pub order_no: OrderNo,
    /// The parent order number.
    pub parent_order_no: OrderNo,
    /// How the order ended (stored as the seed's number, 1 paid, 2 closed, 3 refunded).
    pub order_status: OrderOutcome,
    /// When it was written (Unix s).
    pub created_at: u64,
}

/// Name of the tree of delivered notices: parent_order_no ‖ big-endian outbox sequence →
/// bincode [`Delivered`], for the order's history.
const DELIVERED_TREE: &str = "notices_delivered";

/// A notice the subsystem acknowledged, kept for the order's history.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Delivered {
    /// Which notice.
    pub order_status: OrderOutcome,
    /// When it was acknowledged (Unix ms).
    pub at_ms: u64,
}

/// Typed access to the outbox. Cheap to clone.
#[derive(Clone)]
pub struct OutboxStore {
    store: Store,
    tree: sled::Tree,
    delivered: sled::Tree,
}

impl OutboxStore {
    /// Opens the tree. Blocking.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            store: store.clone(),
            tree: store.tree(OUTBOX_TREE)?,
            delivered: store.tree(DELIVERED_TREE)?,
        })
    }

    /// Up to `limit` pending entries with a sequence number of at least `from`, of changes
    /// already on disk (an entry of a change applied but not yet flushed is not handed
    /// out: a crash could still take that change back). Blocking. An entry that cannot be
    /// read is left where it is for a person and logged at error level each time it is
    /// met; it does not hold up the others.
    pub fn pending(&self, from: u64, limit: usize) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        let durable_below = self
            .store
            .outbox_durable_below()
            .load(std::sync::atomic::Ordering::Acquire);
        let mut entries = Vec::new();
        for item in self.tree.range(from.to_be_bytes()..).take(limit) {
            let (key, value) = item?;
            let seq = read_be(&key)?;
            if seq >= durable_below {
                break;
            }
            match decode(&value) {
                Ok(entry) => entries.push((seq, entry)),
                Err(error) => {
                    tracing::error!(seq, %error, "outbox entry unreadable; skipped, left in place")
                }
            }
        }
        Ok(entries)
    }

    /// Deletes an acknowledged entry and records its delivery for the order's history. Not
    /// flushed on its own: if it comes back after a crash the notification is simply
    /// delivered (and recorded) again (subsystems are idempotent).
    pub fn remove(&self, seq: u64, entry: &OutboxEntry) -> Result<(), StoreError> {
        let mut key = Vec::with_capacity(27);
        key.extend_from_slice(entry.parent_order_no.as_str().as_bytes());
        key.extend_from_slice(&seq.to_be_bytes());
        let delivered = Delivered {
            order_status: entry.order_status,
            at_ms: crate::domain::time::now_millis(),
        };
        self.delivered.insert(key, super::encode(&delivered)?)?;
        self.tree.remove(seq.to_be_bytes())?;
        Ok(())
    }

    /// The notices of `parent` the outbox delivered, oldest first. Blocking.
    pub fn delivered(&self, parent: &OrderNo) -> Result<Vec<Delivered>, StoreError> {
        self.delivered
            .scan_prefix(parent.as_str().as_bytes())
            .values()
            .map(|value| decode(&value?))
            .collect()
    }

    /// How many notices wait (counting at most `limit`) and when the oldest was written
    /// (Unix s), for `/metrics`. Blocking.
    pub fn backlog(&self, limit: usize) -> Result<(u64, Option<u64>), StoreError> {
        let waiting = self.tree.iter().keys().take(limit).count() as u64;
        let oldest = match self.tree.first()? {
            Some((_, value)) => Some(decode::<OutboxEntry>(&value)?.created_at),
            None => None,
        };
        Ok((waiting, oldest))
    }

    /// Async [`OutboxStore::pending`].
    pub async fn load_pending(
        &self,
        from: u64,
        limit: usize,
    ) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        let this = self.clone();
        self.store.blocking(move || this.pending(from, limit)).await
    }

    /// Async [`OutboxStore::remove`].
    pub async fn acknowledge(&self, seq: u64, entry: OutboxEntry) -> Result<(), StoreError> {
        let this = self.clone();
        self.store.blocking(move || this.remove(seq, &entry)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The outcome is stored as the seed's number, one byte, as the `u8` it replaced: the
    /// entries of older stores read back unchanged.
    #[test]
    fn an_entry_encodes_its_outcome_as_the_seeds_number() {
        let no = OrderNo::compose(2013, 7);
        let entry = |order_status| OutboxEntry {
            business_type: 3001,
            order_no: no.clone(),
            parent_order_no: no.clone(),
            order_status,
            created_at: 1_700_000_000,
        };
        #[derive(Serialize)]
        struct Before {
            business_type: u16,
            order_no: OrderNo,
            parent_order_no: OrderNo,
            order_status: u8,
            created_at: u64,
        }
        for outcome in [
            OrderOutcome::Paid,
            OrderOutcome::Closed,
            OrderOutcome::Refunded,
        ] {
            let before = Before {
                business_type: 3001,
                order_no: no.clone(),
                parent_order_no: no.clone(),
                order_status: outcome.code(),
                created_at: 1_700_000_000,
            };
            let bytes = super::super::encode(&before).expect("encodes");
            assert_eq!(
                super::super::encode(&entry(outcome)).expect("encodes"),
                bytes
            );
            let read: OutboxEntry = decode(&bytes).expect("decodes");
            assert_eq!(read, entry(outcome));
        }
    }
}
