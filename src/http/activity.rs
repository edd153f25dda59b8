//! `activityPlatform/*`: the activity platform's endpoints (SPEC §5, §7).

use actix_web::{web, HttpResponse};

use super::envelope::{success, Envelope};
use super::error::{ApiError, Token};
use super::input::Fields;
use super::openapi::schemas as doc;
use super::orders::{location, member};
use super::views;
use super::AppState;
use crate::activity::{ApplyCommand, NewActivity, OrderBinding, OrderNotice};
use crate::domain::{Fen, OrderNo, OrderOutcome};
use crate::subsystem::{OrderCreateCall, OrderNotifyCall, RefundDeadlineAnswer};

/// Checks the token of an admin call (`activity/save`) or of the order center's own calls
/// (`applyOrderCreate`, `applyOrderNotify`), given as `Authorization: Bearer …` or as the
/// field the kind names.
pub(super) fn require_token(
    kind: Token,
    expected: Option<&str>,
    fields: &Fields,
) -> Result<(), ApiError> {
    let Some(expected) = expected else {
        return Ok(());
    };
    let header = fields.header("authorization").ok().flatten();
    let given = header
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .map(str::to_owned)
        .or(fields.optional_text(kind.field(), 256).ok().flatten());
    let matches = given.is_some_and(|g| {
        use subtle::ConstantTimeEq;
        g.len() == expected.len() && bool::from(g.as_bytes().ct_eq(expected.as_bytes()))
    });
    if matches {
        Ok(())
    } else {
        Err(ApiError::Unauthorized(kind))
    }
}

/// `POST activityPlatform/activity/save` (admin): creates an activity; `price` in fen.
#[utoipa::path(post, path = "/activityPlatform/activity/save", tag = "activity",
    summary = "创建活动（管理）— price in fen",
    request_body(content = doc::SaveActivityForm, content_type = "application/x-www-form-urlencoded"),
    security((), ("admin_token" = [])),
    responses((status = 200, description = "The activity", body = Envelope<doc::ActivityData>)))]
pub async fn save(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    require_token(Token::Admin, state.admin_token.as_deref(), &fields)?;
    let new = NewActivity {
        name: fields.required_text("name", 64)?,
        price: Fen(fields
            .u64_in("price", 0..=10_000_000_000)?
            .ok_or_else(|| ApiError::missing("price"))?),
        seats: fields
            .u64_in("seats", 1..=10_000_000)?
            .ok_or_else(|| ApiError::missing("seats"))? as u32,
        start_time: fields
            .u64_in("start_time", 0..=32_503_680_000)?
            .unwrap_or(0),
        end_time: fields.u64_in("end_time", 0..=32_503_680_000)?.unwrap_or(0),
        per_member_limit: fields.u64_in("per_member_limit", 1..=1000)?.unwrap_or(1) as u32,
        stadium_name: fields
            .optional_text("stadium_name", 64)?
            .unwrap_or_default(),
        refund_deadline: fields.u64_in("refund_deadline", 0..=32_503_680_000)?,
    };
    if new.end_time != 0 && new.end_time <= new.start_time {
        return Err(ApiError::malformed("end_time", "必须晚于 start_time"));
    }
    let activity = state.activity.save(new).await?;
    Ok(success(views::activity_view(&activity)))
}

/// `activityPlatform/wxActivity/detail?activity_id=`.
#[utoipa::path(method(get, post), path = "/activityPlatform/wxActivity/detail", tag = "activity",
    summary = "活动详情 — name, price (yuan), seats left",
    params(doc::ActivityQuery),
    responses((status = 200, description = "The activity", body = Envelope<doc::ActivityData>)))]
pub async fn detail(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let activity = state.activity.detail(fields.id("activity_id")?).await?;
    Ok(success(views::activity_view(&activity)))
}

/// `POST activityPlatform/wxActivity/apply`: reserves a seat.
#[utoipa::path(post, path = "/activityPlatform/wxActivity/apply", tag = "activity",
    summary = "报名 — reserves a seat; its apply_id is the SKU to order",
    description = "Applying again while the apply has no order returns the same apply; a member \
        with an unpaid order for the activity gets 4001009999 with the order to pay. On a full \
        activity, `waitlist=1` joins its waitlist (`status` `waitlisted`, `position` 1 = next) \
        instead of 4090000003: the first waiter's apply becomes `pending_payment`, its seat \
        reserved, in the change that releases a seat.",
    request_body(content = doc::ApplyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The apply and what shop/order/create needs", body = Envelope<doc::ApplyData>)))]
#[tracing::instrument(skip_all)]
pub async fn apply(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let owner = member(&fields)?;
    location(&fields)?;
    let phone = fields.required_text("phone", 20)?;
    if !phone
        .bytes()
        .all(|b| b.is_ascii_digit() || b == b'+' || b == b'-' || b == b' ')
    {
        return Err(ApiError::malformed("phone", "应为电话号码"));
    }
    let command = ApplyCommand {
        owner,
        business_id: fields.id("business_id")?,
        activity_id: fields.id("activity_id")?,
        name: fields.required_text("name", 32)?,
        phone,
        apply_info: fields.json_object_text("apply_info", "{}")?,
        waitlist: fields.u64_in("waitlist", 0..=1)? == Some(1),
    };
    let applied = state.activity.apply(command).await?;
    Ok(success(views::applied_view(&applied)))
}

/// `activityPlatform/wxActivity/applyInfo?apply_id=&member_id=&company_id=`.
#[utoipa::path(method(get, post), path = "/activityPlatform/wxActivity/applyInfo", tag = "activity",
    summary = "报名状态 — pending_payment / registered / cancelled",
    params(doc::ApplyInfoQuery),
    responses((status = 200, description = "The registration", body = Envelope<doc::ApplyInfoData>)))]
pub async fn apply_info(
    state: web::Data<AppState>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let owner = member(&fields)?;
    let apply = state
        .activity
        .apply_info(fields.id("apply_id")?, owner)
        .await?;
    Ok(success(views::apply_view(&apply)))
}

/// `POST activityPlatform/wxActivity/cancelApply`: leave the waitlist, or give back a
/// reserved seat that has no order yet.
#[utoipa::path(post, path = "/activityPlatform/wxActivity/cancelApply", tag = "activity",
    summary = "取消报名 — leave the waitlist, or give back a seat with no order yet",
    description = "A seat given back goes to the first waiter in the same durable change. An apply \
        bound to an unpaid order is cancelled with the order (4001009999 names it); a \
        registration is refunded instead (4090000004). Cancelling again answers the same.",
    request_body(content = doc::CancelApplyForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "The apply, `cancelled`", body = Envelope<doc::ApplyInfoData>)))]
#[tracing::instrument(skip_all)]
pub async fn cancel_apply(
    state: web::Data<AppState>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    let owner = member(&fields)?;
    location(&fields)?;
    let apply = state
        .activity
        .cancel_apply(fields.id("apply_id")?, owner)
        .await?;
    Ok(success(views::apply_view(&apply)))
}

/// `POST activityPlatform/activity/applyOrderCreate` (called by the order center).
#[utoipa::path(post, path = "/activityPlatform/activity/applyOrderCreate", tag = "subsystem",
    summary = "子系统创单 — binds the applies to the order and prices them (order center only)",
    description = "Idempotent on `order_no`. Without a configured internal token the endpoint \
        gets a random one: closed to outsiders.",
    request_body(content = doc::ApplyOrderCreateForm, content_type = "application/x-www-form-urlencoded"),
    security(("internal_token" = [])),
    responses((status = 200, description = "Priced items (fen)", body = Envelope<doc::ApplyOrderCreateData>)))]
#[tracing::instrument(skip_all)]
pub async fn apply_order_create(
    state: web::Data<AppState>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    require_token(Token::Internal, state.internal_token.as_deref(), &fields)?;
    let call = OrderCreateCall {
        order_no: fields.required_text("order_no", 64)?,
        parent_order_no: fields.required_text("parent_order_no", 64)?,
        company_id: fields.id("company_id")?,
        member_id: fields.id("member_id")?,
        business_id: fields.id("business_id")?,
        sku_slice: fields.required_text("sku_slice", 1024)?,
        handle_info: fields.json_object_text("handle_info", "{}")?,
    };
    let answer = state
        .activity
        .bind_order(OrderBinding::from_call(&call)?)
        .await?;
    let data = serde_json::to_value(answer).map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(success(data))
}

/// `POST activityPlatform/activity/applyOrderNotify` (called by the order center's outbox).
#[utoipa::path(post, path = "/activityPlatform/activity/applyOrderNotify", tag = "subsystem",
    summary = "子系统订单通知 — paid / closed / refunded (order center only)",
    description = "Idempotent; a 200 is the acknowledgement.",
    request_body(content = doc::ApplyOrderNotifyForm, content_type = "application/x-www-form-urlencoded"),
    security(("internal_token" = [])),
    responses((status = 200, description = "Acknowledged (`data` is null)", body = Envelope<doc::Null>)))]
#[tracing::instrument(skip_all)]
pub async fn apply_order_notify(
    state: web::Data<AppState>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    require_token(Token::Internal, state.internal_token.as_deref(), &fields)?;
    let call = OrderNotifyCall {
        order_no: fields.required_text("order_no", 64)?,
        parent_order_no: fields
            .optional_text("parent_order_no", 64)?
            .unwrap_or_default(),
        order_status: OrderOutcome::from_code(
            fields
                .u64_in("order_status", 0..=9)?
                .ok_or_else(|| ApiError::missing("order_status"))?,
        )
        .map_err(|_| ApiError::Invalid("order_status 必须是 1、2 或 3".into()))?,
    };
    state
        .activity
        .order_notice(OrderNotice::from_call(&call)?)
        .await?;
    Ok(success(serde_json::Value::Null))
}

/// `POST activityPlatform/activity/applyOrderRefundDeadline` (called by the order center
/// before it records a refund its owner asked for).
#[utoipa::path(post, path = "/activityPlatform/activity/applyOrderRefundDeadline", tag = "subsystem",
    summary = "子系统退款期限 — until when the owner of an order may ask for a refund (order center only)",
    description = "The activity's `refund_deadline` (its `start_time` when saved without one); \
        `null`: refunds always allowed. Read-only.",
    request_body(content = doc::ApplyOrderRefundDeadlineForm, content_type = "application/x-www-form-urlencoded"),
    security(("internal_token" = [])),
    responses((status = 200, description = "The deadline", body = Envelope<doc::RefundDeadlineData>)))]
pub async fn apply_order_refund_deadline(
    state: web::Data<AppState>,
    fields: Fields,
) -> Result<HttpResponse, ApiError> {
    require_token(Token::Internal, state.internal_token.as_deref(), &fields)?;
    let text = fields.required_text("order_no", 64)?;
    let order_no =
        OrderNo::parse(&text).map_err(|_| ApiError::malformed("order_no", "应为 19 位数字"))?;
    fields.optional_text("parent_order_no", 64)?;
    let refund_deadline = state.activity.order_refund_deadline(order_no).await?;
    let data = serde_json::to_value(RefundDeadlineAnswer { refund_deadline })
        .map_err(|e| ApiError::Internal(e.to_string()))?;
    Ok(success(data))
}
