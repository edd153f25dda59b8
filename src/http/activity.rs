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
use crate::domain::{Fen, OrderOutcome};
use crate::subsystem::{OrderCreateCall, OrderNotifyCall};

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
        with an unpaid order for the activity gets 4001009999 with the order to pay.",
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
    };
    let (apply, activity) = state.activity.apply(command).await?;
    Ok(success(views::applied_view(&apply, &activity)))
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
    let (apply, activity) = state
        .activity
        .apply_info(fields.id("apply_id")?, owner)
        .await?;
    Ok(success(views::apply_view(&apply, &activity)))
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
