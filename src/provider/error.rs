//! What can go wrong talking to the provider, told apart by what the caller should do.

use std::time::Duration;

use super::codes;

/// Errors of the provider client and of notify verification.
///
/// The distinction that matters to the order center: after [`Transport`](Self::Transport),
/// [`Timeout`](Self::Timeout), [`Http`](Self::Http) (5xx) or [`BadResponse`](Self::BadResponse)
/// the call may or may not have taken effect at the provider, so the order must be queried
/// before anything is concluded; after [`Refused`](Self::Refused) the provider answered and
/// nothing changed there.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// The request could not be sent or the connection broke.
    #[error("payment provider unreachable: {0}")]
    Transport(#[source] reqwest::Error),
    /// No answer within the configured timeout.
    #[error("payment provider did not answer within {0:?}")]
    Timeout(Duration),
    /// The gateway answered with an HTTP error and no UMS body (e.g. 502, 503, 504).
    #[error("payment provider gateway answered HTTP {status}")]
    Http {
        /// The HTTP status.
        status: u16,
    },
    /// The provider answered and refused: `errCode` is not `SUCCESS` (see [`codes`]).
    #[error("payment provider refused: {code} ({message})")]
    Refused {
        /// `errCode`.
        code: String,
        /// `errMsg`.
        message: String,
    },
    /// The answer could not be read as the expected UMS body.
    #[error("payment provider answer is malformed: {0}")]
    BadResponse(String),
    /// A notify's signature is missing or wrong, or its `signType` is unknown.
    #[error("notify signature is missing or wrong")]
    BadSignature,
    /// The answer or notify is about another order or another amount than expected.
    #[error("payment provider answer does not match the order: {0}")]
    Mismatch(String),
    /// The client could not be built (TLS backend, invalid settings).
    #[error("payment provider client cannot be built: {0}")]
    Config(String),
}

impl ProviderError {
    /// `errCode` when the provider refused.
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }

    /// The provider has no such order: e.g. a unified order that never reached it.
    pub fn is_no_order(&self) -> bool {
        self.code() == Some(codes::NO_ORDER)
    }

    /// The order is paid at the provider (answer to a close or a repeated unified order).
    pub fn is_order_paid(&self) -> bool {
        self.code() == Some(codes::ORDER_PAID)
    }

    /// The order is closed or expired at the provider and can no longer be paid.
    pub fn is_order_closed(&self) -> bool {
        self.code() == Some(codes::ORDER_CLOSED)
    }

    /// Whether the outcome at the provider is unknown and trying again (or querying) is the
    /// right move: transport failures, timeouts, gateway errors, malformed answers and the
    /// provider's own internal errors.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::Transport(_) | Self::Timeout(_) | Self::BadResponse(_) => true,
            Self::Http { status } => *status >= 500 || *status == 429,
            Self::Refused { code, .. } => code == codes::INTERNAL_ERROR,
            Self::BadSignature | Self::Mismatch(_) | Self::Config(_) => false,
        }
    }
}
