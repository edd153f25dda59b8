//! JSON bodies of the UMS open-platform operations, with UMS's own field names.
//!
//! The same structs serve both sides: the client serializes requests and deserializes
//! answers, the simulator does the opposite. Amounts are fen. UMS is inconsistent about
//! whether an amount is a JSON number or a string (`totalAmount` is a number, `refundAmount`
//! a string in its samples), so every amount is read leniently and written the way UMS's
//! samples write it.

use serde::{Deserialize, Serialize};

pub mod amount;
mod status;

pub use status::{RefundStatus, TradeStatus};

/// `POST /v1/netpay/wx/unified-order`: place a WeChat mini-program order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedOrderRequest {
    /// Request id, unique per call.
    #[serde(default)]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    pub request_timestamp: String,
    /// Merchant order id; starts with `msgSrcId`.
    pub mer_order_id: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type, `MINIDEFAULT`.
    pub inst_mid: String,
    /// Amount in fen.
    #[serde(with = "amount::number")]
    pub total_amount: u64,
    /// Deadline after which the order can no longer be paid, `yyyy-MM-dd HH:mm:ss` China time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_time: Option<String>,
    /// Where the payment notify goes.
    pub notify_url: String,
    /// The mini-program's WeChat appId.
    pub sub_app_id: String,
    /// The payer's openid within that mini-program.
    pub sub_open_id: String,
    /// `MINI`.
    pub trade_type: String,
    /// Order description shown to the buyer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_desc: Option<String>,
}

/// `POST /v1/netpay/query` and `POST /v1/netpay/close`: one order, by `merOrderId`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderRequest {
    /// Request id, unique per call.
    #[serde(default)]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    pub request_timestamp: String,
    /// Merchant order id.
    pub mer_order_id: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type the order was placed with.
    pub inst_mid: String,
}

/// `POST /v1/netpay/refund`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundRequest {
    /// Request id, unique per call.
    #[serde(default)]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    pub request_timestamp: String,
    /// The paid order to refund.
    pub mer_order_id: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type the order was placed with.
    pub inst_mid: String,
    /// Amount to refund in fen (a string on the wire, as in UMS's samples).
    #[serde(with = "amount::string")]
    pub refund_amount: u64,
    /// The refund's own id: the idempotency key of the refund.
    pub refund_order_id: String,
    /// Reason shown on the statement.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_desc: Option<String>,
}

/// `POST /v1/netpay/refund-query`.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundQueryRequest {
    /// Request id, unique per call.
    #[serde(default)]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    pub request_timestamp: String,
    /// The refunded order.
    pub mer_order_id: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// Business type the order was placed with.
    pub inst_mid: String,
    /// Which refund.
    pub refund_order_id: String,
}

/// The parameters of `wx.requestPayment`, signed by the provider.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MiniPayRequest {
    /// The mini-program appId that `paySign` covers.
    pub app_id: String,
    /// Unix seconds, as a string.
    pub time_stamp: String,
    /// 32 random hex characters.
    pub nonce_str: String,
    /// `prepay_id=wx…`.
    pub package: String,
    /// `RSA`.
    pub sign_type: String,
    /// base64(SHA256withRSA over `appId\ntimeStamp\nnonceStr\npackage\n`).
    pub pay_sign: String,
}

impl MiniPayRequest {
    /// The `prepay_id` inside `package`.
    pub fn prepay_id(&self) -> &str {
        self.package
            .strip_prefix("prepay_id=")
            .unwrap_or(&self.package)
    }

    /// The exact text `paySign` signs.
    pub fn signed_text(&self) -> String {
        pay_sign_text(
            &self.app_id,
            &self.time_stamp,
            &self.nonce_str,
            &self.package,
        )
    }
}

/// The text WeChat's `wx.requestPayment` verifies `paySign` against.
pub fn pay_sign_text(app_id: &str, time_stamp: &str, nonce_str: &str, package: &str) -> String {
    format!("{app_id}\n{time_stamp}\n{nonce_str}\n{package}\n")
}

/// Answer of the unified order.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnifiedOrderResponse {
    /// `SUCCESS`.
    pub err_code: String,
    /// Provider message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_msg: Option<String>,
    /// Echo of the request id.
    #[serde(default)]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    #[serde(default)]
    pub response_timestamp: String,
    /// Echo of the merchant order id.
    pub mer_order_id: String,
    /// Merchant number.
    #[serde(default)]
    pub mid: String,
    /// Terminal number.
    #[serde(default)]
    pub tid: String,
    /// Provider's serial number for the order.
    #[serde(default)]
    pub seq_id: String,
    /// `WAIT_BUYER_PAY`.
    pub status: TradeStatus,
    /// Echo of the amount.
    #[serde(with = "amount::number")]
    pub total_amount: u64,
    /// `WXPay`.
    #[serde(default)]
    pub target_sys: String,
    /// Status at WeChat, `SUCCESS|SUCCESS`.
    #[serde(default)]
    pub target_status: String,
    /// What the mini-program passes to `wx.requestPayment`.
    pub mini_pay_request: MiniPayRequest,
}

/// Answer of a query: the order's state at the provider.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResponse {
    /// `SUCCESS`.
    pub err_code: String,
    /// Provider message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_msg: Option<String>,
    /// Echo of the request id.
    #[serde(default)]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    #[serde(default)]
    pub response_timestamp: String,
    /// Echo of the merchant order id.
    pub mer_order_id: String,
    /// The order's state.
    pub status: TradeStatus,
    /// Order amount in fen.
    #[serde(default, with = "amount::opt", skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<u64>,
    /// What the buyer paid, in fen, once paid.
    #[serde(default, with = "amount::opt", skip_serializing_if = "Option::is_none")]
    pub buyer_pay_amount: Option<u64>,
    /// Total refunded, in fen.
    #[serde(default, with = "amount::opt", skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<u64>,
    /// Payment time, `yyyy-MM-dd HH:mm:ss` China time, once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pay_time: Option<String>,
    /// WeChat's transaction id, once paid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_order_id: Option<String>,
    /// `WXPay`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_sys: Option<String>,
    /// Provider's serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq_id: Option<String>,
}

/// Answer of a close.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CloseResponse {
    /// `SUCCESS`: the order is closed and can no longer be paid.
    pub err_code: String,
    /// Provider message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_msg: Option<String>,
    /// Echo of the request id.
    #[serde(default)]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    #[serde(default)]
    pub response_timestamp: String,
    /// Echo of the merchant order id.
    pub mer_order_id: String,
    /// `TRADE_CLOSED`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TradeStatus>,
}

/// Answer of a refund or a refund query.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RefundResponse {
    /// `SUCCESS`: the call was accepted. Whether money moved is `refund_status`.
    pub err_code: String,
    /// Provider message, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub err_msg: Option<String>,
    /// Echo of the request id.
    #[serde(default)]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    #[serde(default)]
    pub response_timestamp: String,
    /// Echo of the merchant order id.
    pub mer_order_id: String,
    /// Echo of the refund id.
    pub refund_order_id: String,
    /// `SUCCESS`, `PROCESSING` (ask again with refund-query) or `FAIL`.
    pub refund_status: RefundStatus,
    /// This refund's amount in fen.
    #[serde(default, with = "amount::opt", skip_serializing_if = "Option::is_none")]
    pub refund_amount: Option<u64>,
    /// The order's amount in fen.
    #[serde(default, with = "amount::opt", skip_serializing_if = "Option::is_none")]
    pub total_amount: Option<u64>,
    /// The order's state after the refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<TradeStatus>,
    /// WeChat's id of the refund.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_target_order_id: Option<String>,
    /// When the money went back, once `SUCCESS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refund_pay_time: Option<String>,
}

/// Body of a refused call: every UMS answer carries at least these.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorResponse {
    /// Anything but `SUCCESS`; see [`super::codes`].
    pub err_code: String,
    /// What went wrong, for the logs.
    #[serde(default)]
    pub err_msg: String,
    /// Echo of the request id, when the request could be read.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub msg_id: String,
    /// `yyyy-MM-dd HH:mm:ss`, China time.
    #[serde(default)]
    pub response_timestamp: String,
}
