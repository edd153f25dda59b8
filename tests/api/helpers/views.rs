//! Typed views of the answers tests read, deserialized from the envelope's `data`. Tests about
//! the JSON itself (`seed_shapes.rs`) read the raw `serde_json::Value` instead.

use serde::de::{DeserializeOwned, Error as _};
use serde::{Deserialize, Deserializer};
use serde_json::Value;

/// The `data` of a successful envelope as `T`; panics naming the envelope otherwise.
pub fn data_of<T: DeserializeOwned>(envelope: &Value) -> T {
    assert_eq!(envelope["code"], 200, "expected success, got {envelope}");
    serde_json::from_value(envelope["data"].clone()).unwrap_or_else(|error| {
        panic!(
            "data is not a {}: {error}: {envelope}",
            std::any::type_name::<T>()
        )
    })
}

/// Where an order is, as SPEC codes it: `transaction_status` ("0".."3") in state and pay
/// answers, `order_status` (0..3) in create and detail answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// 0: created, not paid (yet).
    Unpaid,
    /// 1: paid.
    Paid,
    /// 2: closed (cancelled, expired or given up).
    Closed,
    /// 3: paid, then refunded.
    Refunded,
}

impl<'de> Deserialize<'de> for Status {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Code {
            Text(String),
            Number(u64),
        }
        let code = match Code::deserialize(deserializer)? {
            Code::Text(text) => text.parse().map_err(D::Error::custom)?,
            Code::Number(number) => number,
        };
        match code {
            0 => Ok(Status::Unpaid),
            1 => Ok(Status::Paid),
            2 => Ok(Status::Closed),
            3 => Ok(Status::Refunded),
            other => Err(D::Error::custom(format!("no order status {other}"))),
        }
    }
}

/// Where an apply is (`status` of `apply_info` and of `applyInfo`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Registration {
    /// A seat is held, unpaid (with or without an order).
    PendingPayment,
    /// Paid: 报名成功.
    Registered,
    /// Released: no order in time, order closed, or refunded; or left the waitlist.
    Cancelled,
    /// Waiting for a seat of a full activity.
    Waitlisted,
}

/// `data` of `wxActivity/apply`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Applied {
    /// The apply itself.
    pub apply_info: ApplyInfo,
    /// What to order it with (`apply_id:1`).
    pub sku_slice: String,
}

/// `apply_info` of an apply answer.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApplyInfo {
    /// The activity applied for.
    pub activity_id: u64,
    /// The apply's id.
    pub apply_id: u64,
    /// Where it is.
    pub status: Registration,
    /// Place in the waitlist while waiting (1 = next).
    pub position: Option<u32>,
}

/// `data` of `wxActivity/applyInfo`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ApplyRecord {
    /// The apply's id.
    pub apply_id: u64,
    /// Where it is.
    pub status: Registration,
    /// The order bound to it, once there is one (the JSON has `""` before).
    #[serde(deserialize_with = "empty_as_none")]
    pub parent_order_no: Option<String>,
    /// Place in the waitlist while waiting (1 = next).
    pub position: Option<u32>,
}

fn empty_as_none<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<String>, D::Error> {
    let text = String::deserialize(deserializer)?;
    Ok((!text.is_empty()).then_some(text))
}

/// `data` of `wxActivity/detail`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Activity {
    /// The activity's id.
    pub activity_id: u64,
    /// Every seat.
    pub seats: u64,
    /// Seats nobody holds.
    pub seats_left: u64,
    /// Seats held by unpaid applies.
    pub reserved: u64,
    /// Seats paid for.
    pub registered: u64,
    /// How many wait for a seat.
    pub waitlist: u64,
}

/// An order as `shop/order/create` and `shop/order/detail` answer it (`data`, `list.order`
/// and `list.item`), reduced to what tests read.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(from = "OrderData")]
pub struct Order {
    /// `parent_order_no`: the number the frontend pays and asks about.
    pub parent_order_no: String,
    /// `list.order.order_no`: the subsystem's (child) order number.
    pub order_no: String,
    /// `list.order.id`: the order's row id.
    pub id: u64,
    /// `list.order.order_status`.
    pub status: Status,
    /// `list.order.order_price`, in yuan as the JSON writes it.
    pub price: serde_json::Number,
    /// `list.order.c_time`: created at (Unix seconds).
    pub created_at: u64,
    /// `list.order.payment_time`: paid at (Unix seconds, 0 while unpaid).
    pub payment_time: u64,
    /// `expire_time`: the deadline to pay (Unix seconds).
    pub expire_time: u64,
    /// `overdue_time`: seconds from creation to the deadline.
    pub overdue_time: u64,
    /// `list.item[].sku_name`.
    pub sku_names: Vec<String>,
}

#[derive(Deserialize)]
struct OrderData {
    parent_order_no: String,
    expire_time: u64,
    overdue_time: u64,
    list: OrderList,
}

#[derive(Deserialize)]
struct OrderList {
    order: OrderRow,
    item: Vec<ItemRow>,
}

#[derive(Deserialize)]
struct OrderRow {
    id: u64,
    order_no: String,
    order_status: Status,
    order_price: serde_json::Number,
    c_time: u64,
    payment_time: u64,
}

#[derive(Deserialize)]
struct ItemRow {
    sku_name: String,
}

impl From<OrderData> for Order {
    fn from(data: OrderData) -> Self {
        let OrderData {
            parent_order_no,
            expire_time,
            overdue_time,
            list: OrderList { order, item },
        } = data;
        Order {
            parent_order_no,
            order_no: order.order_no,
            id: order.id,
            status: order.order_status,
            price: order.order_price,
            created_at: order.c_time,
            payment_time: order.payment_time,
            expire_time,
            overdue_time,
            sku_names: item.into_iter().map(|item| item.sku_name).collect(),
        }
    }
}

/// `data` of `shop/order/state` and `shop/order/cancel`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct State {
    /// The order asked about.
    pub parent_order_no: String,
    /// `transaction_status`.
    #[serde(rename = "transaction_status")]
    pub status: Status,
    /// `transaction_msg`: what the frontend shows.
    #[serde(rename = "transaction_msg")]
    pub message: String,
    /// The deadline to pay (Unix seconds).
    pub expire_time: u64,
}

/// `data` of `shop/order/pay`: what `wx.requestPayment` needs.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Payment {
    /// `transaction_status`: unpaid while the buyer has to pay, paid for a free order.
    #[serde(rename = "transaction_status")]
    pub status: Status,
    /// `transaction_msg`.
    #[serde(rename = "transaction_msg")]
    pub message: String,
    /// The amount in fen, as text.
    pub price: String,
    /// The provider's prepay id (empty for a free order).
    pub prepay_id: String,
    /// The RSA signature `wx.requestPayment` checks.
    pub pay_sign: String,
    /// The signature's algorithm.
    pub sign_type: String,
    /// The payment way asked for.
    pub payment_way: u64,
    /// Signed with the prepay id: the mini-program's app id, ...
    pub mini_app_id: String,
    /// ... the time, ...
    pub timestamp: String,
    /// ... and a nonce.
    pub nonce_str: String,
}
