//! The activity platform: the business subsystem for `business_type` 3001 (SPEC §5).
//!
//! Activities with seats, members' applies (one seat each), a fair waitlist per full
//! activity (a released seat goes to the first waiter in the change that releases it), and
//! the calls the order center makes: `applyOrderCreate` (bind applies to an order and price
//! them), `applyOrderNotify` (paid → registered; closed or refunded → seat released) and
//! `applyOrderRefundDeadline` (until when the owner may ask for a refund).
//! [`ActivityService`] holds the rules; `crate::http::activity` exposes them over HTTP, and
//! [`InProcessSubsystem`] lets the order center call them without a network hop.

pub mod model;
mod service;
mod sweeper;

pub use service::{
    ActivityError, ActivityService, ApplyCommand, NewActivity, OrderBinding, OrderNotice,
};
pub use sweeper::run_reservation_sweeper;

use async_trait::async_trait;

use crate::domain::OrderNo;
use crate::subsystem::{
    InStoreSubsystem, OrderCreateAnswer, OrderCreateCall, OrderNotifyCall, RefundDeadlineAnswer,
    RefundDeadlineCall, Subsystem, SubsystemError,
};

/// The activity platform reached in-process, through the same interface as over HTTP.
///
/// It shares the order center's store, so the order center binds the applies in the same
/// atomic change that creates the order, and applies how an order ended in the same change
/// that records it ([`InStoreSubsystem`]): no outbox round for in-process notices.
#[derive(Clone)]
pub struct InProcessSubsystem {
    service: ActivityService,
}

impl InProcessSubsystem {
    /// Wraps the co-located service.
    pub fn new(service: ActivityService) -> Self {
        Self { service }
    }
}

#[async_trait]
impl Subsystem for InProcessSubsystem {
    async fn order_create(
        &self,
        call: &OrderCreateCall,
    ) -> Result<OrderCreateAnswer, SubsystemError> {
        self.service
            .bind_order(OrderBinding::from_call(call)?)
            .await
            .map_err(SubsystemError::from)
    }

    async fn order_notify(&self, call: &OrderNotifyCall) -> Result<(), SubsystemError> {
        let notice = OrderNotice::from_call(call)?;
        self.service
            .order_notice(notice)
            .await
            .map_err(SubsystemError::from)
    }

    async fn refund_deadline(
        &self,
        call: &RefundDeadlineCall,
    ) -> Result<RefundDeadlineAnswer, SubsystemError> {
        let order_no = OrderNo::parse(&call.order_no)
            .map_err(|_| ActivityError::Invalid("order_no 格式错误".into()))?;
        let refund_deadline = self.service.order_refund_deadline(order_no).await?;
        Ok(RefundDeadlineAnswer { refund_deadline })
    }

    fn in_store(&self) -> Option<&dyn InStoreSubsystem> {
        Some(self)
    }
}

impl InStoreSubsystem for InProcessSubsystem {
    fn order_create_in_write(
        &self,
        call: &OrderCreateCall,
        change: &mut crate::store::Change,
    ) -> Result<OrderCreateAnswer, SubsystemError> {
        self.service
            .bind_order_in_write(OrderBinding::from_call(call)?, change)
            .map_err(SubsystemError::from)
    }

    fn order_notify_many_in_write(
        &self,
        calls: &[OrderNotifyCall],
        change: &mut crate::store::Change,
    ) -> Result<Vec<Result<(), SubsystemError>>, SubsystemError> {
        let notices = calls.iter().map(OrderNotice::from_call).collect();
        let results = self.service.order_notices_in_write(notices, change)?;
        Ok(results
            .into_iter()
            .map(|result| result.map_err(SubsystemError::from))
            .collect())
    }
}
