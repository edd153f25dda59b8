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

/// Typed access to the outbox. Cheap to clone.
#[derive(Clone)]
pub struct OutboxStore {
    store: Store,
    tree: sled::Tree,
}

impl OutboxStore {
    /// Opens the tree. Blocking.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        Ok(Self {
            store: store.clone(),
            tree: store.tree(OUTBOX_TREE)?,
        })
    }

    /// Up to `limit` pending entries with a sequence number of at least `from`. Blocking.
    /// An entry that cannot be read is left where it is for a person and logged at error
    /// level each time it is met; it does not hold up the others.
    pub fn pending(&self, from: u64, limit: usize) -> Result<Vec<(u64, OutboxEntry)>, StoreError> {
        let mut entries = Vec::new();
        for item in self.tree.range(from.to_be_bytes()..).take(limit) {
            let (key, value) = item?;
            let seq = read_be(&key)?;
            match decode(&value) {
                Ok(entry) => entries.push((seq, entry)),
                Err(error) => {
                    tracing::error!(seq, %error, "outbox entry unreadable; skipped, left in place")
                }
            }
        }
        Ok(entries)
    }

    /// Deletes an acknowledged entry. Not flushed on its own: if it comes back after a crash
    /// the notification is simply delivered again (subsystems are idempotent).
    pub fn remove(&self, seq: u64) -> Result<(), StoreError> {
        self.tree.remove(seq.to_be_bytes())?;
        Ok(())
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
    pub async fn acknowledge(&self, seq: u64) -> Result<(), StoreError> {
        let this = self.clone();
        self.store.blocking(move || this.remove(seq)).await
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
