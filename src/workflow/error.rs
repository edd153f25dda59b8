//! What can go wrong with an order call (the HTTP layer maps these to codes).

use crate::domain::Refusal;
use crate::store::StoreError;
use crate::subsystem::SubsystemError;

/// Errors of order operations.
#[derive(Debug, thiserror::Error)]
pub enum OrderError {
    /// No such order, or not the caller's: answered the same way.
    #[error("order not found")]
    NotFound,
    /// Closed or past its deadline: cannot be paid.
    #[error("order closed")]
    Closed,
    /// Already paid.
    #[error("order already paid")]
    AlreadyPaid,
    /// Not paid, or refunded already: nothing to refund.
    #[error("order cannot be refunded")]
    NotRefundable,
    /// The owner asked for a refund on or after the refund deadline.
    #[error("refund deadline passed")]
    PastRefundDeadline,
    /// An owner's refund met a paid order without its refund deadline known (see
    /// [`crate::domain::RefundDeadline::NotAsked`]); the center asks and decides again, so
    /// this only reaches a client when that keeps happening: retry.
    #[error("refund deadline not known")]
    RefundDeadlineUnknown,
    /// The business subsystem refused the order (its code and message are passed on).
    #[error("subsystem refused: {message}")]
    Rejected {
        /// Business code from the subsystem.
        code: u64,
        /// Its message.
        message: String,
        /// Its data.
        data: Option<serde_json::Value>,
    },
    /// The business subsystem could not be reached; nothing was created.
    #[error("subsystem unavailable: {0}")]
    SubsystemUnavailable(String),
    /// No subsystem is configured for the `business_type`.
    #[error("unknown business_type {0}")]
    UnknownBusinessType(u16),
    /// The payment provider failed or could not be reached; nothing changed for the client.
    #[error("payment provider failed: {0}")]
    ProviderFailed(String),
    /// A payment report does not match the order (amount).
    #[error("payment does not match the order: {0}")]
    Mismatch(String),
    /// An `Idempotency-Key` reused with other parameters.
    #[error("idempotency key reused with other parameters")]
    IdempotencyConflict,
    /// The service is starting or stopping.
    #[error("not ready")]
    NotReady,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An actor went away mid-call.
    #[error("actor mailbox: {0}")]
    Mailbox(#[from] actix::MailboxError),
}

impl From<SubsystemError> for OrderError {
    fn from(error: SubsystemError) -> Self {
        match error {
            SubsystemError::Rejected {
                code,
                message,
                data,
            } => OrderError::Rejected {
                code,
                message,
                data,
            },
            SubsystemError::Unavailable(text) => OrderError::SubsystemUnavailable(text),
        }
    }
}

impl From<Refusal> for OrderError {
    fn from(refusal: Refusal) -> Self {
        match refusal {
            Refusal::NotFound => OrderError::NotFound,
            Refusal::Closed => OrderError::Closed,
            Refusal::AlreadyPaid => OrderError::AlreadyPaid,
            Refusal::Mismatch(reason) => OrderError::Mismatch(reason),
            Refusal::NotRefundable => OrderError::NotRefundable,
            Refusal::PastRefundDeadline => OrderError::PastRefundDeadline,
            Refusal::RefundDeadlineUnknown => OrderError::RefundDeadlineUnknown,
        }
    }
}
