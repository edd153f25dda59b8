//! The order center's domain: plain Rust, no actix, no sled, no HTTP.
//!
//! Values are parsed at the edge into the types here ([`Fen`], [`OrderNo`], [`SkuSlice`],
//! [`MemberRef`]). The status machine ([`status`]) is the only place that says which
//! changes of an order are legal, and [`Order::decide`] ([`decision`]) the only place that
//! says what a call on an order leads to.

pub mod decision;
pub mod history;
pub mod money;
pub mod order;
pub mod order_no;
pub mod sku;
pub mod status;
pub mod text;
pub mod time;

pub use decision::{
    Command, Effect, EvidenceSource, PaidEvidence, RefundDeadline, RefundRequester, Refusal,
};
pub use history::{Happened, HistoryEntry};
pub use money::{Fen, Yuan};
pub use order::{MemberRef, Order, OrderExtra, OrderItem, Payment, Prepay, Refund};
pub use order_no::{ItemNo, OrderNo, OrderNoGenerator};
pub use sku::{SkuLine, SkuSlice};
pub use status::{OrderEvent, OrderOutcome, OrderStatus};
pub use text::SharedText;
