//! `shop/order/pay` and the provider's notify receiver `trade/notify/ums`.

use actix_web::{web, HttpResponse};

use super::envelope::{success, Envelope};
use super::error::ApiError;
use super::input::Fields;
use super::openapi::schemas as doc;
use super::orders::{location, member, parent_order_no};
use super::views;
use super::AppState;
use crate::domain::OrderNo;
use crate::workflow::OrderError;

/// UMS WeChat mini-program pay.
const UMS_MINI_PAY: u32 = 110;

/// `POST shop/order/pay`.
#[utoipa::path(post, path = "/shop/order/pay", tag = "order",
    summary = "支付 — UMS WeChat mini-program pay: the parameters of wx.requestPayment",
    description = "Places a unified order at the provider (recorded before the call). Paying again \
        while a payment is open returns the same `prepay_id`; a free order is paid at once. Then \
        poll `shop/order/state`.",
    request_body(content = doc::PayForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "What wx.requestPayment needs, the seed's shape", body = Envelope<doc::PayData>)))]
#[tracing::instrument(skip_all)]
pub async fn pay(state: web::Data<AppState>, fields: Fields) -> Result<HttpResponse, ApiError> {
    let who = member(&fields)?;
    location(&fields)?;
    let parent = parent_order_no(&fields)?;
    let payment_way = fields
        .u64_in("payment_way", 0..=9999)?
        .ok_or_else(|| ApiError::missing("payment_way"))?;
    if payment_way != u64::from(UMS_MINI_PAY) {
        return Err(ApiError::malformed(
            "payment_way",
            "仅支持 110（银联商务微信小程序支付）",
        ));
    }
    fields.json_object_text("extend_field", "{}")?;
    let open_id = fields.optional_text("open_id", 128)?;
    let order = state.center.pay(parent, who, UMS_MINI_PAY, open_id).await?;
    Ok(success(views::pay_view(&order)))
}

/// `POST trade/notify/ums`: the provider's payment notify. Verified (signature, order,
/// amount) before anything changes; answers `SUCCESS`, or `FAILED` with a 4xx.
#[utoipa::path(post, path = "/trade/notify/ums", tag = "provider",
    summary = "支付结果通知 — the provider's signed notify (UMS protocol, not the envelope)",
    request_body(content = doc::UmsNotifyForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Applied (or a status without a payment)", body = String, example = "SUCCESS"),
        (status = 400, description = "Bad signature or amount: nothing changed", body = String, example = "FAILED"),
        (status = 404, description = "Unknown order", body = String, example = "FAILED"),
        (status = 503, description = "Could not be applied now; the provider retries", body = String, example = "FAILED")))]
#[tracing::instrument(skip_all)]
pub async fn notify(state: web::Data<AppState>, body: web::Bytes) -> HttpResponse {
    let failed = |status: actix_web::http::StatusCode| {
        HttpResponse::build(status)
            .content_type("text/plain")
            .body("FAILED")
    };
    let notify = match state.center.provider().verify_notify(&body) {
        Ok(notify) => notify,
        Err(error) => {
            tracing::warn!(%error, "notify refused");
            return failed(actix_web::http::StatusCode::BAD_REQUEST);
        }
    };
    let Ok(parent) = OrderNo::parse(&notify.mer_order_id) else {
        return failed(actix_web::http::StatusCode::NOT_FOUND);
    };
    if notify.status != crate::provider::TradeStatus::TradeSuccess {
        tracing::info!(order_no = %parent, status = notify.status.as_str(), "notify without a payment");
        return HttpResponse::Ok()
            .content_type("text/plain")
            .body("SUCCESS");
    }
    let evidence = notify.evidence();
    match state.center.confirm_payment(parent, evidence).await {
        Ok(_) => HttpResponse::Ok()
            .content_type("text/plain")
            .body("SUCCESS"),
        Err(OrderError::NotFound) => failed(actix_web::http::StatusCode::NOT_FOUND),
        Err(OrderError::Mismatch(reason)) => {
            tracing::warn!(%reason, "notify does not match the order");
            failed(actix_web::http::StatusCode::BAD_REQUEST)
        }
        Err(error) => {
            tracing::error!(%error, "notify could not be applied; the provider will retry");
            failed(actix_web::http::StatusCode::SERVICE_UNAVAILABLE)
        }
    }
}
