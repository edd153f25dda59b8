//! What the provider's answers say about a payment, as the order center's domain reads it
//! ([`PaidEvidence`]).

use super::{Notify, QueryResponse, TradeStatus};
use crate::domain::{EvidenceSource, PaidEvidence};

/// Unix seconds of a `yyyy-MM-dd HH:mm:ss` China-time payment time.
fn paid_at(pay_time: Option<&str>) -> Option<u64> {
    pay_time
        .and_then(|t| super::time::parse_china(t, super::time::DATE_TIME))
        .map(|t| t.max(0) as u64)
}

impl QueryResponse {
    /// The payment this answer reports (meaningful when it says `TRADE_SUCCESS` or
    /// `TRADE_REFUND`).
    pub fn evidence(&self, source: EvidenceSource) -> PaidEvidence {
        PaidEvidence {
            amount: self.total_amount.unwrap_or_default(),
            paid_at: paid_at(self.pay_time.as_deref()),
            target_order_id: self.target_order_id.clone(),
            source,
            refunded: self.status == TradeStatus::TradeRefund,
        }
    }
}

impl Notify {
    /// The payment this verified notify reports (meaningful when it says `TRADE_SUCCESS`).
    pub fn evidence(&self) -> PaidEvidence {
        PaidEvidence {
            amount: self.total_amount,
            paid_at: paid_at(self.pay_time.as_deref()),
            target_order_id: self.target_order_id.clone(),
            source: EvidenceSource::Notify,
            refunded: false,
        }
    }
}
