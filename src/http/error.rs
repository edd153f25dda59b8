//! The one mapping from failures to HTTP: stable business codes (SPEC §2), user-facing
//! messages, opaque 500s. Causes go to the log, never to the client.

use actix_web::http::StatusCode;
use actix_web::{HttpResponse, ResponseError};

use super::envelope::Envelope;
use crate::activity::ActivityError;
use crate::codes;
use crate::store::StoreError;
use crate::workflow::OrderError;

/// Which token a call needs (its refusal names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// `ORDERCENTER_ADMIN_TOKEN`, for admin calls (`activity/save`).
    Admin,
    /// `ORDERCENTER_INTERNAL_TOKEN`, for the order center's calls to a subsystem.
    Internal,
}

impl Token {
    /// The form field that may carry it instead of `Authorization: Bearer …`.
    pub fn field(self) -> &'static str {
        match self {
            Token::Admin => "admin_token",
            Token::Internal => "internal_token",
        }
    }
}

/// Every failure an endpoint can answer.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// A field is missing or malformed; the message names it.
    #[error("{0}")]
    Invalid(String),
    /// The admin or internal token is missing or wrong.
    #[error("{0:?} token required")]
    Unauthorized(Token),
    /// An operator call that moves money (`adminRefund`) while no admin token is
    /// configured: refused rather than open to anyone.
    #[error("admin token not configured")]
    AdminTokenNotConfigured,
    /// No such order, or not the caller's.
    #[error("order not found")]
    OrderNotFound,
    /// The order is closed or past its deadline.
    #[error("order closed")]
    OrderClosed,
    /// The order is paid.
    #[error("order paid")]
    OrderPaid,
    /// An idempotency key was reused with other parameters.
    #[error("idempotency key reused")]
    IdempotencyConflict,
    /// Not paid, or refunded already.
    #[error("order not refundable")]
    NotRefundable,
    /// The refund deadline passed.
    #[error("refund deadline passed")]
    RefundDeadlinePassed,
    /// A business rule of a subsystem said no (its code, message and data are passed on).
    #[error("{message}")]
    Business {
        /// Business code.
        code: u64,
        /// User-facing message.
        message: String,
        /// Data (e.g. the order to pay for 4001009999).
        data: Option<serde_json::Value>,
    },
    /// The payment provider failed.
    #[error("payment provider failed")]
    ProviderFailed,
    /// A business subsystem failed.
    #[error("business subsystem failed: {0}")]
    SubsystemFailed(String),
    /// Starting, stopping or overloaded.
    #[error("service unavailable")]
    Unavailable,
    /// The store cannot write now (disk nearly full, a failed write); nothing was written.
    #[error("storage unavailable")]
    StorageUnavailable,
    /// No such endpoint.
    #[error("no such endpoint")]
    NoRoute,
    /// Wrong method.
    #[error("method not allowed")]
    MethodNotAllowed,
    /// Body over the limit.
    #[error("body too large")]
    TooLarge,
    /// Neither form nor JSON.
    #[error("unsupported content type")]
    UnsupportedMediaType,
    /// Anything else; details only in the log.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ApiError {
    /// A missing required field.
    pub fn missing(field: &str) -> Self {
        ApiError::Invalid(format!("缺少参数 {field}"))
    }

    /// A malformed field.
    pub fn malformed(field: &str, expected: &str) -> Self {
        ApiError::Invalid(format!("参数 {field} 格式错误：{expected}"))
    }

    /// The business code.
    pub fn code(&self) -> u64 {
        match self {
            ApiError::Invalid(_) => codes::INVALID_FIELD,
            ApiError::Unauthorized(_) | ApiError::AdminTokenNotConfigured => codes::UNAUTHORIZED,
            ApiError::OrderNotFound => codes::ORDER_NOT_FOUND,
            ApiError::OrderClosed => codes::ORDER_CLOSED,
            ApiError::OrderPaid => codes::ORDER_PAID,
            ApiError::IdempotencyConflict => codes::IDEMPOTENCY_CONFLICT,
            ApiError::NotRefundable => codes::NOT_REFUNDABLE,
            ApiError::RefundDeadlinePassed => codes::REFUND_DEADLINE_PASSED,
            ApiError::Business { code, .. } => *code,
            ApiError::ProviderFailed => codes::PROVIDER_FAILED,
            ApiError::SubsystemFailed(_) => codes::SUBSYSTEM_FAILED,
            ApiError::Unavailable | ApiError::StorageUnavailable => codes::UNAVAILABLE,
            ApiError::NoRoute => codes::NO_ROUTE,
            ApiError::MethodNotAllowed => codes::METHOD_NOT_ALLOWED,
            ApiError::TooLarge => codes::TOO_LARGE,
            ApiError::UnsupportedMediaType => codes::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => codes::INTERNAL,
        }
    }

    /// The message for the user (also the document's examples, [`super::openapi`]).
    pub fn user_message(&self) -> String {
        match self {
            ApiError::Invalid(text) => text.clone(),
            ApiError::Unauthorized(Token::Admin) => "需要管理员令牌（admin token）".into(),
            ApiError::AdminTokenNotConfigured => {
                "未配置管理员令牌（admin token not configured）：设置 ORDERCENTER_ADMIN_TOKEN 后才能由运营退款".into()
            }
            ApiError::Unauthorized(Token::Internal) => {
                "需要订单中心的内部令牌（internal token），此接口仅供订单中心调用".into()
            }
            ApiError::OrderNotFound => "订单不存在".into(),
            ApiError::OrderClosed => "订单已关闭，无法支付".into(),
            ApiError::OrderPaid => "订单已支付".into(),
            ApiError::IdempotencyConflict => "Idempotency-Key 已用于其他参数的请求".into(),
            ApiError::NotRefundable => "订单不可退款".into(),
            ApiError::RefundDeadlinePassed => "已过退款期限".into(),
            ApiError::Business { message, .. } => message.clone(),
            ApiError::ProviderFailed => "支付服务暂时不可用，请稍后重试".into(),
            ApiError::SubsystemFailed(_) => "业务系统暂时不可用，请稍后重试".into(),
            ApiError::Unavailable => "服务繁忙或正在启动，请稍后重试".into(),
            ApiError::StorageUnavailable => "存储暂不可用（如磁盘已满），本次请求未写入任何数据，请稍后重试".into(),
            ApiError::NoRoute => "接口不存在".into(),
            ApiError::MethodNotAllowed => "请求方法不支持".into(),
            ApiError::TooLarge => "请求体过大".into(),
            ApiError::UnsupportedMediaType => "不支持的 Content-Type，请使用 application/x-www-form-urlencoded 或 application/json".into(),
            ApiError::Internal(_) => "系统错误".into(),
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        StatusCode::from_u16(codes::http_status(self.code()))
            .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR)
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            ApiError::Internal(cause) | ApiError::SubsystemFailed(cause) => {
                tracing::error!(code = self.code(), %cause, "request failed");
            }
            _ => tracing::debug!(code = self.code(), error = %self, "request refused"),
        }
        let data = match self {
            ApiError::Business { data, .. } => data.clone(),
            _ => None,
        };
        HttpResponse::build(self.status_code()).json(Envelope {
            code: self.code(),
            data: data.unwrap_or(serde_json::Value::Null),
            message: self.user_message(),
        })
    }
}

impl From<StoreError> for ApiError {
    /// A store that cannot write now (disk full, failed write) is 503: nothing was written,
    /// retry later. Anything else is an internal error.
    fn from(error: StoreError) -> Self {
        if error.is_unavailable() {
            tracing::warn!(%error, "storage unavailable");
            ApiError::StorageUnavailable
        } else {
            ApiError::Internal(error.to_string())
        }
    }
}

impl From<OrderError> for ApiError {
    fn from(error: OrderError) -> Self {
        match error {
            OrderError::NotFound => ApiError::OrderNotFound,
            OrderError::Closed => ApiError::OrderClosed,
            OrderError::AlreadyPaid => ApiError::OrderPaid,
            OrderError::NotRefundable => ApiError::NotRefundable,
            OrderError::PastRefundDeadline => ApiError::RefundDeadlinePassed,
            OrderError::Rejected {
                code,
                message,
                data,
            } => ApiError::Business {
                code,
                message,
                data,
            },
            OrderError::SubsystemUnavailable(cause) => ApiError::SubsystemFailed(cause),
            OrderError::UnknownBusinessType(_) => {
                ApiError::malformed("business_type", "未知的业务类型")
            }
            OrderError::NotReady | OrderError::RefundDeadlineUnknown => ApiError::Unavailable,
            OrderError::IdempotencyConflict => ApiError::IdempotencyConflict,
            OrderError::ProviderFailed(cause) => {
                tracing::warn!(%cause, "payment provider failed");
                ApiError::ProviderFailed
            }
            OrderError::Mismatch(cause) => ApiError::Internal(cause),
            OrderError::Mailbox(_) => ApiError::Unavailable,
            OrderError::Store(inner) => inner.into(),
        }
    }
}

impl From<ActivityError> for ApiError {
    fn from(error: ActivityError) -> Self {
        match error {
            ActivityError::Invalid(text) => ApiError::Invalid(text),
            ActivityError::Store(inner) => inner.into(),
            other => ApiError::Business {
                code: other.code(),
                message: other.user_message(),
                data: other.data(),
            },
        }
    }
}
