//! The error responses of the document: the real [`ApiError`] values, so each endpoint's
//! documented refusals carry the codes, HTTP statuses and messages the service answers, one
//! response per HTTP status with each business code as a named example.

use std::collections::BTreeMap;

use actix_web::ResponseError;
use serde_json::{json, Value};
use utoipa::openapi::example::ExampleBuilder;
use utoipa::openapi::{Content, Ref, RefOr, Response};
use utoipa::Modify;

use super::JSON;
use crate::activity::ActivityError;
use crate::domain::OrderNo;
use crate::http::error::{ApiError, Token};

/// One refusal the service answers: the real error, so the document shows its real code,
/// HTTP status and message.
pub(super) struct Refusal {
    /// The key of [`REFUSALS`].
    pub(super) name: &'static str,
    /// For the table.
    pub(super) meaning: &'static str,
    pub(super) error: ApiError,
}

/// Every refusal, in the order of SPEC §2.
pub(super) fn catalogue() -> Vec<Refusal> {
    let seed_order = OrderNo::parse("2013150001004525628").ok();
    let refusal = |name, meaning, error| Refusal {
        name,
        meaning,
        error,
    };
    let mut all = vec![
        refusal(
            "invalid",
            "missing or malformed field (the message names it)",
            ApiError::missing("parent_order_no"),
        ),
        refusal(
            "not_open",
            "activity not open for sign-up",
            ActivityError::NotOpen.into(),
        ),
        refusal(
            "order_not_found",
            "order not found (or not the caller's)",
            ApiError::OrderNotFound,
        ),
        refusal(
            "not_found",
            "activity, apply or SKU not found (or not the caller's)",
            ActivityError::NotFound.into(),
        ),
        refusal(
            "order_closed",
            "order closed or past its deadline: cannot be paid",
            ApiError::OrderClosed,
        ),
        refusal("order_paid", "order already paid", ApiError::OrderPaid),
        refusal("full", "activity full", ActivityError::Full.into()),
        refusal(
            "registered",
            "already registered for this activity",
            ActivityError::AlreadyRegistered.into(),
        ),
        refusal(
            "idempotency",
            "`Idempotency-Key` reused with different parameters",
            ApiError::IdempotencyConflict,
        ),
        refusal(
            "not_refundable",
            "order cannot be refunded (not paid, or already refunded)",
            ApiError::NotRefundable,
        ),
        refusal(
            "refund_deadline",
            "refund deadline of the activity has passed",
            ApiError::RefundDeadlinePassed,
        ),
        refusal(
            "admin_token",
            "admin token missing or wrong",
            ApiError::Unauthorized(Token::Admin),
        ),
        refusal(
            "admin_token_not_configured",
            "no admin token is configured: operator refunds are refused",
            ApiError::AdminTokenNotConfigured,
        ),
        refusal(
            "internal_token",
            "internal token missing or wrong",
            ApiError::Unauthorized(Token::Internal),
        ),
        refusal("no_route", "no such endpoint", ApiError::NoRoute),
        refusal("method", "method not allowed", ApiError::MethodNotAllowed),
        refusal("too_large", "request body too large", ApiError::TooLarge),
        refusal(
            "media_type",
            "unsupported content type",
            ApiError::UnsupportedMediaType,
        ),
        refusal(
            "provider",
            "payment provider failed or unreachable (nothing changed; safe to retry)",
            ApiError::ProviderFailed,
        ),
        refusal(
            "subsystem",
            "business subsystem failed or unreachable (nothing created; safe to retry)",
            ApiError::SubsystemFailed(String::new()),
        ),
        refusal(
            "busy",
            "overloaded, starting or shutting down; retry later",
            ApiError::Unavailable,
        ),
        refusal(
            "storage",
            "storage unavailable (e.g. disk full); nothing was written; retry later",
            ApiError::StorageUnavailable,
        ),
        refusal(
            "internal",
            "unexpected internal error (details only in the logs)",
            ApiError::Internal(String::new()),
        ),
    ];
    if let Some(parent_order_no) = seed_order {
        let pending = ActivityError::PendingOrder {
            parent_order_no,
            business_id: 10_000_001,
        };
        all.insert(
            1,
            refusal(
                "pending_order",
                "member has an unpaid order for this activity; `data` is the order to pay",
                pending.into(),
            ),
        );
    }
    all
}

/// The refusals of each endpoint beyond [`COMMON`], by the names of [`catalogue`].
const REFUSALS: &[(&str, &[&str])] = &[
    (
        "/activityPlatform/wxActivity/detail",
        &["invalid", "not_found"],
    ),
    (
        "/activityPlatform/wxActivity/apply",
        &[
            "invalid",
            "pending_order",
            "not_open",
            "not_found",
            "full",
            "registered",
        ],
    ),
    (
        "/activityPlatform/wxActivity/applyInfo",
        &["invalid", "not_found"],
    ),
    (
        "/activityPlatform/wxActivity/cancelApply",
        &["invalid", "pending_order", "not_found", "registered"],
    ),
    (
        "/shop/order/create",
        &[
            "invalid",
            "pending_order",
            "not_found",
            "registered",
            "idempotency",
            "subsystem",
        ],
    ),
    (
        "/shop/order/pay",
        &[
            "invalid",
            "order_not_found",
            "order_closed",
            "order_paid",
            "provider",
        ],
    ),
    ("/shop/order/state", &["invalid", "order_not_found"]),
    ("/shop/order/detail", &["invalid", "order_not_found"]),
    ("/shop/order/list", &["invalid"]),
    (
        "/shop/order/cancel",
        &["invalid", "order_not_found", "order_paid", "provider"],
    ),
    (
        "/shop/order/refund",
        &[
            "invalid",
            "order_not_found",
            "not_refundable",
            "refund_deadline",
            "subsystem",
        ],
    ),
    (
        "/shop/order/adminRefund",
        &[
            "invalid",
            "admin_token",
            "admin_token_not_configured",
            "order_not_found",
            "not_refundable",
        ],
    ),
    (
        "/activityPlatform/activity/applyOrderRefundDeadline",
        &["internal_token", "invalid", "not_found"],
    ),
    (
        "/activityPlatform/activity/save",
        &["invalid", "admin_token"],
    ),
    ("/admin/backup", &["invalid", "admin_token"]),
    ("/admin/reconcile", &["invalid", "admin_token"]),
    (
        "/admin/orders/{parent_order_no}",
        &["invalid", "admin_token", "order_not_found"],
    ),
    (
        "/activityPlatform/activity/applyOrderCreate",
        &[
            "internal_token",
            "invalid",
            "pending_order",
            "not_found",
            "registered",
        ],
    ),
    (
        "/activityPlatform/activity/applyOrderNotify",
        &["internal_token", "invalid", "not_found"],
    ),
];

/// What any envelope endpoint may answer.
const COMMON: &[&str] = &[
    "method",
    "too_large",
    "media_type",
    "busy",
    "storage",
    "internal",
];

/// The error responses of each envelope endpoint, one per HTTP status, with each business
/// code as a named example.
pub(super) struct Refusals;

impl Modify for Refusals {
    fn modify(&self, api: &mut utoipa::openapi::OpenApi) {
        let catalogue = catalogue();
        for (path, names) in REFUSALS {
            let Some(item) = api.paths.paths.get_mut(*path) else {
                tracing::warn!(path, "openapi: refusals for an undocumented path");
                continue;
            };
            let mut by_status: BTreeMap<u16, Vec<&Refusal>> = BTreeMap::new();
            for name in names.iter().chain(COMMON) {
                for refusal in catalogue.iter().filter(|r| r.name == *name) {
                    by_status
                        .entry(refusal.error.status_code().as_u16())
                        .or_default()
                        .push(refusal);
                }
            }
            let responses: Vec<(String, Response)> = by_status
                .into_iter()
                .map(|(status, refusals)| (status.to_string(), error_response(&refusals)))
                .collect();
            for operation in [item.get.as_mut(), item.post.as_mut()]
                .into_iter()
                .flatten()
            {
                for (status, response) in &responses {
                    operation
                        .responses
                        .responses
                        .insert(status.clone(), RefOr::T(response.clone()));
                }
            }
        }
    }
}

fn error_response(refusals: &[&Refusal]) -> Response {
    let mut content = Content::new(Some(Ref::from_schema_name("ErrorEnvelope")));
    let mut lines = Vec::new();
    for refusal in refusals {
        let code = refusal.error.code();
        lines.push(format!("`{code}` {}", refusal.meaning));
        let data = match &refusal.error {
            ApiError::Business { data, .. } => data.clone().unwrap_or(Value::Null),
            _ => Value::Null,
        };
        let example = ExampleBuilder::new()
            .summary(format!("{code} {}", refusal.meaning))
            .value(Some(json!({
                "code": code,
                "data": data,
                "message": refusal.error.user_message(),
            })))
            .build();
        content
            .examples
            .insert(format!("{code} {}", refusal.name), RefOr::T(example));
    }
    let mut response = Response::new(lines.join("; "));
    response.content.insert(JSON.to_owned(), RefOr::T(content));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_refusal_name_is_in_the_catalogue() {
        let names: Vec<&str> = catalogue().iter().map(|r| r.name).collect();
        for (path, refusals) in REFUSALS {
            for name in refusals.iter().chain(COMMON) {
                assert!(names.contains(name), "{path}: unknown refusal {name}");
            }
        }
    }
}
