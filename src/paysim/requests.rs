//! Requests as the gateway reads them, which is more leniently than our client writes them.
//!
//! [`crate::provider::wire`] holds the bodies our client sends, with every field it always
//! fills in required. Other UMS clients leave some out and the real gateway accepts them:
//! a unified order without `notifyUrl` (the merchant queries instead), a refund without
//! `refundOrderId` (the gateway makes one up), a refund query by `merOrderId` alone (the
//! order's latest refund), and `instMid` values of other UMS products on query, close and
//! refund. These types accept exactly that much more; the rest is [`super::netpay`]'s checks.

use serde::Deserialize;

use crate::provider::config::DEFAULT_INST_MID;
use crate::provider::wire::{amount, OrderRequest};

/// `instMid` values of the UMS products whose orders query, close and refund serve:
/// mini-program, QR code, official-account (`YUEDAN`), H5 and app payments. Clients of
/// those products reuse their own `instMid` on these calls, and the gateway answers them.
pub(super) const KNOWN_INST_MIDS: &[&str] = &[
    DEFAULT_INST_MID,
    "QRPAYDEFAULT",
    "YUEDANDEFAULT",
    "H5DEFAULT",
    "APPDEFAULT",
];

/// The header fields every request carries, and which `instMid` its operation accepts.
pub(super) trait Addressed {
    /// `(msgId, merOrderId, mid, tid, instMid)`.
    fn address(&self) -> (&str, &str, &str, &str, &str);

    /// Whether the operation serves orders of this `instMid`: any known one by default.
    fn accepts_inst_mid(inst_mid: &str) -> bool {
        KNOWN_INST_MIDS.contains(&inst_mid)
    }
}

macro_rules! addressed {
    ($($ty:ty),*) => {$(
        impl Addressed for $ty {
            fn address(&self) -> (&str, &str, &str, &str, &str) {
                (&self.msg_id, &self.mer_order_id, &self.mid, &self.tid, &self.inst_mid)
            }
        }
    )*};
}

addressed!(OrderRequest, RefundRequest, RefundQueryRequest);

/// `POST /v1/netpay/wx/unified-order` as the gateway reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct PlaceRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub msg_id: String,
    /// Merchant order id; starts with `msgSrcId`.
    pub mer_order_id: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type: only `MINIDEFAULT` on this mini-program endpoint.
    pub inst_mid: String,
    /// Amount in fen.
    #[serde(with = "amount::number")]
    pub total_amount: u64,
    /// `yyyy-MM-dd HH:mm:ss` China time.
    #[serde(default)]
    pub expire_time: Option<String>,
    /// Where the notify goes; absent or empty: no notify is sent.
    #[serde(default)]
    pub notify_url: Option<String>,
    /// How the notify is to be signed (`SHA256`, `MD5`); absent: MD5 without `signType`.
    #[serde(default)]
    pub sign_type: Option<String>,
    /// The mini-program's appId.
    pub sub_app_id: String,
    /// The payer's openid.
    pub sub_open_id: String,
    /// `MINI`.
    pub trade_type: String,
    /// Description shown to the buyer.
    #[serde(default)]
    pub order_desc: Option<String>,
}

impl Addressed for PlaceRequest {
    fn address(&self) -> (&str, &str, &str, &str, &str) {
        (
            &self.msg_id,
            &self.mer_order_id,
            &self.mid,
            &self.tid,
            &self.inst_mid,
        )
    }

    /// This endpoint places mini-program orders only.
    fn accepts_inst_mid(inst_mid: &str) -> bool {
        inst_mid == DEFAULT_INST_MID
    }
}

/// `POST /v1/netpay/refund` as the gateway reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefundRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub msg_id: String,
    /// The paid order.
    pub mer_order_id: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type.
    pub inst_mid: String,
    /// Fen, a number or a digit string.
    #[serde(with = "amount::string")]
    pub refund_amount: u64,
    /// The refund's id; absent or empty: the gateway's own (see [`generated_refund_id`]).
    #[serde(default)]
    pub refund_order_id: Option<String>,
}

/// `POST /v1/netpay/refund-query` as the gateway reads it.
#[derive(Clone, Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(super) struct RefundQueryRequest {
    /// Request id, echoed.
    #[serde(default)]
    pub msg_id: String,
    /// The refunded order.
    pub mer_order_id: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type.
    pub inst_mid: String,
    /// Which refund; absent or empty: the order's latest.
    #[serde(default)]
    pub refund_order_id: Option<String>,
}

/// The id of a refund asked without `refundOrderId`. Derived from the order, so a retried
/// call (its answer lost) finds the same refund instead of refunding twice; a client that
/// wants several refunds of one order names them, as UMS asks.
pub(super) fn generated_refund_id(mer_order_id: &str) -> String {
    format!("{mer_order_id}R")
}

/// A field that was sent and is not blank, as sent: clients with nothing to say send `""`
/// as often as they leave the field out.
pub(super) fn given(value: &Option<String>) -> Option<&str> {
    value.as_deref().filter(|text| !text.trim().is_empty())
}
