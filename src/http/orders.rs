//! `shop/order/*`: create, state, cancel, detail, the member's list, refund (by the owner or an operator).

use actix_web::{web, HttpResponse};

use super::activity::require_token;
use super::envelope::{success, Envelope};
use super::error::ApiError;
use super::error::Token;
use super::input::{Fields, TEXT_LIMIT};
use super::openapi::schemas as doc;
use super::views::{create_view, detail_view, order_list_view, state_view};
use super::AppState;
use crate::actors::CreateOrder;
use crate::domain::{MemberRef, OrderNo, RefundRequester, SkuSlice};

/// Longest `reason` of a refund, in characters (as `optional_text` counts).
const REASON_LIMIT: usize = 256;

/// The caller (`company_id`, `member_id`), required on every order call.
pub(super) fn member(fields: &Fields) -> Result<MemberRef, ApiError> {
    Ok(MemberRef {
        company_id: fields.id("company_id")?,
        member_id: fields.id("member_id")?,
    })
}

/// The optional location every endpoint accepts; validated, kept as sent.
pub(super) struct Location {
    latitude: Option<String>,
    longitude: Option<String>,
    city_id: Option<u64>,
}

/// Reads and validates the location fields (and `business_id`, a common field that order
/// calls accept without needing it).
pub(super) fn location(fields: &Fields) -> Result<Location, ApiError> {
    fields.optional_id("business_id")?;
    Ok(Location {
        latitude: fields.optional_coordinate("latitude", 90.0)?,
        longitude: fields.optional_coordinate("longitude", 180.0)?,
        city_id: fields.optional_id("city_id")?,
    })
}

pub(super) fn parent_order_no(fields: &Fields) -> Result<OrderNo, ApiError> {
    let text = fields.required_text("parent_order_no", 64)?;
    OrderNo::parse(&text).map_err(|_| ApiError::malformed("parent_order_no", "应为 19 位数字"))
}

/// The optional `Idempotency-Key` header (or `idempotency_key` field): 1–64 printable ASCII
/// characters.
fn idempotency_key(fields: &Fields) -> Result<Option<String>, ApiError> {
    let key = match fields.header("Idempotency-Key")? {
        Some(header) => Some(header.to_owned()),
        None => fields.optional_text("idempotency_key", 64)?,
    };
    match key {
        Some(key)
            if key.is_empty() || key.len() > 64 || !key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Err(ApiError::malformed(
                "Idempotency-Key",
                "应为 1 到 64 个可见 ASCII 字符",
            ))
        }
        other => Ok(other),
    }
}

/// `POST shop/order/create`.
#[utoipa::path(post, path = "/shop/order/create", tag = "order",
    summary = "创建订单 — durable before the answer, expiry armed",
    description = "Creates one parent order holding one child order, priced by the subsystem of \
        `business_type` (`applyOrderCreate`). Unpaid after `overdue_time` (480 s) it closes.",
    params(("Idempotency-Key" = Option<String>, Header,
        description = "1–64 printable ASCII: the same key, member and parameters return the same order")),
    request_body(content = doc::CreateOrderForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The order, the seed's shape", body = Envelope<doc::CreateOrderData>)))]
#[tracing::instrument(skip_all)]
pub async fn create(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let owner = member(&fields)?;
    let Location {
        latitude,
        longitude,
        city_id,
    } = location(&fields)?;
    let sku_text = fields.required_text("sku_slice", 1024)?;
    let sku_slice =
        SkuSlice::parse(&sku_text).map_err(|e| ApiError::malformed("sku_slice", &e.to_string()))?;
    let request = CreateOrder {
        owner,
        business_id: fields.id("business_id")?,
        sys_id: fields.id("sys_id")?,
        business_type: fields
            .u64_in("business_type", 1000..=9999)?
            .ok_or_else(|| ApiError::missing("business_type"))? as u16,
        sku_slice,
        request_id: fields
            .optional_text("request_id", 64)?
            .unwrap_or_default()
            .into(),
        handle_info: fields.json_object_text("handle_info", "{}")?.into(),
        order_from: fields.u64_in("order_from", 0..=99)?.unwrap_or(2) as u32,
        sales_id: fields.u64_in("sales_id", 0..=999_999_999_999)?.unwrap_or(0),
        latitude: latitude.map(String::into_boxed_str),
        longitude: longitude.map(String::into_boxed_str),
        city_id,
        idempotency_key: idempotency_key(&fields)?.map(String::into_boxed_str),
    };
    debug_assert!(request.handle_info.len() <= TEXT_LIMIT);
    let order = state.center.create(request).await?;
    Ok(success(create_view(&order)))
}

/// `shop/order/state`: the order center's own state, polled by the frontend.
#[utoipa::path(method(get, post), path = "/shop/order/state", tag = "order",
    summary = "订单支付状态 — polled once a second until 1, 2 or 3",
    description = "Reads the order center's own state (never calls the provider). POST takes the \
        same fields as a form or JSON body.",
    params(doc::OrderQuery),
    responses((status = 200, description = "The state, the seed's shape", body = Envelope<doc::StateData>)))]
pub async fn state(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let who = member(&fields)?;
    location(&fields)?;
    let order = state.center.get(parent_order_no(&fields)?, who).await?;
    Ok(success(state_view(&order)))
}

/// `shop/order/detail`.
#[utoipa::path(method(get, post), path = "/shop/order/detail", tag = "order",
    summary = "订单详情 — the create response with current values, plus the state",
    params(doc::OrderQuery),
    responses((status = 200, description = "The order", body = Envelope<doc::DetailData>)))]
pub async fn detail(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let who = member(&fields)?;
    location(&fields)?;
    let order = state.center.get(parent_order_no(&fields)?, who).await?;
    Ok(success(detail_view(&order)))
}

/// `POST shop/order/cancel`.
#[utoipa::path(post, path = "/shop/order/cancel", tag = "order",
    summary = "取消订单 — the owner closes an unpaid order (at the provider first)",
    description = "If the provider says the order is paid, it is paid, not cancelled.",
    request_body(content = doc::CancelForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The state after the cancel", body = Envelope<doc::StateData>)))]
#[tracing::instrument(skip_all)]
pub async fn cancel(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let who = member(&fields)?;
    location(&fields)?;
    let order = state.center.cancel(parent_order_no(&fields)?, who).await?;
    Ok(success(state_view(&order)))
}

/// `POST shop/order/refund`: the owner asks for a full refund of a paid order.
#[utoipa::path(post, path = "/shop/order/refund", tag = "order",
    summary = "申请退款 — the owner refunds a paid order before the refund deadline",
    description = "Recorded (durable) before the provider is asked, under a `refundOrderId` derived \
        from the order; followed with refund-query until final. Answers with the state: `\"1\"` \
        (detail shows `refund_status` 1) until the provider confirms, then `\"3\"`; the seat is \
        released and the registration cancelled. Asking again while pending answers the same.",
    request_body(content = doc::RefundForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The state after the refund was recorded", body = Envelope<doc::StateData>)))]
#[tracing::instrument(skip_all)]
pub async fn refund(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let who = member(&fields)?;
    location(&fields)?;
    let parent = parent_order_no(&fields)?;
    let reason = fields
        .optional_text("reason", REASON_LIMIT)?
        .unwrap_or_default();
    let order = state
        .center
        .refund(parent, RefundRequester::Owner(who), &reason)
        .await?;
    Ok(success(state_view(&order)))
}

/// `POST shop/order/adminRefund`: an operator refunds any paid order, whatever the deadline.
#[utoipa::path(post, path = "/shop/order/adminRefund", tag = "order",
    summary = "后台退款（管理）— an operator refunds any paid order",
    description = "As `shop/order/refund`, for any member's order and past the refund deadline.",
    request_body(content = doc::AdminRefundForm, content_type = "application/x-www-form-urlencoded"),
    security(("admin_token" = [])),
    responses((status = 200, description = "The state after the refund was recorded", body = Envelope<doc::StateData>)))]
#[tracing::instrument(skip_all)]
pub async fn admin_refund(
    state: web::Data<AppState>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    // Unlike `activity/save` (open in an embedded demo without a token), a call that moves
    // anyone's money is never open: no configured token, no operator refunds.
    let Some(token) = state.admin_token.as_deref() else {
        return Err(ApiError::AdminTokenNotConfigured);
    };
    require_token(Token::Admin, Some(token), &fields)?;
    let parent = parent_order_no(&fields)?;
    let reason = fields.required_text("reason", REASON_LIMIT)?;
    let order = state
        .center
        .refund(parent, RefundRequester::Operator, &reason)
        .await?;
    Ok(success(state_view(&order)))
}

/// `shop/order/list`: the caller's own orders, newest first, a page at a time.
#[utoipa::path(method(get, post), path = "/shop/order/list", tag = "order",
    summary = "我的订单 — the caller's orders, newest first, with a cursor",
    description = "Read from the member's own index (never a scan of everyone's orders). A page \
        reads at most 1000 index entries: with a `status` few orders match, it may come back \
        short with a `next_cursor` to go on from. `next_cursor` is `null` on the last page.",
    params(doc::OrderListQuery),
    responses((status = 200, description = "A page of orders", body = Envelope<doc::OrderListData>)))]
pub async fn list(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let who = member(&fields)?;
    location(&fields)?;
    let status = fields.u64_in("status", 0..=3)?.map(|code| code as u8);
    let limit = fields.u64_in("limit", 1..=100)?.unwrap_or(20) as usize;
    let before = match fields.optional_text("cursor", 20)? {
        Some(text) => Some(
            text.parse::<u64>()
                .ok()
                .filter(|id| *id > 0 && text.bytes().all(|b| b.is_ascii_digit()))
                .ok_or_else(|| ApiError::malformed("cursor", "应为上一页返回的 next_cursor"))?,
        ),
        None => None,
    };
    let page = state.center.list(who, status, before, limit).await?;
    Ok(success(order_list_view(&page.orders, page.next)))
}
