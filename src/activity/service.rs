//! The activity platform's rules. Every read-check-write step runs on the store's writer
//! thread, one at a time, and is answered after the group commit: seats can never be
//! oversold, and an answer is only given once it is on disk.

use super::model::{Activity, ActivityDetail, Apply, ApplyDetail, ApplyStatus};
use crate::codes;
use crate::domain::{time, Fen, MemberRef, OrderNo, OrderOutcome, SkuSlice};
use crate::store::activity::{ActivityStore, ActivityWrite};
use crate::store::{Change, StoreError};
use crate::subsystem::{
    AnsweredExtra, AnsweredItem, OrderCreateAnswer, OrderCreateCall, OrderNotifyCall,
    SubsystemError,
};

/// Why the platform said no.
#[derive(Debug, thiserror::Error)]
pub enum ActivityError {
    /// No such activity or apply, or not the caller's.
    #[error("activity or apply not found")]
    NotFound,
    /// Sign-up is not open.
    #[error("activity not open for sign-up")]
    NotOpen,
    /// No seats left.
    #[error("activity full")]
    Full,
    /// The member is registered (up to the per-member limit).
    #[error("already registered")]
    AlreadyRegistered,
    /// The member has an unpaid order for this activity.
    #[error("member has an unpaid order {parent_order_no}")]
    PendingOrder {
        /// The order to pay.
        parent_order_no: OrderNo,
        /// Its `business_id`.
        business_id: u64,
    },
    /// A field is missing or malformed; the text names it.
    #[error("{0}")]
    Invalid(String),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ActivityError {
    /// The business code of SPEC §2.
    pub fn code(&self) -> u64 {
        match self {
            ActivityError::NotFound => codes::ACTIVITY_NOT_FOUND,
            ActivityError::NotOpen => codes::ACTIVITY_NOT_OPEN,
            ActivityError::Full => codes::ACTIVITY_FULL,
            ActivityError::AlreadyRegistered => codes::ALREADY_REGISTERED,
            ActivityError::PendingOrder { .. } => codes::PENDING_ORDER,
            ActivityError::Invalid(_) => codes::INVALID_FIELD,
            ActivityError::Store(_) => codes::INTERNAL,
        }
    }

    /// The user-facing message.
    pub fn user_message(&self) -> String {
        match self {
            ActivityError::NotFound => "活动或报名不存在".into(),
            ActivityError::NotOpen => "活动未开放报名".into(),
            ActivityError::Full => "活动名额已满".into(),
            ActivityError::AlreadyRegistered => "您已报名该活动".into(),
            ActivityError::PendingOrder { .. } => "您有待支付的报名订单，请先完成支付".into(),
            ActivityError::Invalid(text) => text.clone(),
            ActivityError::Store(_) => "系统繁忙，请稍后再试".into(),
        }
    }

    /// The `data` that goes with the error (the order to pay for 4001009999).
    pub fn data(&self) -> Option<serde_json::Value> {
        match self {
            ActivityError::PendingOrder {
                parent_order_no,
                business_id,
            } => Some(serde_json::json!({
                "parent_order_no": parent_order_no.as_str(),
                "business_id": business_id,
                "stadium_id": 0,
            })),
            _ => None,
        }
    }
}

impl From<ActivityError> for SubsystemError {
    fn from(error: ActivityError) -> Self {
        match error {
            ActivityError::Store(inner) => SubsystemError::Unavailable(inner.to_string()),
            other => SubsystemError::Rejected {
                code: other.code(),
                message: other.user_message(),
                data: other.data(),
            },
        }
    }
}

/// A new activity (admin input; price in fen).
#[derive(Clone, Debug)]
pub struct NewActivity {
    /// Name.
    pub name: String,
    /// Price of one seat.
    pub price: Fen,
    /// Capacity.
    pub seats: u32,
    /// Sign-up opens (Unix s; 0 = now).
    pub start_time: u64,
    /// Sign-up closes (Unix s; 0 = never).
    pub end_time: u64,
    /// Live applies per member.
    pub per_member_limit: u32,
    /// Venue.
    pub stadium_name: String,
    /// Until when (Unix s) an owner may ask for a refund: `None` → `start_time`; 0 →
    /// always.
    pub refund_deadline: Option<u64>,
}

/// `wxActivity/apply`.
#[derive(Clone, Debug)]
pub struct ApplyCommand {
    /// Applicant's account.
    pub owner: MemberRef,
    /// `business_id`.
    pub business_id: u64,
    /// The activity.
    pub activity_id: u64,
    /// Applicant's name.
    pub name: String,
    /// Applicant's phone.
    pub phone: String,
    /// Free-form JSON text.
    pub apply_info: String,
    /// Wait for a seat when the activity is full (`waitlist=1`) rather than be refused.
    pub waitlist: bool,
}

/// `applyOrderCreate`, parsed.
#[derive(Clone, Debug)]
pub struct OrderBinding {
    /// The order the applies are bound to.
    pub order_no: OrderNo,
    /// Its parent.
    pub parent_order_no: OrderNo,
    /// Who orders.
    pub owner: MemberRef,
    /// `business_id`.
    pub business_id: u64,
    /// The applies ordered.
    pub sku_slice: SkuSlice,
}

impl OrderBinding {
    /// Validates a call from the order center.
    pub fn from_call(call: &OrderCreateCall) -> Result<Self, ActivityError> {
        Ok(Self {
            order_no: OrderNo::parse(&call.order_no)
                .map_err(|_| ActivityError::Invalid("order_no 格式错误".into()))?,
            parent_order_no: OrderNo::parse(&call.parent_order_no)
                .map_err(|_| ActivityError::Invalid("parent_order_no 格式错误".into()))?,
            owner: MemberRef {
                company_id: call.company_id,
                member_id: call.member_id,
            },
            business_id: call.business_id,
            sku_slice: SkuSlice::parse(&call.sku_slice)
                .map_err(|_| ActivityError::Invalid("sku_slice 格式错误".into()))?,
        })
    }
}

/// `applyOrderNotify`, parsed.
#[derive(Clone, Debug)]
pub struct OrderNotice {
    /// The order.
    pub order_no: OrderNo,
    /// How it ended.
    pub outcome: OrderOutcome,
}

impl OrderNotice {
    /// Validates a call from the order center.
    pub fn from_call(call: &OrderNotifyCall) -> Result<Self, ActivityError> {
        Ok(Self {
            order_no: OrderNo::parse(&call.order_no)
                .map_err(|_| ActivityError::Invalid("order_no 格式错误".into()))?,
            outcome: call.order_status,
        })
    }
}

/// The activity platform. Cheap to clone.
#[derive(Clone)]
pub struct ActivityService {
    store: ActivityStore,
    /// How long a seat stays reserved for an apply with no order (the order TTL).
    reservation_secs: u64,
}

impl ActivityService {
    /// The platform over `store`; reservations without an order last `reservation_secs`.
    pub fn new(store: ActivityStore, reservation_secs: u64) -> Self {
        Self {
            store,
            reservation_secs,
        }
    }

    /// Runs `step` on the store's writer thread (after and before every other change, so
    /// seat counts cannot race) and answers once its writes are durable.
    async fn locked<R, F>(&self, step: F) -> Result<R, ActivityError>
    where
        F: FnOnce(&ActivityStore) -> Result<R, ActivityError> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.store.clone();
        let outcome = self.store.store().write(move || Ok(step(&store))).await?;
        outcome
    }

    /// Reads on a blocking thread. A read can see a change half-written (its keys land one
    /// by one); what needs a consistent view runs on the writer thread instead.
    async fn read<R, F>(&self, step: F) -> Result<R, ActivityError>
    where
        F: FnOnce(&ActivityStore) -> Result<R, ActivityError> + Send + 'static,
        R: Send + 'static,
    {
        let store = self.store.clone();
        self.store
            .store()
            .blocking(move || Ok(step(&store)))
            .await?
    }

    /// Creates an activity.
    pub async fn save(&self, new: NewActivity) -> Result<ActivityDetail, ActivityError> {
        self.locked(move |store| {
            let activity = Activity {
                id: store.next_activity_id(),
                name: new.name,
                price: new.price,
                seats: new.seats,
                start_time: new.start_time,
                end_time: new.end_time,
                per_member_limit: new.per_member_limit.max(1),
                enabled: true,
                reserved: 0,
                registered: 0,
                stadium_name: new.stadium_name,
                image: "--".into(),
                created_at: time::now_secs(),
            };
            let mut change = Change::new();
            store.stage(
                &mut change,
                ActivityWrite {
                    activities: vec![&activity],
                    ..ActivityWrite::default()
                },
            )?;
            if let Some(deadline) = new.refund_deadline {
                store.stage_refund_deadline(&mut change, activity.id, deadline);
            }
            store.store().apply(change)?;
            let refund_deadline = store.refund_deadline(&activity)?;
            Ok(ActivityDetail {
                activity,
                refund_deadline,
                waitlist: 0,
            })
        })
        .await
    }

    /// Creates the demo activity (欢乐活动, 0.01 yuan) when the store has none, so a new
    /// user can run the whole flow at once. Returns it if it was created.
    pub async fn ensure_demo(&self) -> Result<Option<Activity>, ActivityError> {
        if self.read(|store| Ok(store.has_activities()?)).await? {
            return Ok(None);
        }
        let demo = NewActivity {
            name: "欢乐活动".into(),
            price: Fen(1),
            seats: 100_000,
            start_time: 0,
            end_time: 0,
            per_member_limit: 1,
            stadium_name: String::new(),
            refund_deadline: None,
        };
        self.save(demo).await.map(|saved| Some(saved.activity))
    }

    /// One activity.
    pub async fn detail(&self, activity_id: u64) -> Result<ActivityDetail, ActivityError> {
        self.read(move |store| {
            let activity = store
                .activity(activity_id)?
                .ok_or(ActivityError::NotFound)?;
            let refund_deadline = store.refund_deadline(&activity)?;
            let waitlist = store.waitlist_len(activity.id);
            Ok(ActivityDetail {
                activity,
                refund_deadline,
                waitlist,
            })
        })
        .await
    }

    /// `applyOrderRefundDeadline`: until when the owner of `order_no` may ask for a refund
    /// (the deadline of the activity its applies are for; `None`: always).
    pub async fn order_refund_deadline(
        &self,
        order_no: OrderNo,
    ) -> Result<Option<u64>, ActivityError> {
        self.read(move |store| {
            let bound = store.order_applies(&order_no)?;
            let apply = bound.first().ok_or(ActivityError::NotFound)?;
            let activity = store
                .activity(apply.activity_id)?
                .ok_or(ActivityError::NotFound)?;
            Ok(store.refund_deadline(&activity)?)
        })
        .await
    }

    /// How many index entries an apply for `activity_id` by `owner` reads (see
    /// [`ActivityStore::member_index_len`]).
    pub async fn member_index_len(
        &self,
        activity_id: u64,
        owner: MemberRef,
    ) -> Result<usize, ActivityError> {
        self.read(move |store| Ok(store.member_index_len(activity_id, owner)?))
            .await
    }

    /// One apply, if `owner` made it, with its place in the waitlist while it waits.
    pub async fn apply_info(
        &self,
        apply_id: u64,
        owner: MemberRef,
    ) -> Result<ApplyDetail, ActivityError> {
        self.read(move |store| {
            let apply = owned_apply(store, apply_id, owner)?;
            with_activity(store, apply)
        })
        .await
    }

    /// `wxActivity/cancelApply`: the owner leaves the waitlist, or gives back the seat an
    /// apply holds while it has no order (the next waiter gets it, in the same change).
    /// An apply bound to an order is cancelled with the order (4001009999 names it); a
    /// registration with a refund (4090000004); one cancelled already is answered as is.
    pub async fn cancel_apply(
        &self,
        apply_id: u64,
        owner: MemberRef,
    ) -> Result<ApplyDetail, ActivityError> {
        let ttl = self.reservation_secs;
        self.locked(move |store| {
            let now = time::now_secs();
            let mut apply = owned_apply(store, apply_id, owner)?;
            let mut activity = store
                .activity(apply.activity_id)?
                .ok_or(ActivityError::NotFound)?;
            match apply.status {
                ApplyStatus::Cancelled => return with_activity(store, apply),
                ApplyStatus::Ordered => {
                    return Err(ActivityError::PendingOrder {
                        parent_order_no: apply
                            .parent_order_no
                            .clone()
                            .ok_or(ActivityError::NotFound)?,
                        business_id: apply.business_id,
                    })
                }
                ApplyStatus::Registered => return Err(ActivityError::AlreadyRegistered),
                ApplyStatus::Pending => activity.reserved = activity.reserved.saturating_sub(1),
                ApplyStatus::Waitlisted => {}
            }
            apply.status = ApplyStatus::Cancelled;
            apply.updated_at = now;
            let mut activities = vec![activity];
            let mut changed = vec![apply.clone()];
            promote_waiters(store, &mut activities, &mut changed, now, ttl)?;
            store.write(ActivityWrite {
                activities: activities.iter().collect(),
                applies: changed.iter().collect(),
                tombstones: vec![],
            })?;
            Ok(ApplyDetail {
                apply,
                activity: activities.swap_remove(0),
                position: None,
            })
        })
        .await
    }

    /// `wxActivity/apply`: reserves a seat, atomically; on a full activity with `waitlist`,
    /// joins the end of its waitlist instead (the queue is the writer thread's order:
    /// first come, first served).
    pub async fn apply(&self, command: ApplyCommand) -> Result<ApplyDetail, ActivityError> {
        let ttl = self.reservation_secs;
        self.locked(move |store| {
            let now = time::now_secs();
            let mut activity = store
                .activity(command.activity_id)?
                .ok_or(ActivityError::NotFound)?;
            if !activity.is_open(now) {
                return Err(ActivityError::NotOpen);
            }
            let mine = store.member_applies(activity.id, command.owner)?;
            let released: Vec<&Apply> = mine
                .iter()
                .filter(|a| a.status == ApplyStatus::Cancelled)
                .collect();
            // Released since the member's last apply here (a release leaves its entry for
            // the sweep): dropped with the new apply, in its change. A refused apply leaves
            // them to the sweep, seconds away.
            let mut change = Change::new();
            store.unindex_released(&mut change, &released);
            let unordered =
                |a: &&Apply| matches!(a.status, ApplyStatus::Pending | ApplyStatus::Waitlisted);
            if let Some(open) = mine.iter().find(unordered) {
                return with_activity(store, open.clone());
            }
            if let Some(ordered) = mine.iter().find(|a| a.status == ApplyStatus::Ordered) {
                if let Some(parent_order_no) = ordered.parent_order_no.clone() {
                    return Err(ActivityError::PendingOrder {
                        parent_order_no,
                        business_id: ordered.business_id,
                    });
                }
            }
            let live = mine.iter().filter(|a| a.status.is_live()).count();
            if live >= activity.per_member_limit as usize {
                return Err(ActivityError::AlreadyRegistered);
            }
            let status = match activity.seats_left() {
                0 if command.waitlist => ApplyStatus::Waitlisted,
                0 => return Err(ActivityError::Full),
                _ => {
                    activity.reserved += 1;
                    ApplyStatus::Pending
                }
            };
            let apply = Apply {
                id: store.next_apply_id(),
                activity_id: activity.id,
                owner: command.owner,
                business_id: command.business_id,
                name: command.name,
                phone: command.phone,
                apply_info: command.apply_info,
                status,
                order_no: None,
                parent_order_no: None,
                created_at: now,
                expires_at: if status == ApplyStatus::Pending {
                    now.saturating_add(ttl)
                } else {
                    0
                },
                updated_at: now,
            };
            store.stage(
                &mut change,
                ActivityWrite {
                    activities: vec![&activity],
                    applies: vec![&apply],
                    tombstones: vec![],
                },
            )?;
            store.store().apply(change)?;
            // Read after the write: the apply is the last in its queue.
            let position = match status {
                ApplyStatus::Waitlisted => Some(store.waitlist_len(activity.id)),
                _ => None,
            };
            Ok(ApplyDetail {
                apply,
                activity,
                position,
            })
        })
        .await
    }

    /// `applyOrderCreate`: binds the applies in the SKU slice to the order and prices them.
    /// Idempotent on `order_no`. Durable when it returns.
    pub async fn bind_order(
        &self,
        binding: OrderBinding,
    ) -> Result<OrderCreateAnswer, ActivityError> {
        self.locked(move |store| {
            let mut change = Change::new();
            let answer = bind(store, binding, &mut change)?;
            store.store().apply(change)?;
            Ok(answer)
        })
        .await
    }

    /// [`ActivityService::bind_order`] staged into `change`, on the store's writer thread
    /// (inside [`crate::store::Store::write`]): the in-process order center binds in the
    /// same atomic change as the order it creates. Calling it anywhere else could race
    /// another change. On refusal nothing is staged.
    pub fn bind_order_in_write(
        &self,
        binding: OrderBinding,
        change: &mut Change,
    ) -> Result<OrderCreateAnswer, ActivityError> {
        bind(&self.store, binding, change)
    }

    /// `applyOrderNotify`: paid → registered; closed or refunded → seat released.
    /// Idempotent; an order with no applies is acknowledged as is.
    pub async fn order_notice(&self, notice: OrderNotice) -> Result<(), ActivityError> {
        let ttl = self.reservation_secs;
        self.locked(move |store| {
            let now = time::now_secs();
            let mut noticed = Noticed::default();
            apply_notice(store, &notice, &mut noticed, now)?;
            let mut change = Change::new();
            stage_noticed(store, noticed, &mut change, now, ttl)?;
            store.store().apply(change)?;
            Ok(())
        })
        .await
    }

    /// [`ActivityService::order_notice`] for several orders at once, staged into `change`, on
    /// the store's writer thread (inside [`crate::store::Store::write`]): the in-process order
    /// center records how orders ended and their effect on the seats in one atomic change
    /// (a group of closes at one deadline writes each activity's counts once). Each notice
    /// reads the applies and seat counts as the ones before it left them. One result per
    /// notice: one that fails stages nothing; an `Err` for all means nothing was staged.
    pub fn order_notices_in_write(
        &self,
        notices: Vec<Result<OrderNotice, ActivityError>>,
        change: &mut Change,
    ) -> Result<Vec<Result<(), ActivityError>>, ActivityError> {
        let now = time::now_secs();
        let mut noticed = Noticed::default();
        let results = apply_notices(&self.store, notices, &mut noticed, now);
        stage_noticed(&self.store, noticed, change, now, self.reservation_secs)?;
        Ok(results)
    }

    /// Releases the seats of pending applies that got no order in time, each to the first
    /// waiter of its activity in the same change, a page per change
    /// ([`ActivityStore::expired_pending`]). Returns how many were released.
    pub async fn release_expired(&self, now: u64) -> Result<usize, ActivityError> {
        let mut count = 0;
        for _ in 0..RELEASE_PAGES_PER_CALL {
            let (released, goes_on) = self.release_expired_page(now).await?;
            count += released;
            if !goes_on {
                break;
            }
        }
        Ok(count)
    }

    /// One page of [`ActivityService::release_expired`]: how many it released, and whether
    /// the walk of fresh reservations goes on from further on.
    async fn release_expired_page(&self, now: u64) -> Result<(usize, bool), ActivityError> {
        let ttl = self.reservation_secs;
        self.locked(move |store| {
            let mut released: Vec<Apply> = Vec::new();
            let mut activities: Vec<Activity> = Vec::new();
            let (due, scan) = store.expired_pending(now, ttl, 1000)?;
            // Every one pending, as read on this thread.
            for mut apply in due {
                let index = loaded(store, &mut activities, apply.activity_id)?;
                activities[index].reserved = activities[index].reserved.saturating_sub(1);
                apply.status = ApplyStatus::Cancelled;
                apply.updated_at = now;
                released.push(apply);
            }
            let count = released.len();
            let mut change = Change::new();
            if count > 0 {
                promote_waiters(store, &mut activities, &mut released, now, ttl)?;
                store.stage(
                    &mut change,
                    ActivityWrite {
                        activities: activities.iter().collect(),
                        applies: released.iter().collect(),
                        tombstones: vec![],
                    },
                )?;
            }
            store.stage_reservation_scan(&mut change, &scan);
            if !change.is_empty() {
                store.store().apply(change)?;
            }
            // Another page only while this one made progress (so stale entries could
            // never make it spin).
            Ok((count, !scan.caught_up && (count > 0 || scan.progressed())))
        })
        .await
    }

    /// Removes the member-index entries of applies released before `before` (Unix s), a
    /// page per durable change ([`ActivityStore::sweep_released`]). Returns how many went.
    pub async fn sweep_released(&self, before: u64) -> Result<usize, ActivityError> {
        let mut removed = 0;
        if !self.store.released_before(before) {
            return Ok(0);
        }
        loop {
            let (gone, more) = self
                .locked(move |store| Ok(store.sweep_released(before, RELEASED_SWEEP_PAGE)?))
                .await?;
            removed += gone;
            if !more {
                return Ok(removed);
            }
        }
    }
}

/// Writer calls one [`ActivityService::release_expired`] makes at most (each walks up to
/// 1 024 applies, about 1.5 ms): a long walk, as the first after an upgrade from layout 5,
/// goes on at the next period, so a shutdown never waits for it.
const RELEASE_PAGES_PER_CALL: usize = 256;

/// Member-index entries one change of [`ActivityService::sweep_released`] removes.
const RELEASED_SWEEP_PAGE: usize = 1024;

/// The binding of `applyOrderCreate`, on the writer thread: every apply in the slice must be
/// the caller's and pending (or already bound to this very order: idempotent).
fn bind(
    store: &ActivityStore,
    binding: OrderBinding,
    change: &mut Change,
) -> Result<OrderCreateAnswer, ActivityError> {
    let now = time::now_secs();
    if store.is_tombstoned(&binding.order_no)? {
        return Err(ActivityError::NotFound);
    }
    let mut bound: Vec<(Apply, Activity)> = Vec::new();
    for line in binding.sku_slice.lines() {
        if line.quantity != 1 {
            return Err(ActivityError::Invalid(
                "sku_slice 中每个报名的数量必须为 1".into(),
            ));
        }
        let apply_id: u64 = line.sku.parse().map_err(|_| ActivityError::NotFound)?;
        let mut apply = store
            .apply(apply_id)?
            .filter(|a| a.owner == binding.owner)
            .ok_or(ActivityError::NotFound)?;
        match apply.status {
            ApplyStatus::Pending => {
                apply.status = ApplyStatus::Ordered;
                apply.order_no = Some(binding.order_no.clone());
                apply.parent_order_no = Some(binding.parent_order_no.clone());
                apply.updated_at = now;
            }
            ApplyStatus::Ordered if apply.order_no.as_ref() == Some(&binding.order_no) => {}
            ApplyStatus::Ordered => {
                return Err(ActivityError::PendingOrder {
                    parent_order_no: apply
                        .parent_order_no
                        .clone()
                        .ok_or(ActivityError::NotFound)?,
                    business_id: apply.business_id,
                })
            }
            ApplyStatus::Registered => return Err(ActivityError::AlreadyRegistered),
            ApplyStatus::Cancelled => return Err(ActivityError::NotFound),
            // Still waiting for a seat: nothing to order yet.
            ApplyStatus::Waitlisted => return Err(ActivityError::Full),
        }
        let activity = store
            .activity(apply.activity_id)?
            .ok_or(ActivityError::NotFound)?;
        bound.push((apply, activity));
    }
    store.stage(
        change,
        ActivityWrite {
            activities: vec![],
            applies: bound.iter().map(|(a, _)| a).collect(),
            tombstones: vec![],
        },
    )?;
    let extra = bound
        .first()
        .map(|(apply, activity)| AnsweredExtra {
            stadium_name: activity.stadium_name.clone(),
            user_info: format!("{} {}", apply.name, apply.phone),
        })
        .unwrap_or_default();
    let items = bound
        .iter()
        .map(|(apply, activity)| AnsweredItem {
            sku: apply.id.to_string(),
            sku_name: activity.name.clone(),
            sku_price: activity.price.0,
            sku_num: 1,
            sku_img: activity.image.clone(),
            sku_info: "1".into(),
        })
        .collect();
    Ok(OrderCreateAnswer { items, extra })
}

/// What the notices of one change did so far: the applies they changed and the seat counts
/// as they left them, so each later notice of the change reads those, not the store's
/// older copies (a group of closes sharing an activity returns every seat).
#[derive(Default)]
struct Noticed {
    changed: Vec<Apply>,
    activities: Vec<Activity>,
    tombstones: Vec<OrderNo>,
}

/// How an order ended, applied to its applies and seats (into `noticed`, staged later by
/// [`stage_noticed`]): paid → registered; closed or refunded → released (to the first
/// waiter, once staged). Idempotent; an order with nothing bound is tombstoned (a late bind
/// for it is refused) unless paid.
fn apply_notice(
    store: &ActivityStore,
    notice: &OrderNotice,
    noticed: &mut Noticed,
    now: u64,
) -> Result<(), ActivityError> {
    let bound = store.order_applies(&notice.order_no)?;
    if bound.is_empty()
        && notice.outcome != OrderOutcome::Paid
        && !noticed.tombstones.contains(&notice.order_no)
        && !store.is_tombstoned(&notice.order_no)?
    {
        // Closed before anything was bound (e.g. creation given up while a bind was
        // still on its way): refuse that bind if it comes.
        noticed.tombstones.push(notice.order_no.clone());
        return Ok(());
    }
    for stored in bound {
        // An apply this change already changed is taken as it left it.
        let earlier = noticed.changed.iter().position(|a| a.id == stored.id);
        let mut apply = match earlier {
            Some(at) => noticed.changed[at].clone(),
            None => stored,
        };
        let next = match (apply.status, notice.outcome) {
            (ApplyStatus::Ordered, OrderOutcome::Paid) => ApplyStatus::Registered,
            (ApplyStatus::Ordered, OrderOutcome::Closed | OrderOutcome::Refunded) => {
                ApplyStatus::Cancelled
            }
            (ApplyStatus::Registered, OrderOutcome::Refunded) => ApplyStatus::Cancelled,
            (status, outcome) => {
                if status != ApplyStatus::Cancelled || outcome == OrderOutcome::Paid {
                    tracing::debug!(
                        apply_id = apply.id,
                        ?status,
                        ?outcome,
                        "notice changes nothing"
                    );
                }
                continue;
            }
        };
        let index = loaded(store, &mut noticed.activities, apply.activity_id)?;
        let activity = &mut noticed.activities[index];
        match apply.status {
            ApplyStatus::Ordered => activity.reserved = activity.reserved.saturating_sub(1),
            ApplyStatus::Registered => activity.registered = activity.registered.saturating_sub(1),
            _ => {}
        }
        if next == ApplyStatus::Registered {
            activity.registered += 1;
        }
        apply.status = next;
        apply.updated_at = now;
        match earlier {
            Some(at) => noticed.changed[at] = apply,
            None => noticed.changed.push(apply),
        }
    }
    Ok(())
}

/// Applies each notice in turn, as one change's worth: a notice that fails leaves nothing
/// of itself behind (its result says why), the others go on.
fn apply_notices(
    store: &ActivityStore,
    notices: Vec<Result<OrderNotice, ActivityError>>,
    noticed: &mut Noticed,
    now: u64,
) -> Vec<Result<(), ActivityError>> {
    notices
        .into_iter()
        .map(|notice| {
            let notice = notice?;
            let before = (
                noticed.changed.clone(),
                noticed.activities.clone(),
                noticed.tombstones.len(),
            );
            let applied = apply_notice(store, &notice, noticed, now);
            if applied.is_err() {
                noticed.changed = before.0;
                noticed.activities = before.1;
                noticed.tombstones.truncate(before.2);
            }
            applied
        })
        .collect()
}

/// Stages what the notices did into `change`: each seat they freed goes to the first waiter
/// of its activity in the same change, then applies, seat counts and tombstones are written.
fn stage_noticed(
    store: &ActivityStore,
    mut noticed: Noticed,
    change: &mut Change,
    now: u64,
    ttl: u64,
) -> Result<(), ActivityError> {
    if !noticed.changed.is_empty() {
        promote_waiters(
            store,
            &mut noticed.activities,
            &mut noticed.changed,
            now,
            ttl,
        )?;
    }
    if noticed.changed.is_empty() && noticed.tombstones.is_empty() {
        return Ok(());
    }
    store.stage(
        change,
        ActivityWrite {
            activities: noticed.activities.iter().collect(),
            applies: noticed.changed.iter().collect(),
            tombstones: noticed.tombstones.iter().collect(),
        },
    )?;
    Ok(())
}

/// Where activity `id` is in `activities`, reading it from the store the first time: one
/// change may touch an activity's seat counts many times, and writes it once.
fn loaded(
    store: &ActivityStore,
    activities: &mut Vec<Activity>,
    id: u64,
) -> Result<usize, ActivityError> {
    if let Some(index) = activities.iter().position(|a| a.id == id) {
        return Ok(index);
    }
    activities.push(store.activity(id)?.ok_or(ActivityError::NotFound)?);
    Ok(activities.len() - 1)
}

/// `owner`'s apply `apply_id`. Blocking.
fn owned_apply(
    store: &ActivityStore,
    apply_id: u64,
    owner: MemberRef,
) -> Result<Apply, ActivityError> {
    store
        .apply(apply_id)?
        .filter(|a| a.owner == owner)
        .ok_or(ActivityError::NotFound)
}

/// `apply` with its activity and its place in the waitlist. Blocking.
fn with_activity(store: &ActivityStore, apply: Apply) -> Result<ApplyDetail, ActivityError> {
    let activity = store
        .activity(apply.activity_id)?
        .ok_or(ActivityError::NotFound)?;
    let position = store.waitlist_position(&apply)?;
    Ok(ApplyDetail {
        apply,
        activity,
        position,
    })
}

/// Gives the seats free in `activities` to their first waiters, first come first: each
/// becomes pending (a seat reserved for the order TTL, as a new apply) and is added to
/// `changed`, so the change that released a seat is the change that hands it on — a seat
/// is never free while someone waits, and never held by two. On the writer thread, once
/// per change (the queue is read as the change found it).
fn promote_waiters(
    store: &ActivityStore,
    activities: &mut [Activity],
    changed: &mut Vec<Apply>,
    now: u64,
    ttl: u64,
) -> Result<(), ActivityError> {
    let mut promoted = 0;
    for activity in activities.iter_mut() {
        let free = activity.seats_left() as usize;
        if free == 0 {
            continue;
        }
        for mut waiter in store.first_waiters(activity.id, free)? {
            if waiter.status != ApplyStatus::Waitlisted || changed.iter().any(|a| a.id == waiter.id)
            {
                continue;
            }
            waiter.status = ApplyStatus::Pending;
            waiter.expires_at = now.saturating_add(ttl);
            waiter.updated_at = now;
            activity.reserved += 1;
            tracing::info!(
                apply_id = waiter.id,
                activity_id = activity.id,
                "seat given to the first waiter"
            );
            changed.push(waiter);
            promoted += 1;
        }
    }
    if promoted > 0 {
        crate::failpoint::hit("waitlist.before_promote");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::activity::IndexedApplies;
    use crate::store::{Store, StoreConfig};
    use std::collections::BTreeSet;

    const TTL: u64 = 60;

    fn member(member_id: u64) -> MemberRef {
        MemberRef {
            company_id: 421,
            member_id,
        }
    }

    async fn service(dir: &std::path::Path) -> (Store, ActivityService) {
        let config = StoreConfig::for_tests(dir);
        tokio::task::spawn_blocking(move || {
            let store = Store::open(&config).expect("store opens");
            let activities = ActivityStore::open(&store).expect("trees open");
            (store, ActivityService::new(activities, TTL))
        })
        .await
        .expect("joined")
    }

    /// The activity platform started again on the same store: what it keeps in memory is
    /// read back from the trees. (A sled database closed in-process is not let go of at
    /// once, so the store itself stays open.)
    async fn restart(store: &Store, service: ActivityService) -> ActivityService {
        restart_with_ttl(store, service, TTL).await
    }

    async fn restart_with_ttl(
        store: &Store,
        service: ActivityService,
        ttl: u64,
    ) -> ActivityService {
        drop(service);
        let store = store.clone();
        tokio::task::spawn_blocking(move || {
            let activities = ActivityStore::open(&store).expect("trees open");
            ActivityService::new(activities, ttl)
        })
        .await
        .expect("joined")
    }

    async fn close(store: Store, service: ActivityService) {
        drop(service);
        tokio::task::spawn_blocking(move || store.close())
            .await
            .expect("joined")
            .expect("closes");
    }

    /// An open activity with `seats` seats, one per member, refundable always.
    async fn save_activity(service: &ActivityService, seats: u32) -> u64 {
        service
            .save(NewActivity {
                name: "a".into(),
                price: Fen(1),
                seats,
                start_time: 0,
                end_time: 0,
                per_member_limit: 1,
                stadium_name: "s".into(),
                refund_deadline: Some(0),
            })
            .await
            .expect("saved")
            .activity
            .id
    }

    async fn apply(service: &ActivityService, activity_id: u64, member_id: u64) -> u64 {
        let command = ApplyCommand {
            owner: member(member_id),
            business_id: 1,
            activity_id,
            name: "n".into(),
            phone: "1".into(),
            apply_info: "{}".into(),
            waitlist: true,
        };
        service.apply(command).await.expect("applied").apply.id
    }

    async fn bind(service: &ActivityService, apply_id: u64, member_id: u64, n: u64) -> OrderNo {
        let order_no = OrderNo::compose(3001, 5000 + n);
        let binding = OrderBinding {
            order_no: order_no.clone(),
            parent_order_no: OrderNo::compose(2013, 5000 + n),
            owner: member(member_id),
            business_id: 1,
            sku_slice: SkuSlice::parse(&format!("{apply_id}:1")).expect("sku slice"),
        };
        service.bind_order(binding).await.expect("bound");
        order_no
    }

    async fn notice(service: &ActivityService, order_no: &OrderNo, outcome: OrderOutcome) {
        let notice = OrderNotice {
            order_no: order_no.clone(),
            outcome,
        };
        service.order_notice(notice).await.expect("noticed");
    }

    /// What the indexes must hold for these applies: a reservation deadline exactly while
    /// pending after waiting (`waited`: every apply seen waiting; a fresh reservation is
    /// found by the walk of the applies instead), a waitlist entry exactly while waiting,
    /// a member entry while holding a seat or waiting, and after a release until the
    /// member's next accepted apply for the activity (or the sweep, which this test runs
    /// last).
    fn expected(applies: &[Apply], waited: &BTreeSet<u64>) -> IndexedApplies {
        let applied_again = |released: &Apply| {
            applies.iter().any(|later| {
                later.id > released.id
                    && later.owner == released.owner
                    && later.activity_id == released.activity_id
            })
        };
        let with = |keep: fn(ApplyStatus) -> bool| {
            applies
                .iter()
                .filter(|apply| keep(apply.status))
                .map(|apply| apply.id)
                .collect()
        };
        IndexedApplies {
            with_deadline: applies
                .iter()
                .filter(|apply| apply.status == ApplyStatus::Pending && waited.contains(&apply.id))
                .map(|apply| apply.id)
                .collect(),
            waiting: with(|status| status == ApplyStatus::Waitlisted),
            of_members: applies
                .iter()
                .filter(|apply| apply.status != ApplyStatus::Cancelled || !applied_again(apply))
                .map(|apply| apply.id)
                .collect(),
        }
    }

    /// The indexes against the applies, and the waitlist count kept in memory (which
    /// decides whether a released seat looks for a waiter) against the waitlist itself.
    async fn assert_indexes_match(
        service: &ActivityService,
        activity: u64,
        waited: &mut BTreeSet<u64>,
        step: &str,
    ) {
        let store = service.store.clone();
        let (applies, indexed, counted) = tokio::task::spawn_blocking(move || {
            let (applies, indexed) = store.indexed();
            (applies, indexed, store.waitlist_len(activity))
        })
        .await
        .expect("joined");
        waited.extend(
            applies
                .iter()
                .filter(|apply| apply.status == ApplyStatus::Waitlisted)
                .map(|apply| apply.id),
        );
        assert_eq!(
            indexed,
            expected(&applies, waited),
            "after {step}: {applies:#?}"
        );
        assert_eq!(
            counted as usize,
            indexed.waiting.len(),
            "after {step}: the waitlist count"
        );
    }

    #[tokio::test]
    async fn notices_written_in_one_change_each_see_what_the_ones_before_did() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, service) = service(dir.path()).await;
        let activity = save_activity(&service, 4).await;
        let (a, b, c) = (
            apply(&service, activity, 1).await,
            apply(&service, activity, 2).await,
            apply(&service, activity, 3).await,
        );
        let holding = apply(&service, activity, 5).await;
        let waiter = apply(&service, activity, 4).await;
        let mut waited = BTreeSet::new();
        assert_indexes_match(&service, activity, &mut waited, "four pending, one waiting").await;
        let (closed, also_closed, paid) = (
            bind(&service, a, 1, 1).await,
            bind(&service, b, 2, 2).await,
            bind(&service, c, 3, 3).await,
        );
        let told = |order_no: &OrderNo, outcome| {
            Ok(OrderNotice {
                order_no: order_no.clone(),
                outcome,
            })
        };
        // Two closes, the first told twice, a payment, and one notice that failed to parse.
        let notices = vec![
            told(&closed, OrderOutcome::Closed),
            told(&also_closed, OrderOutcome::Closed),
            told(&closed, OrderOutcome::Closed),
            told(&paid, OrderOutcome::Paid),
            Err(ActivityError::Invalid("order_no".into())),
        ];
        let writes = service.clone();
        let results = store
            .write(move || {
                let mut change = Change::new();
                let results = writes.order_notices_in_write(notices, &mut change);
                writes.store.store().apply(change)?;
                Ok(results)
            })
            .await
            .expect("written")
            .expect("staged");
        let failed: Vec<bool> = results.iter().map(Result::is_err).collect();
        assert_eq!(failed, [false, false, false, false, true]);
        let counts = service
            .store
            .activity(activity)
            .expect("read")
            .expect("there");
        // Two seats back (once each, though one close was told twice), one of them to the
        // waiter, who holds it beside the apply still pending; one registered.
        assert_eq!((counts.reserved, counts.registered), (2, 1), "{counts:?}");
        let (applies, _) = service.store.indexed();
        let status = |id: u64| applies.iter().find(|x| x.id == id).map(|x| x.status);
        assert_eq!(status(a), Some(ApplyStatus::Cancelled));
        assert_eq!(status(b), Some(ApplyStatus::Cancelled));
        assert_eq!(status(c), Some(ApplyStatus::Registered));
        assert_eq!(status(waiter), Some(ApplyStatus::Pending));
        assert_eq!(status(holding), Some(ApplyStatus::Pending));
        assert_indexes_match(&service, activity, &mut waited, "notices written together").await;
        close(store, service).await;
    }

    #[tokio::test]
    async fn fresh_reservations_lapse_by_the_walk_of_the_applies_across_a_restart() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, first_run) = service(dir.path()).await;
        let activity = save_activity(&first_run, 3).await;
        let (first, second) = (
            apply(&first_run, activity, 1).await,
            apply(&first_run, activity, 2).await,
        );
        let now = time::now_secs();
        let released = first_run.release_expired(now).await.expect("swept");
        assert_eq!(released, 0, "both reservations still run");
        assert!(
            first_run.store.reservations_walked() <= first,
            "the walk stops at the first running reservation"
        );
        bind(&first_run, first, 1, 1).await;

        let second_run = restart(&store, first_run).await;
        let released = second_run
            .release_expired(now + 2 * TTL)
            .await
            .expect("swept");
        assert_eq!(
            released, 1,
            "the second's reservation lapsed; the first has its order"
        );
        let (applies, indexed) = second_run.store.indexed();
        let status = |id: u64| applies.iter().find(|a| a.id == id).map(|a| a.status);
        assert_eq!(status(first), Some(ApplyStatus::Ordered));
        assert_eq!(status(second), Some(ApplyStatus::Cancelled));
        assert!(indexed.with_deadline.is_empty(), "{indexed:?}");
        let seats = second_run
            .store
            .activity(activity)
            .expect("read")
            .expect("there");
        assert_eq!(
            seats.reserved, 1,
            "the lapsed seat is back, the ordered one held"
        );

        let third_run = restart(&store, second_run).await;
        assert!(
            third_run.store.reservations_walked() > second,
            "where the walk got to is on disk"
        );
        let released = third_run
            .release_expired(now + 2 * TTL)
            .await
            .expect("swept");
        assert_eq!(released, 0, "released once");
        close(store, third_run).await;
    }

    #[tokio::test]
    async fn a_reservation_made_under_a_longer_ttl_does_not_hold_back_later_ones() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, first_run) = service(dir.path()).await;
        let activity = save_activity(&first_run, 3).await;
        let long = apply(&first_run, activity, 1).await;
        let shorter = 5;
        let second_run = restart_with_ttl(&store, first_run, shorter).await;
        let short = apply(&second_run, activity, 2).await;
        let now = time::now_secs();

        let released = second_run
            .release_expired(now + shorter + 1)
            .await
            .expect("swept");

        assert_eq!(
            released, 1,
            "the shorter reservation lapsed behind the longer one"
        );
        let (applies, indexed) = second_run.store.indexed();
        let status = |id: u64| applies.iter().find(|a| a.id == id).map(|a| a.status);
        assert_eq!(status(long), Some(ApplyStatus::Pending), "still running");
        assert_eq!(status(short), Some(ApplyStatus::Cancelled));
        assert_eq!(
            indexed.with_deadline,
            BTreeSet::from([long]),
            "the longer one lapses by a deadline entry instead"
        );
        let released = second_run
            .release_expired(now + TTL + 1)
            .await
            .expect("swept");
        assert_eq!(released, 1, "then the longer one, at its own deadline");
        let (_, indexed) = second_run.store.indexed();
        assert!(indexed.with_deadline.is_empty(), "{indexed:?}");
        close(store, second_run).await;
    }

    #[tokio::test]
    async fn deadline_entries_of_fresh_reservations_from_before_the_walk_still_go() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, first_run) = service(dir.path()).await;
        let activity = save_activity(&first_run, 3).await;
        let (bound, lapsing) = (
            apply(&first_run, activity, 1).await,
            apply(&first_run, activity, 2).await,
        );
        let (applies, _) = first_run.store.indexed();
        let legacy = first_run.store.clone();
        store
            .write(move || {
                for apply in &applies {
                    legacy.index_deadline_as_before(apply)?;
                }
                Ok(())
            })
            .await
            .expect("written");

        let second_run = restart(&store, first_run).await;
        bind(&second_run, bound, 1, 1).await;
        let (_, indexed) = second_run.store.indexed();
        assert_eq!(
            indexed.with_deadline,
            BTreeSet::from([lapsing]),
            "the bind removed its entry"
        );
        let now = time::now_secs();
        let released = second_run
            .release_expired(now + 2 * TTL)
            .await
            .expect("swept");
        assert_eq!(released, 1);
        let (_, indexed) = second_run.store.indexed();
        assert!(indexed.with_deadline.is_empty(), "{indexed:?}");
        close(store, second_run).await;
    }

    #[tokio::test]
    async fn every_step_of_an_apply_keeps_its_indexes_exact() {
        let started = time::now_secs();
        let dir = tempfile::tempdir().expect("temp dir");
        let (store, service) = service(dir.path()).await;
        let activity = save_activity(&service, 2).await;
        let first = apply(&service, activity, 1).await;
        let second = apply(&service, activity, 2).await;
        let waiter = apply(&service, activity, 3).await;
        let later = apply(&service, activity, 4).await;
        let leaver = apply(&service, activity, 5).await;
        let mut waited = BTreeSet::new();
        assert_indexes_match(
            &service,
            activity,
            &mut waited,
            "two pending, three waiting",
        )
        .await;
        service
            .cancel_apply(leaver, member(5))
            .await
            .expect("cancelled");
        assert_indexes_match(&service, activity, &mut waited, "a waiter left the queue").await;

        let closed = bind(&service, first, 1, 1).await;
        assert_indexes_match(&service, activity, &mut waited, "an order bound").await;
        notice(&service, &closed, OrderOutcome::Closed).await;
        assert_indexes_match(
            &service,
            activity,
            &mut waited,
            "its order closed, the first waiter promoted",
        )
        .await;

        let paid = bind(&service, waiter, 3, 2).await;
        notice(&service, &paid, OrderOutcome::Paid).await;
        assert_indexes_match(
            &service,
            activity,
            &mut waited,
            "the promoted waiter registered",
        )
        .await;
        notice(&service, &paid, OrderOutcome::Refunded).await;
        assert_indexes_match(
            &service,
            activity,
            &mut waited,
            "refunded, the next waiter promoted",
        )
        .await;

        let released = service
            .release_expired(time::now_secs() + 2 * TTL)
            .await
            .expect("released");
        assert_eq!(released, 2, "the two pending reservations lapsed");
        assert_indexes_match(&service, activity, &mut waited, "reservations lapsed").await;
        let (applies, _) = service.store.indexed();
        let status = |id: u64| applies.iter().find(|a| a.id == id).map(|a| a.status);
        assert_eq!(status(second), Some(ApplyStatus::Cancelled));
        assert_eq!(status(later), Some(ApplyStatus::Cancelled));

        // The members whose applies were released apply again: their next apply drops the
        // released entries it reads.
        for (released, member_id) in [(leaver, 5), (second, 2)] {
            let again = apply(&service, activity, member_id).await;
            assert!(again > released);
        }
        assert_indexes_match(
            &service,
            activity,
            &mut waited,
            "released members applied again",
        )
        .await;

        // The sweep removes what releases left: none released before the test started,
        // then all.
        let now = time::now_secs();
        let early = service.sweep_released(started).await.expect("swept");
        assert_eq!(early, 0, "nothing released before the test started");
        let removed = service.sweep_released(now + 1).await.expect("swept");
        let (applies, indexed) = service.store.indexed();
        let holding: BTreeSet<u64> = applies
            .iter()
            .filter(|apply| apply.status != ApplyStatus::Cancelled)
            .map(|apply| apply.id)
            .collect();
        assert_eq!(indexed.of_members, holding, "after the sweep: {applies:#?}");
        assert!(
            removed >= 2,
            "the two released entries left (swept {removed})"
        );
        assert_eq!(service.sweep_released(now + 1).await.expect("swept"), 0);
        close(store, service).await;
    }
}
