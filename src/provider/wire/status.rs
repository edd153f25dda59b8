//! Order and refund states as UMS names them.
//!
//! Unrecognised values are kept (`Other`) rather than failing the whole answer, and count as
//! "not final": an unknown word must never be read as paid or as closed.

use serde::{Deserialize, Serialize};

/// The state of an order at the provider (`status`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum TradeStatus {
    /// `NEW_ORDER`: placed, the buyer has not started paying.
    NewOrder,
    /// `WAIT_BUYER_PAY`: waiting for the buyer.
    WaitBuyerPay,
    /// `UNKNOWN`: the provider does not know yet; ask again.
    Unknown,
    /// `TRADE_SUCCESS`: paid.
    TradeSuccess,
    /// `TRADE_CLOSED`: closed or expired unpaid; it can no longer be paid.
    TradeClosed,
    /// `TRADE_REFUND`: paid, then refunded.
    TradeRefund,
    /// Anything else, kept verbatim; treated as pending.
    Other(String),
}

impl TradeStatus {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::NewOrder => "NEW_ORDER",
            Self::WaitBuyerPay => "WAIT_BUYER_PAY",
            Self::Unknown => "UNKNOWN",
            Self::TradeSuccess => "TRADE_SUCCESS",
            Self::TradeClosed => "TRADE_CLOSED",
            Self::TradeRefund => "TRADE_REFUND",
            Self::Other(text) => text,
        }
    }

    /// Not decided yet: keep asking (or close it).
    pub fn is_pending(&self) -> bool {
        matches!(
            self,
            Self::NewOrder | Self::WaitBuyerPay | Self::Unknown | Self::Other(_)
        )
    }

    /// The buyer's money reached the merchant (even if refunded since).
    pub fn was_paid(&self) -> bool {
        matches!(self, Self::TradeSuccess | Self::TradeRefund)
    }
}

impl From<String> for TradeStatus {
    fn from(text: String) -> Self {
        match text.as_str() {
            "NEW_ORDER" => Self::NewOrder,
            "WAIT_BUYER_PAY" => Self::WaitBuyerPay,
            "UNKNOWN" => Self::Unknown,
            "TRADE_SUCCESS" => Self::TradeSuccess,
            "TRADE_CLOSED" => Self::TradeClosed,
            "TRADE_REFUND" => Self::TradeRefund,
            _ => Self::Other(text),
        }
    }
}

impl From<TradeStatus> for String {
    fn from(status: TradeStatus) -> Self {
        status.as_str().to_owned()
    }
}

/// The state of a refund (`refundStatus`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "String", into = "String")]
pub enum RefundStatus {
    /// `SUCCESS`: the money went back.
    Success,
    /// `PROCESSING`: accepted, not done; ask with refund-query.
    Processing,
    /// `FAIL`: the refund will not happen.
    Fail,
    /// `UNKNOWN`: ask again.
    Unknown,
    /// Anything else, kept verbatim; treated as not final.
    Other(String),
}

impl RefundStatus {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Self::Success => "SUCCESS",
            Self::Processing => "PROCESSING",
            Self::Fail => "FAIL",
            Self::Unknown => "UNKNOWN",
            Self::Other(text) => text,
        }
    }

    /// `SUCCESS` or `FAIL`: no need to ask again.
    pub fn is_final(&self) -> bool {
        matches!(self, Self::Success | Self::Fail)
    }
}

impl From<String> for RefundStatus {
    fn from(text: String) -> Self {
        match text.as_str() {
            "SUCCESS" => Self::Success,
            "PROCESSING" => Self::Processing,
            "FAIL" => Self::Fail,
            "UNKNOWN" => Self::Unknown,
            _ => Self::Other(text),
        }
    }
}

impl From<RefundStatus> for String {
    fn from(status: RefundStatus) -> Self {
        status.as_str().to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_words_are_pending_never_final() {
        let status: TradeStatus =
            serde_json::from_str("\"PAYING\"").unwrap_or(TradeStatus::Unknown);
        assert_eq!(status, TradeStatus::Other("PAYING".into()));
        assert!(status.is_pending() && !status.was_paid());
        let refund = RefundStatus::from("ALMOST".to_owned());
        assert!(!refund.is_final());
    }

    #[test]
    fn round_trips_wire_names() {
        for name in [
            "NEW_ORDER",
            "WAIT_BUYER_PAY",
            "UNKNOWN",
            "TRADE_SUCCESS",
            "TRADE_CLOSED",
            "TRADE_REFUND",
        ] {
            assert_eq!(String::from(TradeStatus::from(name.to_owned())), name);
        }
    }
}
