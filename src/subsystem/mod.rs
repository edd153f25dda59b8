//! Business subsystems as the order center sees them (SPEC §3, §5).
//!
//! Each `business_type` has a subsystem that prices and records its side of an order
//! (`applyOrderCreate`), hears how the order ended (`applyOrderNotify`) and says until when
//! its owner may ask for a refund (`applyOrderRefundDeadline`). The order center
//! talks to every subsystem through [`Subsystem`]: over HTTP ([`HttpSubsystem`], base URL per
//! `business_type`) or in-process (`crate::activity::InProcessSubsystem`, the embedded
//! default).

mod http_client;

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use http_client::HttpSubsystem;

/// `applyOrderCreate`: bind the SKUs to this order and price them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreateCall {
    /// The child order number the subsystem records.
    pub order_no: String,
    /// Its parent.
    pub parent_order_no: String,
    /// Owner's tenant.
    pub company_id: u64,
    /// Owner.
    pub member_id: u64,
    /// `business_id`.
    pub business_id: u64,
    /// The SKUs, `sku:qty[,…]`.
    pub sku_slice: String,
    /// JSON text from the client.
    pub handle_info: String,
}

/// One priced line of the subsystem's answer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredItem {
    /// The SKU.
    pub sku: String,
    /// Display name.
    pub sku_name: String,
    /// Unit price in fen.
    pub sku_price: u64,
    /// Quantity.
    pub sku_num: u32,
    /// Image URL.
    pub sku_img: String,
    /// Free text.
    pub sku_info: String,
}

/// Display extras of the subsystem's answer.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AnsweredExtra {
    /// Venue name.
    pub stadium_name: String,
    /// "name phone".
    pub user_info: String,
}

/// The subsystem's answer to `applyOrderCreate`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderCreateAnswer {
    /// One line per SKU.
    pub items: Vec<AnsweredItem>,
    /// Display extras.
    pub extra: AnsweredExtra,
}

/// `applyOrderNotify`: how the order ended (1 paid, 2 closed, 3 refunded).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderNotifyCall {
    /// The child order number.
    pub order_no: String,
    /// Its parent.
    pub parent_order_no: String,
    /// How it ended (1 paid, 2 closed, 3 refunded on the wire).
    pub order_status: crate::domain::OrderOutcome,
}

/// `applyOrderRefundDeadline`: until when the owner of an order may ask for a refund.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundDeadlineCall {
    /// The child order number the subsystem recorded.
    pub order_no: String,
    /// Its parent.
    pub parent_order_no: String,
}

/// The subsystem's answer to `applyOrderRefundDeadline`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundDeadlineAnswer {
    /// Unix seconds from which the owner may no longer ask (`None`: always allowed).
    pub refund_deadline: Option<u64>,
}

/// How a subsystem call failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum SubsystemError {
    /// The subsystem answered and said no (a business error). Final: retrying will not help.
    #[error("subsystem refused ({code}): {message}")]
    Rejected {
        /// The subsystem's business code (SPEC §2 table).
        code: u64,
        /// Its message.
        message: String,
        /// Its `data`, if any (e.g. the pending order of 4001009999).
        data: Option<serde_json::Value>,
    },
    /// No usable answer (transport error, timeout, 5xx, garbage). Retrying may help.
    #[error("subsystem unavailable: {0}")]
    Unavailable(String),
}

/// A business subsystem.
#[async_trait]
pub trait Subsystem: Send + Sync {
    /// `applyOrderCreate`. Idempotent on `order_no`.
    async fn order_create(
        &self,
        call: &OrderCreateCall,
    ) -> Result<OrderCreateAnswer, SubsystemError>;
    /// `applyOrderNotify`. Idempotent; `Ok` is the acknowledgement.
    async fn order_notify(&self, call: &OrderNotifyCall) -> Result<(), SubsystemError>;
    /// `applyOrderRefundDeadline`: the subsystem owns what was ordered, so it says until
    /// when its owner may ask for a refund (an activity's `refund_deadline`). Read-only.
    async fn refund_deadline(
        &self,
        call: &RefundDeadlineCall,
    ) -> Result<RefundDeadlineAnswer, SubsystemError>;

    /// The same subsystem as a step of the order center's own store changes, when it keeps
    /// its records in that store (in-process): `applyOrderCreate` then binds in the same
    /// atomic change that creates the order. `None` for a subsystem across a network.
    fn in_store(&self) -> Option<&dyn InStoreSubsystem> {
        None
    }
}

/// A subsystem whose records live in the order center's store (see [`Subsystem::in_store`]).
pub trait InStoreSubsystem: Send + Sync {
    /// `applyOrderCreate` on the store's writer thread (inside `crate::store::Store::write`),
    /// its writes staged into `change`: the order center writes them in the same atomic
    /// change as the order. Stages nothing when it refuses.
    fn order_create_in_write(
        &self,
        call: &OrderCreateCall,
        change: &mut crate::store::Change,
    ) -> Result<OrderCreateAnswer, SubsystemError>;

    /// `applyOrderNotify` for several orders on the store's writer thread, their writes
    /// staged into `change`: the order center records how the orders ended in the same
    /// atomic change. Each call sees what the calls before it staged. One result per call
    /// (a call that fails stages nothing); an `Err` for all means nothing was staged.
    fn order_notify_many_in_write(
        &self,
        calls: &[OrderNotifyCall],
        change: &mut crate::store::Change,
    ) -> Result<Vec<Result<(), SubsystemError>>, SubsystemError>;
}

/// The subsystem of each `business_type`.
#[derive(Clone, Default)]
pub struct Subsystems {
    by_type: HashMap<u16, Arc<dyn Subsystem>>,
}

impl Subsystems {
    /// Registers the subsystem for `business_type`.
    pub fn insert(&mut self, business_type: u16, subsystem: Arc<dyn Subsystem>) {
        self.by_type.insert(business_type, subsystem);
    }

    /// The subsystem for `business_type`, if one is configured.
    pub fn get(&self, business_type: u16) -> Option<Arc<dyn Subsystem>> {
        self.by_type.get(&business_type).cloned()
    }

    /// Whether `business_type` has a subsystem.
    pub fn knows(&self, business_type: u16) -> bool {
        self.by_type.contains_key(&business_type)
    }
}
