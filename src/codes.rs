//! The business codes of SPEC §2: the one table. The HTTP layer answers them, the activity
//! platform refuses with them, and the order center recognises a subsystem's
//! [`PENDING_ORDER`] by it.

/// Success.
pub const SUCCESS: u64 = 200;
/// A field is missing or malformed (the message names it).
pub const INVALID_FIELD: u64 = 4_000_000_001;
/// The member already has an unpaid order for this activity; `data` names it (a real
/// client takes the member to pay it).
pub const PENDING_ORDER: u64 = 4_001_009_999;
/// The admin or internal token is missing or wrong.
pub const UNAUTHORIZED: u64 = 4_010_000_000;
/// The activity is not open for sign-up.
pub const ACTIVITY_NOT_OPEN: u64 = 4_030_000_001;
/// No such endpoint.
pub const NO_ROUTE: u64 = 4_040_000_000;
/// No such order, or not the caller's.
pub const ORDER_NOT_FOUND: u64 = 4_040_000_001;
/// No such activity, apply or SKU, or not the caller's.
pub const ACTIVITY_NOT_FOUND: u64 = 4_040_000_002;
/// Method not allowed.
pub const METHOD_NOT_ALLOWED: u64 = 4_050_000_000;
/// The order is closed or past its deadline: it cannot be paid.
pub const ORDER_CLOSED: u64 = 4_090_000_001;
/// The order is paid already.
pub const ORDER_PAID: u64 = 4_090_000_002;
/// The activity is full.
pub const ACTIVITY_FULL: u64 = 4_090_000_003;
/// The member is registered for this activity already.
pub const ALREADY_REGISTERED: u64 = 4_090_000_004;
/// An `Idempotency-Key` reused with other parameters.
pub const IDEMPOTENCY_CONFLICT: u64 = 4_090_000_005;
/// The order cannot be refunded: not paid, or refunded already.
pub const NOT_REFUNDABLE: u64 = 4_090_000_006;
/// The refund deadline of the activity has passed.
pub const REFUND_DEADLINE_PASSED: u64 = 4_030_000_002;
/// The request body is over the limit.
pub const TOO_LARGE: u64 = 4_130_000_000;
/// Neither a form nor JSON.
pub const UNSUPPORTED_MEDIA_TYPE: u64 = 4_150_000_000;
/// Unexpected internal error (details only in the log).
pub const INTERNAL: u64 = 5_000_000_000;
/// The payment provider failed or could not be reached; nothing changed.
pub const PROVIDER_FAILED: u64 = 5_020_000_001;
/// A business subsystem failed or could not be reached; nothing was created.
pub const SUBSYSTEM_FAILED: u64 = 5_020_000_002;
/// Overloaded, starting, stopping, or storage unavailable; nothing was written.
pub const UNAVAILABLE: u64 = 5_030_000_000;

/// The HTTP status of a business code: its first three digits, except [`PENDING_ORDER`]
/// (a conflict: the member has an unpaid order to pay first).
pub fn http_status(code: u64) -> u16 {
    match code {
        PENDING_ORDER => 409,
        SUCCESS => 200,
        code => u16::try_from(code / 10_000_000).unwrap_or(500),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_code_answers_the_status_spec_gives_it() {
        for (code, status) in [
            (SUCCESS, 200),
            (INVALID_FIELD, 400),
            (PENDING_ORDER, 409),
            (UNAUTHORIZED, 401),
            (ACTIVITY_NOT_OPEN, 403),
            (NO_ROUTE, 404),
            (ORDER_NOT_FOUND, 404),
            (ACTIVITY_NOT_FOUND, 404),
            (METHOD_NOT_ALLOWED, 405),
            (ORDER_CLOSED, 409),
            (ORDER_PAID, 409),
            (ACTIVITY_FULL, 409),
            (ALREADY_REGISTERED, 409),
            (IDEMPOTENCY_CONFLICT, 409),
            (NOT_REFUNDABLE, 409),
            (REFUND_DEADLINE_PASSED, 403),
            (TOO_LARGE, 413),
            (UNSUPPORTED_MEDIA_TYPE, 415),
            (INTERNAL, 500),
            (PROVIDER_FAILED, 502),
            (SUBSYSTEM_FAILED, 502),
            (UNAVAILABLE, 503),
        ] {
            assert_eq!(http_status(code), status, "{code}");
        }
    }
}
