//! The simulator's part of the API document (`GET /openapi.json`, tags `paysim` and `ums`).
//! Its protocol endpoints follow UMS, not the order center's envelope; the request shapes
//! here list the fields the protocol defines (SPEC §4), the handlers carry their paths.

use utoipa::{OpenApi, ToSchema};

#[derive(OpenApi)]
#[openapi(paths(
    super::buyer::pay,
    super::buyer::checkout,
    super::buyer::public_key,
    super::buyer::get_faults,
    super::buyer::set_faults,
    super::buyer::console_refund,
    super::buyer::stats,
    super::netpay::unified_order,
    super::netpay::query,
    super::netpay::close,
    super::netpay::refund,
    super::netpay::refund_query,
))]
struct PaySimDoc;

/// The simulator's operations, to merge into the service's document.
pub fn openapi() -> utoipa::openapi::OpenApi {
    PaySimDoc::openapi()
}

/// An order at the provider.
#[derive(ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct MerOrder {
    /// The merchant order id (the order center's `parent_order_no`).
    #[schema(example = "2013150001004525628")]
    pub merOrderId: String,
}

/// What the buyer pays: one of the two.
#[derive(ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct BuyerPays {
    /// The merchant order id (also `mer_order_id` or `parent_order_no`).
    pub merOrderId: Option<String>,
    /// Or the `prepay_id` of `shop/order/pay`.
    pub prepay_id: Option<String>,
}

/// `POST /v1/netpay/wx/unified-order`.
#[derive(ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct UnifiedOrder {
    /// Unique per call.
    pub msgId: String,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub requestTimestamp: String,
    /// Starts with the 4-digit `msgSrcId`.
    pub merOrderId: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// `MINIDEFAULT`.
    pub instMid: String,
    /// Fen.
    pub totalAmount: u64,
    /// `yyyy-MM-dd HH:mm:ss`: the order's deadline.
    pub expireTime: Option<String>,
    /// Where the notify goes.
    pub notifyUrl: Option<String>,
    /// The mini-program appId.
    pub subAppId: String,
    /// The payer's openid.
    pub subOpenId: String,
    /// `MINI`.
    pub tradeType: String,
    /// Shown on the checkout page.
    pub orderDesc: Option<String>,
}

/// `POST /v1/netpay/query` and `/v1/netpay/close`.
#[derive(ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct OrderCall {
    /// Unique per call.
    pub msgId: String,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub requestTimestamp: String,
    /// The order.
    pub merOrderId: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// `MINIDEFAULT`.
    pub instMid: String,
}

/// `POST /v1/netpay/refund`.
#[derive(ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct Refund {
    /// Unique per call.
    pub msgId: String,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub requestTimestamp: String,
    /// The order.
    pub merOrderId: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// `MINIDEFAULT`.
    pub instMid: String,
    /// Fen (a string on the wire).
    pub refundAmount: String,
    /// The refund's id (the order center derives it from `parent_order_no`).
    pub refundOrderId: Option<String>,
}

/// `POST /v1/netpay/refund-query`.
#[derive(ToSchema)]
#[allow(non_snake_case, dead_code)]
pub struct RefundQuery {
    /// Unique per call.
    pub msgId: String,
    /// `yyyy-MM-dd HH:mm:ss`.
    pub requestTimestamp: String,
    /// The order.
    pub merOrderId: String,
    /// Merchant number.
    pub mid: String,
    /// Terminal number.
    pub tid: String,
    /// `MINIDEFAULT`.
    pub instMid: String,
    /// Which refund (absent: the latest).
    pub refundOrderId: Option<String>,
}
