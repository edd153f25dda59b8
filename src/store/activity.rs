//! The activity platform's trees. The platform's read-check-write steps run on the store's
//! writer thread, one at a time; each write here is one atomic [`Change`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{be, decode, encode, read_be, Change, Store, StoreError};
use crate::activity::model::{Activity, Apply, ApplyStatus};
use crate::domain::{MemberRef, OrderNo};

/// Typed access to the activity trees. Cheap to clone.
#[derive(Clone)]
pub struct ActivityStore {
    store: Store,
    activities: sled::Tree,
    applies: sled::Tree,
    member_applies: sled::Tree,
    apply_deadlines: sled::Tree,
    order_applies: sled::Tree,
    refund_deadlines: sled::Tree,
    waitlist: sled::Tree,
    /// How many wait per activity: the `waitlist` tree counted once at open, then kept by
    /// each written change (see [`ActivityStore::stage`]), so `detail.waitlist` and a new
    /// waiter's position cost no scan of the queue (on the writer thread, for the latter).
    waitlist_counts: Arc<Mutex<HashMap<u64, u32>>>,
    /// Member-index entries of released applies with when they were released (Unix s),
    /// oldest first, for [`ActivityStore::sweep_released`]. Only in memory: after a crash
    /// the last seconds' entries stay until their member's next accepted apply drops them
    /// ([`ActivityStore::unindex_released`]); readers skip them by status meanwhile.
    released: Arc<Mutex<VecDeque<(u64, MemberKey)>>>,
    /// The applies that have a reservation-deadline entry (the `apply_deadlines` tree's ids,
    /// read at open, then kept by each written change): waiters given a seat, and fresh
    /// reservations that run longer than the walk waits for, whose deadlines are out of
    /// their ids' order. Any other fresh reservation has none: its deadline is its creation
    /// plus the TTL, in id order, and [`ActivityStore::expired_pending`] finds it by walking
    /// the applies from `reservations_walked`.
    with_deadline_entry: Arc<Mutex<HashSet<u64>>>,
    /// No apply below this id is pending without a deadline entry (see
    /// `with_deadline_entry`): where the reservation sweep's walk of the applies goes on.
    /// Kept in `meta`.
    reservations_walked: Arc<AtomicU64>,
    meta: sled::Tree,
    next_activity_id: Arc<AtomicU64>,
    next_apply_id: Arc<AtomicU64>,
}

/// Applies and activities to write together.
#[derive(Default)]
pub struct ActivityWrite<'a> {
    /// Activities whose counters changed (or new ones).
    pub activities: Vec<&'a Activity>,
    /// Applies as they are now (new or changed).
    pub applies: Vec<&'a Apply>,
    /// Orders closed before anything was bound to them: a late `applyOrderCreate` for one
    /// of them is refused, so no seat is bound to an order that is gone.
    pub tombstones: Vec<&'a OrderNo>,
}

/// How long after its release an apply's member-index entry is swept
/// ([`ActivityStore::sweep_released`]): past the burst of closes at a flash sale's deadline
/// that released it, as the order center's deadline index is swept.
pub const RELEASED_SWEEP_LAG_SECS: u64 = 5;

/// A member-index key: activity ‖ company ‖ member ‖ apply.
type MemberKey = [u8; 32];

fn member_key(activity_id: u64, owner: MemberRef, apply_id: u64) -> MemberKey {
    let mut key = [0u8; 32];
    key[..24].copy_from_slice(&member_prefix(activity_id, owner));
    key[24..].copy_from_slice(&be(apply_id));
    key
}

fn member_prefix(activity_id: u64, owner: MemberRef) -> [u8; 24] {
    let mut key = [0u8; 24];
    key[..8].copy_from_slice(&be(activity_id));
    key[8..16].copy_from_slice(&be(owner.company_id));
    key[16..].copy_from_slice(&be(owner.member_id));
    key
}

/// The `meta` key of where the reservation walk goes on (`ActivityStore`'s
/// `reservations_walked`).
const RESERVATIONS_WALKED: &[u8] = b"reservations_walked_below";

/// Applies one call of [`ActivityStore::expired_pending`] walks at most: about 1.5 ms of
/// the writer thread (1.4 µs an apply, BENCHMARKS.md), so no request waits long behind it.
const RESERVATION_WALK_PAGE: usize = 1024;

fn deadline_key(expires_at: u64, apply_id: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&be(expires_at));
    key[8..].copy_from_slice(&be(apply_id));
    key
}

/// The waitlist key: activity ‖ apply id. Apply ids grow with time, so the queue is in the
/// order the waiters applied: first come, first served.
fn waitlist_key(activity_id: u64, apply_id: u64) -> [u8; 16] {
    let mut key = [0u8; 16];
    key[..8].copy_from_slice(&be(activity_id));
    key[8..].copy_from_slice(&be(apply_id));
    key
}

fn next_id(tree: &sled::Tree) -> Result<u64, StoreError> {
    Ok(match tree.last()? {
        Some((key, _)) => read_be(&key)? + 1,
        None => 1,
    })
}

impl ActivityStore {
    /// Opens the trees. Blocking.
    pub fn open(store: &Store) -> Result<Self, StoreError> {
        let activities = store.tree("activities")?;
        let applies = store.tree("applies")?;
        let waitlist = store.tree("waitlist")?;
        let mut counts: HashMap<u64, u32> = HashMap::new();
        for entry in waitlist.iter() {
            let (key, _) = entry?;
            let activity_id = read_be(key.get(..8).unwrap_or_default())?;
            *counts.entry(activity_id).or_default() += 1;
        }
        let apply_deadlines = store.tree("apply_deadlines")?;
        let mut with_deadline_entry = HashSet::new();
        for entry in apply_deadlines.iter() {
            let (key, _) = entry?;
            with_deadline_entry.insert(read_be(key.get(8..).unwrap_or_default())?);
        }
        let meta = store.tree("meta")?;
        let walked = match meta.get(RESERVATIONS_WALKED)? {
            Some(bytes) => read_be(&bytes)?,
            None => 0,
        };
        Ok(Self {
            next_activity_id: Arc::new(AtomicU64::new(next_id(&activities)?)),
            next_apply_id: Arc::new(AtomicU64::new(next_id(&applies)?.max(10_001))),
            store: store.clone(),
            activities,
            applies,
            member_applies: store.tree("member_applies")?,
            apply_deadlines,
            order_applies: store.tree("order_applies")?,
            refund_deadlines: store.tree("refund_deadlines")?,
            waitlist,
            waitlist_counts: Arc::new(Mutex::new(counts)),
            released: Arc::default(),
            with_deadline_entry: Arc::new(Mutex::new(with_deadline_entry)),
            reservations_walked: Arc::new(AtomicU64::new(walked)),
            meta,
        })
    }

    /// The store these trees live in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// A fresh activity id.
    pub fn next_activity_id(&self) -> u64 {
        self.next_activity_id.fetch_add(1, Ordering::Relaxed)
    }

    /// A fresh apply id.
    pub fn next_apply_id(&self) -> u64 {
        self.next_apply_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Whether any activity exists. Blocking.
    pub fn has_activities(&self) -> Result<bool, StoreError> {
        Ok(!self.activities.is_empty())
    }

    /// One activity. Blocking.
    pub fn activity(&self, id: u64) -> Result<Option<Activity>, StoreError> {
        self.activities.get(be(id))?.map(|v| decode(&v)).transpose()
    }

    /// Until when (Unix s) an owner may ask for a refund of what they paid for the activity:
    /// the `refund_deadline` it was saved with (0: always), else its `start_time` (0:
    /// always). Kept in a tree of its own, so stored activities keep their layout. Blocking.
    pub fn refund_deadline(&self, activity: &Activity) -> Result<Option<u64>, StoreError> {
        let deadline = match self.refund_deadlines.get(be(activity.id))? {
            Some(bytes) => read_be(&bytes)?,
            None => activity.start_time,
        };
        Ok((deadline > 0).then_some(deadline))
    }

    /// Stages the `refund_deadline` (0: always) an activity was saved with.
    pub fn stage_refund_deadline(&self, change: &mut Change, activity_id: u64, deadline: u64) {
        change.insert(
            &self.refund_deadlines,
            be(activity_id),
            be(deadline).to_vec(),
        );
    }

    /// One apply. Blocking.
    pub fn apply(&self, id: u64) -> Result<Option<Apply>, StoreError> {
        self.applies.get(be(id))?.map(|v| decode(&v)).transpose()
    }

    /// The member's applies for an activity that hold a seat (pending, ordered or
    /// registered) or wait for one, and those released in the last seconds or before a
    /// crash (which callers skip by status, and the next apply drops from the index with
    /// [`ActivityStore::unindex_released`]): so this reads at most `per_member_limit` applies
    /// and the few released since, however long the member's history. Blocking.
    pub fn member_applies(
        &self,
        activity_id: u64,
        owner: MemberRef,
    ) -> Result<Vec<Apply>, StoreError> {
        let mut found = Vec::new();
        for entry in self
            .member_applies
            .scan_prefix(member_prefix(activity_id, owner))
        {
            let (key, _) = entry?;
            let id = read_be(key.get(24..).unwrap_or_default())?;
            if let Some(apply) = self.apply(id)? {
                found.push(apply);
            }
        }
        Ok(found)
    }

    /// Drops released applies from the member index (a release leaves its entry, for the
    /// sweep or the member's next accepted apply to drop here): staged into `change`. On
    /// the writer thread.
    pub fn unindex_released(&self, change: &mut Change, applies: &[&Apply]) {
        for apply in applies {
            change.remove(
                &self.member_applies,
                member_key(apply.activity_id, apply.owner, apply.id),
            );
        }
    }

    /// Whether an apply released before `before` (Unix s) has its member-index entry left
    /// for [`ActivityStore::sweep_released`]: O(1), so an idle sweep costs no change.
    pub fn released_before(&self, before: u64) -> bool {
        self.released
            .lock()
            .front()
            .is_some_and(|(at, _)| *at < before)
    }

    /// Removes the member-index entries of applies released before `before` (Unix s), up to
    /// `limit` of them, in one atomic change: what a release left
    /// ([`ActivityStore::stage`]). Returns how many it was due to remove (some may have
    /// gone with their member's next apply already) and whether more are due.
    /// Inside a [`Store::write`] change only (the writer thread).
    pub fn sweep_released(&self, before: u64, limit: usize) -> Result<(usize, bool), StoreError> {
        let (due, more): (Vec<(u64, MemberKey)>, bool) = {
            let mut released = self.released.lock();
            let count = released
                .iter()
                .take(limit)
                .take_while(|(at, _)| *at < before)
                .count();
            let due = released.drain(..count).collect();
            let more = released.front().is_some_and(|(at, _)| *at < before);
            (due, more)
        };
        if due.is_empty() {
            return Ok((0, false));
        }
        let mut change = Change::new();
        for (_, key) in &due {
            change.remove(&self.member_applies, key);
        }
        if let Err(error) = self.store.apply(change) {
            let mut released = self.released.lock();
            for entry in due.into_iter().rev() {
                released.push_front(entry);
            }
            return Err(error);
        }
        Ok((due.len(), more))
    }

    /// How many entries the member index holds for a member and an activity (what
    /// [`ActivityStore::member_applies`] reads). Blocking.
    pub fn member_index_len(
        &self,
        activity_id: u64,
        owner: MemberRef,
    ) -> Result<usize, StoreError> {
        let mut count = 0;
        for entry in self
            .member_applies
            .scan_prefix(member_prefix(activity_id, owner))
        {
            entry?;
            count += 1;
        }
        Ok(count)
    }

    /// Whether the order was closed before anything was bound to it (an empty binding).
    /// Blocking.
    pub fn is_tombstoned(&self, order_no: &OrderNo) -> Result<bool, StoreError> {
        match self.order_applies.get(order_no.as_str())? {
            Some(ids) => Ok(decode::<Vec<u64>>(&ids)?.is_empty()),
            None => Ok(false),
        }
    }

    /// The applies bound to an order. Blocking.
    pub fn order_applies(&self, order_no: &OrderNo) -> Result<Vec<Apply>, StoreError> {
        let Some(ids) = self.order_applies.get(order_no.as_str())? else {
            return Ok(Vec::new());
        };
        let ids: Vec<u64> = decode(&ids)?;
        let mut found = Vec::with_capacity(ids.len());
        for id in ids {
            if let Some(apply) = self.apply(id)? {
                found.push(apply);
            }
        }
        Ok(found)
    }

    /// The first `count` waiters of an activity, first come first. Blocking (on the writer
    /// thread, for a promotion). An activity nobody waits for is answered from the count
    /// alone: every close and refund asks, and a sled range scan costs more than the rest of
    /// the seat's release. On the writer thread the count and the tree both reflect exactly
    /// the changes before this one.
    pub fn first_waiters(&self, activity_id: u64, count: usize) -> Result<Vec<Apply>, StoreError> {
        if self.waitlist_len(activity_id) == 0 {
            return Ok(Vec::new());
        }
        let mut found = Vec::with_capacity(count.min(64));
        for entry in self.waitlist.scan_prefix(be(activity_id)).take(count) {
            let (key, _) = entry?;
            let id = read_be(key.get(8..).unwrap_or_default())?;
            if let Some(apply) = self.apply(id)? {
                found.push(apply);
            }
        }
        Ok(found)
    }

    /// How many wait for a seat of the activity, as last written: O(1).
    pub fn waitlist_len(&self, activity_id: u64) -> u32 {
        self.waitlist_counts
            .lock()
            .get(&activity_id)
            .copied()
            .unwrap_or(0)
    }

    /// Where a waiting apply is in its activity's queue (1 = next), `None` if it does not
    /// wait. Blocking, and O(place): it counts the keys ahead. It is never on the writer
    /// thread (a new waiter's place is [`ActivityStore::waitlist_len`]); an exact O(1) place
    /// under `cancelApply` from the middle would need an order-statistic index, not built.
    pub fn waitlist_position(&self, apply: &Apply) -> Result<Option<u32>, StoreError> {
        if apply.status != ApplyStatus::Waitlisted {
            return Ok(None);
        }
        let ahead = self
            .waitlist
            .range(waitlist_key(apply.activity_id, 0)..waitlist_key(apply.activity_id, apply.id))
            .count();
        Ok(Some(
            u32::try_from(ahead).unwrap_or(u32::MAX).saturating_add(1),
        ))
    }

    /// Pending applies whose reservation ran out at or before `now`, up to `limit`: those
    /// with a deadline entry (waiters given a seat), then fresh ones found by walking the
    /// applies in id order from where the last walk stopped to the first fresh reservation
    /// still running (a fresh one's deadline is its creation plus the TTL, so those after
    /// it run longer). Returns them with what the scan found: pass it to
    /// [`ActivityStore::stage_reservation_scan`] with their release. Each apply is walked
    /// past once, so this costs a read per apply instead of a deadline entry's insert and
    /// removal.
    ///
    /// A fresh reservation running longer than `ttl` from `now` (made under a longer TTL
    /// before a restart, or while the wall clock ran ahead) would hold the walk back for
    /// all after it: it is given a deadline entry instead, and walked past. One still within
    /// `ttl` (a clock stepped back by seconds) holds it back at most that long: late, never
    /// early. Inside a [`Store::write`] change only (the writer thread).
    pub fn expired_pending(
        &self,
        now: u64,
        ttl: u64,
        limit: usize,
    ) -> Result<(Vec<Apply>, ReservationScan), StoreError> {
        let from = self.reservations_walked.load(Ordering::Relaxed);
        let mut scan = ReservationScan {
            from,
            below: from,
            caught_up: true,
            to_index: Vec::new(),
            stale: Vec::new(),
        };
        let mut due = Vec::new();
        for entry in self
            .apply_deadlines
            .range(..deadline_key(now.saturating_add(1), 0))
            .take(limit)
        {
            let (key, _) = entry?;
            let id = read_be(key.get(8..).unwrap_or_default())?;
            match self.apply(id)? {
                Some(apply) if apply.status == ApplyStatus::Pending => due.push(apply),
                // Never left by a write (an entry goes when its apply stops pending), but
                // one left would stand in every later scan's way: dropped.
                _ => scan.stale.push((key.to_vec(), id)),
            }
        }
        // The second after `now` too: a fresh apply made as the scan was called.
        let longest = now.saturating_add(ttl).saturating_add(1);
        let indexed = self.with_deadline_entry.lock();
        for (looked, entry) in self.applies.range(be(from)..).enumerate() {
            if looked == RESERVATION_WALK_PAGE || due.len() >= limit {
                scan.caught_up = false;
                break;
            }
            let (key, value) = entry?;
            let id = read_be(&key)?;
            let apply: Apply = decode(&value)?;
            if apply.status == ApplyStatus::Pending && !indexed.contains(&id) {
                if apply.expires_at > longest {
                    scan.to_index.push((apply.expires_at, id));
                } else if apply.expires_at > now {
                    break;
                } else {
                    due.push(apply);
                }
            }
            scan.below = id.saturating_add(1);
        }
        Ok((due, scan))
    }

    /// Stages what [`ActivityStore::expired_pending`] found, with the release of the
    /// applies it returned: where the walk goes on next (it passed those), the deadline
    /// entries of fresh reservations that run too long for it, and the removal of stale
    /// entries.
    pub fn stage_reservation_scan(&self, change: &mut Change, scan: &ReservationScan) {
        for (key, _) in &scan.stale {
            change.remove(&self.apply_deadlines, key);
        }
        for &(expires_at, id) in &scan.to_index {
            change.insert(
                &self.apply_deadlines,
                deadline_key(expires_at, id),
                Vec::new(),
            );
        }
        self.track_deadline_entries(
            change,
            scan.to_index.iter().map(|&(_, id)| id).collect(),
            scan.stale.iter().map(|&(_, id)| id).collect(),
        );
        if scan.below > scan.from {
            change.insert(&self.meta, RESERVATIONS_WALKED, be(scan.below).to_vec());
            let cursor = Arc::clone(&self.reservations_walked);
            let below = scan.below;
            change.after_apply(move || {
                cursor.fetch_max(below, Ordering::Relaxed);
            });
        }
    }

    /// Keeps `with_deadline_entry` as the tree will be once `change` is applied: the applies
    /// whose deadline entry it adds (`entered`) and removes (`left`).
    fn track_deadline_entries(&self, change: &mut Change, entered: Vec<u64>, left: Vec<u64>) {
        if entered.is_empty() && left.is_empty() {
            return;
        }
        let indexed = Arc::clone(&self.with_deadline_entry);
        change.after_apply(move || {
            let mut indexed = indexed.lock();
            for id in left {
                indexed.remove(&id);
            }
            indexed.extend(entered);
        });
    }

    /// Writes activities and applies atomically, keeping the indexes: member → applies
    /// (while an apply holds a seat or waits, and once released until
    /// [`ActivityStore::sweep_released`] or the member's next accepted apply), the
    /// reservation-deadline index (present while a waiter given a seat is pending: a
    /// fresh reservation is found by [`ActivityStore::expired_pending`]'s walk), the
    /// waitlist (present exactly while an apply waits) and order → applies. Inside a
    /// [`Store::write`] change only (the writer thread).
    pub fn write(&self, change: ActivityWrite<'_>) -> Result<(), StoreError> {
        let mut staged = Change::new();
        self.stage(&mut staged, change)?;
        self.store.apply(staged)
    }

    /// Adds what [`ActivityStore::write`] writes to `write`, for a caller that writes more
    /// with it in one atomic change.
    pub fn stage(&self, write: &mut Change, change: ActivityWrite<'_>) -> Result<(), StoreError> {
        let activities = change
            .activities
            .iter()
            .map(|a| Ok((be(a.id), encode(*a)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let applies = change
            .applies
            .iter()
            .map(|a| Ok((*a, encode(*a)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        let mut bindings: Vec<(OrderNo, Vec<u64>)> = Vec::new();
        for apply in &change.applies {
            if let (ApplyStatus::Ordered, Some(order_no)) = (apply.status, &apply.order_no) {
                match bindings.iter_mut().find(|(no, _)| no == order_no) {
                    Some((_, ids)) => ids.push(apply.id),
                    None => bindings.push((order_no.clone(), vec![apply.id])),
                }
            }
        }
        let empty: Vec<u64> = Vec::new();
        for order_no in &change.tombstones {
            bindings.push(((*order_no).clone(), empty.clone()));
        }
        let bindings = bindings
            .into_iter()
            .map(|(no, ids)| Ok((no, encode(&ids)?)))
            .collect::<Result<Vec<_>, StoreError>>()?;
        for (key, value) in activities {
            write.insert(&self.activities, key, value);
        }
        let mut joined_or_left: HashMap<u64, i64> = HashMap::new();
        let mut released: Vec<MemberKey> = Vec::new();
        let (mut entered, mut left): (Vec<u64>, Vec<u64>) = (Vec::new(), Vec::new());
        let has_entry = |id: u64| self.with_deadline_entry.lock().contains(&id);
        for (apply, value) in applies {
            write.insert(&self.applies, be(apply.id), value);
            let queued = waitlist_key(apply.activity_id, apply.id);
            // On the writer thread the tree is as the changes before left it: whether this
            // change adds or drops a queue entry is exact. A waiter leaves the queue only as
            // pending (promoted) or cancelled, so an apply that has had an order is not
            // looked up, and a queue entry that is not there is not removed (each costs sled
            // a walk down the tree, on every create and close).
            let queued_now = match apply.status {
                _ if apply.order_no.is_some() => false,
                ApplyStatus::Waitlisted | ApplyStatus::Pending | ApplyStatus::Cancelled => {
                    self.waitlist.contains_key(queued)?
                }
                ApplyStatus::Ordered | ApplyStatus::Registered => false,
            };
            let delta = match (apply.status, queued_now) {
                (ApplyStatus::Waitlisted, false) => 1,
                (ApplyStatus::Pending | ApplyStatus::Cancelled, true) => -1,
                _ => 0,
            };
            if delta != 0 {
                *joined_or_left.entry(apply.activity_id).or_default() += delta;
            }
            let deadline = deadline_key(apply.expires_at, apply.id);
            match (apply.status, queued_now) {
                (ApplyStatus::Waitlisted, false) => {
                    write.insert(&self.waitlist, queued, Vec::new())
                }
                (ApplyStatus::Pending | ApplyStatus::Cancelled, true) => {
                    write.remove(&self.waitlist, queued)
                }
                _ => {}
            }
            match apply.status {
                ApplyStatus::Pending => {
                    // Written while the apply is new (pending), or promoted from the queue.
                    write.insert(
                        &self.member_applies,
                        member_key(apply.activity_id, apply.owner, apply.id),
                        Vec::new(),
                    );
                    // A waiter's deadline is out of its id's order: it gets an entry. A
                    // fresh reservation is found by the walk of the applies instead
                    // ([`ActivityStore::expired_pending`]).
                    if queued_now || has_entry(apply.id) {
                        write.insert(&self.apply_deadlines, deadline, Vec::new());
                        entered.push(apply.id);
                    }
                }
                ApplyStatus::Waitlisted => {
                    write.insert(
                        &self.member_applies,
                        member_key(apply.activity_id, apply.owner, apply.id),
                        Vec::new(),
                    );
                }
                // A deadline entry (a waiter's, or a long reservation's) goes when an order
                // is bound; an apply with none, or that has had an order (registered, or
                // released after its order ended), has nothing to remove, and sled would walk
                // the tree to find that out.
                ApplyStatus::Ordered => {
                    if has_entry(apply.id) {
                        write.remove(&self.apply_deadlines, deadline);
                        left.push(apply.id);
                    }
                }
                ApplyStatus::Registered => {}
                // A released apply's member entry stays for a few seconds, for
                // [`ActivityStore::sweep_released`] to remove in pages, unless the member's
                // next apply for the activity drops it first
                // ([`ActivityStore::unindex_released`]): removing it here sent sled to a
                // leaf of a large tree nothing else touched, on every close (a third of a
                // close at a shared deadline, with the deadline index's removal;
                // BENCHMARKS.md).
                ApplyStatus::Cancelled => {
                    released.push(member_key(apply.activity_id, apply.owner, apply.id));
                    if apply.order_no.is_none() && has_entry(apply.id) {
                        write.remove(&self.apply_deadlines, deadline);
                        left.push(apply.id);
                    }
                }
            }
        }
        for (order_no, ids) in bindings {
            write.insert(&self.order_applies, order_no.as_str(), ids);
        }
        self.track_deadline_entries(write, entered, left);
        if !released.is_empty() {
            let queue = Arc::clone(&self.released);
            write.after_apply(move || {
                let now = crate::domain::time::now_secs();
                queue
                    .lock()
                    .extend(released.into_iter().map(|key| (now, key)));
            });
        }
        if !joined_or_left.is_empty() {
            let counts = Arc::clone(&self.waitlist_counts);
            write.after_apply(move || {
                let mut counts = counts.lock();
                for (activity_id, delta) in joined_or_left {
                    let count = counts.entry(activity_id).or_default();
                    *count = u32::try_from(i64::from(*count) + delta).unwrap_or(0);
                }
            });
        }
        Ok(())
    }
}

/// What a scan of [`ActivityStore::expired_pending`] found besides the applies due: where
/// its walk started and stopped, and the index entries to add or drop.
#[derive(Debug, Clone)]
pub struct ReservationScan {
    from: u64,
    below: u64,
    /// Whether it stopped at a running reservation or the last apply (else at its page's
    /// end or the limit of what one call releases, and a next call goes on).
    pub caught_up: bool,
    /// Fresh reservations that run too long for the walk to wait for: (deadline, apply id).
    to_index: Vec<(u64, u64)>,
    /// Deadline entries whose apply is not pending: (key, apply id).
    stale: Vec<(Vec<u8>, u64)>,
}

impl ReservationScan {
    /// Whether it changes anything: passed an apply, or found entries to add or drop.
    pub fn progressed(&self) -> bool {
        self.below > self.from || !self.to_index.is_empty() || !self.stale.is_empty()
    }
}

/// What the indexes hold, by apply id (for tests of the invariants [`ActivityStore::stage`]
/// keeps).
#[cfg(test)]
#[derive(Debug, Default, PartialEq, Eq)]
pub struct IndexedApplies {
    /// In the reservation-deadline index.
    pub with_deadline: std::collections::BTreeSet<u64>,
    /// In the waitlist.
    pub waiting: std::collections::BTreeSet<u64>,
    /// In the member index.
    pub of_members: std::collections::BTreeSet<u64>,
}

#[cfg(test)]
impl ActivityStore {
    /// Where the walk of fresh reservations goes on.
    pub fn reservations_walked(&self) -> u64 {
        self.reservations_walked.load(Ordering::Relaxed)
    }

    /// Gives a pending apply a reservation-deadline entry, as every pending apply had before
    /// fresh ones were found by the walk. Inside a [`Store::write`] change only.
    pub fn index_deadline_as_before(&self, apply: &Apply) -> Result<(), StoreError> {
        let mut change = Change::new();
        change.insert(
            &self.apply_deadlines,
            deadline_key(apply.expires_at, apply.id),
            Vec::new(),
        );
        self.store.apply(change)
    }

    /// Every apply with its status, and what the indexes hold.
    pub fn indexed(&self) -> (Vec<Apply>, IndexedApplies) {
        let ids = |tree: &sled::Tree, at: usize| {
            tree.iter()
                .keys()
                .map(|key| read_be(&key.expect("key")[at..]).expect("apply id"))
                .collect()
        };
        let applies = self
            .applies
            .iter()
            .values()
            .map(|value| decode(&value.expect("value")).expect("apply"))
            .collect();
        let indexed = IndexedApplies {
            with_deadline: ids(&self.apply_deadlines, 8),
            waiting: ids(&self.waitlist, 8),
            of_members: ids(&self.member_applies, 24),
        };
        (applies, indexed)
    }
}
