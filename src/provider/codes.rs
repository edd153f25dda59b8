//! `errCode` values of the UMS open platform that the order center reacts to.
//!
//! Only `SUCCESS` means the call did what was asked. The others are answers, not transport
//! failures: the provider received the request and refused it, so nothing changed there.
//! The simulator answers with exactly these, so behaviour tested against it carries over.

/// The call succeeded.
pub const SUCCESS: &str = "SUCCESS";
/// The `OPEN-BODY-SIG` authorization was missing, stale or wrong.
pub const BAD_SIGNATURE: &str = "1000";
/// A field is missing or malformed, or mid/tid/`merOrderId` prefix do not belong to the app.
pub const BAD_REQUEST: &str = "BAD_REQUEST";
/// No order with this `merOrderId` (or no refund with this `refundOrderId`).
pub const NO_ORDER: &str = "NO_ORDER";
/// The `merOrderId` (or `refundOrderId`) exists with other parameters (e.g. another amount).
pub const DUP_ORDER: &str = "DUP_ORDER";
/// The order is paid: it cannot be closed or ordered again. Query it to learn the payment.
pub const ORDER_PAID: &str = "ORDER_PAID";
/// The order is closed (closed by the merchant or expired): it cannot be paid or re-ordered.
pub const ORDER_CLOSED: &str = "ORDER_CLOSED";
/// A refund is not possible: the order is not paid or the amount exceeds what is left.
pub const REFUND_NOT_ALLOWED: &str = "REFUND_NOT_ALLOWED";
/// The provider failed internally; nothing is known to have changed. Retry later.
pub const INTERNAL_ERROR: &str = "INTERNAL_ERROR";
