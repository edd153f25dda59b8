//! The activity platform's records (storage types; JSON views are in `crate::http`).

use serde::{Deserialize, Serialize};

use crate::domain::{Fen, MemberRef, OrderNo};

/// An activity members can sign up for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Activity {
    /// Id (`activity_id`).
    pub id: u64,
    /// Display name, e.g. 欢乐活动; the order item's `sku_name`.
    pub name: String,
    /// Price of one registration.
    pub price: Fen,
    /// Capacity.
    pub seats: u32,
    /// Sign-up opens (Unix s; 0 = always open).
    pub start_time: u64,
    /// Sign-up closes (Unix s; 0 = never).
    pub end_time: u64,
    /// Most live applies (pending or registered) one member may hold.
    pub per_member_limit: u32,
    /// Disabled activities take no sign-ups.
    pub enabled: bool,
    /// Seats held by applies that are not yet paid.
    pub reserved: u32,
    /// Seats held by paid registrations.
    pub registered: u32,
    /// Venue (`stadium_name`).
    pub stadium_name: String,
    /// Image URL (`sku_img`).
    pub image: String,
    /// Creation time (Unix s).
    pub created_at: u64,
}

impl Activity {
    /// Seats neither reserved nor registered.
    pub fn seats_left(&self) -> u32 {
        self.seats
            .saturating_sub(self.reserved)
            .saturating_sub(self.registered)
    }

    /// Whether sign-up is open at `now`.
    pub fn is_open(&self, now: u64) -> bool {
        self.enabled && now >= self.start_time && (self.end_time == 0 || now < self.end_time)
    }
}

/// An activity with what its detail shows beside its record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActivityDetail {
    /// The activity.
    pub activity: Activity,
    /// Until when (Unix s) an owner may ask for a refund; `None`: always.
    pub refund_deadline: Option<u64>,
    /// How many wait for a seat.
    pub waitlist: u32,
}

/// An apply with its activity and, while it waits, its place in the queue.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplyDetail {
    /// The apply.
    pub apply: Apply,
    /// Its activity.
    pub activity: Activity,
    /// 1 = next to get a seat; `None` unless waitlisted.
    pub position: Option<u32>,
}

/// Where an apply is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ApplyStatus {
    /// Seat reserved, no order yet (released when no order comes within the TTL).
    Pending,
    /// Bound to an unpaid order.
    Ordered,
    /// Paid: 报名成功.
    Registered,
    /// Released: no order in time, order closed, or refunded; or left the waitlist.
    Cancelled,
    /// Waiting for a seat of a full activity (`waitlist=1`); holds none. The first waiter
    /// becomes [`ApplyStatus::Pending`] in the change that releases a seat. Last, so that
    /// stored statuses keep their bincode index.
    Waitlisted,
}

impl ApplyStatus {
    /// The name frontends read (`pending_payment`, `registered`, `cancelled`).
    pub fn as_str(self) -> &'static str {
        match self {
            ApplyStatus::Pending | ApplyStatus::Ordered => "pending_payment",
            ApplyStatus::Registered => "registered",
            ApplyStatus::Cancelled => "cancelled",
            ApplyStatus::Waitlisted => "waitlisted",
        }
    }

    /// Whether the apply holds a seat.
    pub fn holds_seat(self) -> bool {
        matches!(
            self,
            ApplyStatus::Pending | ApplyStatus::Ordered | ApplyStatus::Registered
        )
    }

    /// Whether the apply counts against the member's limit: it holds a seat or waits for
    /// one.
    pub fn is_live(self) -> bool {
        self != ApplyStatus::Cancelled
    }
}

/// One member's sign-up for one activity: one seat.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Apply {
    /// Id (`apply_id`, the SKU the frontend orders).
    pub id: u64,
    /// The activity.
    pub activity_id: u64,
    /// The applicant's account.
    pub owner: MemberRef,
    /// `business_id` the apply was made under.
    pub business_id: u64,
    /// Applicant's name.
    pub name: String,
    /// Applicant's phone.
    pub phone: String,
    /// Free-form JSON text from the form.
    pub apply_info: String,
    /// Where it is.
    pub status: ApplyStatus,
    /// The order it is bound to, once ordered.
    pub order_no: Option<OrderNo>,
    /// The parent of that order.
    pub parent_order_no: Option<OrderNo>,
    /// When it was made (Unix s).
    pub created_at: u64,
    /// A pending apply with no order is released at this time (Unix s).
    pub expires_at: u64,
    /// Last change (Unix s).
    pub updated_at: u64,
}
