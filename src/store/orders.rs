//! Orders, the deadline index, each member's orders (newest first) and the order-number
//! high mark.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use super::outbox::{Delivered, OutboxEntry, OutboxStore, OUTBOX_TREE};
use super::{be, decode, encode, read_be, Change, Store, StoreError};
use crate::domain::order_no::RESERVED_BODIES;
use crate::domain::{Happened, HistoryEntry, MemberRef, Order, OrderNo, OrderStatus};

const META_ORDER_NO_HIGH: &[u8] = b"order_no_high";
/// How long after their deadline the entries of orders closed then stay in the deadline
/// index, for [`OrderStore::sweep_deadlines`]: the closes of one deadline take up to a few
/// seconds for 100 000 orders, and the sweep should not compete with them for the writer.
pub const DEADLINE_SWEEP_LAG_SECS: u64 = 5;
const META_ROW_ID: &[u8] = b"row_id_high";
/// Present once every order written before the member index existed is in it.
const META_MEMBER_INDEX: &[u8] = b"member_orders_indexed";
/// Index entries one page of [`OrderStore::member_orders_page`] reads at most, so a page
/// costs the same however long the member's history and however few orders match.
const MEMBER_PAGE_SCAN: usize = 1000;
/// Orders indexed per durable change while a store written before the index is indexed.
const INDEX_CHUNK: usize = 1000;
/// Row ids are reserved in blocks: the persisted mark runs ahead of the ids handed out, so
/// it is written once per block rather than with every order (a restart skips the rest).
const ROW_ID_BLOCK: u64 = 4096;

/// What an `Idempotency-Key` was first used for.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct IdempotencyRecord {
    /// The order it created.
    pub parent_order_no: OrderNo,
    /// [`crate::domain::order::CreateRequest::fingerprint`] of the first request.
    pub fingerprint: [u8; 32],
    /// When (Unix s).
    pub created_at: u64,
}

fn idempotency_key(owner: MemberRef, key: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(16 + key.len());
    bytes.extend_from_slice(&be(owner.company_id));
    bytes.extend_from_slice(&be(owner.member_id));
    bytes.extend_from_slice(key.as_bytes());
    bytes
}

/// The member index key: company ‖ member ‖ the order's row id (big-endian: row ids grow,
/// so the newest order sorts last).
fn member_order_key(owner: MemberRef, row_id: u64) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..16].copy_from_slice(&member_prefix(owner));
    key[16..].copy_from_slice(&be(row_id));
    key
}

fn member_prefix(owner: MemberRef) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&be(owner.company_id));
    key[8..].copy_from_slice(&be(owner.member_id));
    key
}

/// One page of a member's orders, newest first.
#[derive(Debug, Default)]
pub struct MemberOrdersPage {
    /// The orders.
    pub orders: Vec<Order>,
    /// Where the next page starts (the row id to read before), `None` on the last page.
    pub next: Option<u64>,
}

/// Typed access to the order trees. Cheap to clone.
#[derive(Clone)]
pub struct OrderStore {
    store: Store,
    idempotency: sled::Tree,
    orders: sled::Tree,
    /// Child → parent numbers, written by layouts up to 4; read only by [`OrderStore::inspect`].
    order_nos: sled::Tree,
    deadlines: sled::Tree,
    member_orders: sled::Tree,
    outbox: sled::Tree,
    meta: sled::Tree,
    next_outbox_seq: Arc<AtomicU64>,
    next_row_id: Arc<AtomicU64>,
    /// The marks as last written to `meta` (the writer thread keeps them; no read per write).
    persisted_order_no_high: Arc<AtomicU64>,
    persisted_row_id_high: Arc<AtomicU64>,
    /// Where the last whole sweep of the deadline index ended (Unix s): no entry below it
    /// is stale, so the next sweep starts there ([`OrderStore::sweep_deadlines`]).
    swept_below: Arc<AtomicU64>,
}

/// An order and the notices the outbox delivered for it: everything its history shows.
#[derive(Clone, Debug)]
pub struct InspectedOrder {
    /// The order, with its history.
    pub order: Order,
    /// Notices the outbox delivered (recorded beside the order, not in it).
    pub delivered: Vec<Delivered>,
}

impl InspectedOrder {
    /// The order's history with the outbox's deliveries merged in, oldest first.
    pub fn history(&self) -> Vec<HistoryEntry> {
        let mut all = self.order.history.clone();
        all.extend(self.delivered.iter().map(|delivered| HistoryEntry {
            at_ms: delivered.at_ms,
            what: Happened::NoticeAcknowledged(delivered.order_status),
        }));
        // Stable: entries of one millisecond keep the order they were recorded in.
        all.sort_by_key(|entry| entry.at_ms);
        all
    }
}

/// A change to write with an order in one atomic, durable step.
pub struct OrderWrite<'a> {
    /// The order as it is now.
    pub order: &'a Order,
    /// A notification for the business subsystem, written with the order (the outbox).
    pub notify: Option<OutboxEntry>,
    /// The order's first record: also claims the request's `Idempotency-Key` and enters the
    /// order in its member's index.
    pub first: bool,
}

impl OrderStore {
    /// Opens the trees. Blocking.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        let outbox = store.tree(OUTBOX_TREE)?;
        let next_outbox_seq = match outbox.last()? {
            Some((key, _)) => read_be(&key)? + 1,
            None => 1,
        };
        let meta = store.tree("meta")?;
        let persisted_order_no_high = order_no_high(&meta)?;
        let next_row_id = match meta.get(META_ROW_ID)? {
            Some(bytes) => read_be(&bytes)? + 1,
            None => 1,
        };
        Ok(Self {
            store: store.clone(),
            idempotency: store.tree("idempotency")?,
            orders: store.tree("orders")?,
            order_nos: store.tree("order_nos")?,
            deadlines: store.tree("deadlines")?,
            member_orders: store.tree("member_orders")?,
            outbox,
            meta,
            next_outbox_seq: Arc::new(AtomicU64::new(next_outbox_seq)),
            next_row_id: Arc::new(AtomicU64::new(next_row_id)),
            persisted_order_no_high: Arc::new(AtomicU64::new(persisted_order_no_high)),
            persisted_row_id_high: Arc::new(AtomicU64::new(next_row_id - 1)),
            swept_below: Arc::new(AtomicU64::new(0)),
        })
    }

    /// The store these trees live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The order-number body every number issued so far is at or below (a reservation past the
    /// last one issued, see [`RESERVED_BODIES`]; 0 on an empty store). Blocking.
    pub fn order_no_high(&self) -> Result<u64, StoreError> {
        order_no_high(&self.meta)
    }

    /// Reserves `count` row ids (for `id` fields). The high mark is written with the next
    /// order write, so ids are not reused after a restart.
    pub fn next_row_ids(&self, count: u64) -> u64 {
        self.next_row_id.fetch_add(count, Ordering::Relaxed)
    }

    /// Reads one order. Blocking.
    pub fn get(&self, parent_order_no: &OrderNo) -> Result<Option<Order>, StoreError> {
        match self.orders.get(parent_order_no.as_str())? {
            Some(bytes) => Ok(Some(decode_order(&bytes)?)),
            None => Ok(None),
        }
    }

    /// What `key` was first used for by `owner`. Blocking.
    pub fn idempotency(
        &self,
        owner: MemberRef,
        key: &str,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        match self.idempotency.get(idempotency_key(owner, key))? {
            Some(bytes) => Ok(Some(decode(&bytes)?)),
            None => Ok(None),
        }
    }

    /// Async [`OrderStore::idempotency`].
    pub async fn load_idempotency(
        &self,
        owner: MemberRef,
        key: String,
    ) -> Result<Option<IdempotencyRecord>, StoreError> {
        let this = self.clone();
        self.store
            .blocking(move || this.idempotency(owner, &key))
            .await
    }

    /// Records that `key` (of `owner`) answered with an existing order — the caller's unpaid
    /// order its SKUs were already bound to — so a replay of the key gets that order again
    /// and a reuse with other parameters is refused, even after that order ended. The caller
    /// holds the key's turn and found no record of it, or one of an order never shown (a
    /// creation given up), which this replaces. Durable when it returns.
    pub async fn claim_idempotency(
        &self,
        owner: MemberRef,
        key: String,
        record: IdempotencyRecord,
    ) -> Result<(), StoreError> {
        let tree = self.idempotency.clone();
        self.store
            .write(move || {
                tree.insert(idempotency_key(owner, &key), encode(&record)?)?;
                Ok(())
            })
            .await
    }

    /// Removes the idempotency records written before `before` (Unix s), looking at up to
    /// `limit` records after the key `after`; returns how many it removed and the key to
    /// go on after (`None`: the end). A record replaced meanwhile (a key claimed again) is
    /// kept: removal compares the value. Not flushed: a removal a crash undoes is redone
    /// by the next sweep, and an expired record is ignored anyway. Blocking.
    pub fn sweep_idempotency(
        &self,
        before: u64,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(u64, Option<Vec<u8>>), StoreError> {
        let mut removed = 0;
        let mut last = None;
        let mut seen = 0;
        for entry in self.idempotency.range(keys_after(after)) {
            let (key, value) = entry?;
            seen += 1;
            let record: IdempotencyRecord = decode(&value)?;
            if record.created_at < before
                && self
                    .idempotency
                    .compare_and_swap(&key, Some(&value), None::<&[u8]>)?
                    .is_ok()
            {
                removed += 1;
            }
            if seen >= limit {
                last = Some(key.to_vec());
                break;
            }
        }
        Ok((removed, last))
    }

    /// Up to `limit` orders after the key `after` whose payment attempt started in
    /// `[since, until)` (Unix s), and the key to go on after (`None`: the end). Reads every
    /// order (the attempt's time is not indexed): for reconciliation, an occasional job.
    /// Blocking.
    pub fn payments_page(
        &self,
        since: u64,
        until: u64,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(Vec<Order>, Option<Vec<u8>>), StoreError> {
        let mut found = Vec::new();
        let mut seen = 0;
        for entry in self.orders.range(keys_after(after)) {
            let (key, value) = entry?;
            seen += 1;
            let order = decode_order(&value)?;
            let started = order.payment.as_ref().map(|payment| payment.started_at);
            if started.is_some_and(|at| at >= since && at < until) {
                found.push(order);
            }
            if seen >= limit {
                return Ok((found, Some(key.to_vec())));
            }
        }
        Ok((found, None))
    }

    /// A key that splits the deadline index in two by time (halfway between its first and
    /// last deadline), so that recovery reads both halves at once: `None` when it is
    /// empty. Not a key of the index itself, so both halves can be bounded by it. Blocking.
    pub fn live_split(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let (Some((first, _)), Some((last, _))) = (self.deadlines.first()?, self.deadlines.last()?)
        else {
            return Ok(None);
        };
        let second = |key: &[u8]| {
            key.get(..8)
                .ok_or_else(|| StoreError::Corrupt("deadline key".into()))
                .and_then(read_be)
        };
        let (first, last) = (second(&first)?, second(&last)?);
        Ok(Some(be(first + (last - first) / 2 + 1).to_vec()))
    }

    /// Up to `limit` orders that need an actor (creating, unpaid, or a refund to confirm),
    /// from the deadline index after the index key `after` (from the start for `None`) and
    /// before `until` (to the end for `None`), and the key to continue after (`None` at the
    /// end). Never an empty page before the end. Blocking.
    pub fn live_orders_page(
        &self,
        after: Option<&[u8]>,
        until: Option<&[u8]>,
        limit: usize,
    ) -> Result<(Vec<Order>, Option<Vec<u8>>), StoreError> {
        let mut live = Vec::with_capacity(limit.min(8192));
        let mut after = after.map(<[u8]>::to_vec);
        loop {
            let mut wanted = Vec::with_capacity(limit.min(8192));
            let mut next = None;
            let (from, _) = keys_after(after.as_deref());
            let to = match until {
                Some(key) => std::ops::Bound::Excluded(key.to_vec()),
                None => std::ops::Bound::Unbounded,
            };
            for entry in self.deadlines.range((from, to)) {
                let (key, _) = entry?;
                let parent = deadline_key_order(&key)?;
                wanted.push(parent);
                if wanted.len() >= limit.saturating_sub(live.len()).max(1) {
                    next = Some(key.to_vec());
                    break;
                }
            }
            self.read_live(wanted, &mut live)?;
            match next {
                Some(key) if live.len() < limit => after = Some(key),
                next => return Ok((live, next)),
            }
        }
    }

    /// Adds to `live` those of the orders `wanted` that need an actor (an index entry whose
    /// order moved on is stale, dropped on its next write). Read in key order with one range
    /// scan of the orders tree, which walks each leaf once, where one `get` per order walked
    /// the tree from its root every time (a `get` was two thirds of reading a page at
    /// recovery). The live orders are the recent ones, and order numbers grow with time, so
    /// the range holds few others; when it holds many (an old order with a refund still
    /// pending, say), the rest are read one by one.
    fn read_live(&self, mut wanted: Vec<OrderNo>, live: &mut Vec<Order>) -> Result<(), StoreError> {
        wanted.sort_unstable();
        wanted.dedup();
        let (Some(first), Some(last)) = (wanted.first(), wanted.last()) else {
            return Ok(());
        };
        let mut keep = |order: Order| {
            if order.needs_actor() {
                live.push(order);
            }
        };
        let mut pending = wanted.iter().peekable();
        // Orders in the range not asked for that the scan may step over before reading the
        // rest one by one.
        let mut skip_budget = wanted.len();
        for entry in self.orders.range(first.as_str()..=last.as_str()) {
            let (key, value) = entry?;
            while pending
                .next_if(|no| no.as_str().as_bytes() < &key[..])
                .is_some()
            {}
            match pending.peek() {
                Some(no) if no.as_str().as_bytes() == &key[..] => {
                    pending.next();
                    keep(decode_order(&value)?);
                }
                Some(_) if skip_budget > 0 => skip_budget -= 1,
                _ => break,
            }
        }
        for no in pending {
            if let Some(order) = self.get(no)? {
                keep(order);
            }
        }
        Ok(())
    }

    /// Writes an order (and its outbox entry) atomically: the order, with its first record
    /// the `Idempotency-Key` claim and the member index entry, the deadline index (present
    /// exactly while the order is live), the row-id and order-number high marks.
    /// Inside a [`Store::write`] change only (as [`OrderStore::write_durable`] does), which
    /// makes it durable before anyone acknowledges it.
    pub fn write(&self, change: OrderWrite<'_>) -> Result<(), StoreError> {
        let mut staged = Change::new();
        self.stage(&mut staged, change)?;
        self.store.apply(staged)
    }

    /// Adds what [`OrderStore::write`] writes to `staged`, for a caller that writes more
    /// with it in one atomic change.
    pub fn stage(&self, staged: &mut Change, write: OrderWrite<'_>) -> Result<(), StoreError> {
        let order = write.order;
        let value = encode_order(order)?;
        let deadline_key = deadline_key(order.deadline(), &order.parent_order_no);
        let outbox_value = match &write.notify {
            Some(entry) => Some((
                self.next_outbox_seq.fetch_add(1, Ordering::Relaxed),
                encode(entry)?,
            )),
            None => None,
        };
        let row_high = self.next_row_id.load(Ordering::Relaxed).saturating_sub(1);
        // The key is claimed with the order's first record, in the same change.
        let claim = match (&order.request.idempotency_key, write.first) {
            (Some(key), true) => Some((
                idempotency_key(order.request.owner, key),
                encode(&IdempotencyRecord {
                    parent_order_no: order.parent_order_no.clone(),
                    fingerprint: order.request.fingerprint(),
                    created_at: order.c_time,
                })?,
            )),
            _ => None,
        };
        if let Some((key, record)) = claim {
            staged.insert(&self.idempotency, key, record);
        }
        staged.insert(&self.orders, order.parent_order_no.as_str(), value);
        if write.first {
            staged.insert(
                &self.member_orders,
                member_order_key(order.request.owner, order.id),
                order.parent_order_no.as_str().as_bytes(),
            );
        }
        if order.needs_actor() {
            staged.insert(&self.deadlines, &deadline_key, Vec::new());
        } else if !self.left_for_sweep(order) {
            staged.remove(&self.deadlines, &deadline_key);
        }
        if let Some((seq, entry)) = outbox_value {
            staged.insert(&self.outbox, be(seq), entry);
            // Numbers are handed out on the writer thread, in the order changes are applied,
            // and a flush makes every change applied before it durable: once this one is,
            // so is every entry below it.
            let durable = Arc::clone(self.store.outbox_durable_below());
            staged.after_flush(move || {
                durable.fetch_max(seq + 1, Ordering::Release);
            });
        }
        // The cached marks move only once the change is written: a change that fails must
        // not make the next ones skip writing a mark that never reached the disk.
        let body = order.parent_order_no.body();
        if body > self.persisted_order_no_high.load(Ordering::Relaxed) {
            // A reservation: the next process numbers after it (see RESERVED_BODIES).
            let reserved = body.saturating_add(RESERVED_BODIES);
            staged.insert(&self.meta, META_ORDER_NO_HIGH, be(reserved).to_vec());
            let cached = self.persisted_order_no_high.clone();
            staged.after_apply(move || {
                cached.fetch_max(reserved, Ordering::Relaxed);
            });
        }
        if row_high > self.persisted_row_id_high.load(Ordering::Relaxed) {
            let reserved = row_high + ROW_ID_BLOCK;
            staged.insert(&self.meta, META_ROW_ID, be(reserved).to_vec());
            let cached = self.persisted_row_id_high.clone();
            staged.after_apply(move || {
                cached.fetch_max(reserved, Ordering::Relaxed);
            });
        }
        Ok(())
    }

    /// Whether the ended `order`'s deadline index entry is left for
    /// [`OrderStore::sweep_deadlines`]: when it ends at its deadline or up to
    /// [`DEADLINE_SWEEP_LAG_SECS`] after. Thousands of orders close at one deadline in a
    /// flash sale, and removing each entry then took sled a walk and, every few entries, a
    /// merge of emptied leaves: a fifth of each close (BENCHMARKS.md). The sweep removes
    /// them a few seconds later, a page per change. Orders that end before their deadline
    /// (paid, cancelled), or long after it, remove theirs at once, so the only stale
    /// entries (which recovery reads and skips) are those of the last seconds' expiries.
    ///
    /// No sweep misses one: a sweep started at `t` looks below `t − LAG`, and an entry left
    /// at time `now` has a deadline of at least `now − LAG`, so either the sweep started
    /// after it was left (and finds it), or its deadline is above the sweep's range.
    fn left_for_sweep(&self, order: &Order) -> bool {
        let now = crate::domain::time::now_secs();
        let deadline = order.deadline();
        deadline <= now && deadline.saturating_add(DEADLINE_SWEEP_LAG_SECS) >= now
    }

    /// Removes the deadline index's entries below `before` (Unix s) whose orders no longer
    /// need an actor (those [`OrderStore::left_for_sweep`] left): up to `limit` entries
    /// after the index key `after` (from where the last whole sweep ended for `None`), in
    /// one atomic change. Returns how many it removed and the key to go on after (`None`
    /// once it reached `before`). Inside a [`Store::write`] change only.
    pub fn sweep_deadlines(
        &self,
        before: u64,
        after: Option<&[u8]>,
        limit: usize,
    ) -> Result<(usize, Option<Vec<u8>>), StoreError> {
        let from = match after {
            Some(key) => std::ops::Bound::Excluded(key.to_vec()),
            None => {
                std::ops::Bound::Included(be(self.swept_below.load(Ordering::Relaxed)).to_vec())
            }
        };
        let to = std::ops::Bound::Excluded(be(before).to_vec());
        let mut change = Change::new();
        let mut looked = 0;
        let mut last = None;
        let mut removed = 0;
        for entry in self.deadlines.range((from, to)).take(limit) {
            let (key, _) = entry?;
            looked += 1;
            let parent = deadline_key_order(&key)?;
            if !self.get(&parent)?.is_some_and(|order| order.needs_actor()) {
                change.remove(&self.deadlines, &key);
                removed += 1;
            }
            last = Some(key.to_vec());
        }
        let next = if looked < limit { None } else { last };
        if next.is_none() {
            // The next sweep starts here: every entry left below is a live order's, and
            // goes with its last write (its deadline is long past by then).
            let swept = Arc::clone(&self.swept_below);
            change.after_apply(move || {
                swept.fetch_max(before, Ordering::Relaxed);
            });
        }
        self.store.apply(change)?;
        Ok((removed, next))
    }

    /// Writes on the writer thread and waits until the write is durable.
    pub async fn write_durable(
        &self,
        order: Order,
        notify: Option<OutboxEntry>,
    ) -> Result<(), StoreError> {
        let this = self.clone();
        self.store
            .write(move || {
                this.write(OrderWrite {
                    first: order.status == OrderStatus::Creating,
                    order: &order,
                    notify,
                })
            })
            .await
    }

    /// Up to `limit` of `owner`'s orders that were handed out, newest first, older than the
    /// row id `before` (from the newest for `None`), with `order_status` `status` when
    /// given. Reads at most [`MEMBER_PAGE_SCAN`] index entries: a page may come back short
    /// (even empty) with a `next` to go on from. Blocking.
    pub fn member_orders_page(
        &self,
        owner: MemberRef,
        before: Option<u64>,
        status: Option<u8>,
        limit: usize,
    ) -> Result<MemberOrdersPage, StoreError> {
        let start = member_order_key(owner, 0);
        let end = member_order_key(owner, before.unwrap_or(u64::MAX));
        let mut page = MemberOrdersPage::default();
        // The row id of the last order listed (or, once the scan budget ran out on a short
        // page, of the last entry read): where the next page starts.
        let mut last = None;
        for (scanned, entry) in self.member_orders.range(start..end).rev().enumerate() {
            if scanned >= MEMBER_PAGE_SCAN {
                // Out of budget with entries left: maybe more to list.
                page.next = last;
                break;
            }
            let (key, parent) = entry?;
            let row_id = read_be(key.get(16..).unwrap_or_default())?;
            let parent = std::str::from_utf8(&parent)
                .ok()
                .and_then(|text| OrderNo::parse(text).ok())
                .ok_or_else(|| StoreError::Corrupt("member index value".into()))?;
            let shown = self.get(&parent)?.filter(|order| {
                order.status.is_visible() && status.is_none_or(|code| order.status.code() == code)
            });
            match shown {
                // The page is full and one more would be listed: there is a next page.
                Some(_) if page.orders.len() >= limit => {
                    page.next = last;
                    break;
                }
                Some(order) => {
                    page.orders.push(order);
                    last = Some(row_id);
                }
                // Read, not listed: a short page that ran out of budget goes on from here.
                None if page.orders.len() < limit => last = Some(row_id),
                None => {}
            }
        }
        Ok(page)
    }

    /// Async [`OrderStore::member_orders_page`].
    pub async fn load_member_orders(
        &self,
        owner: MemberRef,
        before: Option<u64>,
        status: Option<u8>,
        limit: usize,
    ) -> Result<MemberOrdersPage, StoreError> {
        let this = self.clone();
        self.store
            .blocking(move || this.member_orders_page(owner, before, status, limit))
            .await
    }

    /// Puts every order written before the member index existed into it (a store of an
    /// earlier version), a chunk per durable change, then marks the store indexed; a crash
    /// midway starts again (the entries are the same). At start-up, before any request.
    pub async fn index_members(&self) -> Result<usize, StoreError> {
        let this = self.clone();
        let indexed = self
            .store
            .blocking(move || Ok(this.meta.get(META_MEMBER_INDEX)?.is_some()))
            .await?;
        if indexed {
            return Ok(0);
        }
        let mut after: Option<Vec<u8>> = None;
        let mut total = 0;
        loop {
            let this = self.clone();
            let from = after.clone();
            let (count, last) = self
                .store
                .write(move || this.index_chunk(from.as_deref()))
                .await?;
            total += count;
            match last {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        if total > 0 {
            tracing::info!(orders = total, "indexed the orders of each member");
        }
        Ok(total)
    }

    /// One chunk of [`OrderStore::index_members`] after the order key `after`, on the
    /// writer thread: how many were indexed and the last key (`None`: done, marked).
    fn index_chunk(&self, after: Option<&[u8]>) -> Result<(usize, Option<Vec<u8>>), StoreError> {
        use std::ops::Bound;
        let from = match after {
            Some(key) => Bound::Excluded(key.to_vec()),
            None => Bound::Unbounded,
        };
        let mut change = Change::new();
        let mut count = 0;
        let mut last = None;
        for entry in self
            .orders
            .range::<Vec<u8>, _>((from, Bound::Unbounded))
            .take(INDEX_CHUNK)
        {
            let (key, value) = entry?;
            let order = decode_order(&value)?;
            change.insert(
                &self.member_orders,
                member_order_key(order.request.owner, order.id),
                order.parent_order_no.as_str().as_bytes(),
            );
            count += 1;
            last = Some(key.to_vec());
        }
        if count < INDEX_CHUNK {
            change.insert(&self.meta, META_MEMBER_INDEX, Vec::new());
            last = None;
        }
        self.store.apply(change)?;
        Ok((count, last))
    }

    /// One order and the notices the outbox delivered for it, by its `parent_order_no` or
    /// its (child) `order_no`, for `GET /admin/orders/…` and `ordercenter inspect`.
    /// Blocking.
    pub fn inspect(
        &self,
        outbox: &OutboxStore,
        number: &OrderNo,
    ) -> Result<Option<InspectedOrder>, StoreError> {
        let Some(order) = self.find(number)? else {
            return Ok(None);
        };
        let delivered = outbox.delivered(&order.parent_order_no)?;
        Ok(Some(InspectedOrder { order, delivered }))
    }

    /// The order whose parent or child number is `number`. A child number shares its
    /// parent's 15-digit body under another 4-digit prefix; the parent prefix is the
    /// service's `msg_src_id`, which an offline tool does not know, so the prefixes of the
    /// first and last stored orders are tried (one unless the setting changed), then the
    /// child → parent mapping that stores written before this build still hold. Blocking.
    fn find(&self, number: &OrderNo) -> Result<Option<Order>, StoreError> {
        if let Some(order) = self.get(number)? {
            return Ok(Some(order));
        }
        let mut prefixes = Vec::new();
        for entry in [self.orders.first()?, self.orders.last()?]
            .into_iter()
            .flatten()
        {
            let prefix = std::str::from_utf8(&entry.0)
                .ok()
                .and_then(|key| key.get(..4))
                .and_then(|prefix| prefix.parse::<u16>().ok());
            if let Some(prefix) = prefix.filter(|prefix| !prefixes.contains(prefix)) {
                prefixes.push(prefix);
            }
        }
        for prefix in prefixes {
            let parent = OrderNo::compose(prefix, number.body());
            if let Some(order) = self.get(&parent)?.filter(|order| &order.order_no == number) {
                return Ok(Some(order));
            }
        }
        let Some(parent) = self.order_nos.get(number.as_str())? else {
            return Ok(None);
        };
        let parent = std::str::from_utf8(&parent)
            .ok()
            .and_then(|text| OrderNo::parse(text).ok())
            .ok_or_else(|| StoreError::Corrupt("order_nos value".into()))?;
        self.get(&parent)
    }

    /// Reads one order off the async worker.
    pub async fn load(&self, parent_order_no: OrderNo) -> Result<Option<Order>, StoreError> {
        let this = self.clone();
        self.store
            .blocking(move || this.get(&parent_order_no))
            .await
    }
}

/// An order's stored value: the order (bincode, without its history), then its history
/// (bincode), so that a record written before the history existed — the order alone —
/// still reads, with an empty history. Costs no sled operation: the history is carried in
/// the record each change writes anyway.
fn encode_order(order: &Order) -> Result<Vec<u8>, StoreError> {
    let mut value = encode(order)?;
    if !order.history.is_empty() {
        value.extend(encode(&order.history)?);
    }
    Ok(value)
}

/// Reads [`encode_order`]'s value.
pub(crate) fn decode_order(bytes: &[u8]) -> Result<Order, StoreError> {
    let (mut order, read): (Order, usize) =
        bincode::serde::decode_from_slice(bytes, super::bincode_config())?;
    if let Some(rest) = bytes.get(read..).filter(|rest| !rest.is_empty()) {
        let (history, used): (Vec<HistoryEntry>, usize) =
            bincode::serde::decode_from_slice(rest, super::bincode_config())?;
        if used != rest.len() {
            return Err(StoreError::Corrupt(format!(
                "order {}: {} bytes after its history",
                order.parent_order_no,
                rest.len() - used
            )));
        }
        order.history = history;
    }
    Ok(order)
}

/// The keys after `after` (all of them for `None`): where a page of a walk goes on.
fn keys_after(after: Option<&[u8]>) -> (std::ops::Bound<Vec<u8>>, std::ops::Bound<Vec<u8>>) {
    use std::ops::Bound;
    let from = match after {
        Some(key) => Bound::Excluded(key.to_vec()),
        None => Bound::Unbounded,
    };
    (from, Bound::Unbounded)
}

fn order_no_high(meta: &sled::Tree) -> Result<u64, StoreError> {
    match meta.get(META_ORDER_NO_HIGH)? {
        Some(bytes) => read_be(&bytes),
        None => Ok(0),
    }
}

fn deadline_key(deadline: u64, parent: &OrderNo) -> Vec<u8> {
    let mut key = Vec::with_capacity(8 + 19);
    key.extend_from_slice(&be(deadline));
    key.extend_from_slice(parent.as_str().as_bytes());
    key
}

/// The order a [`deadline_key`] is for.
fn deadline_key_order(key: &[u8]) -> Result<OrderNo, StoreError> {
    key.get(8..)
        .and_then(|raw| std::str::from_utf8(raw).ok())
        .and_then(|text| OrderNo::parse(text).ok())
        .ok_or_else(|| StoreError::Corrupt("deadline key".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::order::sample;
    use crate::domain::{Fen, OrderEvent};
    use crate::store::StoreConfig;

    const ALICE: MemberRef = MemberRef {
        company_id: 421,
        member_id: 1,
    };
    const BOB: MemberRef = MemberRef {
        company_id: 421,
        member_id: 2,
    };

    /// Opens the store (blocking, as start-up does it: off the async worker).
    async fn open(dir: &std::path::Path) -> (Store, OrderStore) {
        let config = StoreConfig::for_tests(dir);
        tokio::task::spawn_blocking(move || {
            let store = Store::open(&config).expect("store opens");
            let orders = OrderStore::open(&store).expect("trees open");
            (store, orders)
        })
        .await
        .expect("joined")
    }

    /// Order `n` of `owner`: row id `n`, its own numbers, first written as created.
    fn order(owner: MemberRef, n: u64, status: OrderStatus) -> Order {
        let mut order = sample(owner, Fen(1), status);
        order.id = n;
        order.parent_order_no = OrderNo::compose(2013, 1000 + n);
        order.order_no = OrderNo::compose(3001, 1000 + n);
        order
    }

    async fn close(store: Store, orders: OrderStore) {
        drop(orders);
        tokio::task::spawn_blocking(move || store.close())
            .await
            .expect("joined")
            .expect("closes");
    }

    async fn write_first(orders: &OrderStore, order: Order) {
        let this = orders.clone();
        orders
            .store()
            .write(move || {
                this.write(OrderWrite {
                    order: &order,
                    notify: None,
                    first: true,
                })
            })
            .await
            .expect("written");
    }

    #[tokio::test]
    async fn an_outbox_entry_is_handed_out_only_once_its_change_is_on_disk() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, orders) = open(dir.path()).await;
        let outbox = OutboxStore::open(&store).expect("outbox opens");
        let order = order(ALICE, 1, OrderStatus::Closed);
        let entry = OutboxEntry {
            business_type: 3001,
            order_no: order.order_no.clone(),
            parent_order_no: order.parent_order_no.clone(),
            order_status: crate::domain::OrderOutcome::Closed,
            created_at: 1,
        };
        let (writes, reads) = (orders.clone(), outbox.clone());
        let before_the_flush = store
            .write(move || {
                writes.write(OrderWrite {
                    order: &order,
                    notify: Some(entry),
                    first: true,
                })?;
                // Applied, in the tree, not yet flushed: a crash now would take it back.
                reads.pending(0, 10)
            })
            .await
            .expect("written");
        assert!(
            before_the_flush.is_empty(),
            "an entry not yet on disk was handed out"
        );
        let after = outbox.load_pending(0, 10).await.expect("read");
        assert_eq!(after.len(), 1, "the durable entry is handed out");
        drop(outbox);
        close(store, orders).await;
    }

    #[tokio::test]
    async fn expiries_leave_their_deadline_entry_to_the_sweep_and_nothing_else_does() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, orders) = open(dir.path()).await;
        let now = crate::domain::time::now_secs();
        let due = |n: u64, deadline: u64| {
            let mut order = order(ALICE, n, OrderStatus::Unpaid);
            order.c_time = deadline - 60;
            order.overdue_secs = 60;
            order
        };
        // Closed at its deadline: left. Paid before it, closed long after it: removed.
        // Still live although overdue: kept.
        let expired = due(1, now - 1);
        let paid_early = due(2, now + 300);
        let closed_late = due(3, now - 600);
        let live = due(4, now - 30);
        for order in [&expired, &paid_early, &closed_late, &live] {
            write_first(&orders, order.clone()).await;
        }
        let end = |mut order: Order, status| {
            order.status = status;
            let this = orders.clone();
            orders.store().write(move || {
                this.write(OrderWrite {
                    order: &order,
                    notify: None,
                    first: false,
                })
            })
        };
        end(expired.clone(), OrderStatus::Closed)
            .await
            .expect("closed");
        end(paid_early.clone(), OrderStatus::Paid)
            .await
            .expect("paid");
        end(closed_late.clone(), OrderStatus::Closed)
            .await
            .expect("closed");
        let indexed = |orders: &OrderStore| -> Vec<String> {
            orders
                .deadlines
                .iter()
                .keys()
                .map(|key| String::from_utf8(key.expect("key")[8..].to_vec()).expect("text"))
                .collect()
        };
        assert_eq!(
            indexed(&orders),
            vec![
                live.parent_order_no.to_string(),
                expired.parent_order_no.to_string()
            ],
            "only the expiry left its entry"
        );

        // A page of one entry at a time, as far as `now + 1`: the expiry's entry goes,
        // the live order's stays, and the next sweep starts past them.
        let mut after: Option<Vec<u8>> = None;
        let mut removed = 0;
        let mut pages = 0;
        loop {
            let this = orders.clone();
            let from = after.take();
            let (gone, next) = orders
                .store()
                .write(move || this.sweep_deadlines(now + 1, from.as_deref(), 1))
                .await
                .expect("swept");
            removed += gone;
            pages += 1;
            match next {
                Some(key) => after = Some(key),
                None => break,
            }
        }
        assert_eq!((removed, pages), (1, 3));
        assert_eq!(indexed(&orders), vec![live.parent_order_no.to_string()]);
        assert_eq!(orders.swept_below.load(Ordering::Relaxed), now + 1);
        close(store, orders).await;
    }

    fn numbers(page: &MemberOrdersPage) -> Vec<u64> {
        page.orders.iter().map(|o| o.id).collect()
    }

    /// Every live order comes once, a page at a time, however the deadlines and numbers of
    /// the live orders and the ended ones between them interleave: a dense run of numbers
    /// (read with one scan) and a sparse one (mostly ended orders: read one by one).
    #[tokio::test]
    async fn recovery_pages_hold_every_live_order_once() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, orders) = open(dir.path()).await;
        let mut expected = Vec::new();
        for n in 1..=60 {
            // 1–20 and 60 live, 21–59 paid: the last page's range is mostly ended orders.
            let live = n <= 20 || n == 60;
            let status = if live {
                OrderStatus::Unpaid
            } else {
                OrderStatus::Paid
            };
            let mut order = order(ALICE, n, status);
            // Deadlines in another order than the numbers.
            order.c_time += (n * 7) % 11;
            if live {
                expected.push(n);
            }
            write_first(&orders, order).await;
        }
        let split = orders
            .live_split()
            .unwrap()
            .expect("a split of a non-empty index");
        type Range = (Option<Vec<u8>>, Option<Vec<u8>>);
        let whole: [Range; 1] = [(None, None)];
        let halves: [Range; 2] = [(None, Some(split.clone())), (Some(split), None)];
        for limit in [1, 3, 8, 100] {
            for ranges in [&whole[..], &halves[..]] {
                let mut seen = Vec::new();
                for (start, until) in ranges {
                    let mut after = start.clone();
                    loop {
                        let (page, next) = orders
                            .live_orders_page(after.as_deref(), until.as_deref(), limit)
                            .unwrap();
                        assert!(
                            page.len() <= limit,
                            "a page of {} for limit {limit}",
                            page.len()
                        );
                        assert!(
                            !page.is_empty() || next.is_none(),
                            "an empty page before the end"
                        );
                        seen.extend(page.iter().map(|o| o.id));
                        match next {
                            Some(key) => after = Some(key),
                            None => break,
                        }
                    }
                }
                seen.sort_unstable();
                assert_eq!(seen, expected, "limit {limit}, {} range(s)", ranges.len());
            }
        }
        close(store, orders).await;
    }

    #[tokio::test]
    async fn a_members_orders_come_newest_first_a_page_at_a_time_and_only_theirs() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, orders) = open(dir.path()).await;
        for n in 1..=5 {
            let status = if n == 3 {
                OrderStatus::Paid
            } else {
                OrderStatus::Unpaid
            };
            write_first(&orders, order(ALICE, n * 2, status)).await;
            write_first(&orders, order(BOB, n * 2 + 1, OrderStatus::Unpaid)).await;
        }
        // Never handed out: not listed.
        write_first(&orders, order(ALICE, 20, OrderStatus::Abandoned)).await;

        let first = orders.member_orders_page(ALICE, None, None, 2).unwrap();
        assert_eq!(numbers(&first), [10, 8]);
        let second = orders
            .member_orders_page(ALICE, first.next, None, 2)
            .unwrap();
        assert_eq!(numbers(&second), [6, 4]);
        let last = orders
            .member_orders_page(ALICE, second.next, None, 2)
            .unwrap();
        assert_eq!((numbers(&last), last.next), (vec![2], None));
        let paid = orders.member_orders_page(ALICE, None, Some(1), 20).unwrap();
        assert_eq!((numbers(&paid), paid.next), (vec![6], None));
        let nobody = MemberRef {
            company_id: 422,
            member_id: 1,
        };
        let none = orders.member_orders_page(nobody, None, None, 20).unwrap();
        assert!(none.orders.is_empty() && none.next.is_none());
        close(store, orders).await;
    }

    #[tokio::test]
    async fn orders_written_before_the_index_existed_are_indexed_once_at_start() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, orders) = open(dir.path()).await;
        let count = INDEX_CHUNK as u64 + 3;
        for n in 1..=count {
            write_first(&orders, order(ALICE, n, OrderStatus::Unpaid)).await;
        }
        // As a store of the previous version: no index, no mark.
        let this = orders.clone();
        store
            .write(move || {
                this.member_orders.clear()?;
                this.meta.remove(META_MEMBER_INDEX)?;
                Ok(())
            })
            .await
            .unwrap();
        assert!(orders
            .member_orders_page(ALICE, None, None, 1)
            .unwrap()
            .orders
            .is_empty());

        assert_eq!(orders.index_members().await.unwrap(), count as usize);
        assert_eq!(orders.index_members().await.unwrap(), 0, "indexed once");

        let page = orders.member_orders_page(ALICE, None, None, 3).unwrap();
        assert_eq!(numbers(&page), [count, count - 1, count - 2]);
        close(store, orders).await;
    }

    fn owner() -> MemberRef {
        MemberRef {
            company_id: 421,
            member_id: 32171,
        }
    }

    /// A record written before orders kept their history (the order alone) still reads,
    /// with an empty history.
    #[test]
    fn a_record_without_a_history_reads_as_an_order_with_none() {
        let order = sample(owner(), Fen(1), OrderStatus::Unpaid);
        let before = encode(&order).expect("encodes");

        let read = decode_order(&before).expect("decodes");

        assert_eq!(read, order);
        assert!(read.history.is_empty());
        assert_eq!(encode_order(&order).expect("encodes"), before);
    }

    #[test]
    fn the_history_is_stored_after_the_order_and_reads_back() {
        let mut order = sample(owner(), Fen(1), OrderStatus::Creating);
        order.record(1_747_279_526_001, Happened::Creating);
        order
            .apply_at(OrderEvent::Created, 1_747_279_526_002)
            .expect("created");
        order.record(
            1_747_279_527_000,
            Happened::Prepaid {
                prepay_id: "wx123".into(),
            },
        );

        let read = decode_order(&encode_order(&order).expect("encodes")).expect("decodes");

        assert_eq!(read, order);
        assert_eq!(read.history.len(), 3);
        assert_eq!(read.history[1].what, Happened::Status(OrderEvent::Created));
        // What an older build reads from the same bytes: the order, the history ignored.
        let (older, _): (Order, usize) = bincode::serde::decode_from_slice(
            &encode_order(&order).expect("encodes"),
            super::super::bincode_config(),
        )
        .expect("decodes");
        assert_eq!(older.status, OrderStatus::Unpaid);
    }

    #[test]
    fn a_damaged_history_is_an_error_not_an_empty_one() {
        let mut order = sample(owner(), Fen(1), OrderStatus::Unpaid);
        order.record(1, Happened::Creating);
        let whole = encode_order(&order).expect("encodes");

        let mut cut = whole.clone();
        cut.pop();
        assert!(decode_order(&cut).is_err(), "a history cut short");
        let mut longer = whole;
        longer.push(0);
        assert!(decode_order(&longer).is_err(), "bytes after the history");
    }
}
