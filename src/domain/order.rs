//! The order as stored: one parent order holding one child order (the seed's
//! `data.list.order`) with one item per SKU. Storage types only — the JSON views live in
//! `crate::http::views`.

use serde::{Deserialize, Serialize};

use super::status::IllegalTransition;
use super::{
    Fen, Happened, HistoryEntry, ItemNo, OrderEvent, OrderNo, OrderStatus, SharedText, SkuSlice,
};

/// Who an order belongs to. Every call on an order must come from its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct MemberRef {
    /// The tenant (`company_id`).
    pub company_id: u64,
    /// The member within the tenant (`member_id`).
    pub member_id: u64,
}

/// One line of an order, priced by the subsystem.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderItem {
    /// Row id (`id`).
    pub id: u64,
    /// `order_no` + 3 digits (inline).
    pub order_item_no: ItemNo,
    /// The SKU (for activities, the apply id). (`Box<str>`: 8 bytes less than a `String`,
    /// which with the inline item number puts an item in mimalloc's 112-byte class.)
    pub sku: Box<str>,
    /// Display name from the subsystem (shared by the orders of one activity).
    pub sku_name: SharedText,
    /// Unit price in fen, from the subsystem.
    pub sku_price: Fen,
    /// Quantity.
    pub sku_num: u32,
    /// Image URL from the subsystem (shared).
    pub sku_img: SharedText,
    /// Free text from the subsystem (shared).
    pub sku_info: SharedText,
}

impl OrderItem {
    /// Price of the line (`sku_price` × `sku_num`).
    pub fn line_price(&self) -> Fen {
        self.sku_price
            .checked_mul(u64::from(self.sku_num))
            .unwrap_or(Fen(u64::MAX))
    }
}

/// Extra display data from the subsystem (`data.list.extra`).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderExtra {
    /// Venue name (shared by the orders of one activity).
    pub stadium_name: SharedText,
    /// "name phone" of the applicant.
    pub user_info: String,
}

/// What the client asked for when creating; kept to answer idempotent repeats and to finish
/// a creation after a restart.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreateRequest {
    /// Owner.
    pub owner: MemberRef,
    /// `business_id`.
    pub business_id: u64,
    /// `sys_id`.
    pub sys_id: u64,
    /// `business_type` (4 digits; 3001 = activity platform).
    pub business_type: u16,
    /// The SKUs ordered.
    pub sku_slice: SkuSlice,
    /// Client tag (`ppsport` in the seed); stored, not interpreted (shared: a frontend
    /// sends the same one every time).
    pub request_id: SharedText,
    /// JSON text passed to the subsystem as is (shared: a frontend mostly sends the same).
    pub handle_info: SharedText,
    /// `order_from` (default 2).
    pub order_from: u32,
    /// `sales_id` (default 0).
    pub sales_id: u64,
    /// Optional location, kept as sent. (`Box<str>` rather than `String` here and below:
    /// 8 bytes less each, which brings a live order's `Arc<Order>` into mimalloc's 384-byte
    /// size class from the 448-byte one; the stored form is the same.)
    pub latitude: Option<Box<str>>,
    /// Optional location, kept as sent.
    pub longitude: Option<Box<str>>,
    /// Optional city.
    pub city_id: Option<u64>,
    /// The client's `Idempotency-Key`, if it sent one.
    pub idempotency_key: Option<Box<str>>,
}

impl CreateRequest {
    /// A digest of what was asked (not where from: location may jitter between retries),
    /// to tell a replay of an `Idempotency-Key` from a reuse with other parameters.
    pub fn fingerprint(&self) -> [u8; 32] {
        use sha2::{Digest, Sha256};
        let canonical = format!(
            "{}|{}|{}|{}|{}|{}|{}|{}|{}|{}",
            self.owner.company_id,
            self.owner.member_id,
            self.business_id,
            self.sys_id,
            self.business_type,
            self.sku_slice.to_text(),
            self.request_id,
            self.handle_info,
            self.order_from,
            self.sales_id
        );
        Sha256::digest(canonical.as_bytes()).into()
    }
}

/// A parent order with its one child order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Order {
    /// Row id of the child order (`id`).
    pub id: u64,
    /// The unit that is paid; starts with the provider's `msgSrcId`.
    pub parent_order_no: OrderNo,
    /// The child order; starts with `business_type`.
    pub order_no: OrderNo,
    /// What was asked.
    pub request: CreateRequest,
    /// Lines, filled in once the subsystem answered.
    pub items: Vec<OrderItem>,
    /// Display extras from the subsystem.
    pub extra: OrderExtra,
    /// Where the order is in its life.
    pub status: OrderStatus,
    /// Creation time, Unix seconds.
    pub c_time: u64,
    /// Last change, Unix seconds.
    pub u_time: u64,
    /// Payment time, Unix seconds (0 until paid).
    pub payment_time: u64,
    /// Seconds from creation to the deadline.
    pub overdue_secs: u64,
    /// `payment_way` once a payment was started (0 before).
    pub payment_way: u32,
    /// The payment attempt, recorded before the provider is called (boxed: most live
    /// orders have none, and the order stays 256 bytes smaller in memory).
    pub payment: Option<Box<Payment>>,
    /// What happened to the order, oldest first ([`HistoryEntry`]). Stored after the
    /// other fields by the store, not by serde (`crate::store::orders`): records written
    /// before the history existed have none and still read.
    #[serde(skip)]
    pub history: Vec<HistoryEntry>,
}

/// The `wx.requestPayment` parameters the provider signed (its `miniPayRequest`), kept so a
/// repeated pay call returns the same prepay.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Prepay {
    /// Mini-program appId that `pay_sign` covers.
    pub app_id: String,
    /// Unix seconds as text.
    pub time_stamp: String,
    /// Random text.
    pub nonce_str: String,
    /// `prepay_id=wx…`.
    pub package: String,
    /// `RSA`.
    pub sign_type: String,
    /// The signature.
    pub pay_sign: String,
}

impl Prepay {
    /// The `prepay_id` inside `package`.
    pub fn prepay_id(&self) -> &str {
        self.package
            .strip_prefix("prepay_id=")
            .unwrap_or(&self.package)
    }
}

/// A refund of a payment: one that reached the provider for an order already closed, or one
/// a paid order's owner or an operator asked for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// Derived from `parent_order_no` and `attempt`, so a retry after a crash cannot refund
    /// twice.
    pub refund_order_id: String,
    /// Which attempt: a new one (new id) only after the provider said the last one FAILED.
    pub attempt: u32,
    /// Amount refunded.
    pub amount: Fen,
    /// When it was first asked (Unix s).
    pub requested_at: u64,
}

/// A payment attempt at the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Payment {
    /// `payment_way` (110 = UMS WeChat mini-program pay).
    pub payment_way: u32,
    /// When it was started (Unix s).
    pub started_at: u64,
    /// Amount asked for.
    pub amount: Fen,
    /// The payer's openid (`subOpenId`).
    pub open_id: String,
    /// The provider's answer, once it came.
    pub prepay: Option<Prepay>,
    /// WeChat's transaction id, once paid.
    pub target_order_id: Option<String>,
    /// A refund in progress or done.
    pub refund: Option<Refund>,
}

impl Order {
    /// The deadline: unpaid at this Unix second → closed.
    pub fn deadline(&self) -> u64 {
        self.c_time.saturating_add(self.overdue_secs)
    }

    /// Sum of the lines.
    pub fn total(&self) -> Fen {
        self.items
            .iter()
            .try_fold(Fen::ZERO, |sum, item| sum.checked_add(item.line_price()))
            .unwrap_or(Fen(u64::MAX))
    }

    /// Whether something will happen to the order without anyone asking, so it needs a live
    /// actor: a creation to finish, a deadline, or a refund to follow. An order that needs
    /// none has no work of its own in [`Order::decide`] (tested there).
    pub fn needs_actor(&self) -> bool {
        matches!(self.status, OrderStatus::Creating | OrderStatus::Unpaid) || self.refund_pending()
    }

    /// Whether a message can still change the order, so it gets an actor when one arrives:
    /// it needs one anyway, or it is paid (a refund may be asked for), or it is closed after
    /// a payment was started (a late payment must be refunded), or its refund was refused
    /// (the provider may still report it refunded, e.g. by a person in its console). Every
    /// other order is answered from the store, by the same [`Order::decide`] (tested there).
    pub fn takes_messages(&self) -> bool {
        self.needs_actor()
            || self.status == OrderStatus::Paid
            || (self.status == OrderStatus::Closed && self.payment.is_some())
            || self.status == OrderStatus::RefundRefused
    }

    /// A refund was asked and not yet confirmed: of a late payment (closed), or asked for
    /// by the owner or an operator (paid).
    pub fn refund_pending(&self) -> bool {
        matches!(self.status, OrderStatus::Closed | OrderStatus::Paid)
            && self.payment.as_ref().is_some_and(|p| p.refund.is_some())
    }

    /// The refund id of `attempt` (1, 2, …): `parent_order_no` + 2 digits. It starts with
    /// `msgSrcId`, as UMS requires of merchant ids, and is the same on every retry of one
    /// attempt, so a retry after a crash cannot refund twice.
    pub fn refund_order_id(&self, attempt: u32) -> String {
        format!("{}{:02}", self.parent_order_no, attempt % 100)
    }

    /// Whether `who` owns the order.
    pub fn is_owned_by(&self, who: MemberRef) -> bool {
        self.request.owner == who
    }

    /// Applies `event` at Unix time `now` (seconds) if the status machine allows it.
    pub fn apply(&mut self, event: OrderEvent, now: u64) -> Result<(), IllegalTransition> {
        self.apply_at(event, now.saturating_mul(1000))
    }

    /// Applies `event` at Unix time `now_ms` (milliseconds) if the status machine allows
    /// it, and records it in the history.
    pub fn apply_at(&mut self, event: OrderEvent, now_ms: u64) -> Result<(), IllegalTransition> {
        self.status = self.status.apply(event)?;
        self.u_time = (now_ms / 1000).max(self.u_time);
        if event == OrderEvent::Paid {
            self.payment_time = self.u_time;
        }
        self.record(now_ms, Happened::Status(event));
        Ok(())
    }

    /// Adds `what` to the history at Unix time `at_ms` (written with the order's next
    /// durable change).
    pub fn record(&mut self, at_ms: u64, what: Happened) {
        self.history.push(HistoryEntry { at_ms, what });
    }

    /// When the payment attempt started, Unix milliseconds (0 without one): from the
    /// history, else (orders older than it) the attempt's second.
    pub fn payment_started_ms(&self) -> u64 {
        let recorded = self.history.iter().rev().find_map(|entry| {
            matches!(entry.what, Happened::PaymentStarted { .. }).then_some(entry.at_ms)
        });
        recorded.unwrap_or_else(|| {
            self.payment
                .as_ref()
                .map_or(0, |payment| payment.started_at.saturating_mul(1000))
        })
    }
}

/// An order as the seed's samples have it (one 欢乐活动 line), for the unit tests of the
/// code that decides about or shows orders.
#[cfg(test)]
pub(crate) fn sample(owner: MemberRef, price: Fen, status: OrderStatus) -> Order {
    Order {
        id: 7,
        parent_order_no: OrderNo::compose(2013, 123_456_789),
        order_no: OrderNo::compose(3001, 123_456_789),
        request: CreateRequest {
            owner,
            business_id: 10_000_001,
            sys_id: 30,
            business_type: 3001,
            sku_slice: SkuSlice::parse("10001:1").expect("slice"),
            request_id: "ppsport".into(),
            handle_info: "{}".into(),
            order_from: 2,
            sales_id: 0,
            latitude: None,
            longitude: None,
            city_id: None,
            idempotency_key: None,
        },
        items: vec![OrderItem {
            id: 8,
            order_item_no: OrderNo::compose(3001, 123_456_789).item_no(1),
            sku: "10001".into(),
            sku_name: "欢乐活动".into(),
            sku_price: price,
            sku_num: 1,
            sku_img: "https://img".into(),
            sku_info: "1".into(),
        }],
        extra: OrderExtra {
            stadium_name: "场馆".into(),
            user_info: "名 138".into(),
        },
        status,
        c_time: 1_747_279_526,
        u_time: 1_747_279_526,
        payment_time: 0,
        overdue_secs: 480,
        payment_way: 0,
        payment: None,
        history: Vec::new(),
    }
}
